import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LocalBus, readDeadLetterFile } from '../../../../shared/backends/local/bus.ts';
import type { BusMessage } from '../../../../shared/backends/local/bus.ts';
import type { Clock } from '../../../../shared/core/ports.ts';
import { ManualClock, TimerClock } from '../../../helpers/clock.ts';
import { memoryLogger } from '../../../../shared/log.ts';

const dir = mkdtempSync(join(tmpdir(), 'tidemark-bus-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A clock whose sleeps return at once (after a macrotask) and are recorded. */
function fastClock(): Clock & { sleeps: number[] } {
  let ms = Date.UTC(2026, 0, 1);
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => ms,
    sleep: async (d) => {
      sleeps.push(d);
      ms += d;
      await new Promise((r) => setImmediate(r));
    },
  };
}

describe('LocalBus', () => {
  it('delivers JSON messages with ids, attributes, attempt 1 and publish time', async () => {
    const clock = fastClock();
    const bus = new LocalBus({ clock });
    const got: BusMessage[] = [];
    bus.subscribe('t', async (m) => void got.push(m));
    const ids = await bus.publish('t', [{ a: 1 }, 'two'], { origin: 'test' });
    await bus.drain();
    assert.equal(ids.length, 2);
    assert.deepEqual(
      got.map((m) => m.id),
      ids,
    );
    assert.deepEqual(
      got.map((m) => m.json()),
      [{ a: 1 }, 'two'],
    );
    assert.equal(got[0]!.data.toString(), '{"a":1}');
    assert.deepEqual(got[0]!.attributes, { origin: 'test' });
    assert.equal(got[0]!.deliveryAttempt, 1);
    assert.equal(got[0]!.publishTime, new Date(clock.now()).toISOString());
    bus.close();
  });

  it('retries a failing handler with exponential backoff, then succeeds', async () => {
    const clock = fastClock();
    const bus = new LocalBus({ clock });
    const attempts: number[] = [];
    bus.subscribe(
      't',
      async (m) => {
        attempts.push(m.deliveryAttempt);
        if (m.deliveryAttempt < 4) throw new Error('not yet');
      },
      { minBackoffMs: 100, maxBackoffMs: 300 },
    );
    await bus.publish('t', [1]);
    await bus.drain();
    assert.deepEqual(attempts, [1, 2, 3, 4]);
    assert.deepEqual(clock.sleeps, [100, 200, 300]);
    assert.deepEqual(bus.deadLetters(), []);
    bus.close();
  });

  it('dead-letters after maxDeliveryAttempts: kept in a list, a file and the dead-letter topic', async () => {
    const clock = fastClock();
    const file = join(dir, 'dlq', 'dead-letters.json');
    const log = memoryLogger();
    const bus = new LocalBus({ clock, deadLetterFile: file, log });
    let calls = 0;
    bus.subscribe(
      'work',
      async (m) => {
        calls++;
        if ((m.json() as { ok: boolean }).ok) return;
        throw new Error(`bad message ${m.id}`);
      },
      { maxDeliveryAttempts: 3, minBackoffMs: 10, deadLetterTopic: 'work-dlq' },
    );
    const dlq: BusMessage[] = [];
    bus.subscribe('work-dlq', async (m) => void dlq.push(m));
    const [bad] = await bus.publish('work', [{ ok: false }, { ok: true }], { table: 'events' });
    await bus.drain();
    assert.equal(calls, 4);
    const dead = bus.deadLetters('work');
    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.id, bad);
    assert.equal(dead[0]!.deliveryAttempts, 3);
    assert.equal(dead[0]!.reason, `bad message ${bad}`);
    assert.deepEqual(JSON.parse(dead[0]!.data), { ok: false });
    assert.deepEqual(bus.deadLetters('other'), []);
    assert.equal(dlq.length, 1);
    assert.deepEqual(dlq[0]!.json(), { ok: false });
    assert.deepEqual(dlq[0]!.attributes, {
      table: 'events',
      deadLetterReason: `bad message ${bad}`,
      deadLetterSourceTopic: 'work',
    });
    assert.deepEqual(await readDeadLetterFile(file), dead);
    assert.equal(log.entries.filter((e) => e.message === 'message dead-lettered').length, 1);
    bus.close();

    // Another process (here: another bus) sees the same dead letters, and can replay them.
    const again = new LocalBus({ clock, deadLetterFile: file });
    assert.equal(again.deadLetters().length, 1);
    const replayed: unknown[] = [];
    again.subscribe('work', async (m) => void replayed.push(m.json()));
    assert.equal(await again.replayDeadLetters('work'), 1);
    await again.drain();
    assert.deepEqual(replayed, [{ ok: false }]);
    assert.deepEqual(again.deadLetters(), []);
    assert.deepEqual(await readDeadLetterFile(file), []);
    again.close();
  });

  it('delivers duplicates with the same id when duplicateRate says so', async () => {
    const bus = new LocalBus({ clock: fastClock() });
    const seen: string[] = [];
    bus.subscribe('t', async (m) => void seen.push(m.id), { duplicateRate: 1 });
    const ids = await bus.publish('t', [1, 2, 3]);
    await bus.drain();
    assert.equal(seen.length, 6);
    assert.deepEqual([...new Set(seen)].sort(), [...ids].sort());
    bus.close();
  });

  it('duplicates a deterministic share with an injected random source', async () => {
    let i = 0;
    const bus = new LocalBus({ clock: fastClock(), random: () => (i++ % 2 === 0 ? 0.1 : 0.9) });
    const seen: string[] = [];
    bus.subscribe('t', async (m) => void seen.push(m.id), { duplicateRate: 0.5 });
    await bus.publish('t', [1, 2, 3, 4]);
    await bus.drain();
    assert.equal(seen.length, 6);
    bus.close();
  });

  it('shuffles delivery order but delivers everything', async () => {
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const bus = new LocalBus({ clock: fastClock(), random });
    const seen: number[] = [];
    const unsubscribe = bus.subscribe('t', async (m) => void seen.push(m.json() as number), {
      shuffle: true,
      concurrency: 1,
    });
    bus.subscribe('other', async () => {});
    // Queue everything before the first delivery runs, so order is up to the shuffle.
    await bus.publish(
      't',
      Array.from({ length: 20 }, (_, k) => k),
    );
    await bus.drain();
    assert.equal(seen.length, 20);
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, k) => k),
    );
    assert.notDeepEqual(
      seen,
      Array.from({ length: 20 }, (_, k) => k),
    );
    unsubscribe();
    bus.close();
  });

  it('runs at most `concurrency` handlers at once', async () => {
    const bus = new LocalBus({ clock: fastClock() });
    let running = 0;
    let peak = 0;
    bus.subscribe(
      't',
      async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
      },
      { concurrency: 3 },
    );
    await bus.publish(
      't',
      Array.from({ length: 12 }, (_, k) => k),
    );
    await bus.drain();
    assert.equal(peak, 3);
    bus.close();
  });

  it('keeps messages published before any subscription, bounded with a warning', async () => {
    const log = memoryLogger();
    const bus = new LocalBus({ clock: fastClock(), maxBacklog: 3, log });
    await bus.publish('t', [1, 2, 3, 4, 5]);
    await bus.drain(); // nothing deliverable: resolves at once
    assert.equal(log.entries.filter((e) => e.severity === 'WARNING').length, 2);
    const seen: unknown[] = [];
    bus.subscribe('t', async (m) => void seen.push(m.json()));
    await bus.drain();
    assert.deepEqual(seen, [3, 4, 5]);
    bus.close();
  });

  it('gives every subscription its own copy', async () => {
    const bus = new LocalBus({ clock: fastClock() });
    const a: unknown[] = [];
    const b: unknown[] = [];
    bus.subscribe('t', async (m) => void a.push(m.json()));
    bus.subscribe('t', async (m) => void b.push(m.json()));
    await bus.publish('t', ['x']);
    await bus.drain();
    assert.deepEqual([a, b], [['x'], ['x']]);
    bus.close();
  });

  it('publishAt holds a message until its time, then delivers it as a first delivery (waiting is no failed attempt)', async () => {
    const timers = new TimerClock(new ManualClock());
    const bus = new LocalBus({ clock: timers });
    const got: BusMessage[] = [];
    bus.subscribe('t', async (m) => void got.push(m), { maxDeliveryAttempts: 1 });
    const t0 = timers.now();
    const [id] = await bus.publishAt('t', [{ p: 1 }], t0 + 60_000);
    await bus.publishAt('t', [{ p: 0 }], t0 - 1); // already due: delivered now
    await bus.settled();
    assert.deepEqual(
      got.map((m) => m.json()),
      [{ p: 0 }],
    );
    assert.deepEqual(bus.waiting('t'), [
      { topic: 't', id, data: '{"p":1}', notBefore: new Date(t0 + 60_000).toISOString() },
    ]);
    await timers.advance(59_999);
    await bus.settled();
    assert.equal(got.length, 1, 'not before its time');
    await timers.advance(1);
    await bus.drain();
    assert.deepEqual(
      got.map((m) => [m.json(), m.deliveryAttempt]),
      [
        [{ p: 0 }, 1],
        [{ p: 1 }, 1],
      ],
    );
    assert.deepEqual(bus.waiting(), []);
    assert.deepEqual(bus.deadLetters(), []);
  });

  it('unsubscribe and close() drop held messages, so drain resolves', async () => {
    const timers = new TimerClock(new ManualClock());
    const bus = new LocalBus({ clock: timers });
    const off = bus.subscribe('t', async () => {});
    await bus.publishAt('t', [1, 2], timers.now() + 3_600_000);
    off();
    await bus.drain();
    bus.subscribe('u', async () => {});
    await bus.publishAt('u', [1], timers.now() + 3_600_000);
    bus.close();
    await bus.drain();
    assert.deepEqual(bus.waiting(), []);
  });

  it('close() cancels real retry timers so drain resolves and nothing keeps the process alive', async () => {
    const bus = new LocalBus(); // real timers
    let calls = 0;
    bus.subscribe(
      't',
      async () => {
        calls++;
        throw new Error('always');
      },
      { minBackoffMs: 60_000 },
    );
    await bus.publish('t', [1]);
    await new Promise((r) => setTimeout(r, 10));
    const drained = bus.drain();
    bus.close();
    await drained;
    assert.equal(calls, 1);
    await assert.rejects(bus.publish('t', [2]), /closed/);
  });
});
