/**
 * The sync engine: "sync partition P of table T" makes the warehouse partition equal to what the
 * source holds for P. Every path (file arrival, audit, backfill, forced reload) calls
 * `syncPartition`. Events are only hints: the engine lists P, fingerprints the (name, generation)
 * set, and compares it with the partition's state object.
 *
 * Guarantees and why they hold (docs/design.md has the full race analysis):
 * - One job per partition at a time. A sync claims the partition by writing the job id it is
 *   about to submit into the state object (compare-and-swap). While that job is unsettled every
 *   other sync of P backs off (PartitionBusyError, transient). A claim whose job never appears is
 *   fenced after a grace period by inserting a no-op job under the same id ("burning" it): the
 *   job id can be inserted once only, so a late submitter gets 409 and gives up.
 * - No regression: the listing is taken after the previous job settled, so a newer listing is
 *   always loaded after an older one.
 * - Exactly-once effect: each load is one WRITE_TRUNCATE of `table$P` from the exact listing;
 *   a crash at any step leaves either nothing, or a claim whose job is found and settled later.
 * - Bad files are quarantined (by name and generation) and the rest of P is loaded.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Config, TableConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { Router, TableRoute } from '../routing/router.ts';
import { checkBudget, reserveJob } from './budget.ts';
import { InvalidMessageError, LoadFailedError, PartitionBusyError, PreconditionFailedError } from './errors.ts';
import { fingerprintObjects, jobIdFor } from './fingerprint.ts';
import { LAST_LOAD_LABEL, advanceLabelTime, readLabelTime } from './labels.ts';
import { listPartitionObjects } from './listing.ts';
import type { Clock, JobSpec, JobStatus, ObjectStore, TableRef, Warehouse } from './ports.ts';
import { readState, updateState, writeState } from './state.ts';
import type { FileRef, Inflight, PartitionState, QuarantineEntry } from './state.ts';

/** Points where tests inject crashes. */
export type SyncStep = 'after-list' | 'after-claim' | 'after-submit' | 'after-complete' | 'after-label' | 'after-settle';

export interface EngineOptions {
  /** How often a running job is polled. */
  pollMs: number;
  /** How long one call waits for its job before handing over (the retry settles it). */
  maxWaitMs: number;
  /** A claim older than this whose job does not exist is fenced. Far above claim-to-submit time. */
  submitGraceMs: number;
  /** Claim/settle rounds one call may go through (quarantine retries, lost races). */
  maxRounds: number;
}

export const defaultEngineOptions: EngineOptions = {
  pollMs: 1_000,
  maxWaitMs: 8 * 60_000,
  submitGraceMs: 2 * 60_000,
  maxRounds: 12,
};

/** Everything the engine works with, built once per process and passed in. */
export interface Engine {
  config: Config;
  router: Router;
  store: ObjectStore;
  warehouse: Warehouse;
  clock: Clock;
  log: Logger;
  options: EngineOptions;
  hooks?: { step?: (step: SyncStep, info: { table: string; partition: string; jobId?: string }) => void | Promise<void> };
}

export interface SyncRequest {
  table: string;
  /** Partition id as BigQuery writes it (YYYYMMDDHH / YYYYMMDD). */
  partition: string;
  /** Reload even when nothing changed, and give quarantined files another chance. */
  force?: boolean;
  /** Identifies a forced request (a message id) so its redeliveries reload once only. */
  forceToken?: string;
  /** Retry a partition whose last load failed though its listing has not changed. */
  retryFailed?: boolean;
  /** Why this sync runs (object-finalized, backfill:stale, reload...), for logs and job labels. */
  reason: string;
  /**
   * The object an event was about. If the partition already holds (or quarantined) exactly this
   * generation, the event adds nothing and is answered without listing; if not, a job will be
   * needed, so the budget is checked before listing.
   */
  hint?: { name: string; generation: string };
}

export type SyncOutcome = 'loaded' | 'emptied' | 'up-to-date' | 'no-source';

export interface SyncResult {
  table: string;
  partition: string;
  outcome: SyncOutcome;
  /** The job whose result the partition now holds (null when none was needed). */
  jobId: string | null;
  /** Jobs this call inserted against the table (its budget). */
  jobsSubmitted: number;
  objects: number;
  bytes: number;
  rows: number | null;
  quarantined: QuarantineEntry[];
  newlyQuarantined: QuarantineEntry[];
}

const keyOf = (o: { name: string; generation: string }) => `${o.name}\u0000${o.generation}`;

