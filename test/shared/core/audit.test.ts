/**
 * The gap auditor: every audit class on the embedded backends, backfills filling the holes,
 * the watermark (stops at the first hole, never moves backwards), and the cost of an audit on
 * a year of hourly partitions (calls grow with objects/1000, not with partitions).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  AUDIT_CLASSES,
  BACKFILL_CLASSES,
  SETTLED_CLASSES,
  auditTable,
  classifyPartition,
  partitionDataEnd,
  runAudit,
} from '../../../shared/core/audit.ts';
import type { AuditClass, AuditDeps, BackfillMessage } from '../../../shared/core/audit.ts';
import { fingerprintObjects, decodeLabelTime } from '../../../shared/core/fingerprint.ts';
import { WATERMARK_LABEL, advanceLabelTime } from '../../../shared/core/labels.ts';
import type { JobStatus, PartitionInfo, Warehouse } from '../../../shared/core/ports.ts';
import { writeState, emptyState, updateState } from '../../../shared/core/state.ts';
import { syncPartition } from '../../../shared/core/sync.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import { createRouter } from '../../../shared/routing/router.ts';
import { memoryLogger } from '../../../shared/log.ts';
import { createLocalSuite } from '../../../shared/runtime/local-suite.ts';
import { addWaivers } from '../../../shared/core/waivers.ts';
import { createTestEnv, csvRows, EVENTS_YAML } from '../../helpers/local-env.ts';
import { MemoryObjectStore } from '../../helpers/memory-store.ts';
import { ManualClock } from '../../helpers/clock.ts';

// The suite's hourly table, with data expected every hour.
const YAML = `${EVENTS_YAML}    cadence: HOUR\n`;
const hourPath = (h: number, f: string) => `events/dt=2026-11-24/hr=${String(h).padStart(2, '0')}/${f}`;
const pid = (h: number) => `20261124${String(h).padStart(2, '0')}`;
const at = (h: number) => Date.UTC(2026, 10, 24, h);

describe('classifyPartition', () => {
  const src = [{ name: 'a', generation: '1' }];
  const fp = fingerprintObjects(src);
  const state = (over: Record<string, unknown> = {}) => ({
    table: 't',
    partition: 'p',
    status: 'loaded' as const,
    sourceFingerprint: fp,
    objects: 1,
    bytes: 1,
    rows: 5,
    jobId: 'j',
    loadedAt: 1,
    quarantined: 0,
    inflightJobId: null,
    updatedAt: 1,
    ...over,
  });
  const wh = (rows: number): PartitionInfo => ({ partitionId: 'p', totalRows: rows });
  const cases: [string, Parameters<typeof classifyPartition>[0], AuditClass | null][] = [
    ['loaded and equal', { source: src, state: state(), warehouse: wh(5), expected: false }, 'ok'],
    ['never loaded', { source: src, state: undefined, warehouse: undefined, expected: false }, 'missing'],
    [
      'deleted from the warehouse by hand',
      { source: src, state: state(), warehouse: undefined, expected: false },
      'missing',
    ],
    [
      'late file',
      { source: [...src, { name: 'b', generation: '2' }], state: state(), warehouse: wh(5), expected: false },
      'stale',
    ],
    [
      'rewritten file',
      { source: [{ name: 'a', generation: '9' }], state: state(), warehouse: wh(5), expected: false },
      'stale',
    ],
    [
      'object deleted from the lake (all), mirror',
      { source: [], state: state(), warehouse: wh(5), expected: false, onSourceDelete: 'mirror' },
      'stale',
    ],
    // onSourceDelete keep (the default): rows of deleted objects stay, reported, never backfilled.
    [
      'object deleted from the lake (all), keep, not yet seen by a sync',
      { source: [], state: state(), warehouse: wh(5), expected: false, onSourceDelete: 'keep' },
      'source-deleted',
    ],
    [
      'object deleted from the lake (all), keep by default',
      { source: [], state: state(), warehouse: wh(5), expected: false },
      'source-deleted',
    ],
    [
      'object deleted from the lake (all), keep, recorded by a sync',
      {
        source: [],
        state: state({ sourceFingerprint: fingerprintObjects([]), objects: 0, kept: 1 }),
        warehouse: wh(5),
        expected: false,
      },
      'source-deleted',
    ],
    [
      'one of two objects deleted, keep, recorded (listing equals the state)',
      { source: src, state: state({ kept: 1 }), warehouse: wh(5), expected: false },
      'source-deleted',
    ],
    [
      'deleted and rewritten, keep: the rewrite waits for a reload',
      { source: src, state: state({ kept: 1, held: 1 }), warehouse: wh(5), expected: false },
      'source-deleted',
    ],
    [
      'kept rows, and the listing changed since (a late file)',
      {
        source: [...src, { name: 'b', generation: '2' }],
        state: state({ kept: 1 }),
        warehouse: wh(5),
        expected: false,
      },
      'stale',
    ],
    [
      'kept rows, row count differs: no forced reload (it would apply the deletion)',
      { source: src, state: state({ kept: 1 }), warehouse: wh(3), expected: false },
      'source-deleted',
    ],
    [
      'kept rows, partition deleted by hand',
      { source: src, state: state({ kept: 1 }), warehouse: undefined, expected: false },
      'missing',
    ],
    [
      'kept rows and quarantined files',
      { source: src, state: state({ kept: 1, quarantined: 1 }), warehouse: wh(5), expected: false },
      'quarantined',
    ],
    [
      'kept rows, last load failed',
      { source: src, state: state({ kept: 1, status: 'failed' }), warehouse: wh(5), expected: false },
      'failed',
    ],
    [
      'deleted objects under mirror (listing equals the state, nothing kept)',
      { source: src, state: state({ kept: 0 }), warehouse: wh(5), expected: false, onSourceDelete: 'mirror' },
      'ok',
    ],
    [
      'rows kept under a former keep policy, table now mirror',
      { source: src, state: state({ kept: 1 }), warehouse: wh(5), expected: false, onSourceDelete: 'mirror' },
      'stale',
    ],
    [
      'never loaded, no source, warehouse rows, keep',
      { source: [], state: undefined, warehouse: wh(7), expected: false, onSourceDelete: 'keep' },
      'orphan',
    ],
    ['rows changed by hand', { source: src, state: state(), warehouse: wh(3), expected: false }, 'stale'],
    [
      'last load failed',
      { source: src, state: state({ status: 'failed' }), warehouse: wh(5), expected: false },
      'failed',
    ],
    [
      'quarantined files',
      { source: src, state: state({ quarantined: 1 }), warehouse: wh(5), expected: false },
      'quarantined',
    ],
    [
      'cadence expects data, none came',
      { source: [], state: undefined, warehouse: undefined, expected: true },
      'upstream-missing',
    ],
    ['warehouse rows without source', { source: [], state: undefined, warehouse: wh(7), expected: false }, 'orphan'],
    [
      'nothing anywhere, nothing expected',
      { source: [], state: undefined, warehouse: undefined, expected: false },
      null,
    ],
    // Files that hold no rows load into no warehouse partition.
    [
      'loaded files that hold no rows, no warehouse partition',
      { source: src, state: state({ rows: 0 }), warehouse: undefined, expected: false },
      'ok',
    ],
    [
      'loaded files that hold no rows, rows added by hand',
      { source: src, state: state({ rows: 0 }), warehouse: wh(4), expected: false },
      'stale',
    ],
    [
      'row count unknown, no warehouse partition',
      { source: src, state: state({ rows: null }), warehouse: undefined, expected: false },
      'missing',
    ],
    [
      'empty files rewritten since',
      { source: [{ name: 'a', generation: '9' }], state: state({ rows: 0 }), warehouse: undefined, expected: false },
      'stale',
    ],
    // Accepted gaps.
    [
      'waived, nothing anywhere',
      { source: [], state: undefined, warehouse: undefined, expected: true, waiver: { reason: 'outage' } },
      'waived',
    ],
    [
      'waived, cadence not applying',
      { source: [], state: undefined, warehouse: undefined, expected: false, waiver: { reason: 'outage' } },
      'waived',
    ],
    [
      'waived, but data arrived since',
      { source: src, state: undefined, warehouse: undefined, expected: true, waiver: { reason: 'outage' } },
      'missing',
    ],
    [
      'waived, data arrived and loaded',
      { source: src, state: state(), warehouse: wh(5), expected: true, waiver: { reason: 'outage' } },
      'ok',
    ],
    [
      'waived, warehouse rows without source',
      { source: [], state: undefined, warehouse: wh(7), expected: true, waiver: { reason: 'outage' } },
      'orphan',
    ],
  ];
  for (const [name, input, expected] of cases) {
    it(`${name} -> ${expected ?? 'not reported'}`, () => assert.equal(classifyPartition(input).class, expected));
  }
  it('source-deleted is never backfilled, and the watermark passes it', () => {
    assert.ok(!BACKFILL_CLASSES.includes('source-deleted'));
    assert.ok(SETTLED_CLASSES.includes('source-deleted'));
  });
  const details: [string, Parameters<typeof classifyPartition>[0], RegExp][] = [
    [
      'kept only',
      { source: src, state: state({ kept: 2 }), warehouse: wh(5), expected: false },
      /^2 source object\(s\) deleted since loaded; their rows are kept .*`tidemark reload`[^;]*$/,
    ],
    [
      'held files',
      { source: src, state: state({ kept: 1, held: 3 }), warehouse: wh(5), expected: false },
      /; 3 rewritten file\(s\) wait for `tidemark reload`$/,
    ],
    ['all gone', { source: [], state: state({ objects: 4 }), warehouse: wh(5), expected: false }, /^all 4 source/],
    [
      'row count differs',
      { source: src, state: state({ kept: 1 }), warehouse: wh(3), expected: false },
      /warehouse holds 3 rows, the last load wrote 5$/,
    ],
  ];
  for (const [name, input, detail] of details) {
    it(`source-deleted detail: ${name}`, () => {
      const v = classifyPartition(input);
      assert.equal(v.force, undefined);
      assert.match(v.detail!, detail);
    });
  }
});

describe("the README's table of audit classes", () => {
  it('has one row per class, in the code order', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const rows = [...readme.matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual(
      rows.filter((r) => (AUDIT_CLASSES as readonly string[]).includes(r!)),
      [...AUDIT_CLASSES],
    );
  });
});

/** A warehouse that fails one chosen job without naming a file, like a schema mismatch would. */
function failingJobs(inner: Warehouse, fail: (jobId: string) => boolean): Warehouse {
  return {
    insertJob: (s) => inner.insertJob(s),
    getJob: async (id) => {
      const st = await inner.getJob(id);
      if (st && st.state === 'DONE' && fail(id))
        return {
          ...st,
          errorResult: { reason: 'invalid', message: 'Provided Schema does not match Table lake_us.events' },
        } as JobStatus;
      return st;
    },
    getTableLabels: (r) => inner.getTableLabels(r),
    patchTableLabels: (r, l, e) => inner.patchTableLabels(r, l, e),
    listPartitions: (r) => inner.listPartitions(r),
    ensureTable: (s) => inner.ensureTable(s),
    deleteTable: (r) => inner.deleteTable(r),
  };
}

