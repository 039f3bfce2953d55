/**
 * The one rule for BigQuery / Google API failures: which may pass if tried again, and how soon.
 * Shared by the API-call retry loop (shared/backends/gcp/retry.ts) and by the settling of a job
 * that ended DONE with an error (shared/core/claims.ts), so a `rateLimitExceeded` means the same
 * thing whether a `jobs.insert` call or a finished load job reports it.
 *
 * - `retry-now`: rate limits and backend hiccups; pass within seconds, so an API call retries
 *   them with backoff inside the same invocation.
 * - `retry-later`: quotas (`quotaExceeded`) refill over minutes to a day; spinning inside one
 *   invocation cannot help, so the call gives up at once and the error stays transient (the
 *   platform retries the event later).
 * - `permanent`: retrying the same request cannot succeed (invalid input, permissions...).
 * Failures we cannot read are not classified here (network codes, statuses) beyond this table.
 */

export type ErrorClass = 'retry-now' | 'retry-later' | 'permanent';

/** What an error says about itself: BigQuery `errors[].reason`, its message, an HTTP status. */
export interface ErrorFacts {
  reason?: string | undefined;
  message?: string | undefined;
  status?: number | undefined;
  /** A Node network error code (`ECONNRESET`). */
  code?: string | undefined;
}

const RETRY_NOW_REASONS = new Set(['rateLimitExceeded', 'backendError', 'internalError']);
const RETRY_LATER_REASONS = new Set(['quotaExceeded']);
/** BigQuery reports table-update rate limits with these words, sometimes under a 403 without a useful reason. */
const RETRY_NOW_MESSAGES = ['too many table update operations', 'exceeded rate limits'];
const RETRY_NOW_STATUS = new Set([429, 500, 502, 503, 504]);
const RETRY_NOW_NETWORK_CODES = new Set(['ECONNRESET', 'ETIMEDOUT', 'ECONNREFUSED', 'EPIPE', 'EAI_AGAIN']);

/**
 * Classifies one failure. A retryable reason or message wins over the status: BigQuery reports
 * "too many table update operations" as 403 rateLimitExceeded, which passes, while other 403s
 * (accessDenied) do not.
 */
export function classifyError(facts: ErrorFacts): ErrorClass {
  if (facts.reason !== undefined && RETRY_NOW_REASONS.has(facts.reason)) return 'retry-now';
  const message = (facts.message ?? '').toLowerCase();
  if (RETRY_NOW_MESSAGES.some((m) => message.includes(m))) return 'retry-now';
  if (facts.reason !== undefined && RETRY_LATER_REASONS.has(facts.reason)) return 'retry-later';
  if (facts.status !== undefined) return RETRY_NOW_STATUS.has(facts.status) ? 'retry-now' : 'permanent';
  if (facts.code !== undefined && RETRY_NOW_NETWORK_CODES.has(facts.code)) return 'retry-now';
  return 'permanent';
}

/** True when a failure may pass if the same work is tried again (now or later). */
export function isTransientError(facts: ErrorFacts): boolean {
  return classifyError(facts) !== 'permanent';
}
