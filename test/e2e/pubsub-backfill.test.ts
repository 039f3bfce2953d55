/**
 * backfillPartition end to end on the real Pub/Sub emulator: messages published with the gcloud
 * CLI or PubSubBus travel through a push subscription (standing in for the one Eventarc makes)
 * to onBackfillMessage served by functions-framework, over a local lake and DuckDB warehouse.
 * The push subscription carries a dead-letter policy (5 attempts) and the shortest retry policy.
 *
 * Proves: the README's forced reload works as typed; a fan-out of 50 messages loads 50
 * partitions once each even when every message arrives twice and some deliveries fail after
 * their load job finished (real redeliveries); a message whose endpoint keeps failing lands on
 * the dead-letter topic intact after 5 attempts; a message that is not JSON is acknowledged and
 * never dead-lettered.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cloudEvent } from '@google-cloud/functions-framework';
import type { CloudEvent } from '@google-cloud/functions-framework';
import type { PubSub } from '@google-cloud/pubsub';
import { PubSubBus } from '../../shared/backends/gcp/pubsub-bus.ts';
import { systemClock } from '../../shared/core/ports.ts';
import { syncPartition } from '../../shared/core/sync.ts';
import { budgetRequeueAfterMs } from '../../infra/delivery.ts';
import { onBackfillMessage } from '../../shared/handlers/backfill.ts';
import type { BackfillDeps, BackfillOutcome } from '../../shared/handlers/backfill.ts';
import type { Acknowledged } from '../../shared/handlers/settle-event.ts';
import { createTestEnv, csvRows, EVENTS_YAML } from '../helpers/local-env.ts';
import type { TestEnv } from '../helpers/local-env.ts';
import {
  emulatorSuite,
  gcloudForEmulator,
  pullOnce,
  pullUntil,
  servePushEndpoint,
  withEmulator,
} from '../helpers/pubsub-emulator.ts';
import type { GcloudCli, PulledMessage, PushEndpoint } from '../helpers/pubsub-emulator.ts';

const README = resolve(dirname(fileURLToPath(import.meta.url)), '../../README.md');
const BACKFILL = 'tidemark-backfill';
/** Stands in for the push subscription `gcloud functions deploy --trigger-topic` makes. */
const BACKFILL_PUSH = 'eventarc-tidemark-backfill-sub';
const DLQ = 'tidemark-backfill-dlq';
const DLQ_SUB = 'tidemark-backfill-dlq-sub';
const POISON = 'tidemark-backfill-poison';
const POISON_PUSH = 'eventarc-tidemark-backfill-poison-sub';
/** The poison subscription's own dead-letter topic: its message is dead-lettered while other tests run. */
const POISON_DLQ = 'tidemark-backfill-poison-dlq';
const POISON_DLQ_SUB = 'tidemark-backfill-poison-dlq-sub';
const POISON_PAYLOAD = { table: 'events', partition: '2026112414', force: false, reason: 'poison' };
/** A backfill topic of its own for a table whose job budget is spent (the requeue goes back here). */
const BUDGET = 'tidemark-backfill-budget';
const BUDGET_PUSH = 'eventarc-tidemark-backfill-budget-sub';
/** The budget subscription's minimum backoff (the deployed one has BACKFILL_DELIVERY's 60 s). */
const BUDGET_MIN_BACKOFF_S = 2;
/** One job a day and a ManualClock that never refills: the second partition always waits for budget. */
const BUDGET_YAML = `${EVENTS_YAML.replace('jobBudget: 300, jobBurst: 20', 'jobBudget: 1, jobBurst: 1')}topics: { backfill: ${BUDGET} }\n`;
const MAX_DELIVERY_ATTEMPTS = 5;
/** The shortest the emulator takes; it still spaces attempts after the second about 3 s apart. */
const RETRY_POLICY = { minimumBackoff: { seconds: 0 }, maximumBackoff: { seconds: 1 } };
/** Room for every load here: the ManualClock never refills the job budget. */
const YAML = EVENTS_YAML.replace('jobBudget: 300, jobBurst: 20', 'jobBudget: 1000, jobBurst: 100');
const REF = { dataset: 'lake_us', table: 'events' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await check()); await sleep(100)) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

