/**
 * The per-table daily job budget, shared by every path (loader, backfill, forced reload).
 *
 * BigQuery allows 1,500 load jobs per table per day, failed ones included, and the limit cannot be
 * raised. tidemark spends at most `jobBudget` (default 300) per UTC day per table, paced by a
 * token bucket: `jobBurst` jobs can run back to back (a lone file loads at once), then one job
 * per 86,400/jobBudget seconds (288 s at the default). Work that finds the bucket empty throws
 * BudgetExhaustedError, a transient error: the platform retries it later, and by then one job
 * loads everything that arrived meanwhile. That is how a stream of files coalesces into few loads.
 *
 * State: one small JSON object per table under the state prefix, changed by compare-and-swap.
 */
import type { StateConfig, TableConfig } from '../config/types.ts';
import { BudgetExhaustedError, PreconditionFailedError } from './errors.ts';
import type { ObjectStore } from './ports.ts';

const DAY_MS = 86_400_000;

export interface BudgetState {
  /** UTC day (YYYYMMDD) the `used` counter is for. */
  day: string;
  used: number;
  tokens: number;
  refilledAt: number;
}

export function budgetObjectName(cfg: StateConfig, table: string): string {
  return `${cfg.prefix}budget/${table}.json`;
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replace(/-/g, '');
}

/** The bucket after refilling up to `now`. Pure, for tests and for `tidemark status`. */
export function refill(prev: BudgetState | null, table: Pick<TableConfig, 'jobBudget' | 'jobBurst'>, now: number): BudgetState {
  const burst = Math.max(1, Math.min(table.jobBurst, table.jobBudget));
  if (!prev) return { day: utcDay(now), used: 0, tokens: burst, refilledAt: now };
  const rate = table.jobBudget / DAY_MS; // tokens per ms
  const elapsed = Math.max(0, now - prev.refilledAt);
  const tokens = Math.min(burst, prev.tokens + elapsed * rate);
  const day = utcDay(now);
  return { day, used: day === prev.day ? prev.used : 0, tokens, refilledAt: Math.max(now, prev.refilledAt) };
}

function exhausted(table: TableConfig, next: BudgetState, t: number): BudgetExhaustedError | null {
  if (next.used >= table.jobBudget) {
    const retryAt = Date.UTC(+next.day.slice(0, 4), +next.day.slice(4, 6) - 1, +next.day.slice(6, 8)) + DAY_MS;
    return new BudgetExhaustedError(`daily job budget of table ${table.name} is spent (${next.used}/${table.jobBudget} jobs today); work resumes after ${new Date(retryAt).toISOString()}`, {
      table: table.name,
      used: next.used,
      budget: table.jobBudget,
      retryAfterMs: retryAt - t,
    });
  }
  if (next.tokens < 1) {
    const waitMs = Math.ceil((1 - next.tokens) / (table.jobBudget / DAY_MS));
    return new BudgetExhaustedError(`job budget of table ${table.name} is paced: next job in ${Math.ceil(waitMs / 1000)} s (${next.used}/${table.jobBudget} jobs today)`, {
      table: table.name,
      used: next.used,
      budget: table.jobBudget,
      retryAfterMs: waitMs,
    });
  }
  return null;
}

/** Throws BudgetExhaustedError if a job could not be taken now (reads only; reserves nothing). */
export async function checkBudget(store: ObjectStore, cfg: StateConfig, table: TableConfig, now: number): Promise<void> {
  const err = exhausted(table, await readBudget(store, cfg, table, now), now);
  if (err) throw err;
}

/**
 * Takes one job from the table's budget, or throws BudgetExhaustedError saying when to retry.
 * Concurrent reservations are serialised by compare-and-swap on the budget object.
 */
export async function reserveJob(store: ObjectStore, cfg: StateConfig, table: TableConfig, now: () => number, attempts = 20): Promise<BudgetState> {
  const name = budgetObjectName(cfg, table.name);
  for (let attempt = 1; ; attempt++) {
    const found = await store.read(cfg.bucket, name);
    const prev = found ? (JSON.parse(found.data.toString('utf8')) as BudgetState) : null;
    const t = now();
    const next = refill(prev, table, t);
    const err = exhausted(table, next, t);
    if (err) throw err;
    next.tokens -= 1;
    next.used += 1;
    try {
      await store.write(cfg.bucket, name, JSON.stringify(next), { ifGenerationMatch: found?.generation ?? '0', contentType: 'application/json' });
      return next;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError) || attempt >= attempts) throw err;
    }
  }
}

/** The budget as it stands (no reservation). */
export async function readBudget(store: ObjectStore, cfg: StateConfig, table: TableConfig, now: number): Promise<BudgetState> {
  const found = await store.read(cfg.bucket, budgetObjectName(cfg, table.name));
  return refill(found ? (JSON.parse(found.data.toString('utf8')) as BudgetState) : null, table, now);
}
