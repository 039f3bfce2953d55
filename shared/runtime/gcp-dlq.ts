/**
 * Reads the backfill dead-letter subscription (pull) for `tidemark dlq --backend gcp`, and
 * optionally replays the messages to the backfill topic. Without --replay the messages are
 * handed back (ack deadline 0) so they stay in the subscription.
 */
import type { Config } from '../config/types.ts';

export interface DeadLetterRow {
  messageId: string;
  data: string;
  attempts: number | null;
  published: string;
}

export async function pullDeadLetters(
  config: Config,
  opts: { replay: boolean; max?: number },
): Promise<{ messages: DeadLetterRow[]; replayed: number }> {
  // Imported here: the status page bundles this file, and gRPC Pub/Sub is most of a bundle.
  const { v1, PubSub } = await import('@google-cloud/pubsub');
  const client = new v1.SubscriberClient();
  const subscription = client.subscriptionPath(config.project, `${config.topics.backfillDlq}-sub`);
  const [response] = await client.pull({ subscription, maxMessages: opts.max ?? 1000 });
  const received = response.receivedMessages ?? [];
  const messages: DeadLetterRow[] = received.map((m) => ({
    messageId: m.message?.messageId ?? '',
    data: Buffer.from(m.message?.data ?? '').toString('utf8'),
    attempts: m.deliveryAttempt ?? null,
    published: m.message?.publishTime?.seconds
      ? new Date(Number(m.message.publishTime.seconds) * 1000).toISOString()
      : '',
  }));
  const ackIds = received.map((m) => m.ackId!).filter(Boolean);
  if (!ackIds.length) return { messages, replayed: 0 };
  if (!opts.replay) {
    await client.modifyAckDeadline({ subscription, ackIds, ackDeadlineSeconds: 0 });
    return { messages, replayed: 0 };
  }
  const topic = new PubSub({ projectId: config.project }).topic(config.topics.backfill);
  for (const m of received) {
    await topic.publishMessage({
      data: Buffer.from(m.message?.data ?? ''),
      attributes: { ...(m.message?.attributes ?? {}), replayOf: m.message?.messageId ?? '' },
    });
  }
  await client.acknowledge({ subscription, ackIds });
  return { messages, replayed: received.length };
}
