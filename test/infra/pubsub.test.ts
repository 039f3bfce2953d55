/**
 * Pub/Sub infra against the real emulator (one per file): plan on an empty project, apply, plan
 * again (nothing left), the delivery policy on an Eventarc-style push subscription, drift repair,
 * and PubSubBus fan-out arriving on the DLQ subscription exactly once.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Message, PubSub } from '@google-cloud/pubsub';
import { desiredState } from '../../infra/desired.ts';
import type { Resource } from '../../infra/desired.ts';
import { InfraConflictError } from '../../infra/errors.ts';
import { applyInfra, isConverged, planInfra } from '../../infra/plan.ts';
import type { Change } from '../../infra/plan.ts';
import { PubSubBus } from '../../shared/backends/gcp/pubsub-bus.ts';
import { emulatorSuite, withEmulator } from '../helpers/pubsub-emulator.ts';
import { testConfig, testDeploy } from './fixtures.ts';

const config = testConfig();
const PUBSUB_KINDS = new Set(['topic', 'subscription', 'deliveryPolicy']);
const desired = desiredState(config, testDeploy()).filter((r) => PUBSUB_KINDS.has(r.kind));
/** Stands in for the push subscription `gcloud functions deploy --trigger-topic` makes. */
const EVENTARC_SUB = 'eventarc-asia-northeast3-tidemark-backfill-000000-sub-001';

const summary = (changes: Change[]) => changes.map((c) => `${c.action} ${c.resource.kind} ${'name' in c.resource ? c.resource.name : (c.resource as { subscription?: string }).subscription ?? ''}`.trim());

