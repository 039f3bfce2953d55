/**
 * The sync engine's guarantees (docs/design.md), proven on the embedded backends with fault
 * injection. Every assertion is an exact row or job count.
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { BudgetExhaustedError, PartitionBusyError, SimulatedCrashError } from '../../../shared/core/errors.ts';
import { decodeLabelTime } from '../../../shared/core/fingerprint.ts';
import { readBudget } from '../../../shared/core/budget.ts';
import { readState } from '../../../shared/core/state.ts';
import { syncPartition } from '../../../shared/core/sync.ts';
import type { SyncStep } from '../../../shared/core/sync.ts';
import { onObjectFinalized } from '../../../shared/handlers/object-finalized.ts';
import { crashOnce, createTestEnv, csvRows, EVENTS_YAML, SYNC_STEPS } from '../../helpers/local-env.ts';
import type { TestEnv } from '../../helpers/local-env.ts';
import { deliverUntilQuiet, shuffled } from '../../helpers/platform.ts';

const P = '2026112410';
const path = (hour: number, file: string) => `events/dt=2026-11-24/hr=${String(hour).padStart(2, '0')}/${file}`;

async function loadJobs(env: TestEnv) {
  return (await env.engine.warehouse.jobHistory()).filter((j) => j.kind !== 'noop');
}

/** Delivers finalize events for `names` through the handler with platform retry semantics. */
async function deliverEvents(env: TestEnv, names: string[], opts: Parameters<typeof deliverUntilQuiet>[3] = {}) {
  return deliverUntilQuiet(
    env.clock,
    names.map((name) => env.event(name)),
    async (event) => {
      await onObjectFinalized(env.engine, event as never);
    },
    opts,
  );
}

