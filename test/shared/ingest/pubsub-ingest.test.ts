/**
 * Ingestion through the real Pub/Sub adapter against the emulator: the stream topic created as
 * describeStreams says (its storage policy read back), a request of 1,000 records published in
 * batches, each message one NDJSON line carrying the record, event_id and received_at, as the
 * storage subscription would write it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PubSubBus } from '../../../shared/backends/gcp/pubsub-bus.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import { describeStreams } from '../../../shared/deploy/streams.ts';
import { handleIngest } from '../../../shared/ingest/handler.ts';
import { memoryLogger } from '../../../shared/log.ts';
import { INGEST_BATCHING } from '../../../shared/runtime/gcp-ingest.ts';
import { emulatorSuite, pullUntil, withEmulator } from '../../helpers/pubsub-emulator.ts';
import { location, streamYaml } from '../../helpers/streams.ts';

describe('ingestion on the Pub/Sub emulator', emulatorSuite(), () => {
  const emu = withEmulator({ projectId: 'test-project' });

  it('creates the stream topic as described and publishes every accepted record as one line', async () => {
    const config = parseConfig(streamYaml(), '/tmp/tidemark.config.yaml');
    const { streams } = describeStreams(config, {
      lakeRegion: 'asia-northeast3',
      ingestAccountEmail: 'x@test-project.iam.gserviceaccount.com',
    });
    const base = `http://${emu.emulator.host}/v1`;
    const put = async (path: string, body: unknown) => {
      const r = await fetch(`${base}/${path}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await r.text();
      assert.ok(r.ok, `${path}: HTTP ${r.status} ${text}`);
      return JSON.parse(text) as Record<string, unknown>;
    };
    const topic = streams[0]!.topics[0]!;
    await put(topic.name, { messageStoragePolicy: topic.messageStoragePolicy, labels: topic.labels });
    const read = (await (await fetch(`${base}/${topic.name}`)).json()) as Record<string, unknown>;
    assert.deepEqual(read.messageStoragePolicy, { allowedPersistenceRegions: ['asia-northeast3'] });
    // A pull subscription stands in for the storage subscription (the emulator cannot write files).
    await put('projects/test-project/subscriptions/probe', { topic: topic.name, ackDeadlineSeconds: 60 });

    const bus = new PubSubBus({ pubsub: emu.pubsub(), batching: INGEST_BATCHING });
    const records = Array.from({ length: 1000 }, (_, i) => location(i, i % 2 ? { event_id: `caller-${i}` } : {}));
    const r = await handleIngest(
      { streams: config.streams, bus, clock: { now: () => Date.UTC(2026, 10, 24, 13, 0, 0) }, log: memoryLogger() },
      {
        method: 'POST',
        path: '/v1/streams/locations/events',
        contentType: 'application/x-ndjson',
        body: Buffer.from(records.map((x) => JSON.stringify(x)).join('\n')),
      },
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const pulled = await pullUntil(emu.emulator, 'probe', { count: 1000, timeoutMs: 60_000 });
    assert.equal(pulled.length, 1000);
    const rows = pulled.map((m) => {
      assert.ok(!m.text.includes('\n'), 'one line per message');
      return JSON.parse(m.text) as Record<string, unknown>;
    });
    assert.equal(new Set(rows.map((x) => x.event_id)).size, 1000);
    assert.ok(rows.every((x) => x.received_at === '2026-11-24T13:00:00.000Z'));
    assert.ok(rows.some((x) => x.event_id === 'caller-7'));
    assert.equal(pulled[0]!.attributes.stream, 'locations');
  });
});