describe('runAudit on the embedded backends', () => {
  it('finds every class, backfills what can be backfilled, and moves the watermark to the first hole', async () => {
    const env = await createTestEnv({ yaml: YAML });
    try {
      const sync = (h: number) => syncPartition(env.engine, { table: 'events', partition: pid(h), reason: 'test' });
      for (const h of [0, 1, 2, 3, 4, 6, 10, 11]) await env.put(hourPath(h, 'a.csv'), csvRows(h * 100, 5));
      await env.put(hourPath(3, 'b.csv'), csvRows(390, 2));
      await env.put(hourPath(6, 'bad.csv'), 'id,v\nnope,1\n');
      for (const h of [0, 1, 2, 3, 4, 6, 10, 11]) await sync(h);
      // hour 7: a load that fails for a reason no file explains
      await env.put(hourPath(7, 'a.csv'), csvRows(700, 5));
      let failing = true;
      const failEngine = { ...env.engine, warehouse: failingJobs(env.engine.warehouse, () => failing) };
      await assert.rejects(syncPartition(failEngine, { table: 'events', partition: pid(7), reason: 'test' }));
      failing = false;
      // Holes made after loading:
      await env.put(hourPath(1, 'late.csv'), csvRows(150, 3)); // a late file for an old partition
      await env.engine.warehouse.deletePartition({ dataset: 'lake_us', table: 'events' }, pid(2)); // deleted by hand
      await env.remove(hourPath(3, 'b.csv')); // an object deleted from the lake
      await env.put(hourPath(4, 'a.csv'), csvRows(400, 9)); // a file rewritten
      await env.put(hourPath(5, 'a.csv'), csvRows(500, 5)); // never loaded (its event was lost)
      // hour 8: no source data at all (cadence HOUR expects some)
      // hour 9: rows in the warehouse that no source object explains
      await env.put('elsewhere/x.csv', csvRows(900, 4), 'side');
      await env.engine.warehouse.insertJob({
        kind: 'load',
        jobId: 'manual_load_9',
        table: env.config.tables[0]!.spec,
        destination: env.config.tables[0]!.spec.ref,
        partition: pid(9),
        sourceUris: [env.engine.store.uri('side', 'elsewhere/x.csv')],
        writeDisposition: 'WRITE_TRUNCATE',
        labels: {},
      });
      for (let i = 0; i < 50 && (await env.engine.warehouse.getJob('manual_load_9'))?.state !== 'DONE'; i++)
        await new Promise((r) => setTimeout(r, 10));

      const published: BackfillMessage[] = [];
      const deps: AuditDeps = {
        ...env.engine,
        bus: {
          publish: async (topic, msgs) => {
            if (topic === 'tidemark-backfill') published.push(...(msgs as BackfillMessage[]));
            return msgs.map(() => 'id');
          },
        },
      };
      const report = await runAudit(deps, { fromMs: at(0), toMs: at(12) });
      const t = report.tables[0]!;
      const byPartition = Object.fromEntries(t.findings.map((f) => [f.partition, f.class]));
      assert.deepEqual(byPartition, {
        [pid(1)]: 'stale',
        [pid(2)]: 'missing',
        [pid(3)]: 'stale',
        [pid(4)]: 'stale',
        [pid(5)]: 'missing',
        [pid(6)]: 'quarantined',
        [pid(7)]: 'failed',
        [pid(8)]: 'upstream-missing',
        [pid(9)]: 'orphan',
      });
      assert.deepEqual(t.counts, {
        ok: 3,
        missing: 2,
        stale: 3,
        failed: 1,
        quarantined: 1,
        'upstream-missing': 1,
        waived: 0,
        orphan: 1,
        'source-deleted': 0,
      });
      assert.deepEqual(
        published.map((m) => `${m.partition}:${m.reason}`),
        [1, 2, 3, 4, 5, 7].map((h) => `${pid(h)}:${byPartition[pid(h)]}`),
      );
      // The watermark stops at the first hole (hour 1).
      assert.equal(t.watermark.after, new Date(at(1)).toISOString());

      // Backfill through the same handler the function runs, then audit again.
      const suite = createLocalSuite(env.engine, { minBackoffMs: 1, maxBackoffMs: 5 });
      await suite.bus.publish('tidemark-backfill', published);
      await suite.drain();
      suite.close();
      const again = await runAudit(deps, { fromMs: at(0), toMs: at(12) });
      const t2 = again.tables[0]!;
      // Hour 3 lost b.csv from the lake: under onSourceDelete keep (the default) the backfill keeps
      // its rows and records the deletion, so the audit now reports it as source-deleted.
      assert.deepEqual(Object.fromEntries(t2.findings.map((f) => [f.partition, f.class])), {
        [pid(3)]: 'source-deleted',
        [pid(6)]: 'quarantined',
        [pid(8)]: 'upstream-missing',
        [pid(9)]: 'orphan',
      });
      assert.equal(t2.watermark.after, new Date(at(8)).toISOString());
      assert.equal(await env.count(`strftime(_PARTITIONTIME, '%H') = '01'`), 8);
      assert.equal(await env.count(`strftime(_PARTITIONTIME, '%H') = '04'`), 9);
      assert.equal(await env.count(`strftime(_PARTITIONTIME, '%H') = '05'`), 5);
    } finally {
      await env.close();
    }
  });

  it('publishes at most maxBackfillsPerAudit, oldest first; the rest wait for the next run', async () => {
    const env = await createTestEnv({
      yaml: YAML.replace('tables:', 'audit: { maxBackfillsPerAudit: 3 }\ntables:').replace('    cadence: HOUR\n', ''),
    });
    try {
      for (let h = 0; h < 8; h++) await env.put(hourPath(h, 'a.csv'), csvRows(h, 1));
      const published: BackfillMessage[] = [];
      const deps: AuditDeps = {
        ...env.engine,
        bus: {
          publish: async (topic, msgs) => {
            if (topic === 'tidemark-backfill') published.push(...(msgs as BackfillMessage[]));
            return [];
          },
        },
      };
      const report = await runAudit(deps, { fromMs: at(0), toMs: at(8) });
      assert.deepEqual(
        published.map((m) => m.partition),
        [pid(0), pid(1), pid(2)],
      );
      assert.equal(report.deferred, 5);
    } finally {
      await env.close();
    }
  });
});

