/**
 * Table commits (commit mode dml): the changes of all of a table's dirty partitions are staged
 * and applied in one multi-statement transaction, at most once per `commit.interval`, by one
 * committer at a time.
 *
 * 1. Requests (file events, backfills, reloads) only mark P dirty (`requestCommit`; markers in
 *    commit-queue.ts). A tick (Cloud Scheduler every minute deployed, the in-process bus locally)
 *    calls `commitTables`; no request waits on a redelivery's backoff.
 * 2. The committer takes the table's commit record by compare-and-swap (the lease), opening a
 *    commit whose transaction job id is fixed by the record (epoch, sequence).
 * 3. Each dirty partition is viewed and planned exactly as a per-partition sync would
 *    (partition-view.ts, plan.ts) and claimed in its own state with the commit's job id (kind
 *    `commit`), so no other writer touches it meanwhile. The record is then sealed with the
 *    partitions claimed: only a sealed commit is ever submitted, and an unsealed one older than
 *    the grace period is fenced by burning its job id.
 * 4. The files to read are loaded into one fresh staging table with an expiration, one load per
 *    partition into `stage$P` (rows outside P are rejected exactly as by a load into table$P;
 *    `_PARTITIONTIME` is P for ingestion-time tables). Load job ids derive from the commit's.
 * 5. The transaction (ports.ts, kind `commit`) deletes the replaced partitions and inserts the
 *    staged rows: readers see all of it or none. Each partition's state is then settled
 *    (claims.ts `settle`), the record closed and the markers it consumed deleted.
 *
 * Anyone who finds a sealed open commit (a crash, a timeout) finishes it: every job id is
 * deterministic, inserted once, and a 409 is adopted only with this commit's label, so a
 * redelivered or crashed commit is found and finished, never applied twice.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { TableRoute } from '../routing/router.ts';
import {
  checkpointLabel,
  filesRead,
  jobLabels,
  keyOf,
  resolveInflight,
  settle,
  STAGE_TABLE_TTL_MS,
  waitForJob,
} from './claims.ts';
import type { Settled } from './claims.ts';
import {
  clearDirty,
  listDirty,
  markDirty,
  readCommitRecord,
  writeCommitRecord,
  type DirtyMarker,
  type OpenCommit,
  type RecordHandle,
} from './commit-queue.ts';
import type { Engine } from './engine.ts';
import { errorMessage, isPermanent, PartitionBusyError } from './errors.ts';
import { claimFor, decide, logKept, viewPartition } from './partition-view.ts';
import type { JobStatus, TableRef } from './ports.ts';
import { heldFiles, isLoaded, readState, recoverState, tryWriteState } from './state.ts';
import type { Inflight, PartitionState } from './state.ts';
import type { SyncRequest, SyncResult } from './sync.ts';
import { processOwner } from './owner.ts';

/** What one table's commit tick did. */
export interface CommitResult {
  table: string;
  /**
   * committed: a transaction applied `partitions`; up-to-date: the dirty partitions needed no
   * job; idle: nothing dirty; waiting: the table committed less than `interval` ago; busy:
   * another committer holds the table; aborted: the commit gave up (quarantine, failure, a
   * transient error) and its partitions stay dirty for the next tick.
   */
  outcome: 'committed' | 'up-to-date' | 'idle' | 'waiting' | 'busy' | 'aborted';
  jobId: string | null;
  partitions: string[];
  filesRead: number;
  bytesRead: number;
  bytesBilled: number | null;
  /** Load jobs (into the staging table) and DML statements this commit ran. */
  loadJobs: number;
  dmlStatements: number;
  /** What the commit read from the lake for each partition it staged. */
  reads: Record<string, { filesRead: number; bytesRead: number }>;
  message?: string;
}

/** Dirty markers one commit takes at most (the rest wait for the next). */
const MAX_MARKERS_PER_COMMIT = 20_000;
/** Partitions viewed and claimed at once. */
const CLAIM_CONCURRENCY = 8;
/** A tick this early for the interval still commits (ticks are not exactly periodic). */
const TICK_SLACK_MS = 5_000;
/** A staged commit this close to its stage's expiration is given up (the stage could vanish). */
const STAGE_MARGIN_MS = 2 * 60 * 60_000;

/**
 * A dml table's sync: mark P dirty for the table's next commit. A finalize event for a version
 * P already holds (or quarantined) costs two reads and writes nothing.
 */
