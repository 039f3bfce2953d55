/**
 * Pub/Sub through the official client: topics, tidemark's pull subscriptions, and the
 * dead-letter/retry policy on whatever subscriptions are attached to the backfill topic (Eventarc
 * creates its push subscription at deploy, so this part only has work after a deploy).
 */
import type { GetSubscriptionMetadataResponse, PubSub, Subscription } from '@google-cloud/pubsub';
import type { DeliveryPolicyResource, SubscriptionResource, TopicResource } from './desired.ts';
import { InfraConflictError } from './errors.ts';
import type { Change } from './plan.ts';

export type PubSubResource = TopicResource | SubscriptionResource | DeliveryPolicyResource;

type SubscriptionMetadata = GetSubscriptionMetadataResponse[0];

const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;

/** What `resource` needs: one change, or one per attached subscription for a delivery policy. */
export async function planPubSub(resource: PubSubResource, pubsub: PubSub, project: string): Promise<Change[]> {
  switch (resource.kind) {
    case 'topic': {
      const [exists] = await pubsub.topic(resource.name).exists();
      return [exists ? { resource, action: 'noop', detail: '' } : { resource, action: 'create', detail: '' }];
    }
    case 'subscription':
      return [await planSubscription(resource, pubsub, project)];
    case 'deliveryPolicy':
      return planDeliveryPolicy(resource, pubsub);
  }
}

export async function applyPubSub(change: Change & { resource: PubSubResource }, pubsub: PubSub): Promise<void> {
  const r = change.resource;
  if (change.action === 'noop') return;
  switch (r.kind) {
    case 'topic':
      await ignoring(ALREADY_EXISTS, () => pubsub.createTopic(r.name));
      return;
    case 'subscription':
      if (change.action === 'create') {
        await ignoring(ALREADY_EXISTS, () => pubsub.topic(r.topic).createSubscription(r.name, subscriptionFields(r)));
        return;
      }
      {
        // Only the fields that drifted: the update mask is built from the keys sent.
        const current = await metadataOrNull(pubsub.subscription(r.name));
        const { fields } = current ? subscriptionDrift(current, r) : { fields: subscriptionFields(r) };
        if (Object.keys(fields).length) await pubsub.subscription(r.name).setMetadata(fields);
      }
      return;
    case 'deliveryPolicy':
      if (!r.subscription) return;
      await pubsub.subscription(r.subscription).setMetadata(deliveryFields(r));
      return;
  }
}

async function planSubscription(r: SubscriptionResource, pubsub: PubSub, project: string): Promise<Change> {
  const current = await metadataOrNull(pubsub.subscription(r.name));
  if (!current) return { resource: r, action: 'create', detail: `on ${r.topic}, retention ${r.retentionSeconds / 86_400}d` };
  const wantTopic = `projects/${project}/topics/${r.topic}`;
  if (current.topic !== wantTopic) {
    throw new InfraConflictError(`subscription ${r.name} is attached to ${current.topic}, not ${wantTopic}; a subscription cannot change topic: delete it and apply again`, { subscription: r.name });
  }
  const { notes } = subscriptionDrift(current, r);
  return notes.length ? { resource: r, action: 'update', detail: notes.join(', ') } : { resource: r, action: 'noop', detail: '' };
}

/** What differs, as plan notes and as the fields an update must send. */
function subscriptionDrift(current: SubscriptionMetadata, r: SubscriptionResource): { notes: string[]; fields: Partial<ReturnType<typeof subscriptionFields>> } {
  const notes: string[] = [];
  const want = subscriptionFields(r);
  const fields: Partial<typeof want> = {};
  if (current.ackDeadlineSeconds !== r.ackDeadlineSeconds) {
    notes.push(`ackDeadlineSeconds ${current.ackDeadlineSeconds} -> ${r.ackDeadlineSeconds}`);
    fields.ackDeadlineSeconds = want.ackDeadlineSeconds;
  }
  const retention = seconds(current.messageRetentionDuration);
  if (retention !== r.retentionSeconds) {
    notes.push(`messageRetentionDuration ${retention}s -> ${r.retentionSeconds}s`);
    fields.messageRetentionDuration = want.messageRetentionDuration;
  }
  const ttl = current.expirationPolicy ? seconds(current.expirationPolicy.ttl) : undefined;
  if (current.expirationPolicy == null || (ttl !== undefined && ttl > 0)) {
    notes.push(`expirationPolicy ${ttl === undefined ? 'default' : `${ttl}s`} -> never`);
    fields.expirationPolicy = want.expirationPolicy;
  }
  return { notes, fields };
}