/** Makes partition `req.partition` of `req.table` equal to its source. See the module header. */
export async function syncPartition(engine: Engine, req: SyncRequest): Promise<SyncResult> {
  const route = engine.router.table(req.table);
  if (!route) throw new InvalidMessageError(`unknown table "${req.table}"`, { table: req.table });
  const idLength = route.granularity === 'HOUR' ? 10 : 8;
  if (!new RegExp(`^[0-9]{${idLength}}$`).test(req.partition)) {
    throw new InvalidMessageError(`partition "${req.partition}" is not a ${route.granularity} partition id of table ${req.table}`, { table: req.table, partition: req.partition });
  }
  const table = route.table;
  const { store, warehouse, clock, config } = engine;
  const log = engine.log.child({ table: table.name, partition: req.partition });
  const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const step = async (s: SyncStep, jobId?: string) => engine.hooks?.step?.(s, { table: table.name, partition: req.partition, jobId });

  let force = !!req.force;
  // A forced request gives quarantined files one more try (once), and reloads even if unchanged.
  let retryQuarantined = force;
  let jobsSubmitted = 0;
  let claimedHere = false;
  const newlyQuarantined: QuarantineEntry[] = [];

  for (let round = 0; round < engine.options.maxRounds; round++) {
    let handle = await readState(store, config.state, table.name, req.partition, clock.now());
    if (handle.state.inflight) {
      await resolveInflight(engine, route, req.partition, handle.state.inflight, log);
      continue;
    }
    const st = handle.state;
    if (req.hint && !force && !claimedHere) {
      const k = keyOf(req.hint);
      if (st.loaded?.files?.some((f) => keyOf(f) === k) || st.quarantine.some((q) => keyOf(q) === k)) {
        return result(table, req.partition, 'up-to-date', st, jobsSubmitted, st.quarantine, newlyQuarantined);
      }
      await checkBudget(store, config.state, table, clock.now());
    }
    // A redelivered forced request (its token already applied by an earlier call) is not forced again.
    if (jobsSubmitted === 0 && !claimedHere && force && req.forceToken && st.lastForceToken === req.forceToken) force = retryQuarantined = false;

    const listing = await listPartitionObjects(store, route, req.partition, log);
    await step('after-list');
    const sourceFingerprint = fingerprintObjects(listing);
    const live = new Set(listing.map(keyOf));
    const quarantine = retryQuarantined ? [] : st.quarantine.filter((q) => live.has(keyOf(q)));
    const excluded = new Set(quarantine.map(keyOf));
    const files: FileRef[] = listing.filter((o) => !excluded.has(keyOf(o))).map((o) => ({ name: o.name, generation: o.generation, size: o.size }));
    const bytes = files.reduce((n, f) => n + f.size, 0);

    if (!force && st.loaded && st.loaded.sourceFingerprint === sourceFingerprint && st.status !== 'failed') {
      await catchUpLabel(engine, table, st, log);
      return result(table, req.partition, 'up-to-date', st, jobsSubmitted, st.quarantine, newlyQuarantined);
    }
    if (!force && st.status === 'failed' && st.lastError?.sourceFingerprint === sourceFingerprint && !req.retryFailed) {
      throw new LoadFailedError(`last load of ${table.name}$${req.partition} failed and its files have not changed since: ${st.lastError.message}`, {
        table: table.name,
        partition: req.partition,
        jobId: st.lastError.jobId,
      });
    }

    const previouslyHeldRows = !!st.loaded && st.loaded.objects > 0;
    if (files.length === 0 && !previouslyHeldRows) {
      // Nothing to load and nothing to remove. Record the quarantine-only outcome so the auditor sees it.
      if (listing.length > 0 && st.loaded?.sourceFingerprint !== sourceFingerprint) {
        await tryWrite(store, config, handle, {
          ...st,
          status: 'empty',
          quarantine,
          loaded: { sourceFingerprint, loadedFingerprint: fingerprintObjects([]), objects: 0, bytes: 0, rows: 0, jobId: '', at: clock.now() },
        });
        continue;
      }
      return result(table, req.partition, listing.length ? 'up-to-date' : 'no-source', st, jobsSubmitted, quarantine, newlyQuarantined);
    }

    const kind: Inflight['kind'] = files.length === 0 ? 'truncate' : files.length > table.maxUrisPerLoad ? 'copy' : 'load';
    const loadedFingerprint = fingerprintObjects(files);
    const seq = (st.seq ?? 0) + 1;
    const jobId = jobIdFor(kind, table.name, req.partition, loadedFingerprint, `${seq}`);

    await reserveJob(store, config.state, table, () => clock.now());
    const inflight: Inflight = {
      jobId,
      kind,
      sourceFingerprint,
      loadedFingerprint,
      files,
      quarantine,
      owner,
      startedAt: clock.now(),
      reason: req.reason,
      ...(kind === 'copy' ? { stageTable: `${table.spec.ref.table}__tidemark_stage_${req.partition}_${jobId.slice(-8)}` } : {}),
    };
    const claimed = await tryWrite(store, config, handle, {
      ...st,
      seq,
      inflight,
      ...(force && req.forceToken ? { lastForceToken: req.forceToken } : {}),
      updatedAt: clock.now(),
    });
    if (!claimed) continue; // somebody else claimed first: look again
    handle = claimed;
    claimedHere = true;
    await step('after-claim', jobId);
    log.info('job claimed', { jobId, kind, objects: files.length, bytes, reason: req.reason, force });

    const run = await runJob(engine, route, req.partition, inflight, log);
    if (run.created) jobsSubmitted += run.created;
    await step('after-submit', jobId);
    const status = run.status ?? (await waitForJob(engine, jobId, req.partition));
    await step('after-complete', jobId);
    await checkpointLabel(engine, route, status);
    await step('after-label', jobId);
    const settled = await settle(engine, route, req.partition, inflight, status, log);
    await step('after-settle', jobId);

    if (settled.kind === 'success') {
      return result(table, req.partition, kind === 'truncate' ? 'emptied' : 'loaded', settled.state, jobsSubmitted, settled.state.quarantine, newlyQuarantined);
    }
    if (settled.kind === 'quarantined') {
      newlyQuarantined.push(...settled.entries);
      retryQuarantined = false; // a forced retry of quarantined files happens once
      continue;
    }
    if (settled.kind === 'failed') {
      throw new LoadFailedError(`load of ${table.name}$${req.partition} failed (job ${jobId}): ${settled.message}`, { table: table.name, partition: req.partition, jobId });
    }
    // 'retry' (a file vanished between listing and load) and 'superseded': list again.
  }
  throw new PartitionBusyError(`partition ${table.name}$${req.partition} did not settle after ${engine.options.maxRounds} rounds; will retry`, {
    table: table.name,
    partition: req.partition,
  });
}