export async function requestCommit(engine: Engine, route: TableRoute, req: SyncRequest): Promise<SyncResult> {
  const { store, config, clock } = engine;
  const table = route.table;
  const base: SyncResult = {
    table: table.name,
    partition: req.partition,
    outcome: 'queued',
    jobId: null,
    jobsSubmitted: 0,
    objects: 0,
    bytes: 0,
    rows: null,
    quarantined: [],
    newlyQuarantined: [],
    jobs: [],
  };
  if (req.hint && !req.force) {
    const { state: st } = await readState(store, config.state, table.name, req.partition, clock.now());
    const k = keyOf(req.hint);
    if (st.quarantine.some((q) => keyOf(q) === k) || (await isLoaded(store, config.state, st, req.hint)))
      return { ...base, outcome: 'up-to-date', jobId: st.loaded?.jobId || null, quarantined: st.quarantine };
  }
  const identity = req.hint ? `v:${keyOf(req.hint)}` : req.forceToken ? `t:${req.forceToken}` : undefined;
  await markDirty(
    store,
    config.state,
    table.name,
    req.partition,
    {
      reason: req.reason,
      ...(req.force ? { force: true } : {}),
      ...(req.forceToken ? { forceToken: req.forceToken } : {}),
      ...(req.retryFailed ? { retryFailed: true } : {}),
      at: clock.now(),
    },
    identity,
  );
  return base;
}

/**
 * Runs one commit for each commit-mode dml table with dirty partitions (all such tables unless
 * `tables` names some). A tick of Cloud Scheduler (deployed) or of the local bus calls it.
 * `now` ignores the interval (an operator's `tidemark sync` or `tidemark commit`).
 */
export async function commitTables(
  engine: Engine,
  opts: { tables?: string[]; now?: boolean } = {},
): Promise<CommitResult[]> {
  const names = opts.tables ?? engine.config.tables.filter((t) => t.commit.mode === 'dml').map((t) => t.name);
  const out: CommitResult[] = [];
  for (const name of names) {
    const route = engine.router.table(name);
    if (!route || route.table.commit.mode !== 'dml') continue;
    out.push(await commitTable(engine, route, !!opts.now));
  }
  return out;
}

function emptyResult(table: string, outcome: CommitResult['outcome'], message?: string): CommitResult {
  return {
    table,
    outcome,
    jobId: null,
    partitions: [],
    filesRead: 0,
    bytesRead: 0,
    bytesBilled: null,
    loadJobs: 0,
    dmlStatements: 0,
    reads: {},
    ...(message ? { message } : {}),
  };
}

async function commitTable(engine: Engine, route: TableRoute, now: boolean): Promise<CommitResult> {
  const { store, config, clock } = engine;
  const table = route.table;
  const log = engine.log.child({ table: table.name });
  let handle = await readCommitRecord(store, config.state, table.name);

  // A commit left open (a crash, a timeout): finish it first, whoever opened it.
  if (handle.record.open) {
    const open = handle.record.open;
    if (!open.sealed) {
      if (clock.now() - open.startedAt < engine.options.submitGraceMs)
        return emptyResult(table.name, 'busy', `commit ${open.jobId} is claiming its partitions`);
      return await fenceUnsealed(engine, route, handle, log);
    }
    return await finishCommit(engine, route, handle, [], log);
  }
  const last = handle.record.lastCommitAt;
  if (!now && last !== null && clock.now() - last < table.commit.intervalMs - TICK_SLACK_MS)
    return emptyResult(table.name, 'waiting');

  const markers = await listDirty(store, config.state, table.name, MAX_MARKERS_PER_COMMIT);
  if (markers.length === 0) return emptyResult(table.name, 'idle');
  const byPartition = new Map<string, DirtyMarker[]>();
  for (const m of markers) byPartition.set(m.partition, [...(byPartition.get(m.partition) ?? []), m]);

  // Take the table: one committer, one open commit.
  const seq = handle.record.seq + 1;
  const jobId = `tidemark_commit_${table.name}_${handle.record.epoch}_${seq}`;
  const open: OpenCommit = {
    jobId,
    commitId: randomBytes(8).toString('hex'),
    owner: processOwner(),
    startedAt: clock.now(),
    stage: `${table.name}__tidemark_commit_${handle.record.epoch.slice(0, 8)}_${seq}`,
    partitions: [...byPartition.keys()].sort(),
    sealed: false,
  };
  const taken = await writeCommitRecord(store, config.state, handle, { ...handle.record, seq, open });
  if (!taken) return emptyResult(table.name, 'busy', 'another committer took the table');
  handle = taken;
  await step(engine, 'commit-opened', table.name, jobId);

  // Plan and claim every dirty partition with the commit's job id.
  const entries = [...byPartition.entries()];
  const consumed: string[] = [];
  const claimed: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < entries.length) {
      const [partition, ms] = entries[next++]!;
      const r = await claimPartition(engine, route, partition, ms, open, log).catch((err: unknown) => {
        if (isPermanent(err)) throw err;
        log.warn('partition left for the next commit', { partition, error: errorMessage(err) });
        return { claimed: false, consumed: false };
      });
      if (r.consumed) consumed.push(...ms.map((m) => m.name));
      if (r.claimed) claimed.push(partition);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CLAIM_CONCURRENCY, entries.length) }, worker));

  // Seal: from here on the commit is exactly these partitions, and anyone may finish it.
  const sealedOpen: OpenCommit = { ...open, partitions: claimed.sort(), sealed: true };
  const sealed = await writeCommitRecord(store, config.state, handle, { ...handle.record, open: sealedOpen });
  if (!sealed) {
    // Fenced meanwhile (we were too slow): the fence burned the job id and cleared the claims.
    log.warn('commit fenced before it was sealed; its partitions wait for the next commit', { jobId });
    return emptyResult(table.name, 'aborted', `commit ${jobId} was fenced before it was sealed`);
  }
  await step(engine, 'commit-sealed', table.name, jobId);
  if (claimed.length === 0) {
    await closeRecord(engine, sealed, false);
    await clearDirty(store, config.state, consumed);
    return emptyResult(table.name, 'up-to-date');
  }
  return await finishCommit(engine, route, sealed, consumed, log);
}

