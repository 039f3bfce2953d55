/**
 * auditGaps end to end on the real Pub/Sub emulator: an audit request published with the gcloud
 * CLI travels through a push subscription on tidemark-audit to onAuditMessage served by
 * functions-framework, over a local lake and DuckDB warehouse; the auditor publishes with
 * PubSubBus on the emulator, and pull subscriptions read what it published.
 *
 * Proves: three never-loaded partitions inside the requested window become exactly three backfill
 * messages ({table, partition, force: false, reason: 'missing'}) and one summary on
 * tidemark-audit-results; files just outside the window are left alone; the audit loads nothing
 * itself and its message is acknowledged once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cloudEvent } from '@google-cloud/functions-framework';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { PubSubBus } from '../../shared/backends/gcp/pubsub-bus.ts';
import type { AuditReport } from '../../shared/core/audit.ts';
import { onAuditMessage } from '../../shared/handlers/audit.ts';
import type { Acknowledged } from '../../shared/handlers/settle-event.ts';
import { createTestEnv, csvRows } from '../helpers/local-env.ts';
import type { TestEnv } from '../helpers/local-env.ts';
import {
  emulatorSuite,
  gcloudForEmulator,
  pullOnce,
  pullUntil,
  servePushEndpoint,
  withEmulator,
} from '../helpers/pubsub-emulator.ts';
import type { GcloudCli, PushEndpoint } from '../helpers/pubsub-emulator.ts';

const AUDIT = 'tidemark-audit';
/** Stands in for the push subscription `gcloud functions deploy --trigger-topic` makes. */
const AUDIT_PUSH = 'eventarc-tidemark-audit-sub';
const BACKFILL = 'tidemark-backfill';
/** Where backfillPartition's trigger would be; a pull subscription here reads what the audit sent. */
const BACKFILL_PULL = 'tidemark-backfill-test-pull';
const RESULTS = 'tidemark-audit-results';
const RESULTS_SUB = 'tidemark-audit-results-sub';

/** Rows per hour of 2026-11-24: 10-12 is the audited window, 09 and 13 lie just outside it. */
const FILES: Record<string, number> = { '09': 2, '10': 3, '11': 4, '12': 5, '13': 6 };

describe('auditGaps through the Pub/Sub emulator', { ...emulatorSuite(), timeout: 60_000 }, () => {
  const emu = withEmulator();
  let env: TestEnv;
  let project: string;
  let gcloud: GcloudCli | undefined;
  let auditFn: PushEndpoint | undefined;
  /** What onAuditMessage answered, in order. */
  const answers: Acknowledged<AuditReport>[] = [];

  before(async () => {
    env = await createTestEnv();
    for (const [hh, n] of Object.entries(FILES))
      await env.put(`events/dt=2026-11-24/hr=${hh}/part-0001.csv`, csvRows(Number(hh) * 100, n));
    const pubsub = emu.pubsub();
    project = emu.emulator.projectId;
    const deps = { ...env.engine, bus: new PubSubBus({ pubsub }) };

    // The deployed adapter's shape (functions/audit-gaps), over the local engine.
    cloudEvent('auditE2E', async (event: CloudEvent<unknown>) => {
      answers.push(await onAuditMessage(deps, event));
    });
    auditFn = await servePushEndpoint('auditE2E', project);
    gcloud = gcloudForEmulator(emu.emulator);

    const [backfill] = await pubsub.createTopic(BACKFILL);
    await backfill.createSubscription(BACKFILL_PULL);
    const [results] = await pubsub.createTopic(RESULTS);
    await results.createSubscription(RESULTS_SUB);
    const [audit] = await pubsub.createTopic(AUDIT);
    await audit.createSubscription(AUDIT_PUSH, {
      pushConfig: { pushEndpoint: auditFn.url(AUDIT) },
      ackDeadlineSeconds: 60,
    });
  });

  after(async () => {
    await auditFn?.close();
    gcloud?.dispose();
    await env?.close();
  });

  it('an audit request published with gcloud yields one backfill per never-loaded partition of its window, and a summary', async () => {
    const published = await gcloud!.run([
      'pubsub',
      'topics',
      'publish',
      AUDIT,
      '--message={"tables":["events"],"from":"2026112410","to":"2026112412"}',
      `--project=${project}`,
    ]);
    assert.equal(published.code, 0, published.stderr);
    const messageId = /messageIds:\s*-\s*'([^']+)'/.exec(published.stdout)?.[1];
    assert.ok(messageId, `gcloud printed the message id: ${published.stdout}`);

    const backfills = await pullUntil(emu.emulator, BACKFILL_PULL, { count: 3 });
    const [summary, ...moreSummaries] = await pullUntil(emu.emulator, RESULTS_SUB, { count: 1 });
    // The summary is published after the backfills: whatever else was sent is there by now.
    backfills.push(...(await pullOnce(emu.emulator, BACKFILL_PULL)));
    assert.deepEqual(moreSummaries, []);
    assert.deepEqual(await pullOnce(emu.emulator, RESULTS_SUB), []);

    assert.deepEqual(
      backfills.map((m) => JSON.parse(m.text)).sort((a, b) => a.partition.localeCompare(b.partition)),
      ['2026112410', '2026112411', '2026112412'].map((partition) => ({
        table: 'events',
        partition,
        force: false,
        reason: 'missing',
      })),
    );
    assert.ok(
      backfills.every((m) => m.attributes.origin === 'audit'),
      JSON.stringify(backfills.map((m) => m.attributes)),
    );

    const report = JSON.parse(summary!.text) as AuditReport;
    assert.equal(summary!.attributes.origin, 'audit');
    assert.equal(report.published, 3);
    assert.equal(report.deferred, 0);
    assert.deepEqual(
      report.tables.map((t) => ({
        table: t.table,
        window: t.window,
        missing: t.counts.missing,
        ok: t.counts.ok,
        findings: t.findings.map((f) => [f.partition, f.class, f.sourceObjects]),
      })),
      [
        {
          table: 'events',
          window: { from: '2026112410', to: '2026112412', partitions: 3 },
          missing: 3,
          ok: 0,
          findings: [
            ['2026112410', 'missing', 1],
            ['2026112411', 'missing', 1],
            ['2026112412', 'missing', 1],
          ],
        },
      ],
    );

    // The summary is published before the handler returns: its answer may still be on the way.
    for (const deadline = Date.now() + 5_000; auditFn!.deliveries.length === 0 && Date.now() < deadline;)
      await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(
      auditFn!.deliveries.map((d) => [d.messageId, d.status]),
      [[messageId, 204]],
      'the audit message was pushed once and acknowledged',
    );
    assert.equal(answers.length, 1);
    assert.ok(answers[0]!.ok, JSON.stringify(answers[0]));
    assert.equal(await env.count(), 0, 'the audit itself loads nothing');
  });
});
