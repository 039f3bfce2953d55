/**
 * End to end on the embedded backends: 10,000 events posted in 100 requests over 25 minutes
 * that cross an hour boundary; the bus delivers some twice, and the storage subscription's
 * stand-in "crashes" after writing some files (before acknowledging), so their messages are
 * written again into later files, one of them in the next hour. Every event must arrive in the
 * warehouse exactly once, in the partition of the earliest hour a file holds it, whichever
 * order the hours are loaded in.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LocalBus } from '../../shared/backends/local/bus.ts';
import { LocalStorageSubscription } from '../../shared/backends/local/storage-subscription.ts';
import { syncPartition } from '../../shared/core/sync.ts';
import { fileNameTime } from '../../shared/ingest/file-names.ts';
import { handleIngest } from '../../shared/ingest/handler.ts';
import { partitionIdAt } from '../../shared/routing/partition.ts';
import { createTestEnv } from '../helpers/local-env.ts';
import type { TestEnv } from '../helpers/local-env.ts';
import { location, streamYaml } from '../helpers/streams.ts';

/** A small deterministic PRNG (mulberry32), so the duplicates are the same on every run. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('ingestion end to end: 10,000 events, redelivered, exactly once', () => {
  let env: TestEnv;
  let bus: LocalBus;
  let sub: LocalStorageSubscription;
  const crashed: string[] = [];
  // "Crash" after writing (before acknowledging) the first file from 12:59 and from 13:05 on:
  // their messages come again and are written into later files (the first into the next hour).
  const crashAt = [Date.UTC(2026, 10, 24, 12, 59, 0), Date.UTC(2026, 10, 24, 13, 5, 0)];
  before(async () => {
    env = await createTestEnv({ yaml: streamYaml() });
    env.clock.ms = Date.UTC(2026, 10, 24, 12, 48, 0);
    const stream = env.config.streams[0]!;
    bus = new LocalBus({ clock: env.clock, random: seeded(7), log: env.log });
    sub = new LocalStorageSubscription({
      bus,
      topic: stream.topic,
      store: env.engine.store,
      bucket: 'lake',
      naming: stream.files,
      maxDurationMs: Infinity, // files are cut by flush() and maxBytes: no timers
      maxBytes: 150_000,
      clock: env.clock,
      log: env.log,
      duplicateRate: 0.03,
      minBackoffMs: 1000,
      afterWrite: (name) => {
        const t = fileNameTime(stream.files, name)!;
        const at = crashAt.find((c) => t >= c && !crashed.some((n) => fileNameTime(stream.files, n)! >= c));
        if (at !== undefined && crashed.length < crashAt.length) {
          crashed.push(name);
          throw new Error('simulated crash between writing a file and acknowledging its messages');
        }
      },
    });
  });
  after(async () => {
    await sub.close();
    bus.close();
    await env.close();
  });

  it(
    'posts, writes files (with duplicates across files and hours), and loads every event once',
    { timeout: 240_000 },
    async () => {
      const deps = { streams: env.config.streams, bus, clock: env.clock, log: env.log };
      let n = 0;
      for (let request = 0; request < 100; request++) {
        const records = Array.from({ length: 100 }, () => location(n, { event_id: `ev-${n++}` }));
        const body = Buffer.from(records.map((r) => JSON.stringify(r)).join('\n'));
        const r = await handleIngest(deps, {
          method: 'POST',
          path: '/v1/streams/locations/events',
          contentType: 'application/x-ndjson',
          body,
        });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        env.clock.advance(15_000);
        if (request % 4 === 3) await sub.flush();
      }
      // Everything delivered and acknowledged (redeliveries included): flush until the bus is idle.
      let idle = false;
      void bus.drain().then(() => (idle = true));
      while (!idle) {
        await sub.flush();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.equal(crashed.length, 2, `crashed files: ${crashed.join(', ')}`);

      // What the lake holds: every line of every file, and the earliest hour each event is in.
      const stream = env.config.streams[0]!;
      const earliest = new Map<string, string>();
      let lines = 0;
      const hours = new Set<string>();
      const byHour = new Map<string, Set<string>>();
      for (const f of sub.written) {
        const hour = partitionIdAt(fileNameTime(stream.files, f.name)!, 'HOUR');
        hours.add(hour);
        const data = (await env.engine.store.read('lake', f.name))!.data.toString('utf8');
        for (const l of data.split('\n').filter(Boolean)) {
          lines++;
          const id = (JSON.parse(l) as { event_id: string }).event_id;
          if (!earliest.has(id) || hour < earliest.get(id)!) earliest.set(id, hour);
          byHour.set(id, (byHour.get(id) ?? new Set()).add(hour));
        }
      }
      assert.equal(earliest.size, 10_000);
      assert.ok(lines > 10_300, `duplicates written: ${lines - 10_000}`);
      const crossHour = [...byHour.values()].filter((h) => h.size > 1).length;
      assert.ok(crossHour > 0, 'some events are in files of two hours');
      assert.deepEqual([...hours].sort(), ['2026112412', '2026112413']);

      // Load the later hour first: the result must not depend on the order.
      for (const partition of ['2026112413', '2026112412']) {
        const r = await syncPartition(env.engine, { table: 'locations', partition, reason: 'test' });
        assert.equal(r.outcome, 'loaded');
      }
      const rows = await env.rows(`SELECT event_id, strftime(_PARTITIONTIME, '%Y%m%d%H') AS p FROM lake_us.locations`);
      assert.equal(
        rows.length,
        10_000,
        `rows: ${rows.length} (duplicates: ${rows.length - new Set(rows.map((r) => r.event_id)).size})`,
      );
      assert.equal(new Set(rows.map((r) => r.event_id)).size, 10_000);
      const misplaced = rows.filter((r) => r.p !== earliest.get(String(r.event_id)));
      assert.equal(misplaced.length, 0, `in the wrong hour: ${JSON.stringify(misplaced.slice(0, 3))}`);

      // Loading again changes nothing; the staging tables are gone.
      for (const partition of ['2026112412', '2026112413']) {
        assert.equal(
          (await syncPartition(env.engine, { table: 'locations', partition, reason: 'test' })).outcome,
          'up-to-date',
        );
      }
      const stages = await env.rows(
        `SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%tidemark_stage%'`,
      );
      assert.deepEqual(stages, []);
    },
  );
});