describe('Pub/Sub infra on the emulator', emulatorSuite(), () => {
  const emu = withEmulator();
  let pubsub: PubSub;
  let project: string;
  let sink: http.Server;
  let pushEndpoint: string;

  before(async () => {
    pubsub = emu.pubsub();
    project = emu.emulator.projectId;
    // A push endpoint that accepts everything (nothing is published to the backfill topic here).
    sink = http.createServer((_req, res) => res.writeHead(204).end());
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    pushEndpoint = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`;
  });
  after(() => new Promise<void>((resolve) => sink.close(() => resolve())));

  it('plans four topics and two pull subscriptions on an empty project; the delivery policy waits for the deploy', async () => {
    const changes = await planInfra(desired, { project, pubsub });
    assert.deepEqual(summary(changes), [
      'create topic tidemark-audit',
      'create topic tidemark-backfill',
      'create topic tidemark-backfill-dlq',
      'create topic tidemark-audit-results',
      'create subscription tidemark-backfill-dlq-sub',
      'create subscription tidemark-audit-results-sub',
      'noop deliveryPolicy',
    ]);
    assert.match(changes.at(-1)!.detail, /no subscription on tidemark-backfill yet.*after deploying/);
  });

  it('applies them; planning again finds nothing to do', async () => {
    await applyInfra(await planInfra(desired, { project, pubsub }), { project, pubsub });
    const again = await planInfra(desired, { project, pubsub });
    assert.ok(isConverged(again), summary(again).join('\n'));

    const [dlq] = await pubsub.subscription('tidemark-backfill-dlq-sub').getMetadata();
    assert.equal(dlq.topic, `projects/${project}/topics/tidemark-backfill-dlq`);
    assert.equal(Number(dlq.messageRetentionDuration?.seconds), 7 * 86_400);
    assert.equal(dlq.ackDeadlineSeconds, 60);
    assert.ok(dlq.expirationPolicy && !dlq.expirationPolicy.ttl, 'never expires');
    const [results] = await pubsub.subscription('tidemark-audit-results-sub').getMetadata();
    assert.equal(Number(results.messageRetentionDuration?.seconds), 7 * 86_400);
  });

  it('applying the same plan twice is harmless (already-exists is not an error)', async () => {
    const stale: Change[] = desired.filter((r) => r.kind === 'topic' || r.kind === 'subscription').map((resource) => ({ resource, action: 'create', detail: '' }));
    await applyInfra(stale, { project, pubsub });
    assert.ok(isConverged(await planInfra(desired, { project, pubsub })));
  });

  it("sets the dead-letter and retry policy on the deploy's push subscription to the backfill topic", async () => {
    await pubsub.topic(config.topics.backfill).createSubscription(EVENTARC_SUB, { pushConfig: { pushEndpoint } });
    const plan = await planInfra(desired, { project, pubsub });
    const update = plan.filter((c) => c.action !== 'noop');
    assert.deepEqual(summary(update), [`update deliveryPolicy ${EVENTARC_SUB}`]);
    assert.equal(update[0]!.detail, 'deadLetterPolicy none -> tidemark-backfill-dlq/10, retryPolicy none -> 10-600s');

    await applyInfra(plan, { project, pubsub });
    const [meta] = await pubsub.subscription(EVENTARC_SUB).getMetadata();
    assert.deepEqual(meta.deadLetterPolicy, { deadLetterTopic: `projects/${project}/topics/tidemark-backfill-dlq`, maxDeliveryAttempts: 10 });
    assert.equal(Number(meta.retryPolicy?.minimumBackoff?.seconds), 10);
    assert.equal(Number(meta.retryPolicy?.maximumBackoff?.seconds), 600);
    assert.equal(meta.pushConfig?.pushEndpoint, pushEndpoint, 'the push config is left alone');
    assert.ok(isConverged(await planInfra(desired, { project, pubsub })));
  });

  it('follows maxDeliveryAttempts from the deploy settings', async () => {
    const stricter = desiredState(config, testDeploy({ backfill: { maxDeliveryAttempts: 5 } })).filter((r) => r.kind === 'deliveryPolicy');
    const plan = await planInfra(stricter, { project, pubsub });
    assert.deepEqual(
      plan.map((c) => [c.action, c.detail]),
      [['update', 'deadLetterPolicy tidemark-backfill-dlq/10 -> tidemark-backfill-dlq/5']],
    );
    await applyInfra(plan, { project, pubsub });
    const [meta] = await pubsub.subscription(EVENTARC_SUB).getMetadata();
    assert.equal(meta.deadLetterPolicy?.maxDeliveryAttempts, 5);
    await applyInfra(await planInfra(desired, { project, pubsub }), { project, pubsub }); // back to 10
  });

  it('repairs a pull subscription someone changed by hand', async () => {
    await pubsub.subscription('tidemark-audit-results-sub').setMetadata({ ackDeadlineSeconds: 20, messageRetentionDuration: 3_600 });
    const plan = (await planInfra(desired, { project, pubsub })).filter((c) => c.action !== 'noop');
    assert.deepEqual(
      plan.map((c) => [c.action, c.detail]),
      [['update', 'ackDeadlineSeconds 20 -> 60, messageRetentionDuration 3600s -> 604800s']],
    );
    await applyInfra(plan, { project, pubsub });
    assert.ok(isConverged(await planInfra(desired, { project, pubsub })));
  });

  it('refuses to plan a subscription that is attached to another topic', async () => {
    await pubsub.topic('tidemark-audit').createSubscription('misattached-sub');
    const wrong: Resource = { kind: 'subscription', name: 'misattached-sub', topic: 'tidemark-audit-results', ackDeadlineSeconds: 60, retentionSeconds: 604_800, neverExpire: true };
    await assert.rejects(planInfra([wrong], { project, pubsub }), (err: unknown) => err instanceof InfraConflictError && /cannot change topic/.test(err.message));
  });

  it('PubSubBus publishes 600 messages in one call; the DLQ subscription receives each exactly once', async () => {
    const bus = new PubSubBus({ pubsub });
    const messages = Array.from({ length: 600 }, (_, n) => ({ table: 'events', partition: `2026112${n % 10}00`, n }));
    const ids = await bus.publish(config.topics.backfillDlq, messages, { origin: 'test' });
    assert.equal(new Set(ids).size, 600);

    const received = new Map<string, { n: number; attributes: Record<string, string> }>();
    let duplicates = 0;
    const subscription = pubsub.subscription('tidemark-backfill-dlq-sub', { flowControl: { maxMessages: 1_000, allowExcessMessages: false } });
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${received.size}/600 messages arrived`)), 20_000);
      subscription.on('error', reject);
      subscription.on('message', (m: Message) => {
        if (received.has(m.id)) duplicates++;
        received.set(m.id, { n: (JSON.parse(m.data.toString('utf8')) as { n: number }).n, attributes: m.attributes });
        m.ack();
        if (received.size === 600) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    await done;
    await new Promise((resolve) => setTimeout(resolve, 300)); // anything extra would show up now
    await subscription.close();

    assert.equal(duplicates, 0);
    assert.deepEqual([...received.keys()].sort(), [...ids].sort());
    assert.deepEqual([...received.values()].map((v) => v.n).sort((a, b) => a - b), messages.map((m) => m.n));
    assert.ok([...received.values()].every((v) => v.attributes.origin === 'test'));
  });
});