function result(
  table: TableConfig,
  partition: string,
  outcome: SyncOutcome,
  st: PartitionState,
  jobsSubmitted: number,
  quarantined: QuarantineEntry[],
  newlyQuarantined: QuarantineEntry[],
): SyncResult {
  return {
    table: table.name,
    partition,
    outcome,
    jobId: st.loaded?.jobId || null,
    jobsSubmitted,
    objects: st.loaded?.objects ?? 0,
    bytes: st.loaded?.bytes ?? 0,
    rows: st.loaded?.rows ?? null,
    quarantined,
    newlyQuarantined,
  };
}

async function tryWrite(store: ObjectStore, config: Config, handle: Awaited<ReturnType<typeof readState>>, next: PartitionState) {
  try {
    return await writeState(store, config.state, handle, next);
  } catch (err) {
    if (err instanceof PreconditionFailedError) return null;
    throw err;
  }
}

function jobLabels(table: TableConfig, partition: string, kind: string, reason: string): Record<string, string> {
  const clean = (v: string) => v.toLowerCase().replace(/[^a-z0-9_-]/g, '_').slice(0, 63);
  return { tidemark: 'v1', tidemark_kind: kind, tidemark_table: clean(table.name), tidemark_partition: partition, tidemark_reason: clean(reason) };
}

/** Submits the claimed work. Returns how many jobs were created, and a status if already known. */
async function runJob(engine: Engine, route: TableRoute, partition: string, inf: Inflight, log: Logger): Promise<{ created: number; status?: JobStatus }> {
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
async function waitForJob(engine: Engine, jobId: string, partition: string): Promise<JobStatus> {
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
async function resolveInflight(engine: Engine, route: TableRoute, partition: string, inf: Inflight, log: Logger): Promise<void> {
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
async function checkpointLabel(engine: Engine, route: TableRoute, status: JobStatus): Promise<void> {
  if (status.errorResult || status.kind === 'noop') return;
  await advanceLabelTime(engine.warehouse, route.table.spec.ref, LAST_LOAD_LABEL, engine.clock.now(), engine.log);
}

type Settled =
  | { kind: 'success'; state: PartitionState }
  | { kind: 'quarantined'; entries: QuarantineEntry[] }
  | { kind: 'failed'; message: string }
  | { kind: 'retry' }
  | { kind: 'superseded' };

/** Records a finished job in the state (compare-and-swap; a no-op if someone settled it first). */
async function settle(engine: Engine, route: TableRoute, partition: string, inf: Inflight, status: JobStatus, log: Logger): Promise<Settled> {
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
  return o;
}

/** Repairs a checkpoint label left behind by a crash between settling and labelling. */
async function catchUpLabel(engine: Engine, table: TableConfig, st: PartitionState, log: Logger): Promise<void> {
  if (!st.loaded?.at) return;
  const current = await readLabelTime(engine.warehouse, table.spec.ref, LAST_LOAD_LABEL);
  if (current === null || current < Math.floor(st.loaded.at / 1000) * 1000) {
    await advanceLabelTime(engine.warehouse, table.spec.ref, LAST_LOAD_LABEL, st.loaded.at, log);
  }
}
