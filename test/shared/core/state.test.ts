/**
 * Partition state objects: validated on read (a corrupt one is reported and rebuilt), a new
 * state never reuses an old job id, a compare-and-swap whose answer was lost is known as won,
 * and the "already loaded?" check of a finalize event costs the same whatever P holds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readBudget } from '../../../shared/core/budget.ts';
import { PreconditionFailedError } from '../../../shared/core/errors.ts';
import { fingerprintObjects, jobIdFor } from '../../../shared/core/fingerprint.ts';
import type { JobSpec, JobStatus, ObjectStore, Warehouse, WriteOptions } from '../../../shared/core/ports.ts';
import { parseState } from '../../../shared/core/state-codec.ts';
import { emptyState, readState, writeState } from '../../../shared/core/state.ts';
import { syncPartition } from '../../../shared/core/sync.ts';
import type { Engine } from '../../../shared/core/sync.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import { memoryLogger } from '../../../shared/log.ts';
import { createRouter } from '../../../shared/routing/router.ts';
import { ManualClock } from '../../helpers/clock.ts';
import { createTestEnv, csvRows, EVENTS_YAML } from '../../helpers/local-env.ts';
import { MemoryObjectStore } from '../../helpers/memory-store.ts';

const P = '2026112410';
const path = (file: string) => `events/dt=2026-11-24/hr=10/${file}`;
const STATE = `_tidemark/state/events/${P}.json`;

describe('corrupt state objects', () => {
  const cases: [string, string][] = [
    ['bad JSON', '{"version":2,"table":"ev'],
    [
      'wrong shape',
      JSON.stringify({
        version: 2,
        table: 'events',
        partition: P,
        epoch: 'abcdef0123456789',
        status: 'loaded',
        quarantine: 'none',
        failures: 0,
        updatedAt: 1,
      }),
    ],
    ['another partition', JSON.stringify({ ...emptyState('events', '2026112411', 1) })],
  ];
  for (const [what, text] of cases) {
    it(`a state object with ${what} is one ERROR naming it; P is relisted, reloaded and its state rebuilt`, async () => {
      const env = await createTestEnv();
      try {
        await env.put(path('a.csv'), csvRows(1, 5));
        await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
        await env.engine.store.write(env.config.state.bucket, STATE, text);
        await env.put(path('b.csv'), csvRows(100, 2));
        const r = await syncPartition(env.engine, {
          table: 'events',
          partition: P,
          reason: 'test',
          hint: { name: path('b.csv'), generation: env.generations.get(`lake/${path('b.csv')}`)! },
        });
        assert.equal(r.outcome, 'loaded');
        assert.equal(await env.count(), 7);
        const errors = env.log.entries.filter((e) => e.severity === 'ERROR');
        assert.equal(errors.length, 1);
        assert.match(
          errors[0]!.message,
          new RegExp(`state object gs://${env.config.state.bucket}/${STATE.replace(/[$.]/g, '\\$&')} is corrupt`),
        );
        const after = await readState(env.engine.store, env.config.state, 'events', P, env.clock.now());
        assert.equal(after.corrupt, undefined);
        assert.equal(after.state.loaded?.objects, 2);
      } finally {
        await env.close();
      }
    });
  }

  it('a head written by the previous version (files inline, no epoch) is read, answers events, and is rewritten as version 2', async () => {
    const env = await createTestEnv();
    try {
      const { generation } = await env.put(path('a.csv'), csvRows(1, 5));
      await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      const files = [{ name: path('a.csv'), generation }];
      const fp = fingerprintObjects(files);
      const v1 = {
        version: 1,
        table: 'events',
        partition: P,
        status: 'loaded',
        quarantine: [],
        failures: 0,
        seq: 1,
        updatedAt: 1,
        loaded: {
          sourceFingerprint: fp,
          loadedFingerprint: fp,
          objects: 1,
          bytes: 1,
          rows: 5,
          jobId: 'old',
          at: 1,
          files,
        },
      };
      await env.engine.store.write(env.config.state.bucket, STATE, JSON.stringify(v1));
      const dup = await syncPartition(env.engine, {
        table: 'events',
        partition: P,
        reason: 'test',
        hint: { name: path('a.csv'), generation },
      });
      assert.equal(dup.outcome, 'up-to-date');
      assert.equal(dup.jobId, 'old');
      await env.put(path('b.csv'), csvRows(100, 2));
      const r = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(r.outcome, 'loaded');
      assert.equal(await env.count(), 7);
      const raw = JSON.parse((await env.engine.store.read(env.config.state.bucket, STATE))!.data.toString('utf8'));
      assert.equal(raw.version, 2);
      assert.match(raw.epoch, /^[0-9a-f]{16}$/);
      assert.equal(raw.loaded.files, undefined);
      assert.equal(env.log.entries.filter((e) => e.severity === 'ERROR').length, 0);
    } finally {
      await env.close();
    }
  });

  it('parseState names the first bad field', () => {
    const good = {
      ...emptyState('events', P, 1),
      loaded: { sourceFingerprint: 'a', loadedFingerprint: 'b', objects: 1, bytes: 2, rows: null, jobId: 'j', at: 3 },
    };
    assert.equal(typeof parseState(JSON.stringify(good), 'events', P), 'object');
    assert.equal(
      parseState(JSON.stringify({ ...good, loaded: { ...good.loaded, objects: '1' } }), 'events', P),
      'loaded.objects is not a finite number',
    );
    assert.equal(
      parseState(JSON.stringify({ ...good, status: 'done' }), 'events', P),
      'status is "done", not one of new, loaded, empty, failed',
    );
    assert.equal(parseState(JSON.stringify({ ...good, version: 3 }), 'events', P), 'version is 3, not 1 or 2');
  });
});

describe('job ids across lost state', () => {
  it('state deleted after loads, files changed back to an earlier listing: a new id, the table holds exactly the new rows', async () => {
    const env = await createTestEnv();
    try {
      await env.put(path('a.csv'), csvRows(1, 3));
      await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      await env.put(path('b.csv'), csvRows(10, 4));
      await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(await env.count(), 7);
      // The state is lost (prefix moved, cleanup); the lake goes back to the first listing.
      await env.engine.store.remove(env.config.state.bucket, STATE);
      await env.remove(path('b.csv'));
      const r = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(r.outcome, 'loaded');
      assert.equal(r.jobsSubmitted, 1);
      assert.equal(await env.count(), 3);
    } finally {
      await env.close();
    }
  });

  it("a 409 on a job that is not this claim's (other labels) burns the id and claims again", async () => {
    const env = await createTestEnv();
    try {
      await env.put(path('a.csv'), csvRows(1, 3));
      const other = await env.put(path('zz-other.txt'), 'id,v\n9,x\n'); // not routed: only a source for the foreign job
      const h = { state: emptyState('events', P, env.clock.now()), generation: '0' };
      await writeState(env.engine.store, env.config.state, h, h.state);
      // A foreign job already holds the very id the first claim of this epoch will use.
      const fp = fingerprintObjects([
        { name: path('a.csv'), generation: env.generations.get(`lake/${path('a.csv')}`)! },
      ]);
      const jobId = jobIdFor('load', 'events', P, fp, `${h.state.epoch}.1`);
      const spec = env.config.tables[0]!.spec;
      await env.engine.warehouse.insertJob({
        kind: 'load',
        jobId,
        table: spec,
        destination: spec.ref,
        partition: P,
        sourceUris: [env.engine.store.uri('lake', path('zz-other.txt'))],
        writeDisposition: 'WRITE_TRUNCATE',
        labels: { tidemark: 'v1' },
      });
      assert.ok(other.generation);
      const r = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(r.outcome, 'loaded');
      assert.notEqual(r.jobId, jobId);
      assert.equal(await env.count(), 3);
      assert.equal(await env.count('id = 9'), 0);
      assert.ok(env.log.entries.some((e) => e.message.includes('not this claim') && e.jobId === jobId));
    } finally {
      await env.close();
    }
  });
});

/** A store whose write of a matching object lands but answers with the 412 a client retry would get. */
function losingAnswers(
  store: ObjectStore,
  lose: (name: string, data: string) => boolean,
): ObjectStore & { lost: number } {
  const wrapped = Object.create(store) as ObjectStore & { lost: number };
  wrapped.lost = 0;
  wrapped.write = async (bucket: string, name: string, data: Buffer | string, o?: WriteOptions) => {
    const r = await store.write(bucket, name, data, o);
    if (wrapped.lost === 0 && lose(name, data.toString())) {
      wrapped.lost++;
      throw new PreconditionFailedError(`${name}: generation is ${r.generation}, expected ${o?.ifGenerationMatch}`);
    }
    return r;
  };
  return wrapped;
}