/** Views, plans and (if a job is needed) claims P for the open commit. */
async function claimPartition(
  engine: Engine,
  route: TableRoute,
  partition: string,
  markers: DirtyMarker[],
  open: OpenCommit,
  log0: Logger,
): Promise<{ claimed: boolean; consumed: boolean }> {
  const { store, config, clock } = engine;
  const table = route.table;
  const log = log0.child({ partition });
  for (let round = 0; round < engine.options.maxRounds; round++) {
    const handle = await readState(store, config.state, table.name, partition, clock.now());
    if (handle.corrupt) {
      await recoverState(store, config.state, handle, log);
      continue;
    }
    const st = handle.state;
    if (st.inflight) {
      // Another claim: a per-partition job (mode changed) or an older commit's leftover.
      const busy = await resolveOther(engine, route, partition, st.inflight, log);
      if (busy) return { claimed: false, consumed: false };
      continue;
    }
    // A forced request is applied once per token (its redeliveries are not forced again).
    const forcing = markers.filter((m) => m.force && !(m.forceToken && m.forceToken === st.lastForceToken));
    const force = forcing.length > 0;
    const view = await viewPartition(engine, route, partition, st, force, log);
    const holds = await heldFiles(store, config.state, st);
    const verdict = decide({
      st,
      view,
      holds,
      force,
      retryFailed: force || markers.some((m) => m.retryFailed),
      onSourceDelete: table.onSourceDelete,
      stream: false,
      now: clock.now(),
    });
    for (const q of view.refused)
      log.warn('file quarantined', { object: q.name, generation: q.generation, error: q.error });
    if (verdict.kind === 'up-to-date') return { claimed: false, consumed: true };
    if (verdict.kind === 'failed-unchanged') {
      log.warn('partition skipped: its last load failed and its files have not changed', {
        jobId: verdict.jobId,
        error: verdict.message,
      });
      return { claimed: false, consumed: true };
    }
    if (verdict.kind === 'record') {
      if (!(await tryWriteState(store, config.state, handle, verdict.state))) continue;
      if (verdict.plan) logKept(log, table.name, partition, verdict.plan);
      if (!verdict.plan) continue;
      return { claimed: false, consumed: true };
    }
    const inflight = claimFor({
      jobId: open.jobId,
      kind: 'commit',
      view,
      plan: verdict.plan,
      holds: verdict.holds,
      owner: open.owner,
      reason: markers[0]!.reason,
      now: clock.now(),
      extra: { commit: { stage: open.stage, replace: verdict.plan.action !== 'append' } },
    });
    const token = forcing.find((m) => m.forceToken)?.forceToken;
    const next: PartitionState = {
      ...st,
      seq: (st.seq ?? 0) + 1,
      inflight,
      ...(token ? { lastForceToken: token } : {}),
      updatedAt: clock.now(),
    };
    if (!(await tryWriteState(store, config.state, handle, next))) continue;
    log.info('partition claimed for a commit', {
      jobId: open.jobId,
      plan: verdict.plan.action,
      why: verdict.plan.why,
      filesRead: filesRead(inflight).length,
    });
    return { claimed: true, consumed: true };
  }
  return { claimed: false, consumed: false };
}

