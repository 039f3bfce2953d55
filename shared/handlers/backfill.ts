/**
 * backfillPartition's core: one Pub/Sub message = one partition to sync (a backfill from the
 * auditor, or a forced reload by hand). Invalid messages are acknowledged with the reason;
 * transient failures are thrown so Pub/Sub retries with backoff and, after the configured
 * attempts, dead-letters the message.
 *
 * A spent job budget is not a failure: the message is retried later. Pub/Sub's retries are
 * bounded by the dead-letter policy, so a message still waiting for budget after
 * `requeueAfterMs` is published again (fresh attempt count) and acknowledged: budget waits never
 * reach the dead-letter topic.
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

export type BackfillOutcome = { action: 'synced'; result: SyncResult } | { action: 'requeued'; reason: string };

export async function onBackfillMessage(deps: BackfillDeps, event: CloudEvent<unknown>): Promise<Acknowledged<BackfillOutcome>> {
  return settleEvent(deps.log, { eventId: event.id }, async (): Promise<BackfillOutcome> => {
    const msg = decodePubSubEvent(event);
    const req = parseBackfillRequest(deps.config, messageJson(msg), msg.messageId);
    const fields = { table: req.table, partition: req.partition, messageId: msg.messageId, force: req.force, reason: req.reason };
    try {
      const result = await syncPartition(deps, {
        table: req.table,
        partition: req.partition,
        force: req.force,
        forceToken: req.force ? msg.messageId : undefined,
        retryFailed: req.force || req.reason === 'failed',
        reason: `backfill-${req.reason}`,
      });
      deps.log.info(`backfill ${req.table}$${req.partition}: ${result.outcome}`, { ...fields, outcome: result.outcome, jobId: result.jobId, jobsSubmitted: result.jobsSubmitted });
      return { action: 'synced', result };
    } catch (err) {
      const age = msg.publishTime ? deps.clock.now() - Date.parse(msg.publishTime) : 0;
      if (err instanceof BudgetExhaustedError && age > (deps.requeueAfterMs ?? 20 * 60_000)) {
        await deps.bus.publish(deps.config.topics.backfill, [{ table: req.table, partition: req.partition, force: req.force, reason: req.reason }], { requeuedFrom: msg.messageId });
        deps.log.notice(`backfill ${req.table}$${req.partition} waits for job budget: re-published`, { ...fields, ageMs: age });
        return { action: 'requeued', reason: err.message };
      }
      throw err;
    }
  });
}
