/**
 * backfillPartition's core: one Pub/Sub message = one partition to sync (a backfill from the
 * auditor, or a forced reload by hand). Invalid messages are acknowledged with the reason;
 * transient failures are thrown so Pub/Sub retries with backoff and, after the configured
 * attempts, dead-letters the message.
 *
 * A spent job budget is not a failure, and a budget wait never reaches the dead-letter topic
 * (`planBudgetWait` decides how to wait):
 * - on a bus that can hold a message (the local bus's publishAt), the message is acknowledged and
 *   published again for when the next job token is due (BudgetExhaustedError's retryAfterMs):
 *   the wait costs no delivery attempt;
 * - Pub/Sub cannot hold a message, so the message is thrown back (its retry backoff is the wait)
 *   and published again with a fresh attempt count and acknowledged before the dead-letter policy
 *   can take it: at its 4th delivery (Pub/Sub allows no fewer than 5 attempts, and says which
 *   attempt a delivery is when a dead-letter policy is set), or, if the attempt is not known,
 *   once older than `requeueAfterMs`.
 */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { BudgetExhaustedError } from '../core/errors.ts';
import type { Bus } from '../core/ports.ts';
import { syncPartition } from '../core/sync.ts';
import type { Engine, SyncResult } from '../core/sync.ts';
import { decodePubSubEvent, messageJson } from '../events/pubsub-event.ts';
import { parseBackfillRequest } from '../events/requests.ts';
import { settleEvent } from './settle-event.ts';
import type { Acknowledged } from './settle-event.ts';

export interface BackfillDeps extends Engine {
  bus: Bus;
  /** Age after which a message still waiting for budget is re-published (default 20 min). */
  requeueAfterMs?: number;
}

export type BackfillOutcome =
  | { action: 'synced'; result: SyncResult }
  /** Waiting for job budget: published again, to be delivered after `notBefore` (RFC 3339) when the bus can hold it. */
  | { action: 'requeued'; reason: string; notBefore?: string };

/** How a message that found the job budget spent waits. */
export type BudgetWait = { kind: 'schedule'; notBefore: number } | { kind: 'requeue' } | { kind: 'retry' };

/** Used when a BudgetExhaustedError does not say when the next token is due. */
const DEFAULT_BUDGET_RETRY_MS = 60_000;

/**
 * The delivery at which a budget wait is re-published instead of thrown back: a dead-letter
 * policy allows at least 5 attempts, so the 4th always comes before the last.
 */
export const REQUEUE_AT_ATTEMPT = 4;

/**
 * Decides how a budget wait happens (see the module comment): schedule it for when the next token
 * is due if the bus can hold messages; otherwise let Pub/Sub retry until the message is older than
 * `requeueAfterMs`, then re-publish it.
 */
export function planBudgetWait(w: {
  now: number;
  publishTime?: string;
  deliveryAttempt?: number;
  retryAfterMs?: unknown;
  requeueAfterMs: number;
  canSchedule: boolean;
}): BudgetWait {
  if (w.canSchedule) {
    const after =
      typeof w.retryAfterMs === 'number' && Number.isFinite(w.retryAfterMs) && w.retryAfterMs > 0
        ? w.retryAfterMs
        : DEFAULT_BUDGET_RETRY_MS;
    return { kind: 'schedule', notBefore: w.now + after };
  }
  if (w.deliveryAttempt !== undefined && w.deliveryAttempt >= REQUEUE_AT_ATTEMPT) return { kind: 'requeue' };
  const age = w.publishTime ? w.now - Date.parse(w.publishTime) : 0;
  return age > w.requeueAfterMs ? { kind: 'requeue' } : { kind: 'retry' };
}

export async function onBackfillMessage(
  deps: BackfillDeps,
  event: CloudEvent<unknown>,
): Promise<Acknowledged<BackfillOutcome>> {
  return settleEvent(deps.log, { eventId: event.id }, async (): Promise<BackfillOutcome> => {
    const msg = decodePubSubEvent(event);
    const req = parseBackfillRequest(deps.config, messageJson(msg), msg.messageId);
    const fields = {
      table: req.table,
      partition: req.partition,
      messageId: msg.messageId,
      force: req.force,
      reason: req.reason,
    };
    try {
      const result = await syncPartition(deps, {
        table: req.table,
        partition: req.partition,
        force: req.force,
        forceToken: req.force ? msg.messageId : undefined,
        retryFailed: req.force || req.reason === 'failed',
        reason: `backfill-${req.reason}`,
      });
      deps.log.info(`backfill ${req.table}$${req.partition}: ${result.outcome}`, {
        ...fields,
        outcome: result.outcome,
        jobId: result.jobId,
        jobsSubmitted: result.jobsSubmitted,
      });
      return { action: 'synced', result };
    } catch (err) {
      if (!(err instanceof BudgetExhaustedError)) throw err;
      const now = deps.clock.now();
      const wait = planBudgetWait({
        now,
        ...(msg.publishTime ? { publishTime: msg.publishTime } : {}),
        ...(msg.deliveryAttempt !== undefined ? { deliveryAttempt: msg.deliveryAttempt } : {}),
        retryAfterMs: err.fields.retryAfterMs,
        requeueAfterMs: deps.requeueAfterMs ?? 20 * 60_000,
        canSchedule: deps.bus.publishAt !== undefined,
      });
      if (wait.kind === 'retry') throw err;
      const again = [{ table: req.table, partition: req.partition, force: req.force, reason: req.reason }];
      const attributes = { requeuedFrom: msg.messageId };
      if (wait.kind === 'schedule') {
        const notBefore = new Date(wait.notBefore).toISOString();
        await deps.bus.publishAt!(deps.config.topics.backfill, again, wait.notBefore, attributes);
        deps.log.notice(`backfill ${req.table}$${req.partition} waits for job budget until ${notBefore}`, {
          ...fields,
          budgetWait: true,
          notBefore,
          error: err.message,
        });
        return { action: 'requeued', reason: err.message, notBefore };
      }
      await deps.bus.publish(deps.config.topics.backfill, again, attributes);
      deps.log.notice(`backfill ${req.table}$${req.partition} waits for job budget: re-published`, {
        ...fields,
        budgetWait: true,
        error: err.message,
      });
      return { action: 'requeued', reason: err.message };
    }
  });
}
