/**
 * Unrouted objects: which names count (a table of cases), the audit's listing seeing drifted
 * names of its window, and the report in the audit's JSON, its summary message and its log.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runAudit } from '../../../shared/core/audit.ts';
import type { AuditDeps, AuditReport } from '../../../shared/core/audit.ts';
import { unroutedReason } from '../../../shared/core/unrouted.ts';
import { syncPartition } from '../../../shared/core/sync.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import { createRouter } from '../../../shared/routing/router.ts';
import { createTestEnv, csvRows, EVENTS_YAML } from '../../helpers/local-env.ts';

const TWO_TABLES = `${EVENTS_YAML}  - name: special
    source: { pattern: "events/special/{yyyy}{mm}{dd}/*.csv", timeZone: UTC }
    format: CSV
    autodetect: true
    target: { dataset: lake_us, table: special }
    partitioning: { type: DAY }
`;

describe('unroutedReason', () => {
  const config = parseConfig(TWO_TABLES, '/virtual/tidemark.config.yaml');
  const router = createRouter(config);
  const cases: [string, string, RegExp | null][] = [
    ['a routed object', 'events/dt=2026-11-24/hr=09/a.csv', null],
    ["another table's object under the same folder", 'events/special/20261124/a.csv', null],
    ['an unpadded hour', 'events/dt=2026-11-24/hr=9/a.csv', /no table pattern matches/],
    ['an unpadded day', 'events/dt=2026-12-1/hr=09/a.csv', /no table pattern matches/],
    ['another extension', 'events/dt=2026-11-24/hr=09/a.json', /no table pattern matches/],
    ['a new sub-folder', 'events/dt=2026-11-24/hr=09/retry/a.csv', /no table pattern matches/],
    ['a time that does not exist', 'events/dt=2026-11-24/hr=24/a.csv', /not a real date\/hour/],
    ['a Spark marker', 'events/dt=2026-11-24/hr=09/_SUCCESS', null],
    ['a temporary folder', 'events/dt=2026-11-24/hr=09/_temporary/0/a.csv', null],
    ['a temporary file', 'events/dt=2026-11-24/hr=09/a.csv.tmp', null],
    ['a hidden file', 'events/dt=2026-11-24/hr=09/.a.csv', null],
    ["tidemark's state", '_tidemark/state/events/2026112409.json', null],
  ];
  for (const [what, name, reason] of cases) {
    it(`${what} -> ${reason ?? 'not unrouted'}`, () => {
      const bucket = name.startsWith('_tidemark/') ? config.state.bucket : 'lake';
      const got = unroutedReason(router, config.state, bucket, name);
      if (reason === null) assert.equal(got, null);
      else assert.match(got ?? '', reason);
    });
  }
});

describe('the audit listing sees drifted names of its window', () => {
  const config = parseConfig(EVENTS_YAML, '/virtual/tidemark.config.yaml');
  const route = createRouter(config).table('events')!;
  const H = 3_600_000;
  // Windows of an hour, a day, two days and a month; every drifted way of writing each hour in it.
  const windows = [
    [Date.UTC(2026, 11, 1, 9), Date.UTC(2026, 11, 1, 10)],
    [Date.UTC(2026, 0, 5), Date.UTC(2026, 0, 6)],
    [Date.UTC(2026, 10, 30, 20), Date.UTC(2026, 11, 2, 3)],
    [Date.UTC(2026, 1, 1), Date.UTC(2026, 2, 1)],
  ] as const;
  for (const [from, to] of windows) {
    it(`${new Date(from).toISOString()} .. ${new Date(to).toISOString()}`, () => {
      const prefixes = route.prefixesForRange(from, to, { drift: true });
      for (let t = from; t < to; t += H) {
        const d = new Date(t);
        const [y, m, dd, h] = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours()];
        const p2 = (n: number) => String(n).padStart(2, '0');
        const names = [];
        for (const mm of [p2(m), String(m)])
          for (const ddd of [p2(dd), String(dd)])
            for (const hh of [p2(h), String(h)]) names.push(`events/dt=${y}-${mm}-${ddd}/hr=${hh}/a.csv`);
        names.push(
          `events/dt=${y}-${p2(m)}-${p2(dd)}/hr=${p2(h)}/a.json`,
          `events/dt=${y}-${p2(m)}-${p2(dd)}/hr=${p2(h)}/retry/a.csv`,
        );
        // Listings of a day or more also see stray files beside the hour folders.
        if (to - from >= 24 * H) names.push(`events/dt=${y}-${p2(m)}-${p2(dd)}/stray.csv`);
        for (const name of names)
          assert.ok(
            prefixes.some((p) => name.startsWith(p)),
            `${name} under none of ${prefixes.join(' ')}`,
          );
      }
      assert.ok(
        prefixes.every((p) => p.startsWith('events/dt=2026-')),
        `never the whole table: ${prefixes.join(' ')}`,
      );
    });
  }
});

describe('runAudit reports unrouted objects', () => {
  it('per table: a count and samples, in the report, the summary message and a WARNING', async () => {
    const env = await createTestEnv();
    try {
      const at = (h: number) => Date.UTC(2026, 11, 1, h);
      env.clock.ms = at(12);
      await env.put('events/dt=2026-12-01/hr=09/a.csv', csvRows(1, 2));
      await syncPartition(env.engine, { table: 'events', partition: '2026120109', reason: 'test' });
      const drifted = [
        'events/dt=2026-12-01/hr=9/a.csv',
        'events/dt=2026-12-1/hr=09/a.csv',
        'events/dt=2026-12-01/hr=09/a.json',
        'events/dt=2026-12-01/hr=09/retry/a.csv',
        'events/dt=2026-12-01/hr=24/a.csv',
      ];
      for (const name of drifted) await env.put(name, csvRows(5, 1));
      for (const quiet of [
        'events/dt=2026-12-01/hr=09/_SUCCESS',
        'events/dt=2026-12-01/hr=09/.a.csv',
        'events/dt=2026-12-01/hr=09/a.csv.tmp',
      ])
        await env.put(quiet, 'x');
      for (let i = 0; i < 12; i++) await env.put(`events/dt=2026-12-1/hr=10/part-${i}.json`, '{}');
      const summaries: AuditReport[] = [];
      const deps: AuditDeps = {
        ...env.engine,
        bus: {
          publish: async (topic, msgs) => {
            if (topic === 'tidemark-audit-results') summaries.push(...(msgs as AuditReport[]));
            return [];
          },
        },
      };
      const report = await runAudit(deps, { fromMs: at(8), toMs: at(11) });
      const u = report.tables[0]!.unrouted;
      assert.equal(u.count, drifted.length + 12);
      assert.equal(u.samples.length, 10);
      const sampled = new Map(u.samples.map((s) => [s.object, s.reason]));
      assert.match(sampled.get('events/dt=2026-12-01/hr=24/a.csv') ?? '', /not a real date\/hour/);
      assert.match(sampled.get('events/dt=2026-12-01/hr=9/a.csv') ?? '', /no table pattern matches/);
      assert.equal(report.unrouted, drifted.length + 12);
      assert.equal(JSON.parse(JSON.stringify(report)).tables[0].unrouted.count, drifted.length + 12);
      assert.equal(summaries[0]!.tables[0]!.unrouted.count, drifted.length + 12);
      const warning = env.log.entries.find((e) => e.severity === 'WARNING' && /match no table/.test(e.message));
      assert.ok(warning, 'a WARNING line');
      assert.equal((warning.unrouted as { count: number }).count, drifted.length + 12);
      // The partition itself is fine.
      assert.deepEqual(report.tables[0]!.findings, []);
    } finally {
      await env.close();
    }
  });

  it('no WARNING when nothing is unrouted', async () => {
    const env = await createTestEnv();
    try {
      await env.put('events/dt=2026-11-24/hr=09/a.csv', csvRows(1, 2));
      await env.put('events/dt=2026-11-24/hr=09/_SUCCESS', '');
      const report = await runAudit(
        { ...env.engine, bus: { publish: async () => [] } },
        { fromMs: Date.UTC(2026, 10, 24, 9), toMs: Date.UTC(2026, 10, 24, 10) },
      );
      assert.deepEqual(report.tables[0]!.unrouted, { count: 0, samples: [] });
      assert.equal(env.log.entries.filter((e) => e.severity === 'WARNING').length, 0);
    } finally {
      await env.close();
    }
  });
});
