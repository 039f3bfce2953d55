/**
 * Settling claimed jobs (shared/core/claims.ts) on the embedded backends: exact blame, files
 * deleted between listing and load, transient job errors. A wrapper over the local warehouse
 * makes its job results look like BigQuery's where they differ (errors named only in messages,
 * transient job failures).
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { maxProbesFor } from '../../../shared/core/bisect.ts';
import { BackendUnavailableError, LoadFailedError, SimulatedCrashError } from '../../../shared/core/errors.ts';
import type { JobErrorItem, JobSpec, JobStatus, Warehouse } from '../../../shared/core/ports.ts';
import { listQuarantine } from '../../../shared/core/quarantine.ts';
import { readState, writeState } from '../../../shared/core/state.ts';
import { syncPartition } from '../../../shared/core/sync.ts';
import type { Engine } from '../../../shared/core/sync.ts';
import { createTestEnv, csvRows, EVENTS_YAML } from '../../helpers/local-env.ts';
import type { TestEnv } from '../../helpers/local-env.ts';

const P = '2026112410';
const path = (file: string) => `events/dt=2026-11-24/hr=10/${file}`;

/** The local warehouse with its job results rewritten by `rewrite` (and fake failures by `fail`). */
function bigQueryLike(
  inner: Warehouse,
  opts: {
    rewrite?: (s: JobStatus, spec: JobSpec | undefined) => JobStatus;
    fail?: (spec: JobSpec) => JobErrorItem | undefined;
  },
): Warehouse & { inserted: JobSpec[] } {
  const specs = new Map<string, JobSpec>();
  const failed = new Map<string, JobErrorItem>();
  const inserted: JobSpec[] = [];
  const view = (s: JobStatus | null): JobStatus | null => {
    if (!s) return s;
    const f = failed.get(s.jobId);
    if (f) s = { ...s, kind: specs.get(s.jobId)!.kind, ...(s.state === 'DONE' ? { errorResult: f, errors: [f] } : {}) };
    return opts.rewrite ? opts.rewrite(s, specs.get(s.jobId)) : s;
  };
  return Object.assign(Object.create(inner) as Warehouse, {
    inserted,
    async insertJob(spec: JobSpec) {
      const fault = opts.fail?.(spec);
      if (!specs.has(spec.jobId)) specs.set(spec.jobId, spec);
      if (fault && !failed.has(spec.jobId)) failed.set(spec.jobId, fault);
      const r = await inner.insertJob(fault ? { kind: 'noop', jobId: spec.jobId, labels: spec.labels } : spec);
      if (r.created) inserted.push(spec);
      return { ...r, status: view(r.status)! };
    },
    async getJob(jobId: string) {
      return view(await inner.getJob(jobId));
    },
  });
}

/** BigQuery names a bad file in the message, not always in `location`. */
const messageOnly = (s: JobStatus): JobStatus =>
  s.errorResult ? { ...s, errorResult: strip(s.errorResult), ...(s.errors ? { errors: s.errors.map(strip) } : {}) } : s;
const strip = (e: JobErrorItem): JobErrorItem =>
  e.location
    ? { reason: e.reason, message: `Error while reading data, error message: ${e.message} File: ${e.location}` }
    : e;

function withWarehouse(env: TestEnv, warehouse: Warehouse): Engine {
  return { ...env.engine, warehouse };
}

const NO_EXT_YAML = EVENTS_YAML.replace('hr={hh}/*.csv"', 'hr={hh}/*"');