/**
 * A claim that is not this commit's. True when P must wait (its job runs, or its claim is
 * young); false once it has been settled or fenced (look again).
 */
async function resolveOther(
  engine: Engine,
  route: TableRoute,
  partition: string,
  inf: Inflight,
  log: Logger,
): Promise<boolean> {
  if (inf.kind !== 'commit') {
    try {
      await resolveInflight(engine, route, partition, inf, log);
      return false;
    } catch (err) {
      if (err instanceof PartitionBusyError) return true;
      throw err;
    }
  }
  // An older commit's claim (its record was closed, lost or fenced): settle it by its job.
  let status = await engine.warehouse.getJob(inf.jobId);
  if (!status) {
    if (engine.clock.now() - inf.startedAt < engine.options.submitGraceMs) return true;
    status = (await burn(engine, route, partition, inf.jobId)).status;
  }
  if (status.state !== 'DONE') return true;
  await settleClaim(engine, route, partition, inf, status, new Map(), log);
  return false;
}

/** Burns a job id with a no-op: nobody can submit it afterwards. Returns what holds the id. */
async function burn(engine: Engine, route: TableRoute, partition: string, jobId: string) {
  const r = await engine.warehouse.insertJob({
    kind: 'noop',
    jobId,
    labels: jobLabels(route.table, partition, 'noop', 'fence'),
  });
  return { created: r.created, status: r.created ? { ...r.status, kind: 'noop' as const } : r.status };
}

/** An unsealed commit past the grace period: burn its job id, clear what it claimed, close it. */
async function fenceUnsealed(
  engine: Engine,
  route: TableRoute,
  handle: RecordHandle,
  log: Logger,
): Promise<CommitResult> {
  const open = handle.record.open!;
  const burned = await burn(engine, route, '', open.jobId);
  if (burned.created || burned.status.kind === 'noop') {
    log.warn('fenced a commit that was never sealed', { jobId: open.jobId, owner: open.owner });
    for (const partition of open.partitions) {
      const { state } = await readState(engine.store, engine.config.state, route.table.name, partition, 0);
      if (state.inflight?.jobId === open.jobId)
        await settleClaim(engine, route, partition, state.inflight, burned.status, new Map(), log);
    }
    await closeRecord(engine, handle, false);
    return emptyResult(route.table.name, 'aborted', `commit ${open.jobId} was never sealed; fenced`);
  }
  // The transaction exists, so the commit was sealed after all (we read an old record): finish it.
  return await finishCommit(engine, route, handle, [], log);
}

interface StageRead {
  rows: number | null;
  bytes: number;
  files: number;
  loadJobs: number;
}

/**
 * Stages, submits and settles a sealed open commit; deletes the markers it consumed once it
 * committed. Safe to run by several callers at once and after any crash (module header).
 */
