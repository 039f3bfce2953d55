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
import { randomBytes } from 'node:crypto';
import type { TableConfig } from '../config/types.ts';
import { checkBudget, reserveJob } from './budget.ts';
import { checkpointLabel, jobRead, keyOf, resolveInflight, runJob, settle, waitForJob } from './claims.ts';
import type { Engine, SyncStep } from './engine.ts';
import { InvalidMessageError, LoadFailedError, PartitionBusyError } from './errors.ts';
import { fingerprintObjects, jobIdFor } from './fingerprint.ts';
import { claimFor, decide, logKept, planFiles, viewPartition } from './partition-view.ts';
import { heldFiles, isLoaded, readState, recoverState, tryWriteState, updateState } from './state.ts';
import type { Inflight, PartitionState, QuarantineEntry } from './state.ts';
import { processOwner } from './owner.ts';

export { defaultEngineOptions } from './engine.ts';
export type { Engine, EngineOptions, SyncStep } from './engine.ts';

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

/** queued: a commit-mode dml table's partition, marked dirty for the table's next commit (core/commit.ts). */
export type SyncOutcome = 'loaded' | 'emptied' | 'up-to-date' | 'no-source' | 'queued';

/** One job a sync ran, and what it read from the lake (the cross-region transfer it caused). */
export interface JobRead {
  jobId: string;
  kind: string;
  filesRead: number;
  bytesRead: number;
}

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
  /** The jobs this call ran (submitted or adopted) and what each read from the lake. */
  jobs: JobRead[];
}

