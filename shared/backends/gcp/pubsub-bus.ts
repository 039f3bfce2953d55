/**
 * The Bus port over Pub/Sub. Topic handles are cached per instance because each one owns a
 * publish batcher; the client's own gax retries cover transient publish failures.
 */
import type { PubSub, Topic } from '@google-cloud/pubsub';
import { BackendUnavailableError, errorMessage } from '../../core/errors.ts';
import type { Bus } from '../../core/ports.ts';

export interface PubSubBusOptions {
  /** Created once per instance by the caller. */
  pubsub: PubSub;
  /** Publish batching (default BATCHING: fan-out of backfill messages). */
  batching?: { maxMessages?: number; maxBytes?: number; maxMilliseconds?: number };
}

/** Batching for fan-out (the auditor publishes many backfill messages at once). */
const BATCHING = { maxMessages: 500, maxMilliseconds: 50 };

/** Pub/Sub behind the Bus port. */
export class PubSubBus implements Bus {
  private readonly pubsub: PubSub;
  private readonly topics = new Map<string, Topic>();
  private readonly batching: NonNullable<PubSubBusOptions['batching']>;

  constructor(options: PubSubBusOptions) {
    this.pubsub = options.pubsub;
    this.batching = options.batching ?? BATCHING;
  }

  async publish(topic: string, messages: unknown[], attributes?: Record<string, string>): Promise<string[]> {
    const handle = this.topic(topic);
    try {
      return await Promise.all(
        messages.map((json) => handle.publishMessage({ json, ...(attributes ? { attributes } : {}) })),
      );
    } catch (err) {
      throw new BackendUnavailableError(
        `publish to ${topic} failed: ${errorMessage(err)}`,
        { topic, messages: messages.length },
        { cause: err },
      );
    }
  }

  private topic(name: string): Topic {
    let topic = this.topics.get(name);
    if (!topic) {
      topic = this.pubsub.topic(name, { batching: this.batching });
      this.topics.set(name, topic);
    }
    return topic;
  }
}
