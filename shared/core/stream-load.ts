/**
 * The load kind of stream tables (ingest/dedupe.ts has the rule): every load is staged, the
 * previous hour's tail is loaded into a second staging table, and the copy into `table$P` keeps
 * one row per event_id and none that the tail holds. These helpers are the engine's two hooks:
 * listing the tail when claiming (sync.ts) and loading it before the copy (claims.ts runJob).
 */
import type { Logger } from '../log.ts';
import { HOUR_MS } from '../routing/civil-time.ts';
import { partitionIdAt, partitionStart } from '../routing/partition.ts';
import type { TableRoute } from '../routing/router.ts';
import { DEDUPE, streamForTable, tailFiles } from '../ingest/dedupe.ts';
import type { Engine } from './engine.ts';
import { listPartitionObjects } from './listing.ts';
import type { CopyDedupe, JobStatus, TableRef, TableSpec } from './ports.ts';
import { readState } from './state.ts';
import type { FileRef, Inflight } from './state.ts';

/** True when `table` is a stream's table: its loads dedupe (and are always staged). */
export function isStreamTable(engine: Pick<Engine, 'config'>, table: string): boolean {
  return streamForTable(engine.config.streams ?? [], table) !== undefined;
}

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

/** The tail's staging table: beside the claim's own stage. */
export function tailStageRef(stage: TableRef): TableRef {
  return { ...stage, table: `${stage.table}_tail` };
}

/**
 * Loads the claim's tail into its staging table (created even when the tail is empty: the copy
 * reads it). Job ids derive from the claim, so a resumed claim finds them instead of loading
 * twice. A failed tail load is transient for P: the previous hour's own load quarantines the
 * bad file, and the next try leaves it out.
 */
export async function loadTail(
  engine: Engine,
  route: TableRoute,
  partition: string,
  inf: Inflight,
  stageSpec: TableSpec & { expiresAt: number },
  labels: Record<string, string>,
  wait: (jobId: string) => Promise<JobStatus>,
): Promise<{ dedupe: CopyDedupe } | { failed: JobStatus }> {
  const { warehouse, store } = engine;
  const table = route.table;
  const tail = tailStageRef(stageSpec.ref);
  await warehouse.ensureTable({ ...stageSpec, ref: tail });
  const uris = (inf.tail ?? []).map((f) => store.uri(table.source.bucket, f.name));
  for (let i = 0, n = 0; i < uris.length; i += table.maxUrisPerLoad, n++) {
    const jobId = `${inf.jobId}_t${n}`;
    let st = await warehouse.getJob(jobId);
    st ??= (
      await warehouse.insertJob({
        kind: 'load',
        jobId,
        table: table.spec,
        destination: tail,
        partition,
        sourceUris: uris.slice(i, i + table.maxUrisPerLoad),
        writeDisposition: n === 0 ? 'WRITE_TRUNCATE' : 'WRITE_APPEND',
        labels: { ...labels, tidemark_kind: 'stage' },
      })
    ).status;
    if (st.state !== 'DONE') st = await wait(jobId);
    if (st.errorResult) {
      const message = `previous hour's tail did not load: ${st.errorResult.message}`;
      return { failed: { jobId: inf.jobId, state: 'DONE', kind: 'copy', errorResult: { reason: 'backendError', message }, errors: [{ reason: 'backendError', message }] } };
    }
  }
  const columns = (table.spec.schema ?? []).map((f) => f.name);
  return { dedupe: { key: DEDUPE.key, order: DEDUPE.order, columns, exclude: tail } };
}
