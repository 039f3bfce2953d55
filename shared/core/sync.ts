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
import { checkBudget, reserveJob } from './budget.ts';
import { keyOf, checkpointLabel, resolveInflight, runJob, settle, waitForJob } from './claims.ts';
import type { Engine, SyncStep } from './engine.ts';
import { InvalidMessageError, LoadFailedError, PartitionBusyError, PreconditionFailedError } from './errors.ts';
import { fingerprintObjects, jobIdFor } from './fingerprint.ts';
import { listPartitionObjects, refuseUnloadable } from './listing.ts';
import type { ObjectStore } from './ports.ts';
import { jobRead } from './claims.ts';
import { planPartition, sameVersions } from './plan.ts';
import type { Plan } from './plan.ts';
import { heldFiles, isLoaded, readState, recoverState, updateState, writeState } from './state.ts';
import { randomId } from './state-files.ts';
import type { FileRef, Inflight, PartitionState, QuarantineEntry } from './state.ts';

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
  const { store, clock, config } = engine;
  const log = engine.log.child({ table: table.name, partition: req.partition });
  const owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
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

    const listing = await listPartitionObjects(store, route, req.partition, log);
    await step('after-list');
    const sourceFingerprint = fingerprintObjects(listing);
    const live = new Set(listing.map(keyOf));
    // Names no load can take are quarantined before any claim (even on a forced retry: renaming fixes them, retrying cannot).
    const refused = refuseUnloadable(store, table.source.bucket, listing, st.quarantine, clock.now());
    const refusedKeys = new Set(refused.map(keyOf));
    const quarantine = [
      ...refused,
      ...(retryQuarantined ? [] : st.quarantine.filter((q) => live.has(keyOf(q)) && !refusedKeys.has(keyOf(q)))),
    ];
    const excluded = new Set(quarantine.map(keyOf));
    const files: FileRef[] = listing
      .filter((o) => !excluded.has(keyOf(o)))
      .map((o) => ({ name: o.name, generation: o.generation, size: o.size }));

    if (!force && st.loaded && st.loaded.sourceFingerprint === sourceFingerprint && st.status !== 'failed') {
      return result(table, req.partition, 'up-to-date', st, jobsSubmitted, st.quarantine, newlyQuarantined, jobs);
    }
    if (!force && st.status === 'failed' && st.lastError?.sourceFingerprint === sourceFingerprint && !req.retryFailed) {
      throw new LoadFailedError(
        `last load of ${table.name}$${req.partition} failed and its files have not changed since: ${st.lastError.message}`,
        {
          table: table.name,
          partition: req.partition,
          jobId: st.lastError.jobId,
        },
      );
    }

    for (const q of refused) {
      if (st.quarantine.some((p) => keyOf(p) === keyOf(q)) || newlyQuarantined.some((p) => keyOf(p) === keyOf(q)))
        continue;
      newlyQuarantined.push(q);
      log.warn('file quarantined', { object: q.name, generation: q.generation, error: q.error });
    }
    const previouslyHeldRows = !!st.loaded && st.loaded.objects > 0;
    if (files.length === 0 && !previouslyHeldRows) {
      // Nothing to load and nothing to remove. Record the quarantine-only outcome so the auditor sees it.
      if (listing.length > 0 && st.loaded?.sourceFingerprint !== sourceFingerprint) {
        await tryWrite(store, config, handle, {
          ...st,
          status: 'empty',
          quarantine,
          loaded: {
            sourceFingerprint,
            loadedFingerprint: fingerprintObjects([]),
            objects: 0,
            bytes: 0,
            rows: 0,
            jobId: '',
            at: clock.now(),
          },
        });
        continue;
      }
      return result(
        table,
        req.partition,
        listing.length ? 'up-to-date' : 'no-source',
        st,
        jobsSubmitted,
        quarantine,
        newlyQuarantined,
        jobs,
      );
    }

    // What the job must do: append only new files, replace P, empty it, or nothing (plan.ts).
    const holds = await heldFiles(store, config.state, st);
    let plan = planPartition({ listing: files, holds, replace: force, onSourceDelete: table.onSourceDelete });
    // Stream tables always load through a stage: the copy out of it removes duplicate events,
    // across the whole partition, so it replaces P from its listing.
    const stream = (config.streams ?? []).some((s) => s.table === table.name);
    if (stream && plan.action === 'append') plan = { ...plan, action: 'replace', files: [...files] };
    if (plan.action === 'none') {
      // Nothing to load; record what the listing says now (kept rows, held rewrites) once.
      const l = st.loaded!;
      if (
        l.sourceFingerprint === sourceFingerprint &&
        sameVersions(l.kept, plan.kept) &&
        sameVersions(l.held, plan.held)
      )
        return result(table, req.partition, 'up-to-date', st, jobsSubmitted, st.quarantine, newlyQuarantined, jobs);
      const noted = await tryWrite(store, config, handle, {
        ...st,
        quarantine,
        loaded: { ...l, sourceFingerprint, ...versionLists(plan) },
        updatedAt: clock.now(),
      });
      if (!noted) continue;
      if (plan.kept.length)
        log.warn(`rows of ${plan.kept.length} deleted source object(s) kept (onSourceDelete: keep)`, {
          objects: plan.kept.slice(0, 20).map((v) => v.name),
          held: plan.held.map((v) => v.name),
          hint: `tidemark reload --table ${table.name} --partition ${req.partition} applies the deletion`,
        });
      return result(table, req.partition, 'up-to-date', noted.state, jobsSubmitted, quarantine, newlyQuarantined, jobs);
    }
    const target = plan.action === 'empty' ? [] : plan.files;
    const reads = plan.action === 'append' ? plan.load : target;
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
    const loadedFingerprint = fingerprintObjects(target);
    const seq = (st.seq ?? 0) + 1;
    // The epoch (random per state object) keeps a lost or rebuilt state from re-creating an old id.
    const jobId = jobIdFor(kind, table.name, req.partition, loadedFingerprint, `${st.epoch}.${seq}`);
    const before = new Set(holds === null || holds === 'unknown' ? [] : holds.map(keyOf));

    const inflight: Inflight = {
      jobId,
      kind,
      sourceFingerprint,
      loadedFingerprint,
      files: target,
      ...(plan.action === 'append' ? { load: plan.load } : {}),
      added: target.filter((f) => !before.has(keyOf(f))).map((f) => ({ name: f.name, generation: f.generation })),
      claimId: randomId(),
      quarantine,
      owner,
      startedAt: clock.now(),
      reason: req.reason,
      ...versionLists(plan),
      // Named from the config name ([a-z][a-z0-9_]*), not the BigQuery table id, which may be
      // 1,024 bytes of Unicode and spaces: the stage name stays short and plain.
      ...(kind === 'copy' ? { stageTable: `${table.name}__tidemark_stage_${req.partition}_${jobId.slice(-8)}` } : {}),
      ...(tail ? { tail } : {}),
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

/** keep: the kept and held versions a plan records (none under mirror). */
function versionLists(plan: Plan): Pick<Inflight, 'kept' | 'held'> {
  return {
    ...(plan.kept.length ? { kept: plan.kept } : {}),
    ...(plan.held.length ? { held: plan.held } : {}),
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

async function tryWrite(
  store: ObjectStore,
  config: Config,
  handle: Awaited<ReturnType<typeof readState>>,
  next: PartitionState,
) {
  try {
    return await writeState(store, config.state, handle, next);
  } catch (err) {
    if (err instanceof PreconditionFailedError) return null;
    throw err;
  }
}