/** An error with a one-line stack: functions-framework prints the stack of every failed push. */
function transientError(message: string): Error {
  const err = new Error(message);
  err.stack = `Error: ${message}`;
  return err;
}

/** `YYYYMMDDHH` and the lake path of an hour. */
function hour(ms: number): { id: string; dir: string } {
  const [date, time] = new Date(ms).toISOString().split('T') as [string, string];
  const hh = time.slice(0, 2);
  return { id: `${date.replace(/-/g, '')}${hh}`, dir: `events/dt=${date}/hr=${hh}` };
}

/** The forced-reload command of the README's "By hand" section, exactly as a reader copies it. */
function readmeReloadCommand(): { command: string; message: { table: string; partition: string; force: boolean } } {
  const match = /^gcloud pubsub topics publish tidemark-backfill \\\n\s*--message='([^']*)'$/m.exec(
    readFileSync(README, 'utf8'),
  );
  assert.ok(match, 'README.md has the forced-reload command');
  return { command: match[0], message: JSON.parse(match[1]!) };
}

describe('backfillPartition through the Pub/Sub emulator', { ...emulatorSuite(), timeout: 90_000 }, () => {
  const emu = withEmulator();
  let env: TestEnv;
  let pubsub: PubSub;
  let project: string;
  let deps: BackfillDeps;
  let gcloud: GcloudCli | undefined;
  let backfillFn: PushEndpoint | undefined;
  let poisonFn: PushEndpoint | undefined;
  let budgetFn: PushEndpoint | undefined;
  let budgetEnv: TestEnv;
  /** What the budget endpoint answered, per message id. */
  const budgetOutcomes = new Map<string, Acknowledged<BackfillOutcome>[]>();
  /** What onBackfillMessage answered, per message id, in order. */
  const outcomes = new Map<string, Acknowledged<BackfillOutcome>[]>();
  /** Partitions whose next sync "loses its instance" right after the load job finished. */
  const crashOnce = new Set<string>();
  /**
   * The poison message, published once the subscriptions exist, and what its dead-letter topic
   * received: its five failed deliveries (seconds of the emulator's backoff) overlap the other tests.
   */
  let poison: Promise<{ messageId: string; dead: PulledMessage[] }>;

  const rowsIn = (partition: string) => env.count(`strftime(_PARTITIONTIME, '%Y%m%d%H') = '${partition}'`);
  const answered = (endpoint: PushEndpoint, messageId: string) =>
    endpoint.deliveries.filter((d) => d.messageId === messageId);
  const acknowledged = (messageId: string) =>
    answered(backfillFn!, messageId).some((d) => d.status >= 200 && d.status < 300);

  before(async () => {
    env = await createTestEnv({
      yaml: YAML,
      hooks: {
        step: (step, info) => {
          if (step === 'after-complete' && crashOnce.delete(info.partition))
            throw transientError(`instance lost after the load job of ${info.partition} finished`);
        },
      },
    });
    pubsub = emu.pubsub();
    project = emu.emulator.projectId;
    deps = { ...env.engine, bus: new PubSubBus({ pubsub }) };

    // The deployed adapter's shape (functions/backfill-partition), over the local engine.
    cloudEvent('backfillE2E', async (event: CloudEvent<unknown>) => {
      const outcome = await onBackfillMessage(deps, event);
      outcomes.set(event.id, [...(outcomes.get(event.id) ?? []), outcome]);
    });
    budgetEnv = await createTestEnv({ yaml: BUDGET_YAML });
    // As deployed: re-published once older than the subscription's backoff lets it get before its last attempt.
    // Real time here: a message's age is judged against its publish time, which the emulator stamps.
    const budgetDeps: BackfillDeps = {
      ...budgetEnv.engine,
      clock: systemClock,
      bus: new PubSubBus({ pubsub }),
      requeueAfterMs: budgetRequeueAfterMs(MAX_DELIVERY_ATTEMPTS, BUDGET_MIN_BACKOFF_S),
    };
    cloudEvent('budgetE2E', async (event: CloudEvent<unknown>) => {
      const outcome = await onBackfillMessage(budgetDeps, event);
      budgetOutcomes.set(event.id, [...(budgetOutcomes.get(event.id) ?? []), outcome]);
      if (!outcome.ok) throw transientError(String((outcome as { error?: unknown }).error));
    });
    cloudEvent('alwaysFails', () => {
      throw transientError('transient: always fails');
    });
    backfillFn = await servePushEndpoint('backfillE2E', project);
    poisonFn = await servePushEndpoint('alwaysFails', project);
    budgetFn = await servePushEndpoint('budgetE2E', project);
    gcloud = gcloudForEmulator(emu.emulator);

    const [dlq] = await pubsub.createTopic(DLQ);
    await dlq.createSubscription(DLQ_SUB);
    const delivery = {
      ackDeadlineSeconds: 60,
      deadLetterPolicy: { deadLetterTopic: dlq.name, maxDeliveryAttempts: MAX_DELIVERY_ATTEMPTS },
      retryPolicy: RETRY_POLICY,
    };
    const [backfill] = await pubsub.createTopic(BACKFILL);
    await backfill.createSubscription(BACKFILL_PUSH, {
      pushConfig: { pushEndpoint: backfillFn.url(BACKFILL) },
      ...delivery,
    });
    const [budget] = await pubsub.createTopic(BUDGET);
    await budget.createSubscription(BUDGET_PUSH, {
      pushConfig: { pushEndpoint: budgetFn.url(BUDGET) },
      ...delivery,
      retryPolicy: {
        minimumBackoff: { seconds: BUDGET_MIN_BACKOFF_S },
        maximumBackoff: { seconds: BUDGET_MIN_BACKOFF_S },
      },
    });
    const [poisonDlq] = await pubsub.createTopic(POISON_DLQ);
    await poisonDlq.createSubscription(POISON_DLQ_SUB);
    const [poisonTopic] = await pubsub.createTopic(POISON);
    await poisonTopic.createSubscription(POISON_PUSH, {
      pushConfig: { pushEndpoint: poisonFn.url(POISON) },
      ...delivery,
      deadLetterPolicy: { deadLetterTopic: poisonDlq.name, maxDeliveryAttempts: MAX_DELIVERY_ATTEMPTS },
    });

    const [meta] = await pubsub.subscription(BACKFILL_PUSH).getMetadata();
    assert.deepEqual(meta.deadLetterPolicy, {
      deadLetterTopic: `projects/${project}/topics/${DLQ}`,
      maxDeliveryAttempts: MAX_DELIVERY_ATTEMPTS,
    });
    assert.equal(Number(meta.retryPolicy?.minimumBackoff?.seconds), 0);

    poison = (async () => {
      const [messageId = ''] = await deps.bus.publish(POISON, [POISON_PAYLOAD], { origin: 'test' });
      return { messageId, dead: await pullUntil(emu.emulator, POISON_DLQ_SUB, { count: 1, timeoutMs: 60_000 }) };
    })();
    poison.catch(() => {}); // awaited by its test; a failure before then is that test's to report
  });

  after(async () => {
    await backfillFn?.close();
    await poisonFn?.close();
    await budgetFn?.close();
    await budgetEnv?.close();
    gcloud?.dispose();
    await env?.close();
  });

  it("the README's forced reload, typed into a shell, restores a partition deleted by hand", async () => {
    const { command, message } = readmeReloadCommand();
    assert.deepEqual(message, { table: 'events', partition: '2026112413', force: true });
    const P = message.partition;
    await env.put('events/dt=2026-11-24/hr=13/part-0001.csv', csvRows(1, 7));
    assert.equal(
      (await syncPartition(env.engine, { table: 'events', partition: P, reason: 'object-finalized' })).outcome,
      'loaded',
    );
    assert.equal(await rowsIn(P), 7);
    await env.engine.warehouse.deletePartition(REF, P); // `bq rm 'lake_us.events$2026112413'`
    assert.equal(await rowsIn(P), 0);
    const jobsBefore = (await env.engine.warehouse.jobHistory()).length;

    const published = await gcloud!.shell(`${command} --project=${project}`);
    assert.equal(published.code, 0, published.stderr);
    const messageId = /messageIds:\s*-\s*'([^']+)'/.exec(published.stdout)?.[1];
    assert.ok(messageId, `gcloud printed the message id: ${published.stdout}`);

    await waitUntil(`partition ${P} holding its 7 rows again`, async () => (await rowsIn(P)) === 7);
    await waitUntil(`message ${messageId} acknowledged`, () => acknowledged(messageId));
    const jobs = (await env.engine.warehouse.jobHistory()).slice(jobsBefore);
    assert.deepEqual(
      jobs.map((j) => [j.kind, j.partition, j.state, j.error]),
      [['load', P, 'DONE', null]],
    );
    assert.equal((await env.engine.warehouse.getJobSpec(jobs[0]!.jobId))?.labels.tidemark_reason, 'backfill-manual');
    const [outcome] = outcomes.get(messageId) ?? [];
    assert.ok(
      outcome?.ok && outcome.value.action === 'synced' && outcome.value.result.outcome === 'loaded',
      JSON.stringify(outcome),
    );
  });

  it('fans out 50 backfills published twice, 10 of them failing once after their load: one load per partition, exact rows', async () => {
    const hours = Array.from({ length: 50 }, (_, i) => hour(Date.UTC(2026, 10, 20) + i * 3_600_000));
    const expected = new Map<string, number>();
    let nextId = 1_000;
    for (const [i, h] of hours.entries()) {
      const n = 1 + (i % 9);
      await env.put(`${h.dir}/part-0001.csv`, csvRows(nextId, n));
      nextId += n;
      expected.set(h.id, n);
    }
    const partitions = [...expected.keys()];
    const crashed = partitions.filter((_, i) => i % 5 === 0);
    for (const p of crashed) crashOnce.add(p);
    const jobsBefore = (await env.engine.warehouse.jobHistory()).length;

    const messages = partitions.map((partition) => ({ table: 'events', partition, force: false, reason: 'missing' }));
    // Every message twice: what at-least-once delivery or a second audit run brings.
    const ids = await deps.bus.publish(BACKFILL, [...messages, ...messages], { origin: 'test' });
    assert.equal(new Set(ids).size, 100);

    await waitUntil('all 100 messages acknowledged', () => ids.every(acknowledged));
    assert.equal(crashOnce.size, 0, 'every injected failure happened');
    const list = partitions.map((p) => `'${p}'`).join(',');
    const rows = await env.rows(
      `SELECT strftime(_PARTITIONTIME, '%Y%m%d%H') AS p, count(*)::INTEGER AS n, count(DISTINCT id)::INTEGER AS ids
       FROM lake_us.events WHERE strftime(_PARTITIONTIME, '%Y%m%d%H') IN (${list}) GROUP BY 1 ORDER BY 1`,
    );
    assert.deepEqual(
      rows.map((r) => [r.p, Number(r.n), Number(r.ids)]),
      partitions.map((p) => [p, expected.get(p), expected.get(p)]),
    );

    const jobs = (await env.engine.warehouse.jobHistory()).slice(jobsBefore);
    assert.deepEqual(jobs.map((j) => j.partition).sort(), partitions, 'one job per partition');
    assert.ok(
      jobs.every((j) => j.kind === 'load' && j.state === 'DONE' && j.error === null),
      JSON.stringify(jobs.filter((j) => j.error)),
    );

    // The failures were real redeliveries: the same message id refused (5xx), then acknowledged.
    for (const p of crashed) {
      const mine = ids.filter((_, i) => messages[i % 50]!.partition === p);
      const redelivered = mine.some((id) => {
        const statuses = answered(backfillFn!, id).map((d) => d.status);
        const failedAt = statuses.findIndex((s) => s >= 500);
        return failedAt !== -1 && statuses.slice(failedAt + 1).some((s) => s < 300);
      });
      assert.ok(redelivered, `a message for ${p} failed once and was delivered again`);
    }
    const results = ids.flatMap((id) => outcomes.get(id) ?? []);
    assert.ok(
      results.every((r) => r.ok && r.value.action === 'synced'),
      'no message was acknowledged as invalid',
    );
  });

  it('a message waiting for job budget is re-published before its last delivery, never dead-lettered (5-attempt policy)', async () => {
    await budgetEnv.put('events/dt=2026-11-24/hr=01/a.csv', csvRows(1, 2));
    await budgetEnv.put('events/dt=2026-11-24/hr=02/a.csv', csvRows(10, 3));
    // The day's one job goes to hour 01; hour 02 then waits for a token that never comes.
    assert.equal(
      (
        await syncPartition(
          { ...budgetEnv.engine, clock: systemClock },
          { table: 'events', partition: '2026112401', reason: 'test' },
        )
      ).outcome,
      'loaded',
    );
    const [messageId = ''] = await deps.bus.publish(
      BUDGET,
      [{ table: 'events', partition: '2026112402', force: false, reason: 'missing' }],
      { origin: 'test' },
    );

    await waitUntil(
      `message ${messageId} re-published for budget`,
      () => (budgetOutcomes.get(messageId) ?? []).some((o) => o.ok && o.value.action === 'requeued'),
      60_000,
    );
    const statuses = answered(budgetFn!, messageId).map((d) => d.status);
    // Thrown back while young (Pub/Sub's backoff is the wait), then acknowledged and published anew
    // before the 5th delivery the dead-letter policy would take.
    assert.ok(statuses.length >= 2 && statuses.length < MAX_DELIVERY_ATTEMPTS, JSON.stringify(statuses));
    assert.deepEqual(
      statuses.slice(0, -1).map((s) => s >= 500),
      statuses.slice(0, -1).map(() => true),
    );
    assert.ok(statuses.at(-1)! < 300, JSON.stringify(statuses));
    // The re-published copy is a new message with a fresh attempt count, and nothing was dead-lettered.
    await waitUntil('the re-published copy delivered', () =>
      budgetFn!.deliveries.some((d) => d.messageId !== messageId),
    );
    const dead = await pullOnce(emu.emulator, DLQ_SUB);
    assert.ok(!dead.some((d) => d.text.includes('2026112402')), `dead-lettered: ${JSON.stringify(dead)}`);
  });

  it('dead-letters a message after 5 failed deliveries, payload and attributes intact', async () => {
    const { messageId, dead } = await poison;
    assert.equal(dead.length, 1, JSON.stringify(dead));
    assert.equal(dead[0]!.text, JSON.stringify(POISON_PAYLOAD));
    assert.equal(dead[0]!.attributes.origin, 'test');
    assert.equal(dead[0]!.attributes.CloudPubSubDeadLetterSourceSubscription, POISON_PUSH);
    assert.equal(dead[0]!.attributes.CloudPubSubDeadLetterSourceDeliveryCount, String(MAX_DELIVERY_ATTEMPTS));
    const calls = answered(poisonFn!, messageId);
    assert.ok(calls.length >= MAX_DELIVERY_ATTEMPTS, `the failing endpoint was called ${calls.length} times`);
    assert.ok(
      calls.every((c) => c.status === 500),
      JSON.stringify(calls),
    );
  });

  it('acknowledges a message that is not JSON (2xx, delivered once) and never dead-letters it', async () => {
    const logged = env.log.entries.length;
    const messageId = await pubsub.topic(BACKFILL).publishMessage({ data: Buffer.from('{table: events') });
    await waitUntil(`message ${messageId} pushed`, () => answered(backfillFn!, messageId).length > 0, 10_000);
    await sleep(2_500); // a refused push comes back after about 1 s

    assert.deepEqual(
      answered(backfillFn!, messageId).map((d) => d.status),
      [204],
    );
    const [outcome] = outcomes.get(messageId) ?? [];
    assert.ok(outcome && !outcome.ok && outcome.permanent, JSON.stringify(outcome));
    const errors = env.log.entries.slice(logged).filter((e) => e.severity === 'ERROR');
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0]!.message, /^acknowledged without retry: .*payload is not JSON/);
    assert.equal(errors[0]!.messageId, messageId);
    assert.deepEqual(await pullOnce(emu.emulator, DLQ_SUB), []);
  });
});
