/**
 * What each realtime stream needs in the cloud, as a pure description the infrastructure
 * program applies: the topic (messages stored only in the lake's region), the Pub/Sub Cloud
 * Storage subscription that writes the topic into the lake bucket (TEXT format, one message per
 * line, named so the stream table's pattern routes each file to its hour), its dead-letter topic
 * and policy, and the grants: the Pub/Sub service agent writes files into the bucket and
 * dead-letters; the ingest function's account may publish to the stream topics and nothing else.
 * Field names are those of the Pub/Sub REST resources (Topic, Subscription.cloudStorageConfig).
 */
import type { Config, StreamConfig } from '../config/types.ts';

/** The ack deadline of a storage subscription: a message not written by then is delivered again. */
export const STREAM_ACK_DEADLINE_SECONDS = 300;

/** Deliveries before a message the subscription cannot write is dead-lettered (Pub/Sub: 5-100). */
export const STREAM_MAX_DELIVERY_ATTEMPTS = 10;

/** A principal the program resolves: the project's Pub/Sub service agent needs the project number. */
export type Member = { kind: 'pubsub-service-agent' } | { kind: 'service-account'; email: string };

export interface Grant {
  /** What the role is granted on. */
  resource: { kind: 'bucket'; name: string } | { kind: 'topic'; name: string } | { kind: 'subscription'; name: string };
  role: string;
  member: Member;
  why: string;
}

/** A Pub/Sub Topic resource (REST field names). */
export interface TopicResource {
  name: string;
  messageStoragePolicy: { allowedPersistenceRegions: string[] };
  labels: Record<string, string>;
}

/** A Pub/Sub Subscription resource (REST field names); durations as "<seconds>s", int64 as strings. */
export interface SubscriptionResource {
  name: string;
  topic: string;
  ackDeadlineSeconds: number;
  cloudStorageConfig?: {
    bucket: string;
    filenamePrefix: string;
    filenameSuffix: string;
    filenameDatetimeFormat: string;
    textConfig: Record<string, never>;
    maxDuration: string;
    maxBytes: string;
  };
  deadLetterPolicy?: { deadLetterTopic: string; maxDeliveryAttempts: number };
  retryPolicy?: { minimumBackoff: string; maximumBackoff: string };
  messageRetentionDuration?: string;
  /** `ttl: ''`: never expires (the default deletes a subscription idle for 31 days; a quiet stream must keep its). */
  expirationPolicy: { ttl: string };
  labels: Record<string, string>;
}

export interface StreamResources {
  stream: string;
  topics: TopicResource[];
  subscriptions: SubscriptionResource[];
  grants: Grant[];
  /** What the subscription reports once created (`state` is output-only). */
  expect: { subscription: string; state: 'ACTIVE' };
}

export interface StreamDeployOptions {
  /** The lake bucket's region: where messages may be stored. */
  lakeRegion: string;
  /** The ingest function's service account (`<prefix>-ingest@<project>.iam.gserviceaccount.com`). */
  ingestAccountEmail: string;
}

const seconds = (ms: number) => `${Math.round(ms / 1000)}s`;
const topicPath = (project: string, topic: string) => `projects/${project}/topics/${topic}`;
const LABELS = { tidemark: 'stream' };

/** The resources of one stream. */
export function describeStream(
  config: Pick<Config, 'project' | 'tables'>,
  stream: StreamConfig,
  opts: Pick<StreamDeployOptions, 'lakeRegion'>,
): StreamResources {
  const table = config.tables.find((t) => t.name === stream.table);
  if (!table) throw new Error(`stream ${stream.name}: no table ${stream.table} (the config check guarantees one)`);
  const bucket = table.source.bucket;
  const storage = { allowedPersistenceRegions: [opts.lakeRegion] };
  const labels = { ...LABELS, tidemark_stream: stream.name.replace(/[^a-z0-9_-]/g, '_') };
  const agent: Member = { kind: 'pubsub-service-agent' };
  return {
    stream: stream.name,
    topics: [
      { name: topicPath(config.project, stream.topic), messageStoragePolicy: storage, labels },
      { name: topicPath(config.project, stream.deadLetterTopic), messageStoragePolicy: storage, labels },
    ],
    subscriptions: [
      {
        name: `projects/${config.project}/subscriptions/${stream.subscription}`,
        topic: topicPath(config.project, stream.topic),
        ackDeadlineSeconds: STREAM_ACK_DEADLINE_SECONDS,
        cloudStorageConfig: {
          bucket,
          filenamePrefix: stream.files.prefix,
          filenameSuffix: stream.files.suffix,
          filenameDatetimeFormat: stream.files.datetimeFormat,
          textConfig: {},
          maxDuration: seconds(stream.files.maxDurationMs),
          maxBytes: String(stream.files.maxBytes),
        },
        deadLetterPolicy: {
          deadLetterTopic: topicPath(config.project, stream.deadLetterTopic),
          maxDeliveryAttempts: STREAM_MAX_DELIVERY_ATTEMPTS,
        },
        retryPolicy: { minimumBackoff: '10s', maximumBackoff: '600s' },
        messageRetentionDuration: '604800s',
        expirationPolicy: { ttl: '' },
        labels,
      },
      // A dead-letter topic without a subscription loses what it receives.
      {
        name: `projects/${config.project}/subscriptions/${stream.deadLetterTopic}-sub`,
        topic: topicPath(config.project, stream.deadLetterTopic),
        ackDeadlineSeconds: 60,
        messageRetentionDuration: '604800s',
        expirationPolicy: { ttl: '' },
        labels,
      },
    ],
    grants: [
      {
        resource: { kind: 'bucket', name: bucket },
        role: 'roles/storage.objectCreator',
        member: agent,
        why: 'the storage subscription writes files into the lake bucket',
      },
      {
        resource: { kind: 'bucket', name: bucket },
        role: 'roles/storage.legacyBucketReader',
        member: agent,
        why: 'the storage subscription reads the bucket metadata',
      },
      {
        resource: { kind: 'topic', name: stream.deadLetterTopic },
        role: 'roles/pubsub.publisher',
        member: agent,
        why: 'forwarding undeliverable messages to the dead-letter topic',
      },
      {
        resource: { kind: 'subscription', name: stream.subscription },
        role: 'roles/pubsub.subscriber',
        member: agent,
        why: 'acknowledging messages it dead-letters',
      },
    ],
    expect: { subscription: stream.subscription, state: 'ACTIVE' },
  };
}

/** Every stream's resources, plus the ingest account's grants: publisher on each stream topic, nothing else. */
export function describeStreams(
  config: Pick<Config, 'project' | 'tables' | 'streams'>,
  opts: StreamDeployOptions,
): { streams: StreamResources[]; ingestGrants: Grant[] } {
  const account: Member = { kind: 'service-account', email: opts.ingestAccountEmail };
  return {
    streams: config.streams.map((s) => describeStream(config, s, opts)),
    ingestGrants: config.streams.map((s) => ({
      resource: { kind: 'topic', name: s.topic },
      role: 'roles/pubsub.publisher',
      member: account,
      why: `ingestEvents publishes accepted records of stream ${s.name}`,
    })),
  };
}
