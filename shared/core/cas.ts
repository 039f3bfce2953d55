/**
 * Compare-and-swap writes of small JSON objects (partition state, job budget), and the backoff
 * between CAS attempts.
 *
 * A CAS write can succeed while its answer is lost (a network error after the write, or a client
 * retry of a write that had landed, which then fails its own precondition with 412). Taken as a
 * lost race, that leaves an orphan claim or charges the budget twice. So every write carries a
 * fresh nonce (`writeId`); when the answer is an error, the object is read back, and if it holds
 * our nonce the write won. If somebody else overwrote it in between, they read our write first,
 * so the object's history is consistent; we only fail to learn we won (the same as a crash).
 */
import { randomBytes } from 'node:crypto';
import { PreconditionFailedError } from './errors.ts';
import type { Clock, ObjectStore } from './ports.ts';

/** A fresh nonce for one write. */
export function newWriteId(): string {
  return randomBytes(8).toString('hex');
}

/**
 * Writes `body` (with a fresh `writeId`) if `name` is still at `ifGenerationMatch`. Returns the
 * new generation and the nonce, or throws PreconditionFailedError when the race was really lost.
 */
export async function casWriteJson(
  store: ObjectStore,
  bucket: string,
  name: string,
  body: object,
  options: { ifGenerationMatch: string; metadata?: Record<string, string> },
): Promise<{ generation: string; writeId: string }> {
  const writeId = newWriteId();
  try {
    const { generation } = await store.write(bucket, name, JSON.stringify({ ...body, writeId }), {
      ifGenerationMatch: options.ifGenerationMatch,
      contentType: 'application/json',
      ...(options.metadata ? { metadata: options.metadata } : {}),
    });
    return { generation, writeId };
  } catch (err) {
    const won = await readBackWon(store, bucket, name, writeId);
    if (won) return { generation: won, writeId };
    throw err;
  }
}

/** The object's generation if it holds our nonce (our write landed), else null. */
async function readBackWon(store: ObjectStore, bucket: string, name: string, writeId: string): Promise<string | null> {
  try {
    const found = await store.read(bucket, name);
    if (!found) return null;
    const parsed = JSON.parse(found.data.toString('utf8')) as { writeId?: unknown };
    return parsed && parsed.writeId === writeId ? found.generation : null;
  } catch {
    return null; // unreadable now: report the original error, the caller retries
  }
}

/**
 * Waits before CAS attempt `attempt + 1`: full jitter over an exponential step (200 ms, 400 ms...
 * capped at 5 s). Cloud Storage sustains about one write per second on one object, so retrying
 * at once mostly loses again. Sleeps through the engine's clock so tests run in simulated time.
 */
export async function casBackoff(clock: Pick<Clock, 'sleep'>, attempt: number): Promise<void> {
  const step = Math.min(5_000, 200 * 2 ** Math.min(attempt - 1, 10));
  await clock.sleep(Math.floor(Math.random() * step) + 1);
}

/** True for the error a lost compare-and-swap throws. */
export const isLostRace = (err: unknown) => err instanceof PreconditionFailedError;
