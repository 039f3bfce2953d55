/** The job budget's token bucket: burst, pacing, the daily cap, concurrent reservations, and a damaged budget object. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  budgetObjectName,
  checkBudget,
  parseBudget,
  rebuiltBudget,
  refill,
  reserveJob,
  readBudget,
} from '../../../shared/core/budget.ts';
import { BudgetExhaustedError, PreconditionFailedError } from '../../../shared/core/errors.ts';
import { memoryLogger } from '../../../shared/log.ts';
import type { TableConfig } from '../../../shared/config/types.ts';
import { MemoryObjectStore } from '../../helpers/memory-store.ts';

const cfg = { bucket: 'lake', prefix: '_tidemark/' };
const table = (jobBudget: number, jobBurst: number) => ({ name: 'events', jobBudget, jobBurst }) as TableConfig;
const T0 = Date.UTC(2026, 10, 24, 0, 0, 0);
/** A clock reading `now()`, whose CAS backoff sleeps take no time and do not move it. */
const at = (now: () => number) => ({ now, sleep: async () => {} });

describe('refill', () => {
  it('starts full, refills at budget per day, never above the burst', () => {
    const t = table(288, 10);
    const s0 = refill(null, t, T0);
    assert.equal(s0.tokens, 10);
    const drained = { ...s0, tokens: 0 };
    assert.equal(refill(drained, t, T0 + 300_000).tokens, 1); // one token per 300 s at 288/day
    assert.equal(refill(drained, t, T0 + 86_400_000 / 2).tokens, 10);
  });
  it('resets the day counter at UTC midnight', () => {
    const s = { day: '20261124', used: 300, tokens: 0, refilledAt: T0 + 86_000_000 };
    assert.equal(refill(s, table(300, 20), T0 + 86_400_000).used, 0);
  });
});

describe('reserveJob', () => {
  it('allows the burst back to back, then paces with a transient error saying when', async () => {
    const store = new MemoryObjectStore();
    let now = T0;
    for (let i = 0; i < 5; i++)
      await reserveJob(
        store,
        cfg,
        table(300, 5),
        at(() => now),
      );
    await assert.rejects(
      reserveJob(
        store,
        cfg,
        table(300, 5),
        at(() => now),
      ),
      (e: unknown) => e instanceof BudgetExhaustedError && /next job in 288 s/.test(e.message) && !e.permanent,
    );
    now += 288_000;
    await reserveJob(
      store,
      cfg,
      table(300, 5),
      at(() => now),
    );
    assert.equal((await readBudget(store, cfg, table(300, 5), now)).used, 6);
  });
  it('stops at the daily budget until the next UTC day', async () => {
    const store = new MemoryObjectStore();
    let now = T0;
    for (let i = 0; i < 3; i++) {
      await reserveJob(
        store,
        cfg,
        table(3, 3),
        at(() => now),
      );
      now += 3_600_000 * 8;
    }
    now = T0 + 86_400_000 - 1;
    await assert.rejects(
      reserveJob(
        store,
        cfg,
        table(3, 3),
        at(() => now),
      ),
      /daily job budget of table events is spent \(3\/3/,
    );
    now = T0 + 86_400_000;
    await reserveJob(
      store,
      cfg,
      table(3, 3),
      at(() => now),
    );
  });
  it('never hands out more than the burst to concurrent callers', async () => {
    const store = new MemoryObjectStore();
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, () =>
        reserveJob(
          store,
          cfg,
          table(300, 8),
          at(() => T0),
        ),
      ),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 8);
    assert.equal((await readBudget(store, cfg, table(300, 8), T0)).used, 8);
  });
});

/** A store whose next write to `name` lands but answers with the 412 a client retry of it would get. */
class LostAnswerStore extends MemoryObjectStore {
  lose = new Set<string>();
  override async write(
    bucket: string,
    name: string,
    data: Buffer | string,
    o: Parameters<MemoryObjectStore['write']>[3] = {},
  ) {
    const r = await super.write(bucket, name, data, o);
    if (this.lose.delete(name))
      throw new PreconditionFailedError(
        `gs://${bucket}/${name}: generation is ${r.generation}, expected ${o.ifGenerationMatch}`,
      );
    return r;
  }
}