async function finishCommit(
  engine: Engine,
  route: TableRoute,
  handle: RecordHandle,
  consumed: string[],
  log: Logger,
): Promise<CommitResult> {
  const { warehouse, store, config, clock } = engine;
  const table = route.table;
  const open = handle.record.open!;
  const claims: { partition: string; inf: Inflight }[] = [];
  for (const partition of open.partitions) {
    const { state } = await readState(store, config.state, table.name, partition, clock.now());
    if (state.inflight?.jobId === open.jobId) claims.push({ partition, inf: state.inflight });
  }
  const stage: TableRef = { ...table.spec.ref, table: open.stage };
  const labels = { ...jobLabels(table, 'all', 'commit', 'commit'), tidemark_claim: open.commitId };
  const reads = new Map<string, StageRead>();
  const result: CommitResult = { ...emptyResult(table.name, 'committed'), jobId: open.jobId };

  let txn = await warehouse.getJob(open.jobId);
  if (!txn && claims.length === 0) {
    // Every claim was settled or fenced by somebody else: nothing left to submit.
    await closeRecord(engine, handle, false);
    return { ...result, outcome: 'up-to-date' };
  }
  const failures: { partition: string; inf: Inflight; status: JobStatus }[] = [];
  // Stage loads: looked up first (a resumed commit never loads twice), inserted if missing.
  const expiresAt = open.startedAt + STAGE_TABLE_TTL_MS;
  if (!txn && clock.now() >= expiresAt - STAGE_MARGIN_MS) {
    txn = (await burn(engine, route, '', open.jobId)).status;
    log.warn('open commit too old to resume (its stage expires); given up', { jobId: open.jobId });
  }
  const needStage = !txn || txn.kind !== 'noop';
  if (needStage && claims.length) {
    if (!txn) {
      await warehouse.ensureTable(table.spec);
      await warehouse.ensureTable({ ...table.spec, ref: stage, labels: { tidemark: 'stage' }, expiresAt });
    }
    await Promise.all(
      claims.map(async ({ partition, inf }) => {
        const r = await stagePartition(engine, route, open, stage, partition, inf, labels, !txn);
        reads.set(partition, r.read);
        if (r.failed) failures.push({ partition, inf, status: r.failed });
      }),
    );
  }
  for (const [partition, r] of reads) {
    result.reads[partition] = { filesRead: r.files, bytesRead: r.bytes };
    result.filesRead += r.files;
    result.bytesRead += r.bytes;
    result.loadJobs += r.loadJobs;
  }
  await step(engine, 'commit-staged', table.name, open.jobId);

  if (!txn && failures.length) {
    // A partition's files failed to stage: nothing is applied. Burn the id, settle the failures
    // (quarantine or failed), release the rest: their markers stay for the next tick.
    txn = (await burn(engine, route, '', open.jobId)).status;
    if (txn.kind === 'noop') {
      for (const f of failures)
        await settleClaim(
          engine,
          route,
          f.partition,
          f.inf,
          { ...f.status, jobId: open.jobId, kind: 'commit' },
          reads,
          log,
        );
      const failedSet = new Set(failures.map((f) => f.partition));
      for (const c of claims)
        if (!failedSet.has(c.partition)) await settleClaim(engine, route, c.partition, c.inf, txn, reads, log);
      await dropStage(engine, stage, log);
      await closeRecord(engine, handle, false);
      return {
        ...result,
        outcome: 'aborted',
        partitions: failures.map((f) => f.partition),
        message: `staging failed for ${failures.map((f) => f.partition).join(', ')}; the other partitions wait for the next commit`,
      };
    }
  }
  const replace = claims.filter((c) => c.inf.commit?.replace).map((c) => c.partition);
  const insert = claims.filter((c) => filesRead(c.inf).length > 0).map((c) => c.partition);
  if (!txn) {
    const r = await warehouse.insertJob({
      kind: 'commit',
      jobId: open.jobId,
      table: table.spec,
      stage,
      replace,
      insert,
      labels,
    });
    txn = r.status;
    if (!r.created && r.status.kind !== 'noop' && r.status.labels?.tidemark_claim !== open.commitId)
      txn = { ...r.status, kind: 'noop' }; // not this commit's job: treat the id as burned
    await step(engine, 'commit-submitted', table.name, open.jobId);
  }
  if (txn.state !== 'DONE') {
    try {
      txn = await waitForJob(engine, open.jobId, 'all');
    } catch (err) {
      if (err instanceof PartitionBusyError) return { ...result, outcome: 'busy', message: err.message };
      throw err;
    }
  }
  result.dmlStatements = txn.kind === 'noop' ? 0 : (replace.length ? 1 : 0) + (insert.length ? 1 : 0);
  result.bytesBilled = txn.bytesBilled ?? null;
  if (!txn.errorResult && txn.kind !== 'noop') await checkpointLabel(engine, route, txn);
  await step(engine, 'commit-done', table.name, open.jobId);

  let transient: string | undefined;
  for (const c of claims) {
    try {
      await settleClaim(engine, route, c.partition, c.inf, txn, reads, log);
    } catch (err) {
      if (isPermanent(err)) throw err;
      transient = errorMessage(err); // settle cleared the claim: the partition waits for the next commit
    }
  }
  await dropStage(engine, stage, log);
  const committed = !txn.errorResult && txn.kind !== 'noop';
  await closeRecord(engine, handle, committed);
  if (committed) await clearDirty(store, config.state, consumed);
  log.info(committed ? 'table committed' : 'table commit did not apply', {
    jobId: open.jobId,
    partitions: claims.length,
    replaced: replace.length,
    filesRead: result.filesRead,
    bytesRead: result.bytesRead,
    crossRegionBytes: result.bytesRead,
    bytesBilled: result.bytesBilled,
    loadJobs: result.loadJobs,
    dmlStatements: result.dmlStatements,
    ...(txn.errorResult ? { error: txn.errorResult.message } : {}),
  });
  return {
    ...result,
    outcome: committed ? 'committed' : 'aborted',
    partitions: claims.map((c) => c.partition),
    ...(txn.errorResult
      ? { message: transient ?? txn.errorResult.message }
      : txn.kind === 'noop'
        ? { message: `commit ${open.jobId} was fenced` }
        : {}),
  };
}

