/**
 * loadOnFinalize's core: a finalized object is a hint that its partition may have changed.
 * Decode, route, and hand the partition to the sync engine. Objects no table loads are
 * acknowledged with one log line: INFO for names skipped on purpose (folder placeholders,
 * markers, hidden and temporary files, tidemark's own state objects), WARNING for anything else,
 * since an object no pattern matches is usually a producer's path drift whose data would be lost.
 */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { syncPartition } from '../core/sync.ts';
import type { Engine, SyncResult } from '../core/sync.ts';
import { isDeliberatelyIgnored } from '../core/unrouted.ts';
import { decodeFinalizedEvent } from '../events/storage-event.ts';
import { settleEvent } from './settle-event.ts';
import type { Acknowledged } from './settle-event.ts';

export type FinalizedOutcome = { action: 'ignored'; reason: string } | { action: 'synced'; result: SyncResult };

/** Handles one finalize event. Throws only transient errors (the platform retries). */
export async function onObjectFinalized(
  engine: Engine,
  event: CloudEvent<unknown>,
): Promise<Acknowledged<FinalizedOutcome>> {
  const log = engine.log;
  return settleEvent(log, { eventId: event.id }, async (): Promise<FinalizedOutcome> => {
    const obj = decodeFinalizedEvent(event);
    const fields = { object: obj.name, bucket: obj.bucket, generation: obj.generation, eventId: event.id };
    const { state } = engine.config;
    if (obj.bucket === state.bucket && obj.name.startsWith(state.prefix)) {
      return ignored(engine, fields, 'tidemark state object');
    }
    const routed = engine.router.route(obj.bucket, obj.name);
    if (routed.kind === 'ignored') {
      if (isDeliberatelyIgnored(state, obj.bucket, obj.name)) return ignored(engine, fields, routed.reason);
      engine.log.warn(`unrouted object: ${routed.reason}; it is not loaded (a path that drifted from the pattern?)`, {
        ...fields,
        reason: routed.reason,
      });
      return { action: 'ignored', reason: routed.reason };
    }
    const result = await syncPartition(engine, {
      table: routed.table.name,
      partition: routed.partition,
      reason: 'object-finalized',
      hint: { name: obj.name, generation: obj.generation },
    });
    log.info(`object ${obj.name}: partition ${result.outcome}`, {
      ...fields,
      table: result.table,
      partition: result.partition,
      outcome: result.outcome,
      jobId: result.jobId,
      jobsSubmitted: result.jobsSubmitted,
    });
    return { action: 'synced', result };
  });
}

function ignored(engine: Engine, fields: Record<string, unknown>, reason: string): FinalizedOutcome {
  engine.log.info(`ignored object: ${reason}`, { ...fields, reason });
  return { action: 'ignored', reason };
}
