/**
 * PubSubBus against a stub client: topic handles are cached with batching settings and each
 * message goes out as publishMessage({json, attributes}). The emulator tests cover the wire.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PubSub } from '@google-cloud/pubsub';
import { PubSubBus } from '../../../../shared/backends/gcp/pubsub-bus.ts';
import { BackendUnavailableError } from '../../../../shared/core/errors.ts';

function stubPubSub(fail?: Error) {
  const topics: { name: string; options: unknown }[] = [];
  const published: { topic: string; message: unknown }[] = [];
  let id = 0;
  const pubsub = {
    topic(name: string, options: unknown) {
      topics.push({ name, options });
      return {
        publishMessage: async (message: unknown) => {
          if (fail) throw fail;
          published.push({ topic: name, message });
          return String(++id);
        },
      };
    },
  };
  return { pubsub: pubsub as unknown as PubSub, topics, published };
}

describe('PubSubBus', () => {
  it('publishes each message as JSON with attributes and returns the ids in order', async () => {
    const stub = stubPubSub();
    const bus = new PubSubBus({ pubsub: stub.pubsub });
    const ids = await bus.publish(
      'tidemark-backfill',
      [
        { table: 'events', partition: '2024010113' },
        { table: 'events', partition: '2024010114' },
      ],
      { origin: 'audit' },
    );
    assert.deepEqual(ids, ['1', '2']);
    assert.deepEqual(stub.published, [
      {
        topic: 'tidemark-backfill',
        message: { json: { table: 'events', partition: '2024010113' }, attributes: { origin: 'audit' } },
      },
      {
        topic: 'tidemark-backfill',
        message: { json: { table: 'events', partition: '2024010114' }, attributes: { origin: 'audit' } },
      },
    ]);
  });

  it('creates one batching topic handle per name and reuses it', async () => {
    const stub = stubPubSub();
    const bus = new PubSubBus({ pubsub: stub.pubsub });
    await bus.publish('a', [1]);
    await bus.publish('a', [2]);
    await bus.publish('b', [3]);
    assert.deepEqual(stub.topics, [
      { name: 'a', options: { batching: { maxMessages: 500, maxMilliseconds: 50 } } },
      { name: 'b', options: { batching: { maxMessages: 500, maxMilliseconds: 50 } } },
    ]);
    assert.deepEqual(stub.published[0]!.message, { json: 1 });
  });

  it('reports a failed publish as transient, naming the topic', async () => {
    const cause = new Error('14 UNAVAILABLE: connection refused');
    const bus = new PubSubBus({ pubsub: stubPubSub(cause).pubsub });
    await assert.rejects(
      bus.publish('t', [{}]),
      (err: unknown) =>
        err instanceof BackendUnavailableError && err.cause === cause && /publish to t/.test(err.message),
    );
  });
});