describe('compare-and-swap with a lost answer', () => {
  it('a claim whose write answer was lost is known as won: one job, one token, no orphan claim', async () => {
    const env = await createTestEnv();
    try {
      await env.put(path('a.csv'), csvRows(1, 5));
      const store = losingAnswers(env.engine.store, (name, data) => name === STATE && data.includes('"inflight"'));
      const r = await syncPartition({ ...env.engine, store }, { table: 'events', partition: P, reason: 'test' });
      assert.equal(store.lost, 1);
      assert.equal(r.outcome, 'loaded');
      assert.equal(r.jobsSubmitted, 1);
      assert.equal(await env.count(), 5);
      assert.equal(
        (await readBudget(env.engine.store, env.config.state, env.config.tables[0]!, env.clock.now())).used,
        1,
      );
      const { state } = await readState(env.engine.store, env.config.state, 'events', P, env.clock.now());
      assert.equal(state.inflight, undefined);
    } finally {
      await env.close();
    }
  });
});

/** Counts reads, listings, writes and bytes read of a store. */
function counting(store: ObjectStore) {
  const n = { read: 0, list: 0, write: 0, bytes: 0 };
  const wrapped: ObjectStore = {
    listPage: async (b, o) => (n.list++, store.listPage(b, o)),
    read: async (b, name) => {
      n.read++;
      const r = await store.read(b, name);
      n.bytes += r?.data.length ?? 0;
      return r;
    },
    write: async (b, name, d, o) => (n.write++, store.write(b, name, d, o)),
    remove: (b, name) => store.remove(b, name),
    uri: (b, name) => store.uri(b, name),
  };
  return { store: wrapped, n };
}

