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
 * A token is taken only by a sync that holds the partition's claim (sync.ts), so concurrent
 * events for one partition spend one token for their one job.
 *
 * State: one small JSON object per table under the state prefix, changed by compare-and-swap.
 * It is validated on read: a corrupt object is rebuilt empty (no tokens), which can never raise
 * the day's job count (docs/design.md, "The job budget").
 */
import type { StateConfig, TableConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { casBackoff, casWriteJson, isLostRace } from './cas.ts';
import { BudgetExhaustedError } from './errors.ts';
import type { Clock, ObjectStore } from './ports.ts';

const DAY_MS = 86_400_000;

export interface BudgetState {
  /** UTC day (YYYYMMDD) the `used` counter is for. */
  day: string;
  used: number;
  tokens: number;
  refilledAt: number;
}

type BudgetTable = Pick<TableConfig, 'name' | 'jobBudget' | 'jobBurst'>;

export function budgetObjectName(cfg: StateConfig, table: string): string {
  return `${cfg.prefix}budget/${table}.json`;
}

function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replace(/-/g, '');
}

/**
 * The budget object's content, validated; a string saying what is wrong when it is not a budget.
 * Pure, for tests.
 */
export function parseBudget(text: string): BudgetState | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'not a JSON object';
  const o = v as Record<string, unknown>;
  if (typeof o.day !== 'string' || !/^[0-9]{8}$/.test(o.day)) return 'day is not a YYYYMMDD string';
  for (const k of ['used', 'tokens', 'refilledAt'] as const) {
    if (typeof o[k] !== 'number' || !Number.isFinite(o[k])) return `${k} is not a finite number`;
  }
  if ((o.used as number) < 0 || !Number.isInteger(o.used)) return 'used is not a count';
  return { day: o.day, used: o.used as number, tokens: o.tokens as number, refilledAt: o.refilledAt as number };
}

/**
 * The bucket a corrupt budget object is replaced with: no tokens (pacing from now), and `used`
 * set to the most jobs the token bucket can have handed out since UTC midnight (a full burst at
 * midnight plus the refill since). Whatever the lost object held, the day's jobs stay within
 * `jobBudget` (see docs/design.md, "The job budget").
 */
export function rebuiltBudget(table: Pick<TableConfig, 'jobBudget' | 'jobBurst'>, now: number): BudgetState {
  const burst = Math.max(1, Math.min(table.jobBurst, table.jobBudget));
  const sinceMidnight = now - Date.parse(`${new Date(now).toISOString().slice(0, 10)}T00:00:00Z`);
  const used = Math.min(table.jobBudget, Math.ceil(burst + (table.jobBudget * sinceMidnight) / DAY_MS));
  return { day: utcDay(now), used, tokens: 0, refilledAt: now };
}

/**
 * The bucket after refilling up to `now`. Pure, for tests and for `tidemark status`.
 * A `refilledAt` in the future (written by an instance whose clock ran ahead) is taken as now:
 * no refill for that interval, and pacing restarts from this clock, so "next job in N s" holds.
 */
export function refill(
  prev: BudgetState | null,
  table: Pick<TableConfig, 'jobBudget' | 'jobBurst'>,
  now: number,
): BudgetState {
  const burst = Math.max(1, Math.min(table.jobBurst, table.jobBudget));
  if (!prev) return { day: utcDay(now), used: 0, tokens: burst, refilledAt: now };
  const rate = table.jobBudget / DAY_MS; // tokens per ms
  const from = Math.min(prev.refilledAt, now);
  const tokens = Math.min(burst, prev.tokens + (now - from) * rate);
  const day = utcDay(now);
  return { day, used: day === prev.day ? prev.used : 0, tokens, refilledAt: now };
}

