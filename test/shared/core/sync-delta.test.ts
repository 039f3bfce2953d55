/**
 * Delta loads and the onSourceDelete policy (plan.ts) through the whole engine on the embedded
 * backends: what each job read, exact row counts, crashes at every step of an append, a lost
 * state, and deletions under keep and mirror.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SimulatedCrashError } from '../../../shared/core/errors.ts';
import { readState, stateObjectName } from '../../../shared/core/state.ts';
import { syncPartition } from '../../../shared/core/sync.ts';
import { onObjectFinalized } from '../../../shared/handlers/object-finalized.ts';
import { crashOnce, createTestEnv, csvRows, EVENTS_YAML, SYNC_STEPS } from '../../helpers/local-env.ts';
import type { TestEnv } from '../../helpers/local-env.ts';
import { deliverUntilQuiet } from '../../helpers/platform.ts';

const P = '2026112410';
const path = (file: string) => `events/dt=2026-11-24/hr=10/${file}`;
const MIRROR_YAML = EVENTS_YAML.replace('defaults: {', 'defaults: { onSourceDelete: mirror,');

const sync = (env: TestEnv, extra: { force?: boolean } = {}) =>
  syncPartition(env.engine, { table: 'events', partition: P, reason: 'test', ...extra });

async function loadJobs(env: TestEnv) {
  return (await env.engine.warehouse.jobHistory()).filter((j) => j.kind !== 'noop');
}

describe('delta loads', () => {
  it('a new file is appended: the job reads only it, and rows stay exact', async () => {
    const env = await createTestEnv();
    try {
      await env.put(path('a.csv'), csvRows(1, 5));
      await env.put(path('b.csv'), csvRows(10, 3));
      const first = await sync(env);
      assert.deepEqual(
        first.jobs.map((j) => [j.kind, j.filesRead]),
        [['load', 2]],
      );
      await env.put(path('c.csv'), csvRows(20, 4));
      const delta = await sync(env);
      assert.equal(delta.outcome, 'loaded');
      assert.deepEqual(
        delta.jobs.map((j) => [j.kind, j.filesRead, j.bytesRead]),
        [['append', 1, csvRows(20, 4).length]],
      );
      assert.equal(await env.count(), 12);
      assert.equal(await env.count('true', '(SELECT DISTINCT id FROM lake_us.events)'), 12);
      const { state } = await readState(env.engine.store, env.config.state, 'events', P, env.clock.now());
      assert.equal(state.loaded?.objects, 3);
      assert.equal(state.loaded?.rows, 12, 'an append adds its rows to what the partition held');
      assert.equal((await sync(env)).outcome, 'up-to-date');
    } finally {
      await env.close();
    }
  });

  it('a stream of files into one partition reads each byte once', async () => {
    const env = await createTestEnv();
    try {
      let read = 0;
      let written = 0;
      for (let i = 0; i < 12; i++) {
        const body = csvRows(i * 10, 3);
        await env.put(path(`s-${i}.csv`), body);
        written += body.length;
        for (const j of (await sync(env)).jobs) read += j.bytesRead;
      }
      assert.equal(read, written);
      assert.equal(await env.count(), 36);
    } finally {
      await env.close();
    }
  });

  for (const crashAt of SYNC_STEPS) {
    it(`an append that crashes ${crashAt} takes effect once`, async () => {
      const crash = crashOnce(crashAt, false);
      const env = await createTestEnv({ hooks: crash.hooks });
      try {
        await env.put(path('a.csv'), csvRows(1, 6));
        await sync(env);
        await env.put(path('b.csv'), csvRows(10, 4));
        crash.arm();
        await assert.rejects(sync(env), SimulatedCrashError);
        // Redelivered past any grace period: whoever finds the claim settles it.
        await deliverUntilQuiet(
          env.clock,
          [env.event(path('b.csv'))],
          async (e) => void (await onObjectFinalized(env.engine, e as never)),
          { minBackoffMs: 70_000 },
        );
        assert.equal(await env.count(), 10);
        assert.equal(await env.count('true', '(SELECT DISTINCT id FROM lake_us.events)'), 10);
        const { state } = await readState(env.engine.store, env.config.state, 'events', P, env.clock.now());
        assert.equal(state.inflight, undefined);
        assert.equal(state.loaded?.objects, 2);
        assert.equal(state.loaded?.rows, 10);
      } finally {
        await env.close();
      }
    });
  }

  it('a lost state is never appended to: the partition is replaced, with no duplicate', async () => {
    const env = await createTestEnv();
    try {
      await env.put(path('a.csv'), csvRows(1, 5));
      await sync(env);
      await env.put(path('b.csv'), csvRows(10, 3));
      await sync(env);
      rmSync(join(env.dir, 'lake', env.config.state.bucket, stateObjectName(env.config.state, 'events', P)));
      await env.put(path('c.csv'), csvRows(20, 2));
      const r = await sync(env);
      assert.deepEqual(
        r.jobs.map((j) => [j.kind, j.filesRead]),
        [['load', 3]],
      );
      assert.equal(await env.count(), 10);
    } finally {
      await env.close();
    }
  });

  it('more new files than one load takes are appended through a stage in one atomic copy', async () => {
    const env = await createTestEnv({
      yaml: EVENTS_YAML.replace('defaults: {', 'defaults: { maxUrisPerLoad: 2,'),
    });
    try {
      await env.put(path('a.csv'), csvRows(1, 2));
      await sync(env);
      for (let i = 0; i < 5; i++) await env.put(path(`n-${i}.csv`), csvRows(100 + i * 10, 2));
      const r = await sync(env);
      assert.deepEqual(
        r.jobs.map((j) => [j.kind, j.filesRead]),
        [['copy', 5]],
      );
      assert.equal(await env.count(), 12);
      assert.equal(await env.count('true', '(SELECT DISTINCT id FROM lake_us.events)'), 12);
    } finally {
      await env.close();
    }
  });
});

describe('onSourceDelete', () => {
  it('keep (the default): rows of a deleted object stay, the state names it, and a reload applies it', async () => {
    const env = await createTestEnv();
    try {
      await env.put(path('a.csv'), csvRows(1, 5));
      await env.put(path('b.csv'), csvRows(10, 3));
      await sync(env);
      await env.remove(path('a.csv'));
      const r = await sync(env);
      assert.equal(r.outcome, 'up-to-date');
      assert.equal(r.jobs.length, 0);
      assert.equal(await env.count(), 8);
      const { state } = await readState(env.engine.store, env.config.state, 'events', P, env.clock.now());
      assert.deepEqual(
        state.loaded?.kept?.map((v) => v.name),
        [path('a.csv')],
      );
      assert.equal((await sync(env)).jobs.length, 0, 'the kept deletion is recorded once');
      // A new file is still appended; the kept rows stay.
      await env.put(path('c.csv'), csvRows(20, 2));
      assert.deepEqual(
        (await sync(env)).jobs.map((j) => [j.kind, j.filesRead]),
        [['append', 1]],
      );
      assert.equal(await env.count(), 10);
      const reload = await sync(env, { force: true });
      assert.equal(reload.outcome, 'loaded');
      assert.equal(await env.count(), 5);
      const after = await readState(env.engine.store, env.config.state, 'events', P, env.clock.now());
      assert.equal(after.state.loaded?.kept, undefined);
    } finally {
      await env.close();
    }
  });

  it('keep: all objects deleted leaves every row', async () => {
    const env = await createTestEnv();
    try {
      await env.put(path('a.csv'), csvRows(1, 5));
      await sync(env);
      await env.remove(path('a.csv'));
      assert.equal((await sync(env)).outcome, 'up-to-date');
      assert.equal(await env.count(), 5);
    } finally {
      await env.close();
    }
  });

  it('mirror: a deleted object takes its rows with it; all deleted empties the partition', async () => {
    const env = await createTestEnv({ yaml: MIRROR_YAML });
    try {
      await env.put(path('a.csv'), csvRows(1, 5));
      await env.put(path('b.csv'), csvRows(10, 3));
      await sync(env);
      await env.remove(path('a.csv'));
      assert.equal((await sync(env)).outcome, 'loaded');
      assert.equal(await env.count(), 3);
      await env.remove(path('b.csv'));
      assert.equal((await sync(env)).outcome, 'emptied');
      assert.equal(await env.count(), 0);
    } finally {
      await env.close();
    }
  });

  for (const mode of ['keep', 'mirror'] as const) {
    it(`${mode}: one file rewritten and another deleted`, async () => {
      const env = await createTestEnv({ yaml: mode === 'mirror' ? MIRROR_YAML : EVENTS_YAML });
      try {
        await env.put(path('a.csv'), csvRows(1, 5)); // ids 1-5
        await env.put(path('b.csv'), csvRows(10, 3)); // ids 10-12
        await sync(env);
        await env.put(path('b.csv'), csvRows(30, 4)); // rewritten: ids 30-33
        await env.remove(path('a.csv'));
        const r = await sync(env);
        const ids = async () =>
          (await env.rows('SELECT id FROM lake_us.events ORDER BY id')).map((row) => Number(row.id));
        if (mode === 'mirror') {
          assert.equal(r.outcome, 'loaded');
          assert.deepEqual(await ids(), [30, 31, 32, 33]);
        } else {
          // Replacing b's rows needs a reload, which would drop a's kept rows: the rewrite waits.
          assert.equal(r.outcome, 'up-to-date');
          assert.deepEqual(await ids(), [1, 2, 3, 4, 5, 10, 11, 12]);
          const { state } = await readState(env.engine.store, env.config.state, 'events', P, env.clock.now());
          assert.deepEqual(
            state.loaded?.kept?.map((v) => v.name),
            [path('a.csv')],
          );
          assert.deepEqual(
            state.loaded?.held?.map((v) => v.name),
            [path('b.csv')],
          );
          assert.ok(env.log.entries.some((e) => /deleted source object\(s\) kept/.test(String(e.message))));
          // The reload on purpose applies both.
          await sync(env, { force: true });
          assert.deepEqual(await ids(), [30, 31, 32, 33]);
        }
        assert.equal((await loadJobs(env)).length, mode === 'mirror' ? 2 : 2);
      } finally {
        await env.close();
      }
    });
  }
});
