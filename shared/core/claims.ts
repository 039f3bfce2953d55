/**
 * Running and settling the job a sync claimed for a partition: submitting it (with a staging
 * table for very large partitions), waiting for it, fencing a claim whose job never appeared,
 * and recording the outcome in the partition state. See docs/design.md for why each step is
 * safe under concurrency and crashes.
 */
import type { TableConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { TableRoute } from '../routing/router.ts';
import type { Engine } from './engine.ts';
import { PartitionBusyError } from './errors.ts';
import { LAST_LOAD_LABEL, advanceLabelTime } from './labels.ts';
import type { JobSpec, JobStatus, TableRef } from './ports.ts';
import { updateState } from './state.ts';
import { recordChange } from './status-store.ts';
import type { StatusChange } from './status-store.ts';
import type { FileRef, Inflight, PartitionState, QuarantineEntry } from './state.ts';

/** Identity of one object version. */
export const keyOf = (o: { name: string; generation: string }) => `${o.name}\u0000${o.generation}`;

export function jobLabels(table: TableConfig, partition: string, kind: string, reason: string): Record<string, string> {
  const clean = (v: string) => v.toLowerCase().replace(/[^a-z0-9_-]/g, '_').slice(0, 63);
  return { tidemark: 'v1', tidemark_kind: kind, tidemark_table: clean(table.name), tidemark_partition: partition, tidemark_reason: clean(reason) };
}

/** Submits the claimed work. Returns how many jobs were created, and a status if already known. */
export async function runJob(engine: Engine, route: TableRoute, partition: string, inf: Inflight, log: Logger): Promise<{ created: number; status?: JobStatus }> {
  const { warehouse, store } = engine;
  const table = route.table;
  const labels = jobLabels(table, partition, inf.kind, inf.reason);
  const uris = inf.files.map((f) => store.uri(table.source.bucket, f.name));
  if (inf.kind === 'truncate') {
    const r = await warehouse.insertJob({ kind: 'truncate', jobId: inf.jobId, table: table.spec, partition, labels });
    return { created: r.created ? 1 : 0, ...(r.status.kind === 'noop' ? { status: r.status } : {}) };
  }
  if (inf.kind === 'load') {
    const spec: JobSpec = { kind: 'load', jobId: inf.jobId, table: table.spec, destination: table.spec.ref, partition, sourceUris: uris, writeDisposition: 'WRITE_TRUNCATE', labels };
    const r = await warehouse.insertJob(spec);
    if (!r.created) log.info('job id exists already; adopting that job', { jobId: inf.jobId });
    return { created: r.created ? 1 : 0, ...(r.status.kind === 'noop' ? { status: r.status } : {}) };
  }
  // Very large partition: load chunks into a staging table, then one atomic copy into table$P.
  const stage: TableRef = { dataset: table.spec.ref.dataset, table: inf.stageTable! };
  await warehouse.ensureTable({ ...table.spec, ref: stage, labels: { tidemark: 'stage' } });
  const chunk = table.maxUrisPerLoad;
  for (let i = 0, n = 0; i < uris.length; i += chunk, n++) {
    const stageJobId = `${inf.jobId}_s${n}`;
    await warehouse.insertJob({
      kind: 'load',
      jobId: stageJobId,
      table: table.spec,
      destination: stage,
      partition,
      sourceUris: uris.slice(i, i + chunk),
      writeDisposition: n === 0 ? 'WRITE_TRUNCATE' : 'WRITE_APPEND',
      labels: { ...labels, tidemark_kind: 'stage' },
    });
    const st = await waitForJob(engine, stageJobId, partition);
    if (st.errorResult) return { created: 0, status: { ...st, jobId: inf.jobId, kind: 'copy' } };
  }
  const r = await warehouse.insertJob({ kind: 'copy', jobId: inf.jobId, source: stage, destination: table.spec.ref, partition, writeDisposition: 'WRITE_TRUNCATE', labels });
  return { created: r.created ? 1 : 0, ...(r.status.kind === 'noop' ? { status: r.status } : {}) };
}

/** Polls a job until DONE; past maxWaitMs hands over with PartitionBusyError (the retry settles it). */
export async function waitForJob(engine: Engine, jobId: string, partition: string): Promise<JobStatus> {
  const deadline = engine.clock.now() + engine.options.maxWaitMs;
  for (;;) {
    const status = await engine.warehouse.getJob(jobId);
    if (status?.state === 'DONE') return status;
    if (engine.clock.now() >= deadline) {
      throw new PartitionBusyError(`job ${jobId} for partition ${partition} is still running; a retry will settle it`, { jobId, partition });
    }
    await engine.clock.sleep(engine.options.pollMs);
  }
}

/**
 * Deals with a claim found in the state: settle its job if DONE, fence it if it was never
 * submitted (after the grace period), otherwise back off.
 */
export async function resolveInflight(engine: Engine, route: TableRoute, partition: string, inf: Inflight, log: Logger): Promise<void> {
  let status = await engine.warehouse.getJob(inf.jobId);
  if (!status) {
    const age = engine.clock.now() - inf.startedAt;
    // A staged load submits its copy job only after its chunk loads: allow for them.
    const chunks = inf.kind === 'copy' ? Math.ceil(inf.files.length / route.table.maxUrisPerLoad) : 0;
    if (age < engine.options.submitGraceMs + chunks * engine.options.maxWaitMs) {
      throw new PartitionBusyError(`partition ${route.table.name}$${partition} is claimed by ${inf.owner} (job ${inf.jobId} not submitted yet)`, {
        jobId: inf.jobId,
      });
    }
    const burned = await engine.warehouse.insertJob({ kind: 'noop', jobId: inf.jobId, labels: jobLabels(route.table, partition, 'noop', 'fence') });
    if (burned.created) {
      log.warn('fenced a claim whose job never started', { jobId: inf.jobId, owner: inf.owner, ageMs: age });
      // The no-op does nothing: no need to wait for it before clearing the claim.
      await settle(engine, route, partition, inf, { ...burned.status, kind: 'noop' }, log);
      return;
    }
    status = burned.status;
  }
  if (status.state !== 'DONE') {
    throw new PartitionBusyError(`partition ${route.table.name}$${partition} has job ${inf.jobId} running`, { jobId: inf.jobId });
  }
  await checkpointLabel(engine, route, status);
  await settle(engine, route, partition, inf, status, log);
}

/**
 * Moves `tidemark_last_load` forward for a successful job. Done before the state is settled, so
 * a crash in between is repaired by whoever settles the job later (the label never lags a
 * settled load).
 */
export async function checkpointLabel(engine: Engine, route: TableRoute, status: JobStatus): Promise<void> {
  if (status.errorResult || status.kind === 'noop') return;
  await advanceLabelTime(engine.warehouse, route.table.spec.ref, LAST_LOAD_LABEL, engine.clock.now(), engine.log);
}

export type Settled =
  | { kind: 'success'; state: PartitionState }
  | { kind: 'quarantined'; entries: QuarantineEntry[] }
  | { kind: 'failed'; message: string }
  | { kind: 'retry' }
  | { kind: 'superseded' };

/** Records a finished job in the state (compare-and-swap; a no-op if someone settled it first). */
export async function settle(engine: Engine, route: TableRoute, partition: string, inf: Inflight, status: JobStatus, log: Logger): Promise<Settled> {
  const { store, config, clock, warehouse } = engine;
  const table = route.table;
  const now = () => clock.now();
  const uriToFile = new Map(inf.files.map((f) => [engine.store.uri(table.source.bucket, f.name), f]));
  let outcome: Settled = { kind: 'superseded' };

  if (status.kind === 'noop') {
    await updateState(store, config.state, table.name, partition, now, (s) => {
      if (s.inflight?.jobId !== inf.jobId) return null;
      delete s.inflight;
      return s;
    });
    return { kind: 'retry' };
  }

  const errors = status.errorResult ? [status.errorResult, ...(status.errors ?? [])] : [];
  const missing = errors.some((e) => e.reason === 'notFound');
  const bad = new Map<string, { file: FileRef; message: string }>();
  for (const e of errors) {
    for (const [uri, file] of uriToFile) {
      if ((e.location && e.location === uri) || e.message.includes(uri)) {
        if (!bad.has(uri)) bad.set(uri, { file, message: e.message });
      }
    }
  }

  await updateState(store, config.state, table.name, partition, now, (s) => {
    if (s.inflight?.jobId !== inf.jobId) {
      outcome = { kind: 'superseded' };
      return null;
    }
    delete s.inflight;
    if (!status.errorResult) {
      s.status = inf.kind === 'truncate' ? 'empty' : 'loaded';
      s.loaded = {
        sourceFingerprint: inf.sourceFingerprint,
        loadedFingerprint: inf.loadedFingerprint,
        objects: inf.files.length,
        bytes: inf.files.reduce((n, f) => n + f.size, 0),
        rows: status.outputRows ?? null,
        jobId: inf.jobId,
        at: now(),
        files: inf.files.map((f) => ({ name: f.name, generation: f.generation })),
      };
      s.quarantine = inf.quarantine;
      delete s.lastError;
      s.failures = 0;
      outcome = { kind: 'success', state: s };
    } else if (missing && bad.size === 0) {
      outcome = { kind: 'retry' };
    } else if (bad.size > 0) {
      const entries = [...bad.values()].map(({ file, message }) => ({ name: file.name, generation: file.generation, error: message.slice(0, 2000), jobId: inf.jobId, at: now() }));
      const known = new Set(s.quarantine.map(keyOf));
      s.quarantine = [...inf.quarantine.filter((q) => !known.has(keyOf(q))), ...s.quarantine, ...entries.filter((q) => !known.has(keyOf(q)))];
      outcome = { kind: 'quarantined', entries };
    } else {
      s.status = 'failed';
      s.failures = (s.failures ?? 0) + 1;
      s.lastError = { jobId: inf.jobId, message: status.errorResult.message, at: now(), sourceFingerprint: inf.sourceFingerprint };
      outcome = { kind: 'failed', message: status.errorResult.message };
    }
    return s;
  });

  const o = outcome as Settled;
  if (inf.stageTable) await warehouse.deleteTable({ dataset: table.spec.ref.dataset, table: inf.stageTable }).catch(() => {});
  if (o.kind === 'success') {
    const bytesRead = status.inputBytes ?? o.state.loaded!.bytes;
    log.info(inf.kind === 'truncate' ? 'partition emptied' : 'partition loaded', {
      jobId: inf.jobId,
      objects: inf.files.length,
      rows: status.outputRows ?? null,
      quarantined: inf.quarantine.length,
      sourceBucket: table.source.bucket,
      bytesRead,
      crossRegionBytes: bytesRead,
      reason: inf.reason,
    });
  } else if (o.kind === 'quarantined') {
    for (const q of o.entries) log.warn('file quarantined', { object: q.name, generation: q.generation, error: q.error, jobId: q.jobId });
  } else if (o.kind === 'failed') {
    log.error('load failed', { jobId: inf.jobId, error: o.message });
  } else if (o.kind === 'retry') {
    log.info('a source object vanished during the load; listing again', { jobId: inf.jobId });
  }
  await noteChange(engine, route, partition, inf, status, o, log);
  return o;
}

/**
 * Leaves a change marker for the status page (a new small object per settled job: no hot
 * object). Best effort: the load stands whatever happens here, and the next audit's snapshot
 * shows it anyway.
 */
async function noteChange(engine: Engine, route: TableRoute, partition: string, inf: Inflight, status: JobStatus, o: Settled, log: Logger): Promise<void> {
  if (o.kind !== 'success' && o.kind !== 'quarantined' && o.kind !== 'failed') return;
  const loaded = o.kind === 'success' ? o.state.loaded : undefined;
  const change: StatusChange = {
    table: route.table.name,
    partition,
    at: engine.clock.now(),
    outcome: o.kind === 'success' ? (inf.kind === 'truncate' ? 'emptied' : 'loaded') : o.kind,
    objects: loaded?.objects ?? inf.files.length,
    bytes: o.kind === 'success' ? (status.inputBytes ?? loaded?.bytes ?? 0) : 0,
    rows: loaded?.rows ?? null,
    quarantined: o.kind === 'success' ? inf.quarantine.length : o.kind === 'quarantined' ? o.entries.length : 0,
    jobId: inf.jobId,
    reason: inf.reason,
    ...(o.kind === 'failed' ? { error: o.message } : o.kind === 'quarantined' ? { error: o.entries[0]?.error ?? '' } : {}),
  };
  await recordChange(engine.store, engine.config.state, change).catch((err: unknown) => log.warn(`status change not recorded: ${(err as Error).message}`, { jobId: inf.jobId }));
}