describe('syncPartition', () => {
  it('loads a lone file into its hourly partition, exactly once, and labels the table', async () => {
    const env = await createTestEnv();
    try {
      await env.put(path(10, 'a.csv'), csvRows(1, 5));
      const r = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(r.outcome, 'loaded');
      assert.equal(r.jobsSubmitted, 1);
      assert.equal(await env.count(), 5);
      assert.equal(await env.count(`strftime(_PARTITIONTIME, '%Y%m%d%H') = '${P}'`), 5);
      const again = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(again.outcome, 'up-to-date');
      assert.equal(again.jobsSubmitted, 0);
      assert.equal((await loadJobs(env)).length, 1);
      const labels = await env.engine.warehouse.getTableLabels({ dataset: 'lake_us', table: 'events' });
      assert.equal(decodeLabelTime(labels!.labels.tidemark_last_load), Math.floor(env.clock.now() / 1000) * 1000);
      assert.ok(
        env.log.entries.some((e) => e.message === 'partition loaded' && e.crossRegionBytes === csvRows(1, 5).length),
      );
    } finally {
      await env.close();
    }
  });

  it('delivers every event three times in shuffled order: each row exactly once', async () => {
    const env = await createTestEnv();
    try {
      const names: string[] = [];
      for (let h = 8; h < 11; h++)
        for (let f = 0; f < 4; f++) {
          const name = path(h, `part-${f}.csv`);
          await env.put(name, csvRows(h * 100 + f * 10, 10));
          names.push(name);
        }
      const stats = await deliverEvents(env, shuffled([...names, ...names, ...names], 7), { concurrency: 3 });
      assert.equal(stats.acknowledgedErrors.length, 0);
      assert.equal(await env.count(), 120);
      assert.equal(await env.count('true', '(SELECT DISTINCT id FROM lake_us.events)'), 120);
      for (let h = 8; h < 11; h++)
        assert.equal(await env.count(`strftime(_PARTITIONTIME, '%H') = '${String(h).padStart(2, '0')}'`), 40);
    } finally {
      await env.close();
    }
  });

  it('20 concurrent syncs of one partition while files keep arriving: final rows exact, one job at a time', async () => {
    const env = await createTestEnv({ jobDelayMs: () => 15 });
    try {
      const names: string[] = [];
      const arrivals = (async () => {
        for (let i = 0; i < 10; i++) {
          const name = path(10, `f-${i}.csv`);
          await env.put(name, csvRows(i * 1000, 7));
          names.push(name);
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      const concurrent = Array.from({ length: 20 }, () =>
        syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' }).catch((e) => {
          if (!(e instanceof PartitionBusyError)) throw e;
          return null;
        }),
      );
      await Promise.all([arrivals, ...concurrent]);
      // Every arrival also raised its own event; deliver those (with retries) until quiet.
      await deliverEvents(env, names, { concurrency: 5, minBackoffMs: 1_000 });
      assert.equal(await env.count(), 70);
      assert.equal(await env.count('true', '(SELECT DISTINCT id FROM lake_us.events)'), 70);
      const jobs = (await loadJobs(env)).sort((a, b) => a.startedAt - b.startedAt);
      for (let i = 1; i < jobs.length; i++) {
        assert.ok(
          jobs[i]!.startedAt >= jobs[i - 1]!.endedAt!,
          `jobs ${jobs[i - 1]!.jobId} and ${jobs[i]!.jobId} overlapped`,
        );
      }
      const { state } = await readState(env.engine.store, env.config.state, 'events', P, env.clock.now());
      assert.equal(state.loaded?.objects, 10);
      assert.equal(state.inflight, undefined);
    } finally {
      await env.close();
    }
  });

  it('never lets an older listing commit after a newer one; a fenced zombie cannot submit', async () => {
    const env = await createTestEnv();
    try {
      await env.put(path(10, 'a.csv'), csvRows(1, 3));
      // A sync claims the partition and "dies" (a zombie) before submitting its job.
      let zombieJobId = '';
      const crashEnv = {
        ...env.engine,
        hooks: {
          step: (s: SyncStep, info: { jobId?: string }) => {
            if (s === 'after-claim') {
              zombieJobId = info.jobId!;
              throw new SimulatedCrashError('zombie paused after claim');
            }
          },
        },
      };
      await assert.rejects(
        syncPartition(crashEnv, { table: 'events', partition: P, reason: 'zombie' }),
        SimulatedCrashError,
      );
      // Newer data arrives; a sync inside the grace period must back off, not race the zombie.
      await env.put(path(10, 'b.csv'), csvRows(100, 4));
      await assert.rejects(
        syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' }),
        PartitionBusyError,
      );
      // After the grace period the claim is fenced and the newer listing is loaded.
      env.clock.advance(61_000);
      const r = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(r.outcome, 'loaded');
      assert.equal(await env.count(), 7);
      // The zombie wakes up and submits its (older) job: the id is burned, nothing is loaded.
      const { state } = await readState(env.engine.store, env.config.state, 'events', P, env.clock.now());
      const late = await env.engine.warehouse.insertJob({
        kind: 'load',
        jobId: zombieJobId,
        table: env.config.tables[0]!.spec,
        destination: env.config.tables[0]!.spec.ref,
        partition: P,
        sourceUris: [env.engine.store.uri('lake', path(10, 'a.csv'))],
        writeDisposition: 'WRITE_TRUNCATE',
        labels: {},
      });
      assert.equal(late.created, false);
      assert.equal(late.status.kind, 'noop');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(await env.count(), 7);
      assert.equal(state.loaded?.objects, 2);
    } finally {
      await env.close();
    }
  });

  for (const crashAt of SYNC_STEPS) {
    it(`recovers from a crash ${crashAt}: rows exactly once, state settled, label set`, async () => {
      const env = await createTestEnv({ hooks: crashOnce(crashAt).hooks });
      try {
        await env.put(path(10, 'a.csv'), csvRows(1, 6));
        await env.put(path(10, 'b.csv'), csvRows(10, 4));
        await assert.rejects(
          syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' }),
          SimulatedCrashError,
        );
        // The platform redelivers later (past any grace period).
        await deliverEvents(env, [path(10, 'a.csv')], { minBackoffMs: 70_000 });
        assert.equal(await env.count(), 10);
        const { state } = await readState(env.engine.store, env.config.state, 'events', P, env.clock.now());
        assert.equal(state.status, 'loaded');
        assert.equal(state.inflight, undefined);
        assert.equal(state.loaded?.objects, 2);
        const loads = await loadJobs(env);
        assert.ok(loads.length >= 1 && loads.length <= 2, `jobs: ${loads.length}`);
        const labels = await env.engine.warehouse.getTableLabels({ dataset: 'lake_us', table: 'events' });
        assert.ok(decodeLabelTime(labels!.labels.tidemark_last_load) !== null);
      } finally {
        await env.close();
      }
    });
  }

  it('quarantines corrupt files, loads the rest, and re-admits a file when a new generation arrives', async () => {
    const env = await createTestEnv({ yaml: EVENTS_YAML.replace('*.csv"', '*.csv.gz"') });
    try {
      await env.put(path(10, 'good1.csv.gz'), gzipSync(csvRows(1, 5)));
      await env.put(path(10, 'good2.csv.gz'), gzipSync(csvRows(10, 5)));
      await env.put(path(10, 'empty.csv.gz'), gzipSync('id,v\n'));
      const truncated = gzipSync(csvRows(100, 50));
      const bad = await env.put(path(10, 'bad.csv.gz'), truncated.subarray(0, truncated.length - 20));
      await env.put(path(10, 'cols.csv.gz'), gzipSync('id,v\n1,a,extra,cols\n'));
      const r = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(r.outcome, 'loaded');
      assert.equal(await env.count(), 10);
      assert.deepEqual(r.quarantined.map((q) => q.name).sort(), [path(10, 'bad.csv.gz'), path(10, 'cols.csv.gz')]);
      const q = r.quarantined.find((x) => x.name.endsWith('bad.csv.gz'))!;
      assert.equal(q.generation, bad.generation);
      assert.ok(q.error.length > 0);
      assert.ok(env.log.entries.some((e) => e.message === 'file quarantined' && e.object === path(10, 'bad.csv.gz')));
      // Unchanged listing: nothing to do, quarantine stays.
      const again = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(again.outcome, 'up-to-date');
      // A fixed file (new generation) is loaded.
      await env.put(path(10, 'bad.csv.gz'), gzipSync(csvRows(100, 50)));
      const fixed = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(fixed.outcome, 'loaded');
      assert.equal(await env.count(), 60);
      assert.deepEqual(
        fixed.quarantined.map((x) => x.name),
        [path(10, 'cols.csv.gz')],
      );
    } finally {
      await env.close();
    }
  });

  it('a forced reload retries quarantined files once and reloads an unchanged partition', async () => {
    const env = await createTestEnv();
    try {
      await env.put(path(10, 'a.csv'), csvRows(1, 5));
      await env.put(path(10, 'bad.csv'), 'id,v\nnot-a-number,x\n');
      const first = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(first.quarantined.length, 1);
      const before = (await loadJobs(env)).length;
      const forced = await syncPartition(env.engine, {
        table: 'events',
        partition: P,
        force: true,
        forceToken: 'm1',
        reason: 'reload',
      });
      assert.equal(forced.outcome, 'loaded');
      assert.equal(forced.quarantined.length, 1);
      assert.equal(await env.count(), 5);
      assert.equal((await loadJobs(env)).length, before + 2); // the forced try with the bad file, then without it
      // A redelivery of the same forced message does not reload again.
      const dup = await syncPartition(env.engine, {
        table: 'events',
        partition: P,
        force: true,
        forceToken: 'm1',
        reason: 'reload',
      });
      assert.equal(dup.outcome, 'up-to-date');
    } finally {
      await env.close();
    }
  });

  it('empties a partition whose objects were all deleted (onSourceDelete: mirror), and reloads a rewritten file', async () => {
    const env = await createTestEnv({
      yaml: EVENTS_YAML.replace('defaults: {', 'defaults: { onSourceDelete: mirror,'),
    });
    try {
      await env.put(path(10, 'a.csv'), csvRows(1, 5));
      await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      await env.put(path(10, 'a.csv'), csvRows(1, 8));
      const rewritten = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(rewritten.outcome, 'loaded');
      assert.equal(await env.count(), 8);
      await env.remove(path(10, 'a.csv'));
      const emptied = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(emptied.outcome, 'emptied');
      assert.equal(await env.count(), 0);
    } finally {
      await env.close();
    }
  });

  it('loads a partition larger than maxUrisPerLoad through a staging table in one atomic copy', async () => {
    const env = await createTestEnv({
      yaml: EVENTS_YAML.replace(
        'defaults: { jobBudget: 300, jobBurst: 20 }',
        'defaults: { jobBudget: 300, jobBurst: 20, maxUrisPerLoad: 3 }',
      ),
    });
    try {
      for (let i = 0; i < 8; i++) await env.put(path(10, `f${i}.csv`), csvRows(i * 10, 2));
      const r = await syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' });
      assert.equal(r.outcome, 'loaded');
      assert.equal(r.jobsSubmitted, 1);
      assert.equal(await env.count(), 16);
      const jobs = await loadJobs(env);
      assert.equal(jobs.filter((j) => j.kind === 'copy').length, 1);
      assert.equal(jobs.filter((j) => j.kind === 'load').length, 3);
      const tables = await env.rows(`SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%stage%'`);
      assert.equal(tables.length, 0);
    } finally {
      await env.close();
    }
  });

  it('a stream of 2,000 files into one table stays within the daily job budget and loads every row once', async (t) => {
    const env = await createTestEnv();
    try {
      // One file per second for 2,000 s: most into the current hour, every fifth one late data
      // for one of 12 older hours. Each file is written when its event first arrives.
      const files = Array.from({ length: 2000 }, (_, i) => ({
        i,
        name: path(i % 5 === 0 ? (i / 5) % 12 : 12, `s-${String(i).padStart(4, '0')}.csv`),
        written: false,
      }));
      const start = env.clock.now();
      const stats = await deliverUntilQuiet(
        env.clock,
        files,
        async (f) => {
          if (!f.written) {
            await env.put(f.name, csvRows(f.i * 3, 3));
            f.written = true;
          }
          await onObjectFinalized(env.engine, env.event(f.name) as never);
        },
        { spacingMs: 1_000, concurrency: 4 },
      );
      assert.equal(stats.acknowledgedErrors.length, 0);
      assert.equal(await env.count(), 6000);
      assert.equal(await env.count('true', '(SELECT DISTINCT id FROM lake_us.events)'), 6000);
      const jobs = await loadJobs(env);
      const elapsedDays = (env.clock.now() - start) / 86_400_000;
      // Token bucket: burst 20 plus 300 per day of simulated time; far below one job per file.
      assert.ok(
        jobs.length <= 20 + Math.ceil(300 * elapsedDays),
        `${jobs.length} jobs in ${elapsedDays.toFixed(3)} days`,
      );
      assert.ok(jobs.length >= 13, 'every touched partition was loaded');
      // The README's freshness bound under a stream: D partitions changing x 288 s + 600 s of retry backoff.
      const lastArrival = start + 1999 * 1_000;
      assert.ok(
        env.clock.now() - lastArrival <= 13 * 288_000 + 600_000,
        `quiet ${((env.clock.now() - lastArrival) / 60_000).toFixed(1)} min after the last file`,
      );
      t.diagnostic(
        `2,000 files into 13 partitions: ${stats.deliveries} deliveries (${stats.retries} retries), ${jobs.length} load jobs, quiet after ${((env.clock.now() - start) / 60_000).toFixed(0)} min of simulated time`,
      );
    } finally {
      await env.close();
    }
  });

  it('8 concurrent syncs of one partition spend exactly one token, for the one job', async () => {
    const env = await createTestEnv({ jobDelayMs: () => 15 });
    try {
      await env.put(path(10, 'a.csv'), csvRows(1, 5));
      const racing = Array.from({ length: 8 }, () =>
        syncPartition(env.engine, { table: 'events', partition: P, reason: 'test' }).catch((e) => {
          if (!(e instanceof PartitionBusyError)) throw e;
          return null;
        }),
      );
      await Promise.all(racing);
      await deliverEvents(env, [path(10, 'a.csv')], { minBackoffMs: 1_000 });
      assert.equal(await env.count(), 5);
      assert.equal((await loadJobs(env)).length, 1);
      assert.equal(
        (await readBudget(env.engine.store, env.config.state, env.config.tables[0]!, env.clock.now())).used,
        1,
      );
    } finally {
      await env.close();
    }
  });

  it('a claim that finds no token is released at once, not left for the grace period', async () => {
    const env = await createTestEnv({
      yaml: EVENTS_YAML.replace('jobBudget: 300, jobBurst: 20', 'jobBudget: 2, jobBurst: 1'),
    });
    try {
      await env.put(path(1, 'a.csv'), csvRows(10, 1));
      await env.put(path(2, 'a.csv'), csvRows(20, 1));
      await syncPartition(env.engine, { table: 'events', partition: '2026112401', reason: 'test' });
      await assert.rejects(
        syncPartition(env.engine, { table: 'events', partition: '2026112402', reason: 'test' }),
        BudgetExhaustedError,
      );
      const { state } = await readState(env.engine.store, env.config.state, 'events', '2026112402', env.clock.now());
      assert.equal(state.inflight, undefined);
      env.clock.advance(43_200_000); // one token at 2 per day; far less than a grace period would matter
      await syncPartition(env.engine, { table: 'events', partition: '2026112402', reason: 'test' });
      assert.equal(await env.count(), 2);
      assert.equal((await env.engine.warehouse.jobHistory()).filter((j) => j.kind === 'noop').length, 0);
    } finally {
      await env.close();
    }
  });

  it('a forced reload that finds no token is not taken as done: its redelivery reloads', async () => {
    const env = await createTestEnv({
      yaml: EVENTS_YAML.replace('jobBudget: 300, jobBurst: 20', 'jobBudget: 2, jobBurst: 1'),
    });
    try {
      await env.put(path(1, 'a.csv'), csvRows(10, 1));
      await syncPartition(env.engine, { table: 'events', partition: '2026112401', reason: 'test' });
      const forced = { table: 'events', partition: '2026112401', force: true, forceToken: 'm1', reason: 'reload' };
      await assert.rejects(syncPartition(env.engine, forced), BudgetExhaustedError);
      env.clock.advance(43_200_000);
      const again = await syncPartition(env.engine, forced);
      assert.equal(again.outcome, 'loaded');
      assert.equal(again.jobsSubmitted, 1);
    } finally {
      await env.close();
    }
  });

  it('stops at the daily budget: work waits with a transient error instead of failing', async () => {
    const env = await createTestEnv({
      yaml: EVENTS_YAML.replace('jobBudget: 300, jobBurst: 20', 'jobBudget: 2, jobBurst: 2'),
    });
    try {
      for (let h = 1; h <= 3; h++) await env.put(path(h, 'a.csv'), csvRows(h * 10, 1));
      await syncPartition(env.engine, { table: 'events', partition: '2026112401', reason: 'test' });
      await syncPartition(env.engine, { table: 'events', partition: '2026112402', reason: 'test' });
      await assert.rejects(
        syncPartition(env.engine, { table: 'events', partition: '2026112403', reason: 'test' }),
        BudgetExhaustedError,
      );
      assert.equal(await env.count(), 2);
      env.clock.advance(86_400_000);
      await syncPartition(env.engine, { table: 'events', partition: '2026112403', reason: 'test' });
      assert.equal(await env.count(), 3);
    } finally {
      await env.close();
    }
  });
});
