/** Builds Pub/Sub messagePublished CloudEvents as Eventarc / functions-framework deliver them. */
let n = 0;

export function pubsubEvent(
  payload: unknown,
  opts: {
    raw?: string;
    messageId?: string;
    publishTime?: string;
    attributes?: Record<string, string>;
    topic?: string;
  } = {},
) {
  const messageId = opts.messageId ?? `m-${++n}-${Date.now()}`;
  const text = opts.raw ?? JSON.stringify(payload);
  return {
    specversion: '1.0',
    id: messageId,
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    source: `//pubsub.googleapis.com/projects/test-project/topics/${opts.topic ?? 'tidemark-backfill'}`,
    time: opts.publishTime ?? new Date().toISOString(),
    data: {
      message: {
        data: Buffer.from(text).toString('base64'),
        messageId,
        publishTime: opts.publishTime ?? new Date().toISOString(),
        attributes: opts.attributes ?? {},
      },
      subscription: 'projects/test-project/subscriptions/eventarc-sub',
    },
  };
}