async function planDeliveryPolicy(r: DeliveryPolicyResource, pubsub: PubSub): Promise<Change[]> {
  let attached: Subscription[];
  try {
    [attached] = await pubsub.topic(r.topic).getSubscriptions();
  } catch (err) {
    if (grpcCode(err) !== NOT_FOUND) throw err;
    attached = []; // the topic is created by this apply
  }
  if (attached.length === 0) {
    return [{ resource: r, action: 'noop', detail: `waiting: no subscription on ${r.topic} yet (the deploy creates it): run infra apply again after deploying` }];
  }
  const changes: Change[] = [];
  for (const subscription of attached) {
    const resource: DeliveryPolicyResource = { ...r, subscription: shortName(subscription.name) };
    const current = await metadataOrNull(subscription);
    if (!current) continue; // deleted between list and get
    const drift: string[] = [];
    const dlq = current.deadLetterPolicy;
    if (!dlq || dlq.deadLetterTopic !== r.deadLetterTopic || dlq.maxDeliveryAttempts !== r.maxDeliveryAttempts) {
      drift.push(`deadLetterPolicy ${dlq?.deadLetterTopic ? `${shortName(dlq.deadLetterTopic)}/${dlq.maxDeliveryAttempts}` : 'none'} -> ${shortName(r.deadLetterTopic)}/${r.maxDeliveryAttempts}`);
    }
    const retry = current.retryPolicy;
    const min = retry ? seconds(retry.minimumBackoff) : undefined;
    const max = retry ? seconds(retry.maximumBackoff) : undefined;
    if (min !== r.minBackoffSeconds || max !== r.maxBackoffSeconds) {
      drift.push(`retryPolicy ${retry ? `${min ?? 0}-${max ?? 0}s` : 'none'} -> ${r.minBackoffSeconds}-${r.maxBackoffSeconds}s`);
    }
    changes.push(drift.length ? { resource, action: 'update', detail: drift.join(', ') } : { resource, action: 'noop', detail: '' });
  }
  return changes;
}

function subscriptionFields(r: SubscriptionResource) {
  return {
    ackDeadlineSeconds: r.ackDeadlineSeconds,
    messageRetentionDuration: { seconds: r.retentionSeconds, nanos: 0 },
    // An expiration policy with no ttl: never expires.
    expirationPolicy: {},
  };
}

function deliveryFields(r: DeliveryPolicyResource) {
  return {
    deadLetterPolicy: { deadLetterTopic: r.deadLetterTopic, maxDeliveryAttempts: r.maxDeliveryAttempts },
    retryPolicy: { minimumBackoff: { seconds: r.minBackoffSeconds }, maximumBackoff: { seconds: r.maxBackoffSeconds } },
  };
}

async function metadataOrNull(subscription: Subscription): Promise<SubscriptionMetadata | null> {
  try {
    const [metadata] = await subscription.getMetadata();
    return metadata;
  } catch (err) {
    if (grpcCode(err) === NOT_FOUND) return null;
    throw err;
  }
}

async function ignoring(code: number, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (grpcCode(err) !== code) throw err;
  }
}

/** Seconds of a protobuf Duration (`seconds` may be a string or a Long), or undefined. */
function seconds(duration: { seconds?: unknown } | null | undefined): number | undefined {
  if (!duration || duration.seconds === null || duration.seconds === undefined) return undefined;
  return Number(duration.seconds);
}

function shortName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

export function grpcCode(err: unknown): number | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'number' ? code : undefined;
}