/** Makes partition `req.partition` of `req.table` equal to its source. See the module header. */
export async function syncPartition(engine: Engine, req: SyncRequest): Promise<SyncResult> {
  const route = engine.router.table(req.table);
  if (!route) throw new InvalidMessageError(`unknown table "${req.table}"`, { table: req.table });
  const idLength = route.granularity === 'HOUR' ? 10 : 8;
  if (!new RegExp(`^[0-9]{${idLength}}$`).test(req.partition)) {
    throw new InvalidMessageError(
      `partition "${req.partition}" is not a ${route.granularity} partition id of table ${req.table}`,
      { table: req.table, partition: req.partition },
    );
  }
  const table = route.table;
  // A commit-mode dml table's partitions change only through its commits (commit.ts).
  if (table.commit.mode === 'dml') return (await import('./commit.ts')).requestCommit(engine, route, req);
  const { store, clock, config } = engine;
  const log = engine.log.child({ table: table.name, partition: req.partition });
  const owner = `${processOwner()}:${randomBytes(3).toString('hex')}`;
  const step = async (s: SyncStep, jobId?: string) =>
    engine.hooks?.step?.(s, { table: table.name, partition: req.partition, jobId });

  let force = !!req.force;
  // A forced request gives quarantined files one more try (once), and reloads even if unchanged.
  let retryQuarantined = force;
  let jobsSubmitted = 0;
  let claimedHere = false;
  const newlyQuarantined: QuarantineEntry[] = [];
  const jobs: JobRead[] = [];

  for (let round = 0; round < engine.options.maxRounds; round++) {
    let handle = await readState(store, config.state, table.name, req.partition, clock.now());
    if (handle.corrupt) {
      // Treated as unknown: replaced by a fresh state (new epoch), then listed and reloaded.
      await recoverState(store, config.state, handle, log);
      continue;
    }
    if (handle.state.inflight) {
      await resolveInflight(engine, route, req.partition, handle.state.inflight, log);
      continue;
    }
    const st = handle.state;
    if (req.hint && !force && !claimedHere) {
      // Costs the same whatever P holds: the state head and one marker (state-files.ts).
      const k = keyOf(req.hint);
      if (st.quarantine.some((q) => keyOf(q) === k) || (await isLoaded(store, config.state, st, req.hint))) {
        return result(table, req.partition, 'up-to-date', st, jobsSubmitted, st.quarantine, newlyQuarantined, jobs);
      }
      await checkBudget(store, config.state, table, clock.now());
    }
    // A redelivered forced request (its token already applied by an earlier call) is not forced again.
    if (jobsSubmitted === 0 && !claimedHere && force && req.forceToken && st.lastForceToken === req.forceToken)
      force = retryQuarantined = false;

    const view = await viewPartition(engine, route, req.partition, st, retryQuarantined, log);
    await step('after-list');
    const holds = await heldFiles(store, config.state, st);
    const stream = (config.streams ?? []).some((s) => s.table === table.name);
    const verdict = decide({
      st,
      view,
      holds,
      force,
      retryFailed: !!req.retryFailed,
      onSourceDelete: table.onSourceDelete,
      stream,
      now: clock.now(),
    });
    if (verdict.kind === 'up-to-date' && view.refused.length === 0) {
      const outcome = verdict.noSource ? 'no-source' : 'up-to-date';
      return result(table, req.partition, outcome, st, jobsSubmitted, st.quarantine, newlyQuarantined, jobs);
    }
    if (verdict.kind === 'failed-unchanged')
      throw new LoadFailedError(
        `last load of ${table.name}$${req.partition} failed and its files have not changed since: ${verdict.message}`,
        { table: table.name, partition: req.partition, jobId: verdict.jobId },
      );
    for (const q of view.refused) {
      if (st.quarantine.some((p) => keyOf(p) === keyOf(q)) || newlyQuarantined.some((p) => keyOf(p) === keyOf(q)))
        continue;
      newlyQuarantined.push(q);
      log.warn('file quarantined', { object: q.name, generation: q.generation, error: q.error });
    }
    if (verdict.kind === 'up-to-date') {
      const outcome = verdict.noSource ? 'no-source' : 'up-to-date';
      return result(table, req.partition, outcome, st, jobsSubmitted, view.quarantine, newlyQuarantined, jobs);
    }
    if (verdict.kind === 'record') {
      const noted = await tryWriteState(store, config.state, handle, verdict.state);
      if (!noted) continue;
      if (verdict.plan) logKept(log, table.name, req.partition, verdict.plan);
      // A quarantine-only listing: look again (the next round finds it recorded).
      if (!verdict.plan) continue;
      return result(
        table,
        req.partition,
        'up-to-date',
        noted.state,
        jobsSubmitted,
        view.quarantine,
        newlyQuarantined,
        jobs,
      );
    }

    // A job: append only new files, replace P, or empty it (plan.ts).
    const { plan } = verdict;
    const { target, reads } = planFiles(plan);
    const kind: Inflight['kind'] =
      plan.action === 'empty'
        ? 'truncate'
        : stream || reads.length > table.maxUrisPerLoad
          ? 'copy'
          : plan.action === 'append'
            ? 'append'
            : 'load';
    const tail =
      stream && kind === 'copy'
        ? await (await import('./stream-load.ts')).listTail(engine, route, req.partition, log)
        : undefined;
    const seq = (st.seq ?? 0) + 1;
    // The epoch (random per state object) keeps a lost or rebuilt state from re-creating an old id.
    const jobId = jobIdFor(kind, table.name, req.partition, fingerprintObjects(target), `${st.epoch}.${seq}`);
    const inflight = claimFor({
      jobId,
      kind,
      view,
      plan,
      holds: verdict.holds,
      owner,
      reason: req.reason,
      now: clock.now(),
      extra: {
        // Named from the config name ([a-z][a-z0-9_]*), not the BigQuery table id, which may be
        // 1,024 bytes of Unicode and spaces: the stage name stays short and plain.
        ...(kind === 'copy' ? { stageTable: `${table.name}__tidemark_stage_${req.partition}_${jobId.slice(-8)}` } : {}),
        ...(tail ? { tail } : {}),
      },
    });
    const claimed = await tryWriteState(store, config.state, handle, {
      ...st,
      seq,
      inflight,
      ...(force && req.forceToken ? { lastForceToken: req.forceToken } : {}),
      updatedAt: clock.now(),
    });
    if (!claimed) continue; // somebody else claimed first: look again
    handle = claimed;
    claimedHere = true;
    // Only the claim's holder takes a token: concurrent events for P spend one for their one job.
    try {
      await reserveJob(store, config.state, table, clock, log);
    } catch (err) {
      await releaseClaim(engine, table.name, req.partition, jobId, st.lastForceToken).catch((e) =>
        log.warn('could not release a claim; it is fenced after the grace period', { jobId, error: String(e) }),
      );
      throw err;
    }
    await step('after-claim', jobId);
    log.info('job claimed', {
      jobId,
      kind,
      objects: target.length,
      filesRead: reads.length,
      bytesRead: reads.reduce((n, f) => n + f.size, 0),
      why: plan.why,
      reason: req.reason,
      force,
    });

    const run = await runJob(engine, route, req.partition, inflight, log);
    if (run.created) jobsSubmitted += run.created;
    await step('after-submit', jobId);
    const status = run.status ?? (await waitForJob(engine, jobId, req.partition));
    await step('after-complete', jobId);
    await checkpointLabel(engine, route, status);
    await step('after-label', jobId);
    const settled = await settle(engine, route, req.partition, inflight, status, log);
    await step('after-settle', jobId);
    if (status.kind !== 'noop') jobs.push(jobRead(inflight, status));

    if (settled.kind === 'success') {
      return result(
        table,
        req.partition,
        kind === 'truncate' ? 'emptied' : 'loaded',
        settled.state,
        jobsSubmitted,
        settled.state.quarantine,
        newlyQuarantined,
        jobs,
      );
    }
    if (settled.kind === 'quarantined') {
      newlyQuarantined.push(...settled.entries);
      retryQuarantined = false; // a forced retry of quarantined files happens once
      continue;
    }
    if (settled.kind === 'failed') {
      throw new LoadFailedError(`load of ${table.name}$${req.partition} failed (job ${jobId}): ${settled.message}`, {
        table: table.name,
        partition: req.partition,
        jobId,
      });
    }
    // 'retry' (a file vanished between listing and load) and 'superseded': list again.
  }
  throw new PartitionBusyError(
    `partition ${table.name}$${req.partition} did not settle after ${engine.options.maxRounds} rounds; will retry`,
    {
      table: table.name,
      partition: req.partition,
    },
  );
}

function result(
  table: TableConfig,
  partition: string,
  outcome: SyncOutcome,
  st: PartitionState,
  jobsSubmitted: number,
  quarantined: QuarantineEntry[],
  newlyQuarantined: QuarantineEntry[],
  jobs: JobRead[],
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
    jobs,
  };
}

/**
 * Clears a claim whose job was never submitted (no token for it): nobody waits for its grace
 * period. A forced request's token, recorded with the claim, is put back: the reload did not happen.
 */
async function releaseClaim(
  engine: Engine,
  table: string,
  partition: string,
  jobId: string,
  forceTokenBefore: string | undefined,
): Promise<void> {
  await updateState(engine.store, engine.config.state, table, partition, engine.clock, (s) => {
    if (s.inflight?.jobId !== jobId) return null;
    delete s.inflight;
    if (forceTokenBefore === undefined) delete s.lastForceToken;
    else s.lastForceToken = forceTokenBefore;
    return s;
  });
}
