/**
 * commitTables's core: a commit tick (Cloud Scheduler every minute, or the local suite's timer)
 * runs `commitTables`, which commits each commit-mode dml table that has dirty partitions and is
 * due (its `commit.interval` honoured there). One log line per table result. An invalid tick is
 * acknowledged with the reason; anything else is thrown: the function is deployed without retry,
 * so the next tick, a minute later, is the retry.
 */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { commitTables } from '../core/commit.ts';
import type { CommitResult } from '../core/commit.ts';
import type { Engine } from '../core/engine.ts';
import { decodePubSubEvent, messageJson } from '../events/pubsub-event.ts';
import { parseCommitTick } from '../events/requests.ts';
import type { LogFields } from '../log.ts';
import { settleEvent } from './settle-event.ts';
import type { Acknowledged } from './settle-event.ts';

/** What runs the commits (commitTables; a test passes its own). */
export type CommitFn = typeof commitTables;

/** Handles one tick; resolves with each table's result. Throws only transient errors. */
export async function onCommitTick(
  engine: Engine,
  event: CloudEvent<unknown>,
  commit: CommitFn = commitTables,
): Promise<Acknowledged<CommitResult[]>> {
  return settleEvent(engine.log, { eventId: event.id }, async () => {
    const msg = decodePubSubEvent(event);
    const tick = parseCommitTick(engine.config, messageJson(msg), msg.messageId);
    const results = await commit(engine, tick.tables ? { tables: tick.tables } : {});
    for (const r of results) logCommitResult(engine, r, { messageId: msg.messageId });
    return results;
  });
}

/** One structured line for a table's commit: WARNING when it aborted (its partitions stay dirty), INFO otherwise. */
export function logCommitResult(engine: Pick<Engine, 'log'>, r: CommitResult, extra: LogFields = {}): void {
  const fields: LogFields = {
    ...extra,
    table: r.table,
    outcome: r.outcome,
    jobId: r.jobId,
    partitions: r.partitions,
    partitionCount: r.partitions.length,
    filesRead: r.filesRead,
    bytesRead: r.bytesRead,
    bytesBilled: r.bytesBilled,
    loadJobs: r.loadJobs,
    dmlStatements: r.dmlStatements,
    ...(r.message ? { detail: r.message } : {}),
  };
  const text = `commit ${r.table}: ${r.outcome}${r.partitions.length ? ` (${r.partitions.length} partitions)` : ''}${r.message ? `: ${r.message}` : ''}`;
  if (r.outcome === 'aborted') engine.log.warn(text, fields);
  else engine.log.info(text, fields);
}