/** Loads P's files into `stage$P` in chunks; the first failed chunk's status, if any. */
async function stagePartition(
  engine: Engine,
  route: TableRoute,
  open: OpenCommit,
  stage: TableRef,
  partition: string,
  inf: Inflight,
  labels: Record<string, string>,
  submit: boolean,
): Promise<{ read: StageRead; failed?: JobStatus }> {
  const { warehouse, store } = engine;
  const table = route.table;
  const files = filesRead(inf);
  const read: StageRead = { rows: 0, bytes: 0, files: files.length, loadJobs: 0 };
  const chunk = table.maxUrisPerLoad;
  for (let i = 0, n = 0; i < files.length; i += chunk, n++) {
    const jobId = `${open.jobId}_${partition}_${n}`;
    let st = await warehouse.getJob(jobId);
    if (!st) {
      if (!submit) return { read: { ...read, rows: null } };
      const r = await warehouse.insertJob({
        kind: 'load',
        jobId,
        table: table.spec,
        destination: stage,
        partition,
        sourceUris: files.slice(i, i + chunk).map((f) => store.uri(table.source.bucket, f.name)),
        writeDisposition: n === 0 ? 'WRITE_TRUNCATE' : 'WRITE_APPEND',
        labels: { ...labels, tidemark_kind: 'stage', tidemark_partition: partition },
      });
      st = r.status;
      if (r.created) read.loadJobs++;
    }
    if (st.state !== 'DONE') st = await waitForJob(engine, jobId, partition);
    if (st.errorResult) return { read, failed: st };
    read.rows = read.rows === null || st.outputRows === undefined ? null : read.rows + st.outputRows;
    read.bytes += st.inputBytes ?? files.slice(i, i + chunk).reduce((s, f) => s + f.size, 0);
  }
  return { read };
}

/** Settles P's part of the commit: the transaction's status with P's own staged rows and bytes. */
async function settleClaim(
  engine: Engine,
  route: TableRoute,
  partition: string,
  inf: Inflight,
  status: JobStatus,
  reads: Map<string, StageRead>,
  log: Logger,
): Promise<Settled> {
  const read = reads.get(partition);
  const own: JobStatus = { ...status };
  if (!status.errorResult && status.kind !== 'noop') {
    own.inputBytes = read?.bytes ?? filesRead(inf).reduce((s, f) => s + f.size, 0);
    if (read?.rows !== null && read?.rows !== undefined) own.outputRows = read.rows;
    else delete own.outputRows;
  }
  return await settle(engine, route, partition, inf, own, log.child({ partition }));
}

async function dropStage(engine: Engine, stage: TableRef, log: Logger): Promise<void> {
  await engine.warehouse.deleteTable(stage).catch((err: unknown) =>
    log.warn('could not delete the staging table; it expires on its own', {
      stageTable: stage.table,
      error: errorMessage(err),
    }),
  );
}

/** Clears the open commit (compare-and-swap, re-reading on conflict); `committed` starts the interval. */
async function closeRecord(engine: Engine, handle: RecordHandle, committed: boolean): Promise<void> {
  const { store, config, clock } = engine;
  const jobId = handle.record.open?.jobId;
  let h: RecordHandle | null = handle;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (h!.record.open?.jobId !== jobId) return; // closed by someone else already
    const { open: _open, ...rest } = h!.record;
    const done = await writeCommitRecord(store, config.state, h!, {
      ...rest,
      lastCommitAt: committed ? clock.now() : rest.lastCommitAt,
    });
    if (done) return;
    h = await readCommitRecord(store, config.state, handle.record.table);
  }
}

async function step(
  engine: Engine,
  s: 'commit-opened' | 'commit-sealed' | 'commit-staged' | 'commit-submitted' | 'commit-done',
  table: string,
  jobId: string,
) {
  await engine.hooks?.step?.(s, { table, partition: '', jobId });
}
