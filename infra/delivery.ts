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