function exhausted(table: BudgetTable, next: BudgetState, t: number): BudgetExhaustedError | null {
  if (next.used >= table.jobBudget) {
    const retryAt = Date.UTC(+next.day.slice(0, 4), +next.day.slice(4, 6) - 1, +next.day.slice(6, 8)) + DAY_MS;
    return new BudgetExhaustedError(
      `daily job budget of table ${table.name} is spent (${next.used}/${table.jobBudget} jobs today); work resumes after ${new Date(retryAt).toISOString()}`,
      {
        table: table.name,
        used: next.used,
        budget: table.jobBudget,
        retryAfterMs: retryAt - t,
      },
    );
  }
  if (next.tokens < 1) {
    const waitMs = Math.ceil((1 - next.tokens) / (table.jobBudget / DAY_MS));
    return new BudgetExhaustedError(
      `job budget of table ${table.name} is paced: next job in ${Math.ceil(waitMs / 1000)} s (${next.used}/${table.jobBudget} jobs today)`,
      {
        table: table.name,
        used: next.used,
        budget: table.jobBudget,
        retryAfterMs: waitMs,
      },
    );
  }
  return null;
}

interface BudgetRead {
  state: BudgetState | null;
  generation: string;
  /** Why the stored object is not a budget, when it is corrupt. */
  corrupt?: string;
}

async function readRaw(store: ObjectStore, cfg: StateConfig, table: string): Promise<BudgetRead> {
  const found = await store.read(cfg.bucket, budgetObjectName(cfg, table));
  if (!found) return { state: null, generation: '0' };
  const parsed = parseBudget(found.data.toString('utf8'));
  return typeof parsed === 'string'
    ? { state: null, generation: found.generation, corrupt: parsed }
    : { state: parsed, generation: found.generation };
}

/**
 * Throws BudgetExhaustedError if a job could not be taken now (reads only; reserves nothing).
 * A corrupt object does not block here: reserveJob rebuilds it.
 */
export async function checkBudget(
  store: ObjectStore,
  cfg: StateConfig,
  table: BudgetTable,
  now: number,
): Promise<void> {
  const found = await readRaw(store, cfg, table.name);
  // A corrupt or clock-skewed object does not block here: reserveJob repairs it.
  if (found.corrupt || (found.state && found.state.refilledAt > now)) return;
  const err = exhausted(table, refill(found.state, table, now), now);
  if (err) throw err;
}

/**
 * Takes one job from the table's budget, or throws BudgetExhaustedError saying when to retry.
 * Concurrent reservations are serialised by compare-and-swap on the budget object, with
 * jittered backoff between attempts; a write whose answer was lost is recognised by its nonce,
 * so it is never charged twice. A corrupt object is logged once (by the writer that replaces
 * it) and rebuilt with no tokens; a `refilledAt` in the future is written back as now.
 */
export async function reserveJob(
  store: ObjectStore,
  cfg: StateConfig,
  table: BudgetTable,
  clock: Pick<Clock, 'now' | 'sleep'>,
  log?: Logger,
  attempts = 20,
): Promise<BudgetState> {
  const name = budgetObjectName(cfg, table.name);
  for (let attempt = 1; ; attempt++) {
    const found = await readRaw(store, cfg, table.name);
    const t = clock.now();
    const next = found.corrupt ? rebuiltBudget(table, t) : refill(found.state, table, t);
    const err = exhausted(table, next, t);
    // A refilledAt ahead of this clock is written back as now even without a token, so the
    // wait the error promises is measured from here and holds.
    const repair = !!found.corrupt || (found.state !== null && found.state.refilledAt > t);
    if (err && !repair) throw err;
    if (!err) {
      next.tokens -= 1;
      next.used += 1;
    }
    try {
      await casWriteJson(store, cfg.bucket, name, next, { ifGenerationMatch: found.generation });
    } catch (e) {
      if (!isLostRace(e) || attempt >= attempts) throw e;
      await casBackoff(clock, attempt);
      continue;
    }
    if (found.corrupt) {
      log?.error(`budget object gs://${cfg.bucket}/${name} is corrupt (${found.corrupt}); rebuilt it with no tokens`, {
        object: name,
        table: table.name,
        reason: found.corrupt,
      });
    }
    if (err) throw err;
    return next;
  }
}

/** The budget as it stands (no reservation); a corrupt object reads as its rebuilt form. */
export async function readBudget(
  store: ObjectStore,
  cfg: StateConfig,
  table: BudgetTable,
  now: number,
): Promise<BudgetState> {
  const found = await readRaw(store, cfg, table.name);
  return found.corrupt ? rebuiltBudget(table, now) : refill(found.state, table, now);
}