describe('budget robustness', () => {
  const name = budgetObjectName(cfg, 'events');

  it('a refilledAt in the future (a writer whose clock ran ahead) does not stall pacing: the promised wait is true', async () => {
    const store = new MemoryObjectStore();
    await store.write(
      'lake',
      name,
      JSON.stringify({ day: '20261124', used: 20, tokens: 0, refilledAt: T0 + 3_600_000 }),
    );
    let now = T0;
    await assert.rejects(
      reserveJob(
        store,
        cfg,
        table(300, 5),
        at(() => now),
      ),
      /next job in 288 s/,
    );
    now += 288_000;
    await reserveJob(
      store,
      cfg,
      table(300, 5),
      at(() => now),
    );
    assert.equal((await readBudget(store, cfg, table(300, 5), now)).used, 21);
  });

  it('refill takes a future refilledAt as now', () => {
    const s = refill({ day: '20261124', used: 1, tokens: 0.5, refilledAt: T0 + 600_000 }, table(288, 10), T0);
    assert.deepEqual([s.tokens, s.refilledAt], [0.5, T0]);
    assert.equal(refill(s, table(288, 10), T0 + 150_000).tokens, 1);
  });

  const corrupt: [string, string][] = [
    ['not JSON', '{"day": "2026'],
    ['not an object', '[1, 2]'],
    ['bad day', JSON.stringify({ day: 'monday', used: 1, tokens: 1, refilledAt: T0 })],
    ['tokens not a number', JSON.stringify({ day: '20261124', used: 1, tokens: 'many', refilledAt: T0 })],
    ['negative used', JSON.stringify({ day: '20261124', used: -3, tokens: 1, refilledAt: T0 })],
  ];
  for (const [what, text] of corrupt) {
    it(`a corrupt budget object (${what}) is one ERROR naming it, rebuilt with no tokens, and work goes on`, async () => {
      assert.equal(typeof parseBudget(text), 'string');
      const store = new MemoryObjectStore();
      await store.write('lake', name, text);
      const log = memoryLogger();
      let now = T0;
      await checkBudget(store, cfg, table(300, 5), now); // does not block on it
      await assert.rejects(
        reserveJob(
          store,
          cfg,
          table(300, 5),
          at(() => now),
          log,
        ),
        /next job in 288 s/,
      );
      await assert.rejects(
        reserveJob(
          store,
          cfg,
          table(300, 5),
          at(() => now),
          log,
        ),
        /next job in 288 s/,
      );
      const errors = log.entries.filter((e) => e.severity === 'ERROR');
      assert.equal(errors.length, 1);
      assert.match(errors[0]!.message, /budget object gs:\/\/lake\/_tidemark\/budget\/events\.json is corrupt/);
      now += 288_000;
      const s = await reserveJob(
        store,
        cfg,
        table(300, 5),
        at(() => now),
        log,
      );
      // Rebuilt as if the bucket had been spent since midnight (burst 5): the day stays within budget.
      assert.equal(s.used, 6);
    });
  }

  it('a rebuilt budget counts the most jobs the bucket could have handed out today, so the day stays within jobBudget', () => {
    assert.deepEqual(rebuiltBudget(table(300, 20), T0), { day: '20261124', used: 20, tokens: 0, refilledAt: T0 });
    assert.equal(rebuiltBudget(table(300, 20), T0 + 43_200_000).used, 170);
    assert.equal(rebuiltBudget(table(300, 20), T0 + 86_399_000).used, 300);
  });

  it('a reservation whose write answer was lost is recognised by its nonce and charged once', async () => {
    const store = new LostAnswerStore();
    await reserveJob(
      store,
      cfg,
      table(300, 5),
      at(() => T0),
    );
    store.lose.add(name);
    await reserveJob(
      store,
      cfg,
      table(300, 5),
      at(() => T0),
    );
    assert.equal(store.lose.size, 0);
    assert.equal((await readBudget(store, cfg, table(300, 5), T0)).used, 2);
  });

  it('lost compare-and-swap races back off through the clock, with jitter, before trying again', async () => {
    const store = new MemoryObjectStore();
    const sleeps: number[] = [];
    const clock = {
      now: () => T0,
      sleep: async (ms: number) => {
        sleeps.push(ms);
      },
    };
    await Promise.all(Array.from({ length: 6 }, () => reserveJob(store, cfg, table(300, 8), clock)));
    assert.equal((await readBudget(store, cfg, table(300, 8), T0)).used, 6);
    assert.ok(sleeps.length >= 5, `${sleeps.length} backoffs for 6 racing writers`);
    assert.ok(sleeps.every((ms) => ms >= 1 && ms <= 5_000));
  });
});
