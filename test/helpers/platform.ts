/**
 * A stand-in for Eventarc/Pub/Sub retry semantics in engine tests: every delivery that throws a
 * transient error is delivered again later (exponential backoff, like `--retry`), permanent ones
 * are acknowledged. Time is a ManualClock, so a day of retries takes milliseconds.
 */
import { isPermanent } from '../../shared/core/errors.ts';
import type { ManualClock } from './clock.ts';

export interface Delivery<T> {
  item: T;
  dueAt: number;
  attempt: number;
}

export interface PlatformStats {
  deliveries: number;
  retries: number;
  acknowledgedErrors: unknown[];
}

/**
 * Delivers every item until acknowledged. `concurrency` deliveries run at once when due at the
 * same time. Returns counts. Throws if something is still retrying after `maxAttempts`.
 */
export async function deliverUntilQuiet<T>(
  clock: ManualClock,
  items: T[],
  handle: (item: T) => Promise<unknown>,
  opts: {
    concurrency?: number;
    minBackoffMs?: number;
    maxBackoffMs?: number;
    maxAttempts?: number;
    spacingMs?: number;
  } = {},
): Promise<PlatformStats> {
  const min = opts.minBackoffMs ?? 10_000;
  const max = opts.maxBackoffMs ?? 600_000;
  const maxAttempts = opts.maxAttempts ?? 500;
  const concurrency = opts.concurrency ?? 1;
  const start = clock.now();
  // Kept in order of dueAt (ties in order of arrival).
  const queue: Delivery<T>[] = [];
  items.forEach((item, i) => enqueue(queue, { item, dueAt: start + i * (opts.spacingMs ?? 0), attempt: 1 }));
  const stats: PlatformStats = { deliveries: 0, retries: 0, acknowledgedErrors: [] };
  while (queue.length) {
    const due = queue[0]!.dueAt;
    if (due > clock.now()) clock.ms = due;
    let n = 0;
    while (n < queue.length && n < concurrency && queue[n]!.dueAt <= clock.now()) n++;
    const batch = queue.splice(0, n);
    await Promise.all(
      batch.map(async (d) => {
        stats.deliveries++;
        try {
          await handle(d.item);
        } catch (err) {
          if (isPermanent(err)) {
            stats.acknowledgedErrors.push(err);
            return;
          }
          if (d.attempt >= maxAttempts)
            throw new Error(`still failing after ${d.attempt} attempts: ${String(err)}`, { cause: err });
          stats.retries++;
          const backoff = Math.min(max, min * 2 ** Math.min(d.attempt - 1, 20));
          enqueue(queue, {
            item: d.item,
            dueAt: clock.now() + backoff * (0.5 + Math.random() / 2),
            attempt: d.attempt + 1,
          });
        }
      }),
    );
  }
  return stats;
}

/** Inserts `d` after every delivery due no later than it (a binary search: the queue stays sorted). */
function enqueue<T>(queue: Delivery<T>[], d: Delivery<T>): void {
  let lo = 0;
  let hi = queue.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (queue[mid]!.dueAt <= d.dueAt) lo = mid + 1;
    else hi = mid;
  }
  queue.splice(lo, 0, d);
}

/** Fisher-Yates shuffle with a seed, so a failing order can be reproduced. */
export function shuffled<T>(items: readonly T[], seed = 42): T[] {
  const out = [...items];
  let s = seed >>> 0;
  const rand = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