/** A warehouse whose jobs succeed at once (the check under test never reaches it). */
function instantWarehouse(): Warehouse {
  const jobs = new Map<string, JobStatus>();
  return {
    async insertJob(spec: JobSpec) {
      const existing = jobs.get(spec.jobId);
      if (existing) return { status: existing, created: false };
      const status: JobStatus = {
        jobId: spec.jobId,
        state: 'DONE',
        kind: spec.kind,
        labels: spec.labels,
        outputRows: 0,
      };
      jobs.set(spec.jobId, status);
      return { status, created: true };
    },
    getJob: async (id) => jobs.get(id) ?? null,
    getTableLabels: async () => ({ labels: {}, etag: '1' }),
    patchTableLabels: async () => {},
    listPartitions: async () => [],
    ensureTable: async () => {},
    deleteTable: async () => {},
  };
}

describe('the "already loaded?" check of a finalize event', () => {
  async function duplicateEventCost(files: number) {
    const config = parseConfig(EVENTS_YAML, 'tidemark.config.yaml');
    const memory = new MemoryObjectStore();
    const names = Array.from({ length: files }, (_, i) => path(`f-${String(i).padStart(5, '0')}.csv`));
    for (const name of names) await memory.write('lake', name, 'id,v\n1,x\n');
    const { store, n } = counting(memory);
    const engine: Engine = {
      config,
      router: createRouter(config),
      store,
      warehouse: instantWarehouse(),
      clock: new ManualClock(),
      log: memoryLogger(),
      options: { pollMs: 1, maxWaitMs: 10, submitGraceMs: 60_000, maxRounds: 4 },
    };
    const first = await syncPartition(engine, { table: 'events', partition: P, reason: 'test' });
    assert.equal(first.outcome, 'loaded');
    assert.equal(first.objects, files);
    const sample = names[Math.floor(files / 2)]!;
    const generation = (await memory.read('lake', sample))!.generation;
    Object.assign(n, { read: 0, list: 0, write: 0, bytes: 0 });
    const dup = await syncPartition(engine, {
      table: 'events',
      partition: P,
      reason: 'object-finalized',
      hint: { name: sample, generation },
    });
    assert.equal(dup.outcome, 'up-to-date');
    return { ...n };
  }

  it('costs the same store calls and bytes at 1,000 and at 10,000 loaded files', async (t) => {
    const small = await duplicateEventCost(1_000);
    const large = await duplicateEventCost(10_000);
    t.diagnostic(`hinted duplicate: ${JSON.stringify(small)} at 1,000 files, ${JSON.stringify(large)} at 10,000`);
    assert.deepEqual([large.read, large.list, large.write], [small.read, small.list, small.write]);
    assert.equal(large.list, 0);
    // The head holds counts (objects, bytes) whose digits differ: 1,000 vs 10,000 is one more digit each.
    assert.ok(Math.abs(large.bytes - small.bytes) <= 2, `${small.bytes} vs ${large.bytes} bytes`);
    assert.ok(large.bytes < 2_048, `${large.bytes} bytes read`);
  });
});