describe('settle: exact blame', () => {
  it('quarantines batch-10 only, never batch-1 whose URI is a prefix of it', async () => {
    const env = await createTestEnv({ yaml: NO_EXT_YAML });
    try {
      await env.put(path('batch-1'), csvRows(1, 1));
      await env.put(path('batch-10'), 'id,v\nnot-a-number,x\n');
      await env.put(path('batch-2'), csvRows(2, 2));
      const engine = withWarehouse(env, bigQueryLike(env.engine.warehouse, { rewrite: messageOnly }));
      const r = await syncPartition(engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(r.outcome, 'loaded');
      assert.deepEqual(
        r.quarantined.map((q) => q.name),
        [path('batch-10')],
      );
      assert.equal(await env.count(), 3);
    } finally {
      await env.close();
    }
  });
});

describe('settle: a file deleted between listing and load', () => {
  it('lists again instead of quarantining it', async () => {
    let removed = false;
    const env = await createTestEnv({
      hooks: {
        step: async (s) => {
          if (s === 'after-claim' && !removed) {
            removed = true;
            await env.remove(path('gone.csv'));
          }
        },
      },
    });
    try {
      await env.put(path('a.csv'), csvRows(1, 4));
      await env.put(path('gone.csv'), csvRows(100, 3));
      const r = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(removed, true);
      assert.equal(r.outcome, 'loaded');
      assert.deepEqual(r.quarantined, []);
      assert.deepEqual(r.newlyQuarantined, []);
      assert.equal(await env.count(), 4);
      assert.ok(!env.log.entries.some((e) => e.message === 'file quarantined'));
    } finally {
      await env.close();
    }
  });
});

describe('settle: transient job errors', () => {
  const cases: JobErrorItem[] = [
    {
      reason: 'quotaExceeded',
      message: 'Quota exceeded: Your table exceeded quota for imports or query appends per table',
    },
    { reason: 'rateLimitExceeded', message: 'Exceeded rate limits: too many table update operations for this table' },
    { reason: 'backendError', message: 'Backend error. Job aborted.' },
    { reason: 'internalError', message: 'An internal error occurred and the request could not be completed.' },
    { reason: 'invalid', message: 'Exceeded rate limits: too many table update operations for this table' },
  ];
  for (const fault of cases) {
    it(`${fault.reason}: "${fault.message.slice(0, 40)}" clears the claim and throws a transient error; a retry loads with a new job id`, async () => {
      const env = await createTestEnv();
      try {
        await env.put(path('a.csv'), csvRows(1, 5));
        let faults = 1;
        const wh = bigQueryLike(env.engine.warehouse, {
          fail: (spec) => (spec.kind === 'load' && faults-- > 0 ? fault : undefined),
        });
        const engine = withWarehouse(env, wh);
        await assert.rejects(
          syncPartition(engine, { table: 'events', partition: P, reason: 'test' }),
          BackendUnavailableError,
        );
        const { state } = await readState(env.engine.store, env.config.state, 'events', P, env.clock.now());
        assert.equal(state.inflight, undefined);
        assert.notEqual(state.status, 'failed');
        assert.equal(await env.count(), 0);
        const r = await syncPartition(engine, { table: 'events', partition: P, reason: 'retry' });
        assert.equal(r.outcome, 'loaded');
        assert.equal(await env.count(), 5);
        const loads = wh.inserted.filter((j) => j.kind === 'load');
        assert.equal(loads.length, 2);
        assert.notEqual(loads[0]!.jobId, loads[1]!.jobId);
        assert.ok(
          env.log.entries.some(
            (e) => e.message === 'job failed transiently; claim cleared for a retry' && e.severity === 'WARNING',
          ),
        );
      } finally {
        await env.close();
      }
    });
  }
});

describe('object names no load can take', () => {
  it('quarantines a*.csv instead of loading it as a wildcard (3 source rows stay 3)', async () => {
    const env = await createTestEnv();
    try {
      await env.put(path('a*.csv'), csvRows(1, 1));
      await env.put(path('abc.csv'), csvRows(10, 2));
      const r = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(r.outcome, 'loaded');
      assert.equal(await env.count(), 2);
      assert.deepEqual(
        r.quarantined.map((q) => q.name),
        [path('a*.csv')],
      );
      assert.deepEqual(
        r.newlyQuarantined.map((q) => q.name),
        [path('a*.csv')],
      );
      assert.match(r.quarantined[0]!.error, /wildcard.*rename the object/);
      assert.ok(
        env.log.entries.some(
          (e) => e.message === 'file quarantined' && e.object === path('a*.csv') && e.severity === 'WARNING',
        ),
      );
      const { state } = await readState(env.engine.store, env.config.state, 'events', P, env.clock.now());
      assert.deepEqual(
        state.quarantine.map((q) => q.name),
        [path('a*.csv')],
      );
      // What `tidemark quarantine` lists (and the audit's `quarantined` class counts).
      assert.deepEqual(
        (await listQuarantine(env.engine.store, env.config.state, ['events'])).map((q) => [q.partition, q.name]),
        [[P, path('a*.csv')]],
      );
      // Visible like any quarantine; an unchanged listing stays up to date, a forced reload still refuses it.
      assert.equal(
        (await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' })).outcome,
        'up-to-date',
      );
      const forced = await syncPartition(env.engine, {
        table: 'events',
        partition: P,
        reason: 'reload',
        force: true,
        forceToken: 't',
      });
      assert.deepEqual(
        forced.quarantined.map((q) => q.name),
        [path('a*.csv')],
      );
      assert.equal(await env.count(), 2);
    } finally {
      await env.close();
    }
  });

  it('a name the local store cannot hold (a line feed) is quarantined and never wedges the claim', async () => {
    const env = await createTestEnv();
    try {
      await env.put(path('good.csv'), csvRows(1, 3));
      const lf = path('bad\nname.csv');
      writeFileSync(join(env.dir, 'lake', 'lake', lf), csvRows(50, 2));
      const r = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(r.outcome, 'loaded');
      assert.equal(await env.count(), 3);
      assert.deepEqual(
        r.quarantined.map((q) => q.name),
        [lf],
      );
      assert.match(r.quarantined[0]!.error, /CR or LF|line feed/);
      // Deleted later: its quarantine entry goes with it, and no job is needed (it was never loaded).
      rmSync(join(env.dir, 'lake', 'lake', lf));
      const after = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(after.outcome, 'up-to-date');
      assert.deepEqual(after.jobs, []);
      assert.deepEqual(after.quarantined, []);
      const again = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.deepEqual(again.quarantined, []);
    } finally {
      await env.close();
    }
  });

  it('a claim that already holds an unaddressable name is fenced and cleared, then the partition loads', async () => {
    const env = await createTestEnv();
    try {
      await env.put(path('good.csv'), csvRows(1, 3));
      // A claim made by an older version, holding a name the store cannot address; the file is gone since.
      const handle = await readState(env.engine.store, env.config.state, 'events', P, env.clock.now());
      await writeState(env.engine.store, env.config.state, handle, {
        ...handle.state,
        seq: 1,
        inflight: {
          jobId: 'tidemark_legacy_claim',
          kind: 'load',
          sourceFingerprint: 'x',
          loadedFingerprint: 'y',
          files: [{ name: path('bad\nname.csv'), generation: '1', size: 4 }],
          quarantine: [],
          owner: 'old',
          startedAt: env.clock.now(),
          reason: 'test',
        },
      });
      env.clock.advance(61_000);
      const r = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(r.outcome, 'loaded');
      assert.equal(await env.count(), 3);
    } finally {
      await env.close();
    }
  });
});

describe('staged loads (more files than maxUrisPerLoad)', () => {
  const STAGED_YAML = EVENTS_YAML.replace(
    'defaults: { jobBudget: 300, jobBurst: 20 }',
    'defaults: { jobBudget: 300, jobBurst: 20, maxUrisPerLoad: 3 }',
  );
  const stageTables = (env: TestEnv) =>
    env.rows(`SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%stage%'`);

  for (const when of ['before', 'after'] as const) {
    it(`a sync interrupted ${when} submitting chunk 1 is resumed by the next sync: no chunk submitted twice, rows exact`, async () => {
      const env = await createTestEnv({ yaml: STAGED_YAML });
      try {
        for (let i = 0; i < 8; i++) await env.put(path(`f${i}.csv`), csvRows(i * 10, 2));
        let crashed = false;
        const inner = env.engine.warehouse;
        const wh = bigQueryLike(inner, {});
        const insert = wh.insertJob.bind(wh);
        wh.insertJob = async (spec) => {
          const hit = !crashed && spec.jobId.endsWith('_s1');
          if (hit && when === 'before') {
            crashed = true;
            throw new SimulatedCrashError('function timed out before chunk 1');
          }
          const r = await insert(spec);
          if (hit) {
            crashed = true;
            throw new SimulatedCrashError('function timed out after submitting chunk 1');
          }
          return r;
        };
        const engine = withWarehouse(env, wh);
        await assert.rejects(
          syncPartition(engine, { table: 'events', partition: P, reason: 'test' }),
          SimulatedCrashError,
        );
        // Straight away (no grace period, no fencing): the next sync finds the claim and finishes it.
        await syncPartition(engine, { table: 'events', partition: P, reason: 'retry' });
        const { state } = await readState(env.engine.store, env.config.state, 'events', P, env.clock.now());
        assert.equal(state.status, 'loaded');
        assert.equal(state.inflight, undefined);
        assert.equal(await env.count(), 16);
        const ids = wh.inserted.map((j) => j.jobId);
        assert.equal(new Set(ids).size, ids.length, `a job was created twice: ${ids.join(', ')}`);
        assert.deepEqual(
          wh.inserted.map((j) => `${j.kind}${j.jobId.match(/_s\d+$/)?.[0] ?? ''}`),
          ['load_s0', 'load_s1', 'load_s2', 'copy'],
        );
        assert.equal((await stageTables(env)).length, 0);
      } finally {
        await env.close();
      }
    });
  }

  it('a staged claim found after its stage expired is listed again, never copied in part', async () => {
    const env = await createTestEnv({ yaml: STAGED_YAML });
    try {
      for (let i = 0; i < 8; i++) await env.put(path(`f${i}.csv`), csvRows(i * 10, 2));
      let crashed = false;
      const wh = bigQueryLike(env.engine.warehouse, {});
      const insert = wh.insertJob.bind(wh);
      wh.insertJob = async (spec) => {
        if (!crashed && spec.jobId.endsWith('_s1')) {
          crashed = true;
          throw new SimulatedCrashError('function timed out before chunk 1');
        }
        return insert(spec);
      };
      const engine = withWarehouse(env, wh);
      await assert.rejects(
        syncPartition(engine, { table: 'events', partition: P, reason: 'test' }),
        SimulatedCrashError,
      );
      env.clock.advance(25 * 60 * 60_000);
      await syncPartition(engine, { table: 'events', partition: P, reason: 'audit' });
      const { state } = await readState(env.engine.store, env.config.state, 'events', P, env.clock.now());
      assert.equal(state.status, 'loaded');
      assert.equal(await env.count(), 16);
      assert.equal((await stageTables(env)).length, 0);
    } finally {
      await env.close();
    }
  });

  it('a stage table whose cleanup failed is a WARNING and expires by itself a day later', async () => {
    const env = await createTestEnv({ yaml: STAGED_YAML });
    try {
      for (let i = 0; i < 5; i++) await env.put(path(`f${i}.csv`), csvRows(i * 10, 2));
      const wh = bigQueryLike(env.engine.warehouse, {});
      wh.deleteTable = async () => {
        throw new BackendUnavailableError('tables.delete failed after 6 attempts');
      };
      const r = await syncPartition(withWarehouse(env, wh), { table: 'events', partition: P, reason: 'test' });
      assert.equal(r.outcome, 'loaded');
      assert.equal(await env.count(), 10);
      assert.ok(
        env.log.entries.some(
          (e) => e.severity === 'WARNING' && e.message === 'could not delete the staging table; it expires on its own',
        ),
      );
      assert.equal((await stageTables(env)).length, 1);
      env.clock.advance(24 * 60 * 60_000 - 1_000);
      await env.engine.warehouse.ensureTable(env.config.tables[0]!.spec);
      assert.equal((await stageTables(env)).length, 1, 'not before its expiration');
      env.clock.advance(2_000);
      await env.engine.warehouse.ensureTable(env.config.tables[0]!.spec);
      assert.equal((await stageTables(env)).length, 0);
      assert.equal(await env.count(), 10);
    } finally {
      await env.close();
    }
  });
});

describe('bisection when a failed load names no file', () => {
  const BIG_BUDGET = EVENTS_YAML.replace('jobBudget: 300, jobBurst: 20', 'jobBudget: 1000, jobBurst: 200');
  /** Like BigQuery's summary error: a job of several files says "too many errors" and names none. */
  const unnamedUnlessSingle = (s: JobStatus, spec: JobSpec | undefined): JobStatus => {
    if (!s.errorResult || spec?.kind !== 'load' || spec.sourceUris.length === 1) return s;
    const e: JobErrorItem = {
      reason: 'invalid',
      message: 'Error while reading data, error message: CSV table encountered too many errors, giving up.',
    };
    return { ...s, errorResult: e, errors: [e] };
  };

  it('finds 3 bad files among 64 with about k·log2 n probes into a scratch table; exact rows', async (t) => {
    const env = await createTestEnv({ yaml: BIG_BUDGET });
    try {
      const bad = new Set([5, 30, 31]);
      for (let i = 0; i < 64; i++) {
        await env.put(
          path(`f${String(i).padStart(2, '0')}.csv`),
          bad.has(i) ? 'id,v\nnot-a-number,x\n' : csvRows(i * 10, 2),
        );
      }
      const wh = bigQueryLike(env.engine.warehouse, { rewrite: unnamedUnlessSingle });
      const r = await syncPartition(withWarehouse(env, wh), { table: 'events', partition: P, reason: 'test' });
      assert.equal(r.outcome, 'loaded');
      assert.equal(await env.count(), 61 * 2);
      assert.deepEqual(
        r.quarantined.map((q) => q.name).sort(),
        [...bad].map((i) => path(`f${String(i).padStart(2, '0')}.csv`)).sort(),
      );
      const probes = wh.inserted.filter((j) => /_p[01r]*x?(_r\d+)?$/.test(j.jobId));
      const targetLoads = wh.inserted.filter((j) => j.kind === 'load' && j.destination.table === 'events');
      assert.ok(probes.length > 0 && probes.length <= 2 * 3 * Math.log2(64), `${probes.length} probes`);
      t.diagnostic(`3 bad files among 64: ${probes.length} probe jobs (k·log2 n = 18, bound 36)`);
      assert.equal(targetLoads.length, 2); // the failed load and the final one: probes never touch the target
      assert.ok(probes.every((j) => j.kind === 'load' && j.destination.table.includes('__tidemark_probe_')));
      const scratch = await env.rows(
        `SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%probe%'`,
      );
      assert.equal(scratch.length, 0);
    } finally {
      await env.close();
    }
  });

  it('bisects a staged partition with probes no larger than maxUrisPerLoad', async () => {
    const env = await createTestEnv({ yaml: BIG_BUDGET.replace('jobBurst: 200', 'jobBurst: 200, maxUrisPerLoad: 3') });
    try {
      for (let i = 0; i < 8; i++)
        await env.put(path(`f${i}.csv`), i === 6 ? 'id,v\nnot-a-number,x\n' : csvRows(i * 10, 2));
      const wh = bigQueryLike(env.engine.warehouse, { rewrite: unnamedUnlessSingle });
      const r = await syncPartition(withWarehouse(env, wh), { table: 'events', partition: P, reason: 'test' });
      assert.equal(r.outcome, 'loaded');
      assert.deepEqual(
        r.quarantined.map((q) => q.name),
        [path('f6.csv')],
      );
      assert.equal(await env.count(), 14);
      assert.ok(wh.inserted.every((j) => j.kind !== 'load' || j.sourceUris.length <= 3));
    } finally {
      await env.close();
    }
  });

  it('never excludes a file no error named: a table-wide failure fails the partition, bounded probes', async () => {
    const env = await createTestEnv({ yaml: BIG_BUDGET });
    try {
      for (let i = 0; i < 8; i++) await env.put(path(`f${i}.csv`), csvRows(i * 10, 2));
      const unnamed: JobErrorItem = {
        reason: 'invalid',
        message: 'Provided Schema does not match Table lake_us.events',
      };
      const wh = bigQueryLike(env.engine.warehouse, { fail: (spec) => (spec.kind === 'load' ? unnamed : undefined) });
      await assert.rejects(
        syncPartition(withWarehouse(env, wh), { table: 'events', partition: P, reason: 'test' }),
        LoadFailedError,
      );
      const { state } = await readState(env.engine.store, env.config.state, 'events', P, env.clock.now());
      assert.deepEqual(state.quarantine, []);
      assert.equal(state.status, 'failed');
      assert.match(state.lastError!.message, /bisection: \d+ probe job\(s\).*0 file\(s\) named/);
      assert.ok(wh.inserted.filter((j) => j.jobId.includes('_p')).length <= maxProbesFor(8));
      assert.equal(await env.count(), 0);
    } finally {
      await env.close();
    }
  });
});
