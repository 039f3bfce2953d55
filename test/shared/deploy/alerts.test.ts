/**
 * The alert description against real log lines: an engine run on the embedded backends with a
 * capturing logger (a quarantine, an audit with every hole class it can make), each entry shaped
 * as Cloud Logging stores a JSON line (severity lifted, the rest under jsonPayload), and every
 * metric's filter conditions evaluated on them: each matches the lines it counts and no other.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runAudit } from '../../../shared/core/audit.ts';
import { syncPartition } from '../../../shared/core/sync.ts';
import { describeAlerts, HOLE_CLASSES, renderFilter } from '../../../shared/deploy/alerts.ts';
import type { LogCondition, LogMetric } from '../../../shared/deploy/alerts.ts';
import { createTestEnv, csvRows, EVENTS_YAML } from '../../helpers/local-env.ts';

const services = { loader: 'tidemark-loader', auditor: 'tidemark-auditor', backfill: 'tidemark-backfill' };

interface Entry {
  severity: string;
  resource: { type: string; labels: { service_name: string } };
  jsonPayload: Record<string, unknown>;
}

/** A field path as Cloud Logging reads it: dots, with "quoted" segments. */
function get(entry: Entry, path: string): unknown {
  const parts = [...path.matchAll(/"([^"]+)"|([^.]+)/g)].map((m) => m[1] ?? m[2]!);
  let v: unknown = entry;
  for (const p of parts) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}
function holds(c: LogCondition, e: Entry): boolean {
  const v = get(e, c.field);
  if (c.op === ':*') return v !== undefined;
  if (c.op === '=') return v === c.value;
  if (c.op === '=~') return typeof v === 'string' && new RegExp(c.value).test(v);
  return typeof v === 'number' && v >= c.value;
}
const extract = (m: LogMetric, e: Entry, extractor: string) => get(e, /^EXTRACT\((.+)\)$/.exec(extractor)![1]!);

