/**
 * Delivery numbers shared by the Pulumi program and the cloudbuild after-deploy step, so the
 * backfill trigger's subscription and the declared ones cannot disagree.
 */

/**
 * Retry backoff on the backfill trigger's subscription; dead-lettered after
 * deploy.backfill.maxDeliveryAttempts. The minimum is also what keeps budget waits off the
 * dead-letter topic: deliveries are at least this far apart, so a message re-published once older
 * than budgetRequeueAfterMs(attempts, minimum) is re-published before its last attempt.
 */
export const BACKFILL_DELIVERY = { minBackoffSeconds: 60, maxBackoffSeconds: 600 } as const;

/** Dead letters and audit results wait a week for `tidemark dlq` or a human (Pub/Sub's maximum is 31 days; the emulator's 7). */
export const DLQ_RETENTION_SECONDS = 7 * 86_400;

/** The audit schedule retries a failed publish a few times; the next run covers the rest. */
export const SCHEDULER_RETRY = {
  retryCount: 3,
  minBackoffSeconds: 30,
  maxBackoffSeconds: 300,
  maxDoublings: 3,
} as const;

/**
 * The commit tick: Cloud Scheduler's finest schedule, every minute (each table still commits at
 * most once per its `commit.interval`). No retry: a missed tick is covered by the next one.
 */
export const COMMIT_TICK = { schedule: '* * * * *', timeZone: 'Etc/UTC', retryCount: 0 } as const;

/**
 * How old a message waiting for budget may get before it is re-published, on a subscription that
 * dead-letters after `maxDeliveryAttempts` and spaces deliveries at least `minBackoffSeconds`
 * apart: delivery k happens at an age of at least (k-1)·minBackoff, so delivery N-1 is older than
 * (N-2)·minBackoff, more than this (half a backoff less): it re-publishes before the Nth, last one.
 * The deployed backfill function gets it from the function table (TIDEMARK_BUDGET_REQUEUE_MS) and
 * passes it to shared/handlers/backfill.ts as `requeueAfterMs`.
 */
export function budgetRequeueAfterMs(maxDeliveryAttempts: number, minBackoffSeconds: number): number {
  return Math.max(0, ((maxDeliveryAttempts - 2) * minBackoffSeconds - minBackoffSeconds / 2) * 1000);
}
