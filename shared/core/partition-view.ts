/**
 * What a partition looks like to whoever is about to change it, and the claim that change
 * writes. Shared by the per-partition sync (sync.ts) and the table committer (commit.ts), so
 * both list, quarantine, plan and claim in exactly the same way:
 *
 * - `viewPartition` lists P, quarantines names no load can take, and says which files are
 *   loadable and what the listing's fingerprint is;
 * - `decide` turns a view and a state into a verdict: up to date, failed and unchanged, a state
 *   to record without a job (kept rows, released quarantine), or a plan that needs a job;
 * - `claimFor` builds the inflight claim of such a plan.
 */
import type { Logger } from '../log.ts';
import type { TableRoute } from '../routing/router.ts';
import type { Engine } from './engine.ts';
import { fingerprintObjects } from './fingerprint.ts';
import { listPartitionObjects, refuseUnloadable } from './listing.ts';
import { planPartition, sameVersions } from './plan.ts';
import type { HeldVersion, Plan } from './plan.ts';
import type { ObjectInfo } from './ports.ts';
import { randomId } from './state-files.ts';
import type { FileRef, Inflight, PartitionState, QuarantineEntry } from './state.ts';

/** Identity of one object version. */
const keyOf = (o: { name: string; generation: string }) => `${o.name}\u0000${o.generation}`;

export interface PartitionView {
  listing: ObjectInfo[];
  sourceFingerprint: string;
  /** Names no load can take, quarantined by this view (before any claim). */
  refused: QuarantineEntry[];
  /** Quarantine in force for this listing. */
  quarantine: QuarantineEntry[];
  /** The loadable files. */
  files: FileRef[];
}

/** Lists P and applies the quarantine. `retryQuarantined` gives quarantined files another chance. */
export async function viewPartition(
  engine: Engine,
  route: TableRoute,
  partition: string,
  st: PartitionState,
  retryQuarantined: boolean,
  log: Logger,
): Promise<PartitionView> {
  const table = route.table;
  const listing = await listPartitionObjects(engine.store, route, partition, log);
  const live = new Set(listing.map(keyOf));
  // Names no load can take are quarantined before any claim (even on a forced retry: renaming fixes them, retrying cannot).
  const refused = refuseUnloadable(engine.store, table.source.bucket, listing, st.quarantine, engine.clock.now());
  const refusedKeys = new Set(refused.map(keyOf));
  const quarantine = [
    ...refused,
    ...(retryQuarantined ? [] : st.quarantine.filter((q) => live.has(keyOf(q)) && !refusedKeys.has(keyOf(q)))),
  ];
  const excluded = new Set(quarantine.map(keyOf));
  const files: FileRef[] = listing
    .filter((o) => !excluded.has(keyOf(o)))
    .map((o) => ({ name: o.name, generation: o.generation, size: o.size }));
  return { listing, sourceFingerprint: fingerprintObjects(listing), refused, quarantine, files };
}

export type Verdict =
  /** P holds what the source lists (`noSource`: both are empty). */
  | { kind: 'up-to-date'; noSource?: boolean }
  /** The last job failed and the listing has not changed: retrying would fail the same way. */
  | { kind: 'failed-unchanged'; message: string; jobId: string | null }
  /** No job, but the state must record something (kept rows, held rewrites, a quarantine-only listing). */
  | { kind: 'record'; state: PartitionState; plan?: Plan }
  /** A job is needed. */
  | { kind: 'job'; plan: Exclude<Plan, { action: 'none' }>; holds: readonly HeldVersion[] | null | 'unknown' };

/**
 * What P needs, from its state, a fresh view and what it holds (`heldFiles`). `force` reloads
 * even when unchanged; `retryFailed` retries a failed, unchanged partition; `stream` tables
 * replace (their dedupe spans the whole partition).
 */