describe('alerts', () => {
  it('every log-based metric matches the lines tidemark writes for its event, and only those', async () => {
    const env = await createTestEnv({ yaml: `${EVENTS_YAML}    cadence: HOUR\n` });
    try {
      const path = (h: number, f: string) => `events/dt=2026-11-24/hr=${String(h).padStart(2, '0')}/${f}`;
      for (const h of [0, 1, 2, 4, 5]) await env.put(path(h, 'a.csv'), csvRows(h * 10, 3));
      await env.put(path(2, 'bad.csv'), 'id,v\nnope,1\n');
      for (const h of [0, 1, 2, 4])
        await syncPartition(env.engine, {
          table: 'events',
          partition: `20261124${String(h).padStart(2, '0')}`,
          reason: 'test',
        });
      const loaderLines = env.log.entries.length;
      env.clock.advance(3 * 3_600_000);
      await runAudit(
        { ...env.engine, bus: { publish: async (_t, m) => m.map(() => 'id') } },
        { fromMs: Date.UTC(2026, 10, 24, 0), toMs: Date.UTC(2026, 10, 24, 6) },
      );
      // As Cloud Logging stores them: loads ran in the loader, the audit in the auditor.
      const entries: Entry[] = env.log.entries.map(({ severity, ...payload }, i) => ({
        severity,
        resource: {
          type: 'cloud_run_revision',
          labels: { service_name: i < loaderLines ? services.loader : services.auditor },
        },
        jsonPayload: payload,
      }));
      const { metrics } = describeAlerts(env.config, { services });
      const matching = (m: LogMetric) => entries.filter((e) => m.conditions.every((c) => holds(c, e)));
      const byName = new Map(metrics.filter((m): m is LogMetric => m.kind === 'log').map((m) => [m.name, m]));

      const quarantined = matching(byName.get('tidemark_quarantined_files')!);
      assert.equal(quarantined.length, 1, 'one line per quarantined file');
      assert.match(String(quarantined[0]!.jsonPayload.object), /bad\.csv$/);
      assert.equal(
        extract(byName.get('tidemark_quarantined_files')!, quarantined[0]!, 'EXTRACT(jsonPayload.table)'),
        'events',
      );

      // Hours 0..5: 0,1,4 ok; 2 quarantined; 3 upstream-missing; 5 missing.
      const expected: Record<string, number> = {
        missing: 1,
        stale: 0,
        failed: 0,
        quarantined: 1,
        'upstream-missing': 1,
        orphan: 0,
        'source-deleted': 0,
      };
      for (const cls of HOLE_CLASSES) {
        const m = byName.get(`tidemark_audit_${cls.replace(/-/g, '_')}`)!;
        const lines = matching(m);
        assert.equal(lines.length, 1, `${m.name}: exactly the audit's per-table line (not "audit done")`);
        assert.equal(extract(m, lines[0]!, m.valueExtractor!), expected[cls], `${m.name} value`);
        assert.equal(extract(m, lines[0]!, m.labels.table!), 'events');
      }
      const lag = byName.get('tidemark_freshness_lag_seconds')!;
      const lagLines = matching(lag);
      assert.equal(lagLines.length, 1);
      // Newest ok partition that ended: hour 04 (ends 05:00); now is 15:00.
      assert.equal(extract(lag, lagLines[0]!, lag.valueExtractor!), 10 * 3600);
      // The rendered filter says the same as the conditions.
      assert.equal(
        byName.get('tidemark_audit_upstream_missing')!.filter,
        'resource.type="cloud_run_revision" AND resource.labels.service_name="tidemark-auditor" AND jsonPayload.message=~"^audit [^ ]+: " AND jsonPayload.counts."upstream-missing">=0',
      );
    } finally {
      await env.close();
    }
  });

  it('counts files the committer quarantines too, when a dml table deploys one', async () => {
    const env = await createTestEnv();
    try {
      const quarantined = (opts: Parameters<typeof describeAlerts>[1]) =>
        describeAlerts(env.config, opts).metrics.find((m) => m.name === 'tidemark_quarantined_files')!;
      const without = quarantined({ services });
      const withCommitter = quarantined({ services: { ...services, committer: 'tidemark-committer' } });
      assert.ok(without.kind === 'log' && !without.filter.includes('committer'));
      assert.ok(withCommitter.kind === 'log' && withCommitter.filter.includes('tidemark-committer'));
    } finally {
      await env.close();
    }
  });

  it('policies only when notification channels are configured, each with what to do', async () => {
    const env = await createTestEnv();
    try {
      assert.deepEqual(describeAlerts(env.config, { services }).policies, []);
      const { policies, metrics } = describeAlerts(
        { ...env.config, alerts: { notificationChannels: ['projects/test-project/notificationChannels/123'] } },
        { services },
      );
      assert.ok(policies.length >= 6);
      // A policy's steady state (keep, under a lake retention rule) is charted, not paged.
      assert.ok(metrics.some((m) => m.name === 'tidemark_audit_source_deleted'));
      assert.ok(!policies.some((p) => /source-deleted/.test(p.name)));
      for (const p of policies) {
        assert.ok(p.documentation.length > 40, p.name);
        assert.deepEqual(p.notificationChannels, ['projects/test-project/notificationChannels/123']);
        assert.ok(
          metrics.some((m) => (m.kind === 'log' ? `logging.googleapis.com/user/${m.name}` : m.name) === p.metric),
          `${p.name}: its metric is described`,
        );
      }
      assert.match(metrics.find((m) => m.kind === 'builtin')!.filter, /subscription_id="tidemark-backfill-dlq-sub"/);
    } finally {
      await env.close();
    }
  });

  it('renders quoting in filter values', () => {
    assert.equal(
      renderFilter([
        { field: 'jsonPayload.message', op: '=', value: 'a "b" \\ c' },
        { field: 'x', op: ':*' },
      ]),
      'jsonPayload.message="a \\"b\\" \\\\ c" AND x:*',
    );
  });
});
