/**
 * The status picture: run-length codes, the pure status computation (a table of cases), the
 * audit persisting its snapshot and loads leaving change markers on the embedded backends, and
 * the cost of reading 10 tables x a year of hourly partitions (a handful of calls per table).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatAuditReport, windowLabel } from '../../../shared/cli/commands/audit.ts';
import { runAudit } from '../../../shared/core/audit.ts';
import type { AuditDeps } from '../../../shared/core/audit.ts';
import type { Warehouse } from '../../../shared/core/ports.ts';
import { computeStatus, localPathTime, mergeSnapshots } from '../../../shared/core/status.ts';
import type { StatusInput } from '../../../shared/core/status.ts';
import { readStatusReport } from '../../../shared/core/status-read.ts';
import {
  decodeRuns,
  encodeRuns,
  listChanges,
  readSnapshot,
  recordChange,
  writeSnapshot,
} from '../../../shared/core/status-store.ts';
import type { CellClass, StatusChange, StatusSnapshot } from '../../../shared/core/status-store.ts';
import { syncPartition } from '../../../shared/core/sync.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import { memoryLogger } from '../../../shared/log.ts';
import { createRouter } from '../../../shared/routing/router.ts';
import { ManualClock } from '../../helpers/clock.ts';
import { createTestEnv, csvRows, EVENTS_YAML } from '../../helpers/local-env.ts';
import { MemoryObjectStore } from '../../helpers/memory-store.ts';

const H = 3_600_000;
const at = (h: number) => Date.UTC(2026, 10, 24, h);
const pid = (h: number) => `20261124${String(h).padStart(2, '0')}`;

describe('run-length class codes', () => {
  it('round-trips and stays small for a year of hourly partitions', () => {
    const cells: CellClass[] = Array.from({ length: 8760 }, (_, i) =>
      i === 100 ? 'missing' : i === 5000 ? 'quarantined' : i < 10 ? 'none' : 'ok',
    );
    const runs = encodeRuns(cells);
    assert.equal(runs, 'n10o90m1o4899q1o3759');
    assert.deepEqual(decodeRuns(runs), cells);
    assert.throws(() => decodeRuns('o3Z1'), /bad run-length/);
    assert.throws(() => decodeRuns('k3'), /unknown class code "k"/);
  });
});

function snapshot(over: Partial<StatusSnapshot> = {}): StatusSnapshot {
  // Hours 0..11 of 2026-11-24: 0-8 ok, 9 missing, 10 failed, 11 ok.
  return {
    version: 1,
    table: 'events',
    readFrom: at(12),
    auditedAt: at(12) + 60_000,
    granularity: 'HOUR',
    window: { from: pid(0), to: pid(11) },
    runs: 'o9m1f1o1',
    counts: { ok: 10, missing: 1, failed: 1 },
    watermark: null,
    unrouted: { count: 0, samples: [] },
    findings: [
      { partition: pid(9), class: 'missing', sourceObjects: 1, warehouseRows: null, detail: 'never loaded' },
      { partition: pid(10), class: 'failed', sourceObjects: 1, warehouseRows: null, detail: 'the last load failed' },
    ],
    ...over,
  };
}
const change = (h: number, atMs: number, over: Partial<StatusChange> = {}): StatusChange => ({
  table: 'events',
  partition: pid(h),
  at: atMs,
  outcome: 'loaded',
  objects: 1,
  bytes: 100,
  rows: 5,
  quarantined: 0,
  jobId: `j${h}`,
  reason: 'test',
  ...over,
});
const table = { name: 'events', granularity: 'HOUR' as const, timeZone: 'Asia/Seoul', jobBudget: 288, jobBurst: 2 };

describe('computeStatus', () => {
  const base = (over: Partial<StatusInput>): StatusInput => ({
    table,
    snapshot: snapshot(),
    changes: [],
    budget: null,
    labels: { lastLoad: null, watermark: null },
    now: at(12) + 30 * 60_000,
    ...over,
  });
  const cases: [string, StatusInput, (s: ReturnType<typeof computeStatus>) => void][] = [
    [
      'no audit yet: empty grid, nothing waiting',
      base({ snapshot: null }),
      (s) => {
        assert.equal(s.window, null);
        assert.equal(s.runs, '');
        assert.equal(s.freshness.newestOk, null);
        assert.equal(s.budget.waiting, 0);
      },
    ],
    [
      'the audit alone: counts, lag from the end of the newest ok partition, waiting backfills',
      base({}),
      (s) => {
        assert.deepEqual(s.counts, { ok: 10, missing: 1, failed: 1 });
        assert.equal(s.freshness.newestOk, pid(11));
        assert.equal(s.freshness.lagMs, 30 * 60_000);
        assert.equal(s.budget.waiting, 2);
        assert.deepEqual(
          s.problems.map((p) => p.partition),
          [pid(9), pid(10)],
        );
      },
    ],
    [
      'a load after the audit fills a hole',
      base({ changes: [change(9, at(12) + 1000)] }),
      (s) => {
        assert.equal(s.runs, 'o10f1o1');
        assert.deepEqual(
          s.problems.map((p) => p.partition),
          [pid(10)],
        );
        assert.equal(s.freshness.lastLoadAt, at(12) + 1000);
        assert.equal(s.bytesReadToday, 100);
      },
    ],
    [
      'a change older than the audit is already in its verdict',
      base({ changes: [change(9, at(12) - 1000)] }),
      (s) => assert.equal(s.runs, 'o9m1f1o1'),
    ],
    [
      'the newest change per partition wins',
      base({ changes: [change(10, at(12) + 5000, { outcome: 'failed', error: 'boom' }), change(10, at(12) + 1000)] }),
      (s) => {
        assert.equal(s.runs, 'o9m1f1o1');
        assert.match(s.problems[1]!.detail!, /failed: boom/);
      },
    ],
    [
      'a load with quarantined files shows quarantined',
      base({ changes: [change(11, at(12) + 1000, { quarantined: 1 })] }),
      (s) => {
        assert.equal(s.runs, 'o9m1f1q1');
        assert.equal(s.freshness.newestOk, pid(8));
      },
    ],
    [
      'a spent budget: next job at the next UTC day, drain waits for it',
      base({ budget: { day: '20261124', used: 288, tokens: 0, refilledAt: at(12) } }),
      (s) => {
        assert.equal(s.budget.usedToday, 288);
        assert.equal(s.budget.nextJobAt, Date.UTC(2026, 10, 25));
        assert.ok(s.budget.drainMs >= Date.UTC(2026, 10, 25) - (at(12) + 30 * 60_000));
      },
    ],
    [
      'a paced budget: two waiting jobs at 288/day take 10 minutes',
      base({ budget: { day: '20261124', used: 10, tokens: 0, refilledAt: at(12) + 30 * 60_000 } }),
      (s) => {
        assert.equal(s.budget.nextJobAt, at(12) + 35 * 60_000);
        assert.equal(s.budget.drainMs, 10 * 60_000);
      },
    ],
    [
      'budget counters of another day start from zero',
      base({ budget: { day: '20261123', used: 288, tokens: 2, refilledAt: at(0) - H } }),
      (s) => {
        assert.equal(s.budget.usedToday, 0);
        assert.equal(s.budget.drainMs, 0);
      },
    ],
  ];
  for (const [name, input, check] of cases) it(name, () => check(computeStatus(input)));

  it('shows the local path time beside a UTC partition id', () => {
    assert.equal(localPathTime('2026112413', 'Asia/Seoul'), '2026-11-24 22:00 +09:00');
    assert.equal(localPathTime('2026112413', 'America/New_York'), '2026-11-24 08:00 -05:00');
    assert.equal(localPathTime('20261124', 'UTC'), '2026-11-24 +00:00');
  });
});

describe('the persisted picture on the embedded backends', () => {
  it('an audit writes the snapshot; a load after it shows at once; a dry run writes nothing', async () => {
    const env = await createTestEnv({ yaml: `${EVENTS_YAML}    cadence: HOUR\n` });
    try {
      const path = (h: number) => `events/dt=2026-11-24/hr=${String(h).padStart(2, '0')}/a.csv`;
      for (const h of [0, 1, 2, 3, 5]) await env.put(path(h), csvRows(h * 10, 3));
      for (const h of [0, 1, 2, 3])
        await syncPartition(env.engine, { table: 'events', partition: pid(h), reason: 'test' });
      const deps: AuditDeps = { ...env.engine, bus: { publish: async (_t, m) => m.map(() => 'id') } };
      env.clock.advance(1000);
      await runAudit(deps, { fromMs: at(0), toMs: at(6) }, { dryRun: true });
      assert.equal(
        await readSnapshot(env.engine.store, env.config.state, 'events'),
        null,
        'a dry run persists nothing',
      );
      await runAudit(deps, { fromMs: at(0), toMs: at(6) });
      const snap = (await readSnapshot(env.engine.store, env.config.state, 'events'))!;
      assert.equal(snap.runs, 'o4u1m1');
      let report = await readStatusReport(env.engine);
      assert.equal(report.tables[0]!.runs, 'o4u1m1');
      env.clock.advance(60_000);
      await syncPartition(env.engine, { table: 'events', partition: pid(5), reason: 'backfill-missing' });
      assert.equal((await listChanges(env.engine.store, env.config.state, 'events', snap.readFrom)).length, 1);
      report = await readStatusReport(env.engine);
      assert.equal(report.tables[0]!.runs, 'o4u1o1', 'the load after the audit fills the hole at once');
      assert.equal(report.tables[0]!.freshness.newestOk, pid(5));
    } finally {
      await env.close();
    }
  });
});

describe('the audit window', () => {
  it('says exactly which partitions were judged, and the snapshot grid starts there (a window starting mid-hour)', async () => {
    const env = await createTestEnv();
    try {
      const path = (h: number) => `events/dt=2026-11-24/hr=${String(h).padStart(2, '0')}/a.csv`;
      for (const h of [1, 2]) await env.put(path(h), csvRows(h * 10, 3));
      await syncPartition(env.engine, { table: 'events', partition: pid(1), reason: 'test' });
      env.clock.advance(3 * H);
      const report = await runAudit(
        { ...env.engine, bus: { publish: async (_t, m) => m.map(() => 'id') } },
        { fromMs: at(0) + 30 * 60_000, toMs: at(3) },
      );
      // Hour 00 starts before the window: it is not judged, and the label does not name it.
      assert.deepEqual(report.tables[0]!.window, { from: pid(1), to: pid(2), partitions: 2 });
      assert.equal(windowLabel(report.tables[0]!.window), '2026112401..2026112402 (2 UTC hours)');
      const snap = (await readSnapshot(env.engine.store, env.config.state, 'events'))!;
      assert.equal(snap.window.from, pid(1));
      assert.equal(snap.runs, 'o1m1', 'hour 01 ok, hour 02 missing: the grid is not shifted');
      const text = formatAuditReport(report, () => 'Asia/Seoul');
      assert.match(text, /events +2026112402 +2026-11-24 11:00 \+09:00 +missing/);
      assert.equal(
        windowLabel({ from: pid(3), to: pid(2), partitions: 0 }),
        'empty (no partition starts in the window)',
      );
    } finally {
      await env.close();
    }
  });
});

describe('status cost on a large lake', () => {
  it('10 tables x a year of hourly partitions: a handful of calls per table, none per partition', async (t) => {
    const names = Array.from({ length: 10 }, (_, i) => `t${i}`);
    const yaml = `
project: test-project
location: US
lake: { bucket: lake }
tables:
${names
  .map(
    (n) => `  - name: ${n}
    source: { pattern: "${n}/dt={yyyy}-{mm}-{dd}/hr={hh}/*.json", timeZone: UTC }
    format: NEWLINE_DELIMITED_JSON
    autodetect: true
    target: { dataset: lake_us, table: ${n} }
    partitioning: { type: HOUR }`,
  )
  .join('\n')}
`;
    const config = parseConfig(yaml, '/virtual/tidemark.config.yaml');
    const store = new MemoryObjectStore();
    const clock = new ManualClock(Date.UTC(2026, 10, 24, 12));
    const hours = 8760;
    const from = clock.now() - hours * H;
    for (const n of names) {
      const cells: CellClass[] = Array.from({ length: hours }, (_, i) => (i % 997 === 0 ? 'missing' : 'ok'));
      await writeSnapshot(store, config.state, {
        ...snapshot(),
        table: n,
        readFrom: clock.now() - H,
        window: {
          from: new Date(from).toISOString().slice(0, 13).replace(/[-T]/g, ''),
          to: new Date(clock.now() - H).toISOString().slice(0, 13).replace(/[-T]/g, ''),
        },
        runs: encodeRuns(cells),
        findings: [],
      });
      // A day of loads since: 30 change markers per table.
      for (let i = 0; i < 30; i++)
        await recordChange(store, config.state, {
          ...change(0, clock.now() - i * 60_000),
          table: n,
          partition: new Date(clock.now() - (i + 1) * H).toISOString().slice(0, 13).replace(/[-T]/g, ''),
          jobId: `j${i}`,
        });
    }
    const whCalls = { labels: 0, other: 0 };
    const warehouse: Warehouse = {
      insertJob: async () => {
        whCalls.other++;
        throw new Error('no jobs');
      },
      getJob: async () => {
        whCalls.other++;
        return null;
      },
      getTableLabels: async () => {
        whCalls.labels++;
        return { labels: {}, etag: '1' };
      },
      patchTableLabels: async () => {
        whCalls.other++;
      },
      listPartitions: async () => {
        whCalls.other++;
        return [];
      },
      ensureTable: async () => {},
      deleteTable: async () => {},
    };
    store.calls.list = 0;
    store.calls.read = 0;
    const report = await readStatusReport({
      config,
      router: createRouter(config),
      store,
      warehouse,
      clock,
      log: memoryLogger(),
    });
    assert.equal(report.tables.length, 10);
    assert.equal(report.tables[0]!.counts.missing, Math.ceil(hours / 997));
    assert.equal(report.tables[0]!.jobsToday, 30);
    const calls = store.calls.list + store.calls.read + whCalls.labels + whCalls.other;
    t.diagnostic(
      `10 tables x ${hours} hourly partitions: ${store.calls.list} listings, ${store.calls.read} reads, ${whCalls.labels} label calls`,
    );
    // Per table: snapshot read, budget read, one listing of changes, one label call.
    assert.equal(store.calls.list, 10);
    assert.equal(store.calls.read, 20);
    assert.equal(whCalls.labels, 10);
    assert.equal(whCalls.other, 0);
    assert.equal(calls, 40);
  });
});

describe('mergeSnapshots', () => {
  const snap = (
    from: number,
    runs: string,
    readFrom: number,
    findings: StatusSnapshot['findings'] = [],
  ): StatusSnapshot => ({
    ...snapshot(),
    window: { from: pid(from), to: pid(from + decodeRuns(runs).length - 1) },
    runs,
    readFrom,
    auditedAt: readFrom,
    findings,
  });
  const cases: [string, StatusSnapshot | null, StatusSnapshot, StatusChange[], string, string, string[]][] = [
    ['no previous snapshot: the audit as it is', null, snap(4, 'o2', at(20)), [], pid(4), 'o2', []],
    [
      'a later, shorter window keeps the older picture before it',
      snap(0, 'o3m1o2', at(12), [{ partition: pid(3), class: 'missing', sourceObjects: 1, warehouseRows: null }]),
      snap(4, 'o2f1', at(20), [{ partition: pid(6), class: 'failed', sourceObjects: 1, warehouseRows: null }]),
      [],
      pid(0),
      'o3m1o2f1',
      [pid(3), pid(6)],
    ],
    [
      'a job settled since the old audit updates the kept part',
      snap(0, 'o3m1o2', at(12), [{ partition: pid(3), class: 'missing', sourceObjects: 1, warehouseRows: null }]),
      snap(4, 'o2', at(20)),
      [change(3, at(13))],
      pid(0),
      'o6',
      [],
    ],
    [
      'the new verdict wins inside its window',
      snap(0, 'o6', at(12)),
      snap(2, 's1', at(20), [{ partition: pid(2), class: 'stale', sourceObjects: 1, warehouseRows: null }]),
      [],
      pid(0),
      'o2s1o3',
      [pid(2)],
    ],
    [
      'an empty audit keeps the old picture',
      snap(0, 'o2m1', at(12), [{ partition: pid(2), class: 'missing', sourceObjects: 1, warehouseRows: null }]),
      { ...snap(4, 'o1', at(20)), runs: '' },
      [change(2, at(14))],
      pid(0),
      'o3',
      [],
    ],
  ];
  for (const [name, prev, next, changes, from, runs, problems] of cases) {
    it(name, () => {
      const m = mergeSnapshots(prev, next, changes);
      assert.equal(m.window.from, from);
      assert.equal(m.runs, runs);
      assert.deepEqual(
        m.findings.map((f) => f.partition),
        problems,
      );
      assert.equal(m.readFrom, next.readFrom);
    });
  }
  it('keeps at most the newest maxCells partitions', () => {
    const m = mergeSnapshots(snap(0, 'm2o4', at(12)), snap(6, 'o2', at(20)), [], 5);
    assert.equal(m.window.from, pid(3));
    assert.equal(m.runs, 'o5');
  });
});

describe('the picture over scheduled audits', () => {
  it("a second audit over a shorter window keeps the first audit's older partitions", async () => {
    const env = await createTestEnv();
    try {
      const path = (h: number) => `events/dt=2026-11-24/hr=${String(h).padStart(2, '0')}/a.csv`;
      for (const h of [0, 1, 2, 3]) await env.put(path(h), csvRows(h * 10, 3));
      for (const h of [0, 2, 3])
        await syncPartition(env.engine, { table: 'events', partition: pid(h), reason: 'test' });
      env.clock.advance(3 * H);
      const deps: AuditDeps = { ...env.engine, bus: { publish: async (_t, m) => m.map(() => 'id') } };
      await runAudit(deps, { fromMs: at(0), toMs: at(4) });
      env.clock.advance(60_000);
      await runAudit(deps, { fromMs: at(2), toMs: at(4) });
      const report = await readStatusReport(env.engine);
      assert.deepEqual(report.tables[0]!.window, { from: pid(0), to: pid(3) });
      assert.equal(report.tables[0]!.runs, 'o1m1o2', 'hour 01 is still missing, from the first audit');
    } finally {
      await env.close();
    }
  });
});
