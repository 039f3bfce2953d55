/** The job budget's token bucket: burst, pacing, the daily cap, and concurrent reservations. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { refill, reserveJob, readBudget } from '../../../shared/core/budget.ts';
import { BudgetExhaustedError } from '../../../shared/core/errors.ts';
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
    for (let i = 0; i < 5; i++) await reserveJob(store, cfg, table(300, 5), at(() => now));
    await assert.rejects(reserveJob(store, cfg, table(300, 5), at(() => now)), (e: unknown) => e instanceof BudgetExhaustedError && /next job in 288 s/.test(e.message) && !e.permanent);
    now += 288_000;
    await reserveJob(store, cfg, table(300, 5), at(() => now));
    assert.equal((await readBudget(store, cfg, table(300, 5), now)).used, 6);
  });
  it('stops at the daily budget until the next UTC day', async () => {
    const store = new MemoryObjectStore();
    let now = T0;
    for (let i = 0; i < 3; i++) {
      await reserveJob(store, cfg, table(3, 3), at(() => now));
      now += 3_600_000 * 8;
    }
    now = T0 + 86_400_000 - 1;
    await assert.rejects(reserveJob(store, cfg, table(3, 3), at(() => now)), /daily job budget of table events is spent \(3\/3/);
    now = T0 + 86_400_000;
    await reserveJob(store, cfg, table(3, 3), at(() => now));
  });
  it('never hands out more than the burst to concurrent callers', async () => {
    const store = new MemoryObjectStore();
    const results = await Promise.allSettled(Array.from({ length: 30 }, () => reserveJob(store, cfg, table(300, 8), at(() => T0))));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 8);
    assert.equal((await readBudget(store, cfg, table(300, 8), T0)).used, 8);
  });
});