export function decide(input: {
  st: PartitionState;
  view: PartitionView;
  holds: readonly HeldVersion[] | null | 'unknown';
  force: boolean;
  retryFailed: boolean;
  onSourceDelete: 'keep' | 'mirror';
  stream: boolean;
  now: number;
}): Verdict {
  const { st, view, holds, force } = input;
  const fp = view.sourceFingerprint;
  if (!force && st.loaded && st.loaded.sourceFingerprint === fp && st.status !== 'failed')
    return { kind: 'up-to-date' };
  if (!force && st.status === 'failed' && st.lastError?.sourceFingerprint === fp && !input.retryFailed)
    return { kind: 'failed-unchanged', message: st.lastError.message, jobId: st.lastError.jobId };

  const previouslyHeldRows = !!st.loaded && st.loaded.objects > 0;
  if (view.files.length === 0 && !previouslyHeldRows) {
    // Nothing to load and nothing to remove. Record a quarantine-only outcome so the auditor sees it.
    if (view.listing.length > 0 && st.loaded?.sourceFingerprint !== fp)
      return {
        kind: 'record',
        state: {
          ...st,
          status: 'empty',
          quarantine: view.quarantine,
          loaded: {
            sourceFingerprint: fp,
            loadedFingerprint: fingerprintObjects([]),
            objects: 0,
            bytes: 0,
            rows: 0,
            jobId: '',
            at: input.now,
          },
        },
      };
    return { kind: 'up-to-date', noSource: view.listing.length === 0 };
  }

  let plan = planPartition({ listing: view.files, holds, replace: force, onSourceDelete: input.onSourceDelete });
  if (input.stream && plan.action === 'append') plan = { ...plan, action: 'replace', files: [...view.files] };
  if (plan.action !== 'none') return { kind: 'job', plan, holds };
  // Nothing to load; record what the listing says now (kept rows, held rewrites) once.
  const l = st.loaded!;
  if (l.sourceFingerprint === fp && sameVersions(l.kept, plan.kept) && sameVersions(l.held, plan.held))
    return { kind: 'up-to-date' };
  const { kept: _k, held: _h, ...rest } = l;
  return {
    kind: 'record',
    state: {
      ...st,
      quarantine: view.quarantine,
      loaded: { ...rest, sourceFingerprint: fp, ...versionLists(plan) },
      updatedAt: input.now,
    },
    plan,
  };
}

/** keep: the kept and held versions a plan records (none under mirror). */
export function versionLists(plan: Pick<Plan, 'kept' | 'held'>): Pick<Inflight, 'kept' | 'held'> {
  return {
    ...(plan.kept.length ? { kept: plan.kept } : {}),
    ...(plan.held.length ? { held: plan.held } : {}),
  };
}

/** The files a plan leaves P holding, and the files its job reads. */
export function planFiles(plan: Exclude<Plan, { action: 'none' }>): { target: FileRef[]; reads: FileRef[] } {
  const target = plan.action === 'empty' ? [] : plan.files;
  return { target, reads: plan.action === 'append' ? plan.load : target };
}

/** The claim a job-needing plan writes into P's state (the job id is the partition's lock). */
export function claimFor(input: {
  jobId: string;
  kind: Inflight['kind'];
  view: PartitionView;
  plan: Exclude<Plan, { action: 'none' }>;
  holds: readonly HeldVersion[] | null | 'unknown';
  owner: string;
  reason: string;
  now: number;
  extra?: Partial<Inflight>;
}): Inflight {
  const { plan, holds } = input;
  const { target } = planFiles(plan);
  const before = new Set(holds === null || holds === 'unknown' ? [] : holds.map(keyOf));
  return {
    jobId: input.jobId,
    kind: input.kind,
    sourceFingerprint: input.view.sourceFingerprint,
    loadedFingerprint: fingerprintObjects(target),
    files: target,
    ...(plan.action === 'append' ? { load: plan.load } : {}),
    added: target.filter((f) => !before.has(keyOf(f))).map((f) => ({ name: f.name, generation: f.generation })),
    claimId: randomId(),
    quarantine: input.view.quarantine,
    owner: input.owner,
    startedAt: input.now,
    reason: input.reason,
    ...versionLists(plan),
    ...input.extra,
  };
}

/** The WARNING a keep-mode partition gets when it starts holding rows of deleted objects. */
export function logKept(log: Logger, table: string, partition: string, plan: Pick<Plan, 'kept' | 'held'>): void {
  if (!plan.kept.length) return;
  log.warn(`rows of ${plan.kept.length} deleted source object(s) kept (onSourceDelete: keep)`, {
    objects: plan.kept.slice(0, 20).map((v) => v.name),
    held: plan.held.map((v) => v.name),
    hint: `tidemark reload --table ${table} --partition ${partition} applies the deletion`,
  });
}
