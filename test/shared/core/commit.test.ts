/**
 * Table commits (commit mode dml) on the embedded backends: requests only mark partitions
 * dirty; one transaction per tick applies them all; crashes at every step, concurrent
 * committers, the interval, rows outside their file's partition, deletions and forced reloads.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commitTables } from '../../../shared/core/commit.ts';
import { listDirty, readCommitRecord } from '../../../shared/core/commit-queue.ts';
import { SimulatedCrashError } from '../../../shared/core/errors.ts';
import { readState } from '../../../shared/core/state.ts';
import { syncPartition } from '../../../shared/core/sync.ts';
import type { SyncStep } from '../../../shared/core/sync.ts';
import { onObjectFinalized } from '../../../shared/handlers/object-finalized.ts';
import { createTestEnv, csvRows, EVENTS_YAML } from '../../helpers/local-env.ts';
import type { TestEnv } from '../../helpers/local-env.ts';

const DML_YAML = EVENTS_YAML.replace('defaults: {', 'defaults: { commit: { mode: dml, interval: 60s },');
const path = (hour: number, file: string) => `events/dt=2026-11-24/hr=${String(hour).padStart(2, '0')}/${file}`;
const P = (hour: number) => `20261124${String(hour).padStart(2, '0')}`;

async function arrive(env: TestEnv, name: string, body: string) {
  await env.put(name, body);
  const r = await onObjectFinalized(env.engine, env.event(name) as never);
  return r;
}

async function jobsOf(env: TestEnv) {
  const all = await env.engine.warehouse.jobHistory();
  return {
    commits: all.filter((j) => j.kind === 'commit'),
    loads: all.filter((j) => j.kind === 'load'),
    all,
  };
}

const distinctIds = (env: TestEnv) => env.count('true', '(SELECT DISTINCT id FROM lake_us.events)');

describe('table commits (commit mode dml)', () => {
  it('events only mark partitions dirty; one commit applies all of them in one transaction', async () => {
    const env = await createTestEnv({ yaml: DML_YAML });
    try {
      for (const h of [8, 9, 10]) await arrive(env, path(h, 'a.csv'), csvRows(h * 100, 5));
      assert.equal(await env.count(), 0, 'nothing is loaded before the commit');
      const dirty = await listDirty(env.engine.store, env.config.state, 'events', 100);
      assert.equal(dirty.length, 3);

      const [r] = await commitTables(env.engine);
      assert.equal(r!.outcome, 'committed');
      assert.deepEqual(r!.partitions, [P(8), P(9), P(10)]);
      assert.equal(r!.loadJobs, 3);
      // A first load replaces (rows tidemark did not load are removed), so a DELETE and an INSERT.
      assert.equal(r!.dmlStatements, 2);
      assert.equal(r!.filesRead, 3);
      assert.equal(await env.count(), 15);
      for (const h of ['08', '09', '10']) assert.equal(await env.count(`strftime(_PARTITIONTIME, '%H') = '${h}'`), 5);
      const { commits } = await jobsOf(env);
      assert.equal(commits.length, 1);
      assert.equal((await listDirty(env.engine.store, env.config.state, 'events', 100)).length, 0);
      const { state } = await readState(env.engine.store, env.config.state, 'events', P(9), env.clock.now());
      assert.equal(state.status, 'loaded');
      assert.equal(state.inflight, undefined);
      assert.equal(state.loaded?.rows, 5);
      // A redelivered event for a committed file costs reads only.
      const again = await onObjectFinalized(env.engine, env.event(path(9, 'a.csv')) as never);
      assert.ok(again.ok && again.value.action === 'synced');
      assert.equal(again.value.result.outcome, 'up-to-date');
      assert.equal((await commitTables(env.engine))[0]!.outcome, 'waiting');
    } finally {
      await env.close();
    }
  });

  it('honours the interval, then appends only the new files', async () => {
    const env = await createTestEnv({ yaml: DML_YAML });
    try {
      await arrive(env, path(10, 'a.csv'), csvRows(1, 5));
      assert.equal((await commitTables(env.engine))[0]!.outcome, 'committed');
      await arrive(env, path(10, 'b.csv'), csvRows(10, 3));
      env.clock.advance(30_000);
      assert.equal((await commitTables(env.engine))[0]!.outcome, 'waiting');
      assert.equal(
        (await commitTables(env.engine, { now: true }))[0]!.outcome,
        'committed',
        'now ignores the interval',
      );
      await arrive(env, path(10, 'c.csv'), csvRows(20, 2));
      env.clock.advance(60_000);
      const [r] = await commitTables(env.engine);
      assert.equal(r!.outcome, 'committed');
      assert.equal(r!.filesRead, 1, 'an append stages only the new file');
      assert.equal(r!.dmlStatements, 1);
      assert.equal(await env.count(), 10);
      assert.equal(await distinctIds(env), 10);
      const { state } = await readState(env.engine.store, env.config.state, 'events', P(10), env.clock.now());
      assert.equal(state.loaded?.rows, 10);
      assert.equal(state.loaded?.objects, 3);
    } finally {
      await env.close();
    }
  });

  it('a rewritten file replaces its partition (DELETE + INSERT in the same transaction)', async () => {
    const env = await createTestEnv({ yaml: DML_YAML });
    try {
      await arrive(env, path(10, 'a.csv'), csvRows(1, 5));
      await arrive(env, path(11, 'a.csv'), csvRows(50, 2));
      await commitTables(env.engine);
      await arrive(env, path(10, 'a.csv'), csvRows(100, 3));
      await arrive(env, path(11, 'b.csv'), csvRows(60, 1));
      env.clock.advance(60_000);
      const [r] = await commitTables(env.engine);
      assert.equal(r!.dmlStatements, 2);
      const ids = (await env.rows('SELECT id FROM lake_us.events ORDER BY id')).map((x) => Number(x.id));
      assert.deepEqual(ids, [50, 51, 60, 100, 101, 102]);
    } finally {
      await env.close();
    }
  });

  const steps: SyncStep[] = ['commit-opened', 'commit-sealed', 'commit-staged', 'commit-submitted', 'commit-done'];
  for (const crashAt of steps) {
    it(`a commit that crashes at ${crashAt} is finished by a later tick, applied once`, async () => {
      let armed = false;
      const env = await createTestEnv({
        yaml: DML_YAML,
        hooks: {
          step: (s) => {
            if (armed && s === crashAt) {
              armed = false;
              throw new SimulatedCrashError(`crash ${s}`);
            }
          },
        },
      });
      try {
        await arrive(env, path(10, 'a.csv'), csvRows(1, 4));
        await commitTables(env.engine);
        await arrive(env, path(10, 'b.csv'), csvRows(10, 3));
        await arrive(env, path(11, 'a.csv'), csvRows(20, 2));
        env.clock.advance(60_000);
        armed = true;
        await assert.rejects(commitTables(env.engine), SimulatedCrashError);
        // Ticks go on, past the grace period an unsealed commit gets.
        for (let i = 0; i < 5; i++) {
          env.clock.advance(60_000);
          await commitTables(env.engine);
        }
        assert.equal(await env.count(), 9);
        assert.equal(await distinctIds(env), 9);
        for (const p of [P(10), P(11)]) {
          const { state } = await readState(env.engine.store, env.config.state, 'events', p, env.clock.now());
          assert.equal(state.inflight, undefined, `${p} settled`);
        }
        const rec = await readCommitRecord(env.engine.store, env.config.state, 'events');
        assert.equal(rec.record.open, undefined);
        assert.equal((await listDirty(env.engine.store, env.config.state, 'events', 100)).length, 0);
        assert.ok((await jobsOf(env)).commits.filter((c) => c.error === null).length <= 3);
      } finally {
        await env.close();
      }
    });
  }

  it('concurrent committers: one commit at a time, rows exactly once', async () => {
    const env = await createTestEnv({ yaml: DML_YAML, jobDelayMs: () => 10 });
    try {
      for (let i = 0; i < 6; i++) await arrive(env, path(8 + (i % 3), `f${i}.csv`), csvRows(i * 10, 4));
      const results = await Promise.all(Array.from({ length: 5 }, () => commitTables(env.engine, { now: true })));
      const outcomes = results.map((r) => r[0]!.outcome);
      assert.ok(outcomes.includes('committed'), outcomes.join(','));
      for (let i = 0; i < 3; i++) {
        env.clock.advance(60_000);
        await commitTables(env.engine);
      }
      assert.equal(await env.count(), 24);
      assert.equal(await distinctIds(env), 24);
    } finally {
      await env.close();
    }
  });

  it('a file that fails to stage is quarantined; the other partitions commit at the next tick', async () => {
    const env = await createTestEnv({ yaml: DML_YAML });
    try {
      await arrive(env, path(10, 'good.csv'), csvRows(1, 3));
      await arrive(env, path(11, 'bad.csv'), 'id,v\nnot-a-number,x\n');
      await arrive(env, path(11, 'ok.csv'), csvRows(20, 2));
      const [first] = await commitTables(env.engine);
      assert.equal(first!.outcome, 'aborted');
      assert.equal(await env.count(), 0, 'nothing is applied when a partition fails to stage');
      env.clock.advance(60_000);
      const [second] = await commitTables(env.engine);
      assert.equal(second!.outcome, 'committed');
      assert.equal(await env.count(), 5);
      const { state } = await readState(env.engine.store, env.config.state, 'events', P(11), env.clock.now());
      assert.deepEqual(
        state.quarantine.map((q) => q.name),
        [path(11, 'bad.csv')],
      );
    } finally {
      await env.close();
    }
  });

  it('a row outside the partition its file routes to is rejected, never written elsewhere', async () => {
    const yaml = DML_YAML.replace('partitioning: { type: HOUR }', 'partitioning: { type: HOUR, field: ts }').replace(
      '- { name: v, type: STRING }',
      '- { name: v, type: STRING }\n      - { name: ts, type: TIMESTAMP }',
    );
    const env = await createTestEnv({ yaml });
    try {
      await arrive(env, path(10, 'in.csv'), 'id,v,ts\n1,a,2026-11-24 10:15:00\n');
      await arrive(env, path(10, 'stray.csv'), 'id,v,ts\n2,b,2026-11-24 13:00:00\n');
      await commitTables(env.engine);
      env.clock.advance(60_000);
      await commitTables(env.engine);
      const rows = await env.rows('SELECT id FROM lake_us.events ORDER BY id');
      assert.deepEqual(
        rows.map((r) => Number(r.id)),
        [1],
      );
      const { state } = await readState(env.engine.store, env.config.state, 'events', P(10), env.clock.now());
      assert.deepEqual(
        state.quarantine.map((q) => q.name),
        [path(10, 'stray.csv')],
      );
    } finally {
      await env.close();
    }
  });

  it('a forced reload is applied once per request, and applies deletions (keep)', async () => {
    const env = await createTestEnv({ yaml: DML_YAML });
    try {
      await arrive(env, path(10, 'a.csv'), csvRows(1, 5));
      await arrive(env, path(10, 'b.csv'), csvRows(10, 2));
      await commitTables(env.engine);
      await env.remove(path(10, 'a.csv'));
      const queued = await syncPartition(env.engine, { table: 'events', partition: P(10), reason: 'audit' });
      assert.equal(queued.outcome, 'queued');
      env.clock.advance(60_000);
      await commitTables(env.engine);
      assert.equal(await env.count(), 7, 'keep: the deleted object rows stay');
      const reload = { table: 'events', partition: P(10), reason: 'reload', force: true, forceToken: 'msg-1' };
      await syncPartition(env.engine, reload);
      await syncPartition(env.engine, reload); // a redelivery of the same message
      env.clock.advance(60_000);
      const [r] = await commitTables(env.engine);
      assert.equal(r!.dmlStatements, 2);
      assert.equal(await env.count(), 2);
      await syncPartition(env.engine, reload);
      env.clock.advance(60_000);
      const [again] = await commitTables(env.engine);
      assert.equal(again!.outcome, 'up-to-date', 'the same token does not reload twice');
    } finally {
      await env.close();
    }
  });

  it('an unsealed commit older than the grace period is fenced: its id burned, its claims cleared', async () => {
    let armed = true;
    const env = await createTestEnv({
      yaml: DML_YAML,
      hooks: {
        step: (s) => {
          if (armed && s === 'commit-opened') {
            armed = false;
            throw new SimulatedCrashError('crash');
          }
        },
      },
    });
    try {
      await arrive(env, path(10, 'a.csv'), csvRows(1, 3));
      await assert.rejects(commitTables(env.engine), SimulatedCrashError);
      assert.equal((await commitTables(env.engine, { now: true }))[0]!.outcome, 'busy');
      env.clock.advance(61_000);
      assert.equal((await commitTables(env.engine, { now: true }))[0]!.outcome, 'aborted');
      assert.equal((await commitTables(env.engine, { now: true }))[0]!.outcome, 'committed');
      assert.equal(await env.count(), 3);
      const { all } = await jobsOf(env);
      assert.equal(all.filter((j) => j.kind === 'noop').length, 1);
    } finally {
      await env.close();
    }
  });
});

describe('no hot object', () => {
  it('a stream of one event a second writes each per-event object once; shared objects only a few times per commit', async () => {
    const env = await createTestEnv({ yaml: DML_YAML });
    try {
      const writes: { name: string; at: number }[] = [];
      const store = env.engine.store;
      const write = store.write.bind(store);
      store.write = async (bucket, name, data, opts) => {
        writes.push({ name: `${bucket}/${name}`, at: env.clock.now() });
        return write(bucket, name, data, opts);
      };
      for (let i = 0; i < 150; i++) {
        await arrive(env, path(10, `s-${i}.csv`), csvRows(i * 10, 2));
        env.clock.advance(1_000);
        if (i % 60 === 59) await commitTables(env.engine);
      }
      await commitTables(env.engine, { now: true });
      assert.equal(await env.count(), 300);
      // Every name written, with how often: per-event objects (dirty and loaded markers) are written
      // once each; the partition's state head and the table's commit record a fixed number of times
      // per commit (claim and settle; open, seal and close), whatever the number of events.
      const count = new Map<string, number>();
      for (const w of writes.filter((x) => !x.name.startsWith('lake/events/')))
        count.set(w.name, (count.get(w.name) ?? 0) + 1);
      const perCommit = (suffix: string) => [...count].filter(([n]) => n.endsWith(suffix)).map(([, c]) => c);
      assert.deepEqual(perCommit('commits/events.json'), [3 * 3]);
      assert.deepEqual(perCommit('state/events/2026112410.json'), [2 * 3]);
      const perEvent = [...count].filter(([n]) => n.includes('/dirty/') || n.includes('/loaded/'));
      assert.equal(perEvent.length, 150 * 2, 'one dirty marker and one loaded marker per file');
      for (const [name, c] of perEvent) assert.equal(c, 1, `${name} written ${c} times`);
    } finally {
      await env.close();
    }
  });
});
