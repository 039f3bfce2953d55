/**
 * The realtime streams' Pub/Sub resources, declared from describeStreams (shared/deploy/streams.ts):
 * per stream its topic and dead-letter topic (stored only in the lake region), the Cloud Storage
 * subscription that writes the topic into the lake bucket, and the dead-letter topic's pull
 * subscription. The grants (the Pub/Sub agent's on the bucket and dead-letter topic, the ingest
 * account's publisher on the stream topics) are expanded with every other grant (grants.ts) and
 * declared by program.ts; the storage subscription waits for the agent's bucket grants, since
 * Pub/Sub checks them when it creates the subscription.
 */
import * as gcp from '@pulumi/gcp';
import type * as pulumi from '@pulumi/pulumi';
import { describeStreams } from '../shared/deploy/streams.ts';
import type { StreamResources } from '../shared/deploy/streams.ts';

/** `projects/P/topics/T` or `projects/P/subscriptions/S` -> the last segment. */
const shortName = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** Declares every stream's topic and dead-letter topic; returns them by name. */
export function declareStreamTopics(
  streams: StreamResources[],
  ctx: { project: string; opts: pulumi.CustomResourceOptions },
): Record<string, gcp.pubsub.Topic> {
  const topics: Record<string, gcp.pubsub.Topic> = {};
  for (const s of streams) {
    for (const t of s.topics) {
      const name = shortName(t.name);
      topics[name] = new gcp.pubsub.Topic(
        `stream-topic-${name}`,
        { project: ctx.project, name, messageStoragePolicy: t.messageStoragePolicy, labels: t.labels },
        ctx.opts,
      );
    }
  }
  return topics;
}

/**
 * Declares every stream's subscriptions; returns them by name. `grants`: the resources granting
 * the Pub/Sub agent on the buckets and dead-letter topics, which Pub/Sub checks at creation.
 */
export function declareStreamSubscriptions(
  streams: StreamResources[],
  ctx: {
    project: string;
    opts: pulumi.CustomResourceOptions;
    topics: Record<string, gcp.pubsub.Topic>;
    grants: pulumi.Resource[];
  },
): Record<string, gcp.pubsub.Subscription> {
  const subscriptions: Record<string, gcp.pubsub.Subscription> = {};
  for (const s of streams) {
    for (const sub of s.subscriptions) {
      const name = shortName(sub.name);
      const cs = sub.cloudStorageConfig;
      subscriptions[name] = new gcp.pubsub.Subscription(
        `stream-sub-${name}`,
        {
          project: ctx.project,
          name,
          topic: ctx.topics[shortName(sub.topic)]!.id,
          ackDeadlineSeconds: sub.ackDeadlineSeconds,
          ...(cs
            ? {
                cloudStorageConfig: {
                  bucket: cs.bucket,
                  filenamePrefix: cs.filenamePrefix,
                  filenameSuffix: cs.filenameSuffix,
                  filenameDatetimeFormat: cs.filenameDatetimeFormat,
                  maxDuration: cs.maxDuration,
                  maxBytes: Number(cs.maxBytes),
                  // TEXT format: the message data, one per line (no Avro, no metadata).
                  textConfig: {},
                },
              }
            : {}),
          ...(sub.deadLetterPolicy
            ? {
                deadLetterPolicy: {
                  deadLetterTopic: ctx.topics[shortName(sub.deadLetterPolicy.deadLetterTopic)]!.id,
                  maxDeliveryAttempts: sub.deadLetterPolicy.maxDeliveryAttempts,
                },
              }
            : {}),
          ...(sub.retryPolicy ? { retryPolicy: sub.retryPolicy } : {}),
          ...(sub.messageRetentionDuration ? { messageRetentionDuration: sub.messageRetentionDuration } : {}),
          expirationPolicy: sub.expirationPolicy,
          labels: sub.labels,
        },
        { ...ctx.opts, dependsOn: ctx.grants },
      );
    }
  }
  return subscriptions;
}

export { describeStreams };
