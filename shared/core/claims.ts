/**
 * Running and settling the job a sync claimed for a partition: submitting it (with a resumable
 * staging table for very large partitions), waiting for it, fencing a claim whose job never
 * appeared, and recording the outcome in the partition state: success, quarantine of the files
 * an error names (blame.ts, bisect.ts), list again (`notFound`), transient (error-rules.ts) or
 * failed. See docs/design.md for why each step is safe under concurrency and crashes.
 */
import type { TableConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { TableRoute } from '../routing/router.ts';
import type { Engine } from './engine.ts';
import type { BisectResult } from './bisect.ts';
import { blameUris, isNotFound } from './blame.ts';
import { isTransientError } from './error-rules.ts';
import { BackendUnavailableError, errorMessage, isPermanent, PartitionBusyError } from './errors.ts';
import { LAST_LOAD_LABEL, advanceLabelTime } from './labels.ts';
import type { CopyDedupe, JobSpec, JobStatus, TableRef } from './ports.ts';
import { updateState } from './state.ts';
import { recordChange } from './status-store.ts';
import type { StatusChange } from './status-store.ts';
import type { FileRef, Inflight, PartitionState, QuarantineEntry } from './state.ts';
import type { JobRead } from './sync.ts';

/** How long a staging table lives at most (from its claim): far beyond any claim's life. */
export const STAGE_TABLE_TTL_MS = 24 * 60 * 60_000;
/** A staged claim this close to its stage's expiration is not resumed (the stage could vanish mid-copy). */
const STAGE_TABLE_MARGIN_MS = 2 * 60 * 60_000;

/** Identity of one object version. */
export const keyOf = (o: { name: string; generation: string }) => `${o.name}\u0000${o.generation}`;

export function jobLabels(table: TableConfig, partition: string, kind: string, reason: string): Record<string, string> {
  const clean = (v: string) =>
    v
      .toLowerCase()
      .replace(/[^a-z0-9_-]/g, '_')
      .slice(0, 63);
  return {
    tidemark: 'v1',
    tidemark_kind: kind,
    tidemark_table: clean(table.name),
    tidemark_partition: partition,
    tidemark_reason: clean(reason),
  };
}

/** Submits the claimed work. Returns how many jobs were created, and a status if already known. */
export async function runJob(
  engine: Engine,
  route: TableRoute,
  partition: string,
  inf: Inflight,
  log: Logger,
): Promise<{ created: number; status?: JobStatus }> {
  const { warehouse, store } = engine;
  const table = route.table;
  // The claim id label lets a 409 tell this claim's job from an older job under the same id.
  const labels = {
    ...jobLabels(table, partition, inf.kind, inf.reason),
    ...(inf.claimId ? { tidemark_claim: inf.claimId } : {}),
  };
  // An append reads only its new files; everything else reads what P will hold.
  const uris = filesRead(inf).map((f) => store.uri(table.source.bucket, f.name));
  if (inf.kind === 'commit') throw new Error(`claim ${inf.jobId} is part of a table commit: commit.ts runs it`);
  if (inf.kind === 'truncate') {
    const r = adoptOnlyOurs(
      await warehouse.insertJob({ kind: 'truncate', jobId: inf.jobId, table: table.spec, partition, labels }),
      inf,
      log,
    );
    return { created: r.created ? 1 : 0, ...(r.status.kind === 'noop' ? { status: r.status } : {}) };
  }
  if (inf.kind === 'load' || inf.kind === 'append') {
    // An append runs once: its job id is this claim's, inserted once, and P holds exactly what
    // the claim's plan saw (nobody else writes P while the claim stands).
    const spec: JobSpec = {
      kind: 'load',
      jobId: inf.jobId,
      table: table.spec,
      destination: table.spec.ref,
      partition,
      sourceUris: uris,
      writeDisposition: inf.kind === 'append' ? 'WRITE_APPEND' : 'WRITE_TRUNCATE',
      labels,
    };
    const r = adoptOnlyOurs(await warehouse.insertJob(spec), inf, log);
    return { created: r.created ? 1 : 0, ...(r.status.kind === 'noop' ? { status: r.status } : {}) };
  }
  // Very large partition: load chunks into a staging table, then one atomic copy into table$P.
  // Chunk job ids derive from the claim, so a later sync that finds the claim resumes here:
  // chunks already submitted are looked up (never submitted again), running ones waited on.
  const stage = stageRef(table.spec.ref, inf.stageTable!);
  // It expires by itself, so no stage table outlives a failed cleanup (or a claim never settled).
  const stageSpec = {
    ...table.spec,
    ref: stage,
    labels: { tidemark: 'stage' },
    expiresAt: inf.startedAt + STAGE_TABLE_TTL_MS,
  };
  // Chunks already done live in the stage table only: if it is gone (expired), or about to
  // expire, a copy would commit part of the partition. Give up on this claim: list again.
  const resumed = (await warehouse.getJob(`${inf.jobId}_s0`)) !== null;
  if (
    engine.clock.now() >= stageSpec.expiresAt - STAGE_TABLE_MARGIN_MS ||
    (resumed && !(await warehouse.getTableLabels(stage)))
  ) {
    const gone = {
      reason: 'notFound',
      message: `Not found: staging table ${stage.dataset}.${stage.table} (expired or about to); the partition is listed again`,
    };
    return { created: 0, status: { jobId: inf.jobId, state: 'DONE', kind: 'copy', errorResult: gone, errors: [gone] } };
  }
  await warehouse.ensureTable(stageSpec);
  const chunk = table.maxUrisPerLoad;
  // Loads `all` into `dest` in chunks (job ids `<jobId>_<tag><n>`); the first failed chunk's status, or null.
  const loadChunks = async (dest: TableRef, all: string[], tag: string): Promise<JobStatus | null> => {
    for (let i = 0, n = 0; i < all.length; i += chunk, n++) {
      const stageJobId = `${inf.jobId}_${tag}${n}`;
      let st = await warehouse.getJob(stageJobId);
      if (!st) {
        const r = await warehouse.insertJob({
          kind: 'load',
          jobId: stageJobId,
          table: table.spec,
          destination: dest,
          partition,
          sourceUris: all.slice(i, i + chunk),
          writeDisposition: n === 0 ? 'WRITE_TRUNCATE' : 'WRITE_APPEND',
          labels: { ...labels, tidemark_kind: 'stage' },
        });
        st = r.status;
      }
      if (st.state !== 'DONE') st = await waitForJob(engine, stageJobId, partition);
      // Chunk loads write the stage table, not the target: only the copy counts against its budget.
      if (st.errorResult) return st;
      // Without a schema the first chunk created the table: give it its expiration now.
      if (n === 0 && !table.spec.schema) await warehouse.ensureTable({ ...stageSpec, ref: dest });
    }
    return null;
  };
  const failed = await loadChunks(stage, uris, 's');
  if (failed) return { created: 0, status: { ...failed, jobId: inf.jobId, kind: 'copy' } };
  // Stream tables: the copy keeps one row per event and none the previous hour's tail holds.
  let dedupe: CopyDedupe | undefined;
  if (inf.tail) {
    // Only stream tables have a tail: the dedupe path loads (in the bundles, from a lazy file) only for them.
    const { streamDedupe, tailFailure } = await import('./stream-load.ts');
    const tail = tailStageRef(stage);
    await warehouse.ensureTable({ ...stageSpec, ref: tail });
    const bad = await loadChunks(
      tail,
      inf.tail.map((f) => store.uri(table.source.bucket, f.name)),
      't',
    );
    if (bad) return { created: 0, status: tailFailure(inf.jobId, bad) };
    dedupe = streamDedupe(table, tail);
  }
  const r = adoptOnlyOurs(
    await warehouse.insertJob({
      kind: 'copy',
      jobId: inf.jobId,
      source: stage,
      destination: table.spec.ref,
      partition,
      writeDisposition: inf.load ? 'WRITE_APPEND' : 'WRITE_TRUNCATE',
      labels,
      ...(dedupe ? { dedupe } : {}),
    }),
    inf,
    log,
  );
  return { created: r.created ? 1 : 0, ...(r.status.kind === 'noop' ? { status: r.status } : {}) };
}

/**
 * A 409 (job id exists) adopts the existing job only when it provably is this claim's job (its
 * `tidemark_claim` label). Any other job under the id (a fence, or a job from before the state
 * was lost) is treated as a fence: the id is burned, the claim is cleared and P claimed again.
 */
function adoptOnlyOurs(
  r: { status: JobStatus; created: boolean },
  inf: Inflight,
  log: Logger,
): { status: JobStatus; created: boolean } {
  if (r.created || r.status.kind === 'noop') return r;
  if (inf.claimId && r.status.labels?.tidemark_claim === inf.claimId) {
    log.info('job id exists already; adopting that job (same claim)', { jobId: inf.jobId });
    return r;
  }
  log.warn("job id exists already but that job is not this claim's; treating the id as burned", {
    jobId: inf.jobId,
    labels: r.status.labels ?? {},
  });
  return { created: false, status: { ...r.status, kind: 'noop' } };
}

/** Polls a job until DONE; past maxWaitMs hands over with PartitionBusyError (the retry settles it). */
export async function waitForJob(engine: Engine, jobId: string, partition: string): Promise<JobStatus> {
  const deadline = engine.clock.now() + engine.options.maxWaitMs;
  for (;;) {
    const status = await engine.warehouse.getJob(jobId);
    if (status?.state === 'DONE') return status;
    if (engine.clock.now() >= deadline) {
      throw new PartitionBusyError(`job ${jobId} for partition ${partition} is still running; a retry will settle it`, {
        jobId,
        partition,
      });
    }
    await engine.clock.sleep(engine.options.pollMs);
  }
}

/**
 * Deals with a claim found in the state: settle its job if DONE; resume a staged load whose copy
 * is not submitted yet; fence any other claim whose job was never submitted (after the grace
 * period); otherwise back off.
 */
export async function resolveInflight(
  engine: Engine,
  route: TableRoute,
  partition: string,
  inf: Inflight,
  log: Logger,
): Promise<void> {
  let status = await engine.warehouse.getJob(inf.jobId);
  if (!status && inf.kind === 'copy') {
    // A staged load whose copy is not submitted yet: resume its chunks (their ids derive from the
    // claim, so whoever runs them, each runs once) instead of fencing work already done. Running
    // exactly the claimed files keeps the claim's meaning: no newer listing commits before it.
    try {
      const run = await runJob(engine, route, partition, inf, log);
      status = run.status ?? (await waitForJob(engine, inf.jobId, partition));
    } catch (err) {
      // A claim that can never run must not hold the partition forever: fence it below.
      if (!isPermanent(err)) throw err;
      log.error('cannot resume the staged load; its claim will be fenced', {
        jobId: inf.jobId,
        error: errorMessage(err),
      });
    }
  }
  if (!status) {
    const age = engine.clock.now() - inf.startedAt;
    if (age < engine.options.submitGraceMs) {
      throw new PartitionBusyError(
        `partition ${route.table.name}$${partition} is claimed by ${inf.owner} (job ${inf.jobId} not submitted yet)`,
        {
          jobId: inf.jobId,
        },
      );
    }
    const burned = await engine.warehouse.insertJob({
      kind: 'noop',
      jobId: inf.jobId,
      labels: jobLabels(route.table, partition, 'noop', 'fence'),
    });
    if (burned.created) {
      log.warn('fenced a claim whose job never started', { jobId: inf.jobId, owner: inf.owner, ageMs: age });
      // The no-op does nothing: no need to wait for it before clearing the claim.
      await settle(engine, route, partition, inf, { ...burned.status, kind: 'noop' }, log);
      return;
    }
    status = burned.status;
  }
  if (status.state !== 'DONE') {
    throw new PartitionBusyError(`partition ${route.table.name}$${partition} has job ${inf.jobId} running`, {
      jobId: inf.jobId,
    });
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

/**
 * The URI of each file, skipping names the store cannot address: settling must never depend on
 * a name being addressable, or one such name in a claim would keep the claim from ever clearing.
 */
function sourceUris(engine: Engine, table: TableConfig, files: FileRef[]): Map<string, FileRef> {
  const out = new Map<string, FileRef>();
  for (const f of files) {
    try {
      out.set(engine.store.uri(table.source.bucket, f.name), f);
    } catch {
      // not addressable, so no job read it and no error can name it
    }
  }
  return out;
}

/**
 * Records a finished job in the state (compare-and-swap; a no-op if someone settled it first).
 * A job that failed transiently (error-rules.ts) has its claim cleared and throws
 * BackendUnavailableError, so the platform retries and a new claim gets a new job id.
 */
export async function settle(
  engine: Engine,
  route: TableRoute,
  partition: string,
  inf: Inflight,
  status: JobStatus,
  log: Logger,
): Promise<Settled> {
  const { store, config, clock, warehouse } = engine;
  const table = route.table;
  const now = () => clock.now();
  let outcome: Settled | { kind: 'transient'; message: string; reason?: string } = { kind: 'superseded' };

  if (status.kind === 'noop') {
    await updateState(store, config.state, table.name, partition, clock, (s) => {
      if (s.inflight?.jobId !== inf.jobId) return null;
      delete s.inflight;
      return s;
    });
    return { kind: 'retry' };
  }

  const errors = status.errorResult ? [status.errorResult, ...(status.errors ?? [])] : [];
  // One rule (error-rules.ts) for what may pass: such a job is not the files' fault nor final.
  const transient = !!status.errorResult && isTransientError(status.errorResult);
  const missing = errors.some(isNotFound);
  const bad = new Map<string, { file: FileRef; message: string }>();
  let bisected: BisectResult | undefined;
  const scratch = stageRef(table.spec.ref, `${table.name}__tidemark_probe_${partition}_${inf.jobId.slice(-8)}`);
  if (status.errorResult && !transient) {
    const uriToFile = sourceUris(engine, table, filesRead(inf));
    for (const [uri, message] of blameUris(errors, uriToFile.keys()))
      bad.set(uri, { file: uriToFile.get(uri)!, message });
    // No error named a file: a reload would teach nothing, so bisect (bisect.ts says why that is cheapest).
    // (Not for a commit's part: its probe ids would be shared by every partition of the commit.)
    if (bad.size === 0 && !missing && inf.kind !== 'truncate' && inf.kind !== 'commit' && uriToFile.size >= 2) {
      const labels = jobLabels(table, partition, inf.kind, inf.reason);
      // bisect.ts loads only here (in the bundles, from a lazy file of its own): most loads never fail unnamed.
      const { bisectBadFiles } = await import('./bisect.ts');
      bisected = await bisectBadFiles(
        engine,
        route,
        partition,
        inf,
        uriToFile,
        { scratch, expiresAt: inf.startedAt + STAGE_TABLE_TTL_MS, labels },
        log,
      );
      for (const [uri, b] of bisected.blamed) bad.set(uri, b);
    }
  }
  // Quarantine and reload only when the search explains the failure; otherwise fail (with what it found).
  const explained = !bisected || (bisected.complete && bisected.unresolved.length === 0);

  await updateState(store, config.state, table.name, partition, clock, (s) => {
    if (s.inflight?.jobId !== inf.jobId) {
      outcome = { kind: 'superseded' };
      return null;
    }
    delete s.inflight;
    if (!status.errorResult) {
      s.status = inf.kind === 'truncate' || inf.files.length === 0 ? 'empty' : 'loaded';
      s.loaded = {
        sourceFingerprint: inf.sourceFingerprint,
        loadedFingerprint: inf.loadedFingerprint,
        objects: inf.files.length,
        bytes: inf.files.reduce((n, f) => n + f.size, 0),
        rows: rowsAfter(inf, status, s.loaded?.rows ?? null),
        jobId: inf.jobId,
        at: now(),
        files: inf.files.map((f) => ({ name: f.name, generation: f.generation })),
        ...(inf.kept?.length ? { kept: inf.kept } : {}),
        ...(inf.held?.length ? { held: inf.held } : {}),
      };
      s.quarantine = inf.quarantine;
      delete s.lastError;
      s.failures = 0;
      outcome = { kind: 'success', state: s };
    } else if (transient) {
      // Clear the claim only: the partition keeps what it held, and a retry claims afresh with a new job id.
      outcome = { kind: 'transient', message: status.errorResult.message, reason: status.errorResult.reason };
    } else if (missing && bad.size === 0) {
      outcome = { kind: 'retry' };
    } else if (bad.size > 0 && explained) {
      const entries = [...bad.values()].map(({ file, message }) => ({
        name: file.name,
        generation: file.generation,
        error: message.slice(0, 2000),
        jobId: inf.jobId,
        at: now(),
      }));
      const known = new Set(s.quarantine.map(keyOf));
      s.quarantine = [
        ...inf.quarantine.filter((q) => !known.has(keyOf(q))),
        ...s.quarantine,
        ...entries.filter((q) => !known.has(keyOf(q))),
      ];
      outcome = { kind: 'quarantined', entries };
    } else {
      let message = status.errorResult.message;
      if (bisected) {
        const found = [...bad.values()].map(({ file, message: m }) => ({
          name: file.name,
          generation: file.generation,
          error: m.slice(0, 2000),
          jobId: inf.jobId,
          at: now(),
        }));
        const known = new Set(s.quarantine.map(keyOf));
        s.quarantine = [...s.quarantine, ...found.filter((q) => !known.has(keyOf(q)))];
        message += ` (bisection: ${bisected.probes} probe job(s)${bisected.complete ? '' : ', stopped at the probe limit'}; ${found.length} file(s) named and quarantined; failing without naming a file: ${bisected.unresolved.join(', ') || 'none'})`;
      }
      s.status = 'failed';
      s.failures = (s.failures ?? 0) + 1;
      s.lastError = { jobId: inf.jobId, message, at: now(), sourceFingerprint: inf.sourceFingerprint };
      outcome = { kind: 'failed', message };
    }
    return s;
  });

  const o = outcome as Settled | { kind: 'transient'; message: string; reason?: string };
  if (inf.stageTable) {
    // The stage table also expires on its own (created with an expiration): a failed cleanup leaks nothing for long.
    const stages = [
      stageRef(table.spec.ref, inf.stageTable),
      ...(inf.tail ? [tailStageRef(stageRef(table.spec.ref, inf.stageTable))] : []),
    ];
    for (const ref of stages) {
      await warehouse.deleteTable(ref).catch((err: unknown) => {
        log.warn('could not delete the staging table; it expires on its own', {
          jobId: inf.jobId,
          stageTable: ref.table,
          error: errorMessage(err),
        });
      });
    }
  }
  if (bisected) {
    await warehouse.deleteTable(scratch).catch((err: unknown) => {
      log.warn('could not delete the probe table; it expires on its own', {
        jobId: inf.jobId,
        table: scratch.table,
        error: errorMessage(err),
      });
    });
  }
  if (o.kind === 'transient') {
    log.warn('job failed transiently; claim cleared for a retry', {
      jobId: inf.jobId,
      reason: o.reason,
      error: o.message,
    });
    throw new BackendUnavailableError(
      `job ${inf.jobId} for ${table.name}$${partition} failed transiently (${o.reason ?? 'rate limit'}): ${o.message}; a retry claims it afresh`,
      {
        table: table.name,
        partition,
        jobId: inf.jobId,
        reason: o.reason,
      },
    );
  }
  if (o.kind === 'success') {
    const { filesRead: read, bytesRead } = jobRead(inf, status);
    log.info(inf.files.length === 0 ? 'partition emptied' : 'partition loaded', {
      jobId: inf.jobId,
      kind: inf.kind,
      objects: inf.files.length,
      filesRead: read,
      rows: status.outputRows ?? null,
      quarantined: inf.quarantine.length,
      sourceBucket: table.source.bucket,
      bytesRead,
      crossRegionBytes: bytesRead,
      reason: inf.reason,
    });
  } else if (o.kind === 'quarantined') {
    for (const q of o.entries)
      log.warn('file quarantined', { object: q.name, generation: q.generation, error: q.error, jobId: q.jobId });
  } else if (o.kind === 'failed') {
    log.error('load failed', { jobId: inf.jobId, error: o.message });
  } else if (o.kind === 'retry') {
    log.info('a source object vanished during the load; listing again', { jobId: inf.jobId });
  }
  await noteChange(engine, route, partition, inf, status, o, log);
  return o;
}

/** The files a claim's job reads from the lake: only the new ones for an append. */
export function filesRead(inf: Pick<Inflight, 'files' | 'load' | 'kind'>): FileRef[] {
  return inf.kind === 'truncate' ? [] : (inf.load ?? inf.files);
}

/** What a job read from the lake (its cross-region transfer): the warehouse's count when it gives one. */
export function jobRead(inf: Inflight, status: JobStatus): JobRead {
  const files = filesRead(inf);
  return {
    jobId: inf.jobId,
    kind: inf.kind,
    filesRead: files.length,
    bytesRead: status.inputBytes ?? files.reduce((n, f) => n + f.size, 0),
  };
}

/** Rows P holds after a successful job: an append adds to what P held (unknown stays unknown). */
function rowsAfter(inf: Inflight, status: JobStatus, before: number | null): number | null {
  const out = status.outputRows ?? null;
  if (!inf.load) return out;
  return out === null || before === null ? null : before + out;
}

/** A stream claim's tail staging table: beside the claim's own stage (stream-load.ts loads it). */
export function tailStageRef(stage: TableRef): TableRef {
  return { ...stage, table: `${stage.table}_tail` };
}

/** The staging table beside the target: same project and dataset (a copy must stay in one location). */
function stageRef(target: TableRef, stageTable: string): TableRef {
  return { ...(target.project ? { project: target.project } : {}), dataset: target.dataset, table: stageTable };
}

/**
 * Leaves a change marker for the status page (a new small object per settled job: no hot
 * object). Best effort: the load stands whatever happens here, and the next audit's snapshot
 * shows it anyway.
 */
async function noteChange(
  engine: Engine,
  route: TableRoute,
  partition: string,
  inf: Inflight,
  status: JobStatus,
  o: Settled,
  log: Logger,
): Promise<void> {
  if (o.kind !== 'success' && o.kind !== 'quarantined' && o.kind !== 'failed') return;
  const loaded = o.kind === 'success' ? o.state.loaded : undefined;
  const change: StatusChange = {
    table: route.table.name,
    partition,
    at: engine.clock.now(),
    outcome: o.kind === 'success' ? (inf.files.length === 0 ? 'emptied' : 'loaded') : o.kind,
    objects: loaded?.objects ?? inf.files.length,
    bytes: jobRead(inf, status).bytesRead,
    rows: loaded?.rows ?? null,
    quarantined: o.kind === 'success' ? inf.quarantine.length : o.kind === 'quarantined' ? o.entries.length : 0,
    jobId: inf.jobId,
    reason: inf.reason,
    ...(o.kind === 'failed'
      ? { error: o.message }
      : o.kind === 'quarantined'
        ? { error: o.entries[0]?.error ?? '' }
        : {}),
  };
  await recordChange(engine.store, engine.config.state, change).catch((err: unknown) =>
    log.warn(`status change not recorded: ${(err as Error).message}`, { jobId: inf.jobId }),
  );
}
