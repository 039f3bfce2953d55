/**
 * The load kind of stream tables (ingest/dedupe.ts has the rule): every load is staged, the
 * previous hour's tail is loaded into a second staging table, and the copy into `table$P` keeps
 * one row per event_id and none that the tail holds. These helpers are the engine's two hooks:
 * listing the tail when claiming (sync.ts), and the tail's stage and the copy's dedupe (claims.ts
 * runJob loads the tail with the same resumable chunk loads as the claim's own files).
 */
import type { Logger } from '../log.ts';
import { HOUR_MS } from '../routing/civil-time.ts';
import { partitionIdAt, partitionStart } from '../routing/partition.ts';
import type { TableRoute } from '../routing/router.ts';
import { DEDUPE, streamForTable, tailFiles } from '../ingest/dedupe.ts';
import type { Engine } from './engine.ts';
import { listPartitionObjects } from './listing.ts';
import type { CopyDedupe, JobStatus, TableRef } from './ports.ts';
import { readState } from './state.ts';
import type { FileRef } from './state.ts';
import type { TableConfig } from '../config/types.ts';

/** The previous hour's files that can share events with `partition` (none for other tables). */
export async function listTail(engine: Engine, route: TableRoute, partition: string, log: Logger): Promise<FileRef[]> {
  const stream = streamForTable(engine.config.streams ?? [], route.table.name);
  if (!stream) return [];
  const start = partitionStart(partition);
  const previous = partitionIdAt(start - HOUR_MS, 'HOUR');
  const listing = await listPartitionObjects(engine.store, route, previous, log);
  // Files the previous hour quarantined load nowhere: they hold no event to drop.
  const { state } = await readState(engine.store, engine.config.state, route.table.name, previous, engine.clock.now());
  const skip = new Set(state.quarantine.map((q) => `${q.name}\u0000${q.generation}`));
  return tailFiles(stream, listing, start, skip).map((o) => ({ name: o.name, generation: o.generation, size: o.size }));
}

/**
 * The claim's status when its tail did not load: transient for P (the tail's files are not P's
 * to blame or quarantine). The previous hour's own load quarantines a bad file, and P's next try
 * leaves it out.
 */
export function tailFailure(jobId: string, failed: JobStatus): JobStatus {
  const e = { reason: 'backendError', message: `tail: ${failed.errorResult?.message}` };
  return { jobId, state: 'DONE', kind: 'copy', errorResult: e, errors: [e] };
}

/** The copy's dedupe for a stream table: one row per event_id, none the tail stage holds. */
export function streamDedupe(table: TableConfig, tail: TableRef): CopyDedupe {
  return { key: DEDUPE.key, order: DEDUPE.order, columns: (table.spec.schema ?? []).map((f) => f.name), exclude: tail };
}