describe('source-deleted partitions', () => {
  const MIRROR_YAML = `${YAML}    onSourceDelete: mirror\n`;
  it('the mirror table really is mirror', () =>
    assert.equal(parseConfig(MIRROR_YAML, '/virtual/tidemark.config.yaml').tables[0]!.onSourceDelete, 'mirror'));
  const fp = (names: [string, string][]) =>
    fingerprintObjects(names.map(([name, generation]) => ({ name, generation })));
  /** Loads hours 0..3 (two files each), then: hour 0 loses every file; hour 1 a file the engine recorded as kept, another rewritten and held. */
  async function setup(yaml: string) {
    const env = await createTestEnv({ yaml });
    for (let h = 0; h < 4; h++) {
      await env.put(hourPath(h, 'a.csv'), csvRows(h * 100, 3));
      await env.put(hourPath(h, 'b.csv'), csvRows(h * 100 + 50, 2));
      await syncPartition(env.engine, { table: 'events', partition: pid(h), reason: 'test' });
    }
    await env.remove(hourPath(0, 'a.csv'));
    await env.remove(hourPath(0, 'b.csv'));
    // What a keep-mode sync records for hour 1 (b.csv deleted, a.csv rewritten and held): the
    // state's source fingerprint is the new listing's.
    await env.remove(hourPath(1, 'b.csv'));
    const { generation: g1 } = await env.put(hourPath(1, 'a.csv'), csvRows(100, 4));
    await updateState(env.engine.store, env.config.state, 'events', pid(1), env.clock, (st) => ({
      ...st,
      loaded: {
        ...st.loaded!,
        sourceFingerprint: fp([[hourPath(1, 'a.csv'), g1]]),
        kept: [{ name: hourPath(1, 'b.csv'), generation: '7' }],
        held: [{ name: hourPath(1, 'a.csv'), generation: g1 }],
      },
    }));
    const published: BackfillMessage[] = [];
    const deps: AuditDeps = {
      ...env.engine,
      bus: {
        publish: async (topic, msgs) => {
          if (topic === 'tidemark-backfill') published.push(...(msgs as BackfillMessage[]));
          return msgs.map(() => 'id');
        },
      },
    };
    return { env, deps, published };
  }

  it('keep: reported with the objects, never published, and the watermark passes them', async () => {
    const { env, deps, published } = await setup(YAML);
    try {
      const t = (await runAudit(deps, { fromMs: at(0), toMs: at(4) })).tables[0]!;
      assert.deepEqual(
        t.findings.map((f) => [f.partition, f.class]),
        [
          [pid(0), 'source-deleted'],
          [pid(1), 'source-deleted'],
        ],
      );
      assert.equal(t.counts['source-deleted'], 2);
      const [h0, h1] = t.findings;
      // Hour 0: no sync has run since, so the loaded files (the claim object) are the deleted ones.
      assert.deepEqual(
        h0!.objects!.kept.map((o) => o.name),
        [hourPath(0, 'a.csv'), hourPath(0, 'b.csv')],
      );
      assert.match(
        h0!.detail!,
        /^all 2 source object\(s\) deleted since loaded; .*; deleted: events\/dt=2026-11-24\/hr=00\/a\.csv, /,
      );
      assert.deepEqual(h1!.objects, {
        kept: [{ name: hourPath(1, 'b.csv'), generation: '7' }],
        held: [{ name: hourPath(1, 'a.csv'), generation: h1!.objects!.held[0]!.generation }],
      });
      assert.match(
        h1!.detail!,
        /1 rewritten file\(s\) wait for `tidemark reload`.*; waiting: events\/dt=2026-11-24\/hr=01\/a\.csv$/,
      );
      assert.deepEqual(published, []);
      assert.equal(t.watermark.after, new Date(at(4)).toISOString());
      // The head of hour 1 (one read), the head and claim object of hour 0 (two).
      assert.equal(t.calls.stateReads, 3);
      // The rows stay.
      assert.equal(await env.count(`strftime(_PARTITIONTIME, '%H') = '00'`), 5);
    } finally {
      await env.close();
    }
  });

  it('keep: objects are named for at most the cap of partitions per audit; the rest say so', async () => {
    const { env, deps } = await setup(YAML);
    try {
      const budget = { left: 1 };
      const { audit } = await auditTable(deps, deps.router.table('events')!, at(0), at(4), env.log, null, budget);
      assert.equal(budget.left, 0);
      assert.ok(audit.findings[0]!.objects);
      assert.equal(audit.findings[1]!.objects, undefined);
      assert.match(audit.findings[1]!.detail!, /objects not named: over the audit's 50 state reads/);
      assert.equal(audit.calls.stateReads, 2);
    } finally {
      await env.close();
    }
  });

  it('mirror: a partition whose objects all went is stale and backfilled (emptied), as before', async () => {
    const { env, deps, published } = await setup(MIRROR_YAML);
    try {
      const t = (await runAudit(deps, { fromMs: at(0), toMs: at(4) })).tables[0]!;
      assert.deepEqual(
        t.findings.map((f) => [f.partition, f.class]),
        [
          [pid(0), 'stale'],
          [pid(1), 'stale'],
        ],
      );
      // Hour 1 kept rows under a former keep policy: its listing is unchanged, so the load is forced.
      assert.deepEqual(
        published.map((m) => [m.partition, m.reason, m.force]),
        [
          [pid(0), 'stale', false],
          [pid(1), 'stale', true],
        ],
      );
      assert.equal(t.calls.stateReads, 0);
    } finally {
      await env.close();
    }
  });
});

describe('cadence', () => {
  it('on a first audit, empty partitions before the first data are not upstream-missing; after the watermark every one is judged', async () => {
    const env = await createTestEnv({ yaml: YAML });
    try {
      for (const h of [4, 5, 7]) await env.put(hourPath(h, 'a.csv'), csvRows(h, 2));
      for (const h of [4, 5, 7])
        await syncPartition(env.engine, { table: 'events', partition: pid(h), reason: 'test' });
      const deps: AuditDeps = { ...env.engine, bus: { publish: async () => [] } };
      const first = await runAudit(deps, { fromMs: at(0), toMs: at(8) });
      // Hours 0-3 come before any data: the table may not have started. Hour 6 is a real hole.
      assert.deepEqual(
        first.tables[0]!.findings.map((f) => [f.partition, f.class]),
        [[pid(6), 'upstream-missing']],
      );
      assert.equal(first.tables[0]!.watermark.after, new Date(at(6)).toISOString());
      // Later audits judge everything from the watermark on, even before the first data in their window.
      await env.put(hourPath(6, 'a.csv'), csvRows(6, 2));
      await syncPartition(env.engine, { table: 'events', partition: pid(6), reason: 'test' });
      const second = await runAudit(deps, { fromMs: at(6), toMs: at(10) });
      assert.deepEqual(
        second.tables[0]!.findings.map((f) => [f.partition, f.class]),
        [
          [pid(8), 'upstream-missing'],
          [pid(9), 'upstream-missing'],
        ],
      );
      assert.equal(second.tables[0]!.watermark.after, new Date(at(8)).toISOString());
    } finally {
      await env.close();
    }
  });
});

describe('partitions whose files hold no rows', () => {
  it('a header-only CSV and a 0-byte file are ok: no forced reload, run after run, and the watermark passes them', async () => {
    const env = await createTestEnv({ yaml: YAML });
    try {
      await env.put(hourPath(4, 'a.csv'), csvRows(400, 3));
      await env.put(hourPath(5, 'a.csv'), 'id,v\n'); // header only
      await env.put(hourPath(6, 'a.csv'), ''); // 0 bytes
      await env.put(hourPath(7, 'a.csv'), csvRows(700, 2));
      for (const h of [4, 5, 6, 7])
        await syncPartition(env.engine, { table: 'events', partition: pid(h), reason: 'test' });
      const published: BackfillMessage[] = [];
      const deps: AuditDeps = {
        ...env.engine,
        bus: {
          publish: async (topic, msgs) => {
            if (topic === 'tidemark-backfill') published.push(...(msgs as BackfillMessage[]));
            return [];
          },
        },
      };
      for (let run = 0; run < 2; run++) {
        const t = (await runAudit(deps, { fromMs: at(4), toMs: at(8) })).tables[0]!;
        assert.deepEqual(t.findings, []);
        assert.equal(t.counts.ok, 4);
        assert.equal(t.watermark.after, new Date(at(8)).toISOString());
      }
      assert.deepEqual(published, []);
    } finally {
      await env.close();
    }
  });
});

describe('cadence is judged only after a partition has ended (plus settle)', () => {
  const DAY_YAML = `
project: test-project
location: US
lake: { bucket: lake }
tables:
  - name: orders
    source: { pattern: "orders/{yyyy}/{mm}/{dd}/*.csv", timeZone: UTC }
    format: CSV
    csv: { skipLeadingRows: 1 }
    schema:
      - { name: id, type: INTEGER }
      - { name: v, type: STRING }
    target: { dataset: lake_us, table: orders }
    partitioning: { type: DAY }
    cadence: DAY
`;
  it('a DAY table is not upstream-missing for the running day; the watermark stops before it', async () => {
    const env = await createTestEnv({ yaml: DAY_YAML });
    try {
      // The clock reads 2026-11-24 12:00Z: the 24th is still running.
      for (const d of [22, 23]) {
        await env.put(`orders/2026/11/${d}/a.csv`, csvRows(d, 2));
        await syncPartition(env.engine, { table: 'orders', partition: `202611${d}`, reason: 'test' });
      }
      const deps: AuditDeps = { ...env.engine, bus: { publish: async () => [] } };
      const t = (await runAudit(deps, { tables: ['orders'] })).tables[0]!;
      assert.equal(t.window.to, '20261124');
      assert.deepEqual(t.findings, []);
      assert.equal(t.watermark.after, new Date(Date.UTC(2026, 10, 24)).toISOString());
      // Once the 24th has ended and settled, its absence is a hole.
      env.clock.ms = Date.UTC(2026, 10, 25, 1);
      const later = (await runAudit(deps, { tables: ['orders'] })).tables[0]!;
      assert.deepEqual(
        later.findings.map((f) => [f.partition, f.class]),
        [['20261124', 'upstream-missing']],
      );
    } finally {
      await env.close();
    }
  });

  it('an audit window reaching into the future flags no hour that has not happened, and the watermark stays in the past', async () => {
    const env = await createTestEnv({ yaml: YAML });
    try {
      for (let h = 4; h <= 10; h++) {
        await env.put(hourPath(h, 'a.csv'), csvRows(h, 1));
        await syncPartition(env.engine, { table: 'events', partition: pid(h), reason: 'test' });
      }
      const deps: AuditDeps = { ...env.engine, bus: { publish: async () => [] } };
      // now = 12:00, settle 1h: hour 10 is the last one judged; 11 has not settled, 12-19 are to come.
      const t = (await runAudit(deps, { fromMs: at(4), toMs: at(20) })).tables[0]!;
      assert.deepEqual(t.findings, []);
      assert.equal(t.watermark.after, new Date(at(11)).toISOString());
    } finally {
      await env.close();
    }
  });

  it('a local-date partition ends with its day in the source zone', async () => {
    const yaml = DAY_YAML.replace('timeZone: UTC', 'timeZone: America/New_York')
      .replace('partitioning: { type: DAY }', 'partitioning: { type: DAY, field: d, fieldType: DATE }')
      .replace('{ name: v, type: STRING }', '{ name: d, type: DATE }');
    const table = parseConfig(yaml, '/virtual/tidemark.config.yaml').tables[0]!;
    const utc = parseConfig(DAY_YAML, '/virtual/tidemark.config.yaml').tables[0]!;
    assert.equal(partitionDataEnd(table, '20261124'), Date.UTC(2026, 10, 25, 5)); // midnight in New York (EST)
    assert.equal(partitionDataEnd(utc, '20261124'), Date.UTC(2026, 10, 25));
  });
});

describe('waived partitions', () => {
  it('are waived (not holes) and the watermark passes them; a corrupt waivers object waives nothing and is logged', async () => {
    const env = await createTestEnv({ yaml: YAML });
    try {
      for (const h of [4, 6]) {
        await env.put(hourPath(h, 'a.csv'), csvRows(h, 2));
        await syncPartition(env.engine, { table: 'events', partition: pid(h), reason: 'test' });
      }
      await addWaivers(env.engine.store, env.config.state, 'events', [pid(5)], {
        reason: 'producer outage',
        by: 'ana@box',
        at: 1,
      });
      const deps: AuditDeps = { ...env.engine, bus: { publish: async () => [] } };
      const t = (await runAudit(deps, { fromMs: at(4), toMs: at(7) }, { dryRun: true })).tables[0]!;
      assert.deepEqual(
        t.findings.map((f) => [f.partition, f.class, f.detail]),
        [[pid(5), 'waived', 'accepted gap: producer outage']],
      );
      assert.equal(t.counts.waived, 1);
      const wet = (await runAudit(deps, { fromMs: at(4), toMs: at(7) })).tables[0]!;
      assert.equal(wet.watermark.after, new Date(at(7)).toISOString());
      await env.put('_tidemark/waivers/events.json', '{', env.config.state.bucket);
      const c = (await runAudit(deps, { fromMs: at(4), toMs: at(7) }, { dryRun: true })).tables[0]!;
      assert.deepEqual(
        c.findings.map((f) => [f.partition, f.class]),
        [[pid(5), 'upstream-missing']],
      );
      assert.ok(
        env.log.entries.some(
          (e) =>
            e.severity === 'ERROR' && /waivers ignored: .*_tidemark\/waivers\/events\.json: not JSON/.test(e.message),
        ),
      );
    } finally {
      await env.close();
    }
  });
});

describe('the watermark label', () => {
  it('never moves backwards under concurrent audits', async () => {
    const env = await createTestEnv();
    try {
      const ref = { dataset: 'lake_us', table: 'events' };
      const seen: string[] = [];
      const wh = env.engine.warehouse;
      const recording: Warehouse = {
        ...failingJobs(wh, () => false),
        patchTableLabels: async (r, labels, etag) => {
          await wh.patchTableLabels(r, labels, etag);
          seen.push(labels[WATERMARK_LABEL]!);
        },
      };
      const times = Array.from({ length: 12 }, (_, i) => at(0) + ((i * 7) % 12) * 3_600_000);
      await Promise.all(times.map((ms) => advanceLabelTime(recording, ref, WATERMARK_LABEL, ms)));
      const final = decodeLabelTime((await wh.getTableLabels(ref))!.labels[WATERMARK_LABEL]);
      assert.equal(final, Math.max(...times));
      for (let i = 1; i < seen.length; i++)
        assert.ok(seen[i]! > seen[i - 1]!, `label went from ${seen[i - 1]} to ${seen[i]}`);
      // And an audit whose window ends earlier leaves it where it is.
      const before = (await wh.getTableLabels(ref))!.labels[WATERMARK_LABEL];
      await advanceLabelTime(recording, ref, WATERMARK_LABEL, at(0));
      assert.equal((await wh.getTableLabels(ref))!.labels[WATERMARK_LABEL], before);
    } finally {
      await env.close();
    }
  });
});

describe('audit cost on a large lake', () => {
  it('a year of hourly partitions for three tables: API calls grow with objects/1000, never one per partition, and no table data is read', async (t) => {
    const tables = ['clicks', 'views', 'buys'];
    const yaml = `
project: test-project
location: US
lake: { bucket: lake }
tables:
${tables
  .map(
    (t) => `  - name: ${t}
    source: { pattern: "${t}/dt={yyyy}-{mm}-{dd}/hr={hh}/*.json", timeZone: Asia/Seoul }
    format: NEWLINE_DELIMITED_JSON
    autodetect: true
    target: { dataset: lake_us, table: ${t} }
    partitioning: { type: HOUR }`,
  )
  .join('\n')}
`;
    const config = parseConfig(yaml, '/virtual/tidemark.config.yaml');
    const store = new MemoryObjectStore();
    const clock = new ManualClock(Date.UTC(2026, 10, 24));
    const from = Date.UTC(2025, 10, 24);
    const partitionsPerTable = (clock.now() - from) / 3_600_000;
    const whCalls = { listPartitions: 0, other: 0 };
    const partitions: PartitionInfo[] = [];
    for (const t of tables) {
      for (let ms = from; ms < clock.now(); ms += 3_600_000) {
        const local = new Date(ms + 9 * 3_600_000);
        const iso = local.toISOString();
        const name = `${t}/dt=${iso.slice(0, 10)}/hr=${iso.slice(11, 13)}/part-0.json`;
        const { generation } = await store.write('lake', name, '{}\n');
        const id = new Date(ms).toISOString().slice(0, 13).replace(/[-T]/g, '');
        const h = { state: emptyState(t, id, ms), generation: '0' };
        await writeState(store, config.state, h, {
          ...h.state,
          status: 'loaded',
          loaded: {
            sourceFingerprint: fingerprintObjects([{ name, generation }]),
            loadedFingerprint: '',
            objects: 1,
            bytes: 3,
            rows: 1,
            jobId: 'j',
            at: ms,
          },
        });
        if (t === tables[0]) partitions.push({ partitionId: id, totalRows: 1 });
      }
    }
    const warehouse: Warehouse = {
      insertJob: async () => {
        whCalls.other++;
        throw new Error('no jobs in an audit');
      },
      getJob: async () => {
        whCalls.other++;
        return null;
      },
      getTableLabels: async () => ({ labels: {}, etag: '1' }),
      patchTableLabels: async () => {},
      listPartitions: async () => {
        whCalls.listPartitions++;
        return partitions;
      },
      ensureTable: async () => {},
      deleteTable: async () => {},
    };
    store.calls.list = 0;
    const deps: AuditDeps = {
      config,
      router: createRouter(config),
      store,
      warehouse,
      clock,
      log: memoryLogger(),
      options: { pollMs: 1, maxWaitMs: 1, submitGraceMs: 1, maxRounds: 1 },
      bus: { publish: async () => [] },
    };
    let calls = 0;
    for (const t of tables) {
      const { audit } = await auditTable(deps, deps.router.table(t)!, from, clock.now(), deps.log);
      assert.equal(audit.counts.ok, partitionsPerTable);
      calls += audit.calls.sourcePages + audit.calls.statePages + audit.calls.partitionQueries;
    }
    const objectsPerTable = partitionsPerTable; // one object per partition here
    // Per table: source pages ~ objects/1000 (plus a page per range prefix), state pages ~ partitions/1000, one query.
    const bound = tables.length * (2 * Math.ceil(objectsPerTable / 1000) + 40 + 1);
    assert.ok(calls <= bound, `${calls} calls > ${bound}`);
    t.diagnostic(
      `${tables.length} tables x ${partitionsPerTable} hourly partitions: ${calls} API calls in all (bound ${bound})`,
    );
    assert.ok(calls < partitionsPerTable / 20, `${calls} calls for ${partitionsPerTable} partitions per table`);
    assert.equal(whCalls.listPartitions, tables.length);
    assert.equal(whCalls.other, 0);
    // One read per table: its waivers object (absent here). No state object is downloaded.
    assert.equal(store.calls.read, tables.length, 'no state object downloaded');
  });
});
