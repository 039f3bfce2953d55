/**
 * One retry policy for every Google API call the gcp backend makes: which failures may pass
 * (rate limits, 5xx, dropped connections) and exponential backoff with full jitter between
 * attempts. Callers turn the client libraries' own retries off, so this is the only layer.
 */
import { classifyError } from '../../core/error-rules.ts';
import { BackendUnavailableError, errorMessage } from '../../core/errors.ts';

export interface RetryOptions {
  /** Total attempts, the first included. */
  attempts?: number;
  /** Backoff cap before the first retry; doubles on each attempt. */
  baseMs?: number;
  maxMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Uniform [0, 1); injectable so tests can pin the jitter. */
  random?: () => number;
  /** What is being attempted, for the final error (`jobs.insert tidemark_x`). */
  describe: string;
}

/**
 * The HTTP status of an error thrown by a Google client, or undefined. Reads `code` (ApiError
 * from @google-cloud/common and storage), `status` and `response.status`/`statusCode` (gaxios,
 * teeny-request). gRPC codes (0-16) and string codes (`ECONNRESET`) are not HTTP statuses.
 */
export function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as {
    code?: unknown;
    status?: unknown;
    response?: { status?: unknown; statusCode?: unknown };
  };
  for (const candidate of [e.code, e.status, e.response?.status, e.response?.statusCode]) {
    if (typeof candidate === 'number' && candidate >= 100 && candidate <= 599) return candidate;
  }
  return undefined;
}

/** The first `errors[].reason` of a Google API error (`notFound`, `rateLimitExceeded`...), or undefined. */
export function reasonOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const errors = (err as { errors?: unknown }).errors;
  if (!Array.isArray(errors)) return undefined;
  for (const item of errors) {
    const reason = (item as { reason?: unknown } | null)?.reason;
    if (typeof reason === 'string' && reason !== '') return reason;
  }
  return undefined;
}

/**
 * True when the same call may succeed within this invocation: `retry-now` of the shared rule
 * (shared/core/error-rules.ts). `quotaExceeded` is `retry-later`: not retried here, and since the
 * caller does not map it to a permanent error it stays transient for the platform.
 */
export function isRetryable(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return (
    classifyError({
      reason: reasonOf(err),
      message: errorMessage(err),
      status: httpStatusOf(err),
      code: typeof code === 'string' ? code : undefined,
    }) === 'retry-now'
  );
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn`, retrying failures `isRetryable` accepts with exponential backoff and full jitter
 * (a random wait in [0, min(maxMs, baseMs * 2^n))). Other errors are rethrown untouched so the
 * caller can map 404/409/412. When the attempts run out, throws BackendUnavailableError
 * (transient) whose `cause` is the last error.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 6);
  const baseMs = options.baseMs ?? 500;
  const maxMs = options.maxMs ?? 32_000;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isRetryable(err)) throw err;
      if (attempt >= attempts) {
        throw new BackendUnavailableError(
          `${options.describe} failed after ${attempts} attempts: ${errorMessage(err)}`,
          { call: options.describe, attempts, status: httpStatusOf(err), reason: reasonOf(err) },
          { cause: err },
        );
      }
      const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
      await sleep(Math.floor(random() * ceiling));
    }
  }
}
