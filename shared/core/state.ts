/**
 * Per-partition sync state, kept as one small JSON object per partition under the state prefix
 * in Cloud Storage (a folder locally): `<prefix>state/<table>/<partition>.json` (the "head").
 *
 * Every change is a compare-and-swap on the head's generation, so concurrent syncs serialise
 * on it. A summary is copied into the head's custom metadata so the auditor reads the state of
 * a whole table with one paged listing, without downloading an object per partition.
 * The head stays small whatever the partition holds: file lists live in claim objects and
 * "already loaded" answers in markers (state-files.ts). Heads are validated on read; a corrupt
 * one is reported and rebuilt (`recoverState`). See docs/design.md for the race analysis.
 */
import type { StateConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import { casBackoff, casWriteJson, isLostRace } from './cas.ts';
import { systemClock } from './ports.ts';
import type { Clock, ObjectStore } from './ports.ts';
import { parseState } from './state-codec.ts';
import {
  claimObjectName,
  hasMarker,
  randomId,
  readClaimFiles,
  removeClaimFiles,
  writeClaimFiles,
  writeMarkers,
} from './state-files.ts';

/** A source file excluded from loads because the warehouse rejected it. */
export interface QuarantineEntry {
  name: string;
  generation: string;
  error: string;
  jobId: string;
  at: number;
}

/** One source file of a load. */
export interface FileRef {
  name: string;
  generation: string;
  size: number;
}

/** What the last successful job made the partition hold. */
export interface LoadRecord {
  /** Fingerprint of everything listed for the partition, quarantined files included. */
  sourceFingerprint: string;
  /** Fingerprint of the files actually loaded. */
  loadedFingerprint: string;
  objects: number;
  bytes: number;
  rows: number | null;
  jobId: string;
  at: number;
  /** The claim object holding the loaded files (state-files.ts); absent when none was kept. */
  claimId?: string;
  /**
   * The (name, generation) pairs loaded. Set in memory by whoever settles a load; the head does
   * not store them (markers answer "already loaded?"). Version 1 heads carried them inline.
   */
  files?: { name: string; generation: string }[];
  /**
   * onSourceDelete keep: loaded objects deleted from the source since, whose rows the partition
   * still holds (the audit's `source-deleted`; `tidemark reload` removes them).
   */
  kept?: { name: string; generation: string }[];
  /**
   * onSourceDelete keep: listed files not applied, because replacing the rows of a rewritten
   * file needs a reload and a reload would drop the rows `kept` holds. `tidemark reload` applies them.
   */
  held?: { name: string; generation: string }[];
}

/** A job claimed for the partition and not yet settled. Its job id is the partition's lock. */
export interface Inflight {
  jobId: string;
  /**
   * load: WRITE_TRUNCATE of table$P from `files`; append: WRITE_APPEND of `load` (the partition
   * already holds the rest of `files`); copy: staged chunks, then one atomic copy; truncate:
   * empty P; commit: P's part of a table commit (core/commit.ts), whose job is the transaction.
   */
  kind: 'load' | 'append' | 'copy' | 'truncate' | 'commit';
  sourceFingerprint: string;
  loadedFingerprint: string;
  /** What P holds once the job succeeds (kept in the claim object named by `claimId`, attached on read). */
  files: FileRef[];
  /** The files the job reads when it reads only some of `files` (append; a commit that appends). */
  load?: FileRef[];
  /** A commit's part: its staging table and whether P is emptied first (replace) or appended to. */
  commit?: { stage: string; replace: boolean };
  /** onSourceDelete keep: carried into the state on success (LoadRecord.kept / held). */
  kept?: { name: string; generation: string }[];
  held?: { name: string; generation: string }[];
  /** Files the previous load did not hold: the markers a success writes (all files when absent). */
  added?: { name: string; generation: string }[];
  /** Random id of this claim: names its claim object and labels its job (`tidemark_claim`). */
  claimId?: string;
  /** Quarantine entries still in force for this listing (carried into the state on success). */
  quarantine: QuarantineEntry[];
  /** Staging table of a load too large for one job, or of a stream table's load, if any. */
  stageTable?: string;
  /** Stream tables: the previous hour's files whose events this partition drops (ingest/dedupe.ts). */
  tail?: FileRef[];
  owner: string;
  startedAt: number;
  reason: string;
}

export type PartitionStatus = 'new' | 'loaded' | 'empty' | 'failed';

export interface PartitionState {
  /** 2: files out of the head, epoch. Version 1 heads are read and rewritten as 2. */
  version: 1 | 2;
  table: string;
  partition: string;
  /**
   * Random id created with each new state object. Part of every job id and of the marker names,
   * so a state that was lost, moved or rebuilt never reuses an old job id or an old marker.
   */
  epoch: string;
  status: PartitionStatus;
  loaded?: LoadRecord;
  inflight?: Inflight;
  quarantine: QuarantineEntry[];
  lastError?: { jobId: string | null; message: string; at: number; sourceFingerprint?: string };
  /** Failed attempts since the last success. */
  failures: number;
  /** Claims made so far in this epoch; salts job ids so a partition never reuses one (a listing can recur). */
  seq?: number;
  /** Token of the last forced request applied, so its redeliveries do not reload again. */
  lastForceToken?: string;
  updatedAt: number;
}

/** What the auditor reads in bulk (from object metadata). */
export interface StateSummary {
  table: string;
  partition: string;
  status: PartitionStatus;
  sourceFingerprint: string | null;
  objects: number;
  bytes: number;
  /** Rows the last load wrote, when the warehouse reported it. */
  rows: number | null;
  jobId: string | null;
  loadedAt: number | null;
  quarantined: number;
  inflightJobId: string | null;
  updatedAt: number;
  /** onSourceDelete keep: deleted source objects whose rows P still holds (LoadRecord.kept). */
  kept?: number;
  /** onSourceDelete keep: rewritten files waiting for `tidemark reload` (LoadRecord.held). */
  held?: number;
}

export interface StateHandle {
  state: PartitionState;
  /** Generation to compare-and-swap against; '0' when the object does not exist yet. */
  generation: string;
  /** Set when the stored head is corrupt: why. `state` is then a fresh one (see recoverState). */
  corrupt?: string;
}

export function stateObjectName(cfg: StateConfig, table: string, partition: string): string {
  return `${cfg.prefix}state/${table}/${partition}.json`;
}

/** A fresh state, with a new epoch. */
export function emptyState(table: string, partition: string, now: number): PartitionState {
  return {
    version: 2,
    table,
    partition,
    epoch: randomId(),
    status: 'new',
    quarantine: [],
    failures: 0,
    updatedAt: now,
  };
}

/**
 * Reads a partition's state (a fresh one when none exists). The head is one small read; a
 * claim's files are read only while a claim is open. A corrupt head (or claim object) comes
 * back as a fresh state with `corrupt` set and the corrupt object's generation, so the next
 * compare-and-swap replaces it.
 */
export async function readState(
  store: ObjectStore,
  cfg: StateConfig,
  table: string,
  partition: string,
  now: number,
): Promise<StateHandle> {
  const name = stateObjectName(cfg, table, partition);
  for (let attempt = 1; ; attempt++) {
    const found = await store.read(cfg.bucket, name);
    if (!found) return { state: emptyState(table, partition, now), generation: '0' };
    const corrupt = (reason: string): StateHandle => ({
      state: emptyState(table, partition, now),
      generation: found.generation,
      corrupt: reason,
    });
    const parsed = parseState(found.data.toString('utf8'), table, partition);
    if (typeof parsed === 'string') return corrupt(parsed);
    // A version 1 head has no epoch: it gets one here, stored with its next write.
    if (!parsed.epoch) parsed.epoch = randomId();
    const inf = parsed.inflight;
    if (!inf || inf.files) return { state: parsed as PartitionState, generation: found.generation };
    const claim = await readClaimFiles(store, cfg, table, partition, inf.claimId!, inf.jobId);
    const claimName = claimObjectName(cfg, table, partition, inf.claimId!);
    if (claim === null) {
      // Claim objects are written before a head names them and removed after no head does: a
      // head naming a missing one was replaced meanwhile. Read it again.
      if (attempt < 3) continue;
      return corrupt(`its claim object ${claimName} (job ${inf.jobId}) is missing`);
    }
    if (typeof claim === 'string') return corrupt(`its claim object ${claimName} is corrupt: ${claim}`);
    return {
      state: {
        ...parsed,
        inflight: { ...inf, files: claim.files, added: claim.added, ...(claim.load ? { load: claim.load } : {}) },
      },
      generation: found.generation,
    };
  }
}

/**
 * Replaces a corrupt head (handle.corrupt) with a fresh state, by compare-and-swap on the
 * corrupt object's generation. The writer that wins logs one ERROR naming the object; the
 * partition is then treated as never loaded: listed and reloaded, under a new epoch.
 * Returns false when somebody else changed the object first (read it again).
 */
export async function recoverState(
  store: ObjectStore,
  cfg: StateConfig,
  handle: StateHandle,
  log: Logger,
): Promise<boolean> {
  const { table, partition } = handle.state;
  try {
    await writeState(store, cfg, { state: handle.state, generation: handle.generation }, handle.state);
  } catch (err) {
    if (isLostRace(err)) return false;
    throw err;
  }
  const object = `gs://${cfg.bucket}/${stateObjectName(cfg, table, partition)}`;
  log.error(
    `state object ${object} is corrupt (${handle.corrupt}); rebuilt it empty: the partition is listed and reloaded`,
    { object, table, partition, reason: handle.corrupt },
  );
  return true;
}

/**
 * Whether a job of this state's epoch loaded exactly `v`: one read of a tiny object, whatever
 * the partition holds. False can be wrong (markers may be missing); true never is.
 */
export async function isLoaded(
  store: ObjectStore,
  cfg: StateConfig,
  state: PartitionState,
  v: { name: string; generation: string },
): Promise<boolean> {
  if (!state.loaded) return false;
  if (state.loaded.files) return state.loaded.files.some((f) => f.name === v.name && f.generation === v.generation);
  return hasMarker(store, cfg, state.table, state.partition, state.epoch, v);
}

/**
 * The versions P holds, from the last successful job's claim object: null when P holds nothing
 * tidemark loaded, 'unknown' when it holds rows but their list is gone (only a replacement is
 * exact then).
 */
export async function heldFiles(
  store: ObjectStore,
  cfg: StateConfig,
  state: PartitionState,
): Promise<{ name: string; generation: string; size?: number }[] | null | 'unknown'> {
  if (!state.loaded || state.loaded.objects === 0) return null;
  if (state.loaded.files) return state.loaded.files;
  if (!state.loaded.claimId) return 'unknown';
  const claim = await readClaimFiles(
    store,
    cfg,
    state.table,
    state.partition,
    state.loaded.claimId,
    state.loaded.jobId,
  );
  return claim && typeof claim !== 'string' ? claim.files : 'unknown';
}

/**
 * Writes `next` if the object is still at `handle.generation`. Throws PreconditionFailedError
 * when somebody else wrote it first: the caller re-reads and decides again.
 *
 * Around the compare-and-swap of the head: a new claim's file list is written first (the head
 * only ever names an existing claim object); a load being recorded as successful first gets its
 * markers (true from the moment the job succeeded); claim objects the new head no longer names
 * are removed afterwards.
 */
export async function writeState(
  store: ObjectStore,
  cfg: StateConfig,
  handle: StateHandle,
  next: PartitionState,
): Promise<StateHandle> {
  const prev = handle.state;
  const { table, partition } = next;
  const epoch = next.epoch || prev.epoch || randomId();
  const inf = next.inflight;
  const newClaim = inf?.claimId && inf.claimId !== prev.inflight?.claimId ? inf : null;
  if (newClaim)
    await writeClaimFiles(store, cfg, table, partition, {
      claimId: newClaim.claimId!,
      jobId: newClaim.jobId,
      files: newClaim.files,
      added: newClaim.added ?? newClaim.files,
      ...(newClaim.load ? { load: newClaim.load } : {}),
    });
  const settling =
    prev.inflight &&
    next.loaded &&
    next.loaded.jobId === prev.inflight.jobId &&
    next.loaded.jobId !== prev.loaded?.jobId
      ? prev.inflight
      : null;
  if (settling && next.status === 'loaded') {
    await writeMarkers(
      store,
      cfg,
      table,
      partition,
      epoch,
      settling.added ?? next.loaded!.files ?? settling.files,
      settling.jobId,
    );
  }
  const loaded =
    next.loaded &&
    (settling ? { ...next.loaded, ...(settling.claimId ? { claimId: settling.claimId } : {}) } : next.loaded);
  const stored: PartitionState = { ...next, version: 2, epoch, ...(loaded ? { loaded } : {}) };
  let generation: string;
  try {
    ({ generation } = await casWriteJson(store, cfg.bucket, stateObjectName(cfg, table, partition), toHead(stored), {
      ifGenerationMatch: handle.generation,
      metadata: summaryMetadata(stored),
    }));
  } catch (err) {
    // Our claim object is garbage unless the head names it after all (a write that landed but
    // was overwritten before we could recognise it: casWriteJson).
    if (newClaim && !(await headNames(store, cfg, table, partition, newClaim.claimId!)))
      await removeClaimFiles(store, cfg, table, partition, newClaim.claimId!);
    throw err;
  }
  const named = new Set([stored.inflight?.claimId, stored.loaded?.claimId]);
  for (const id of new Set([prev.inflight?.claimId, prev.loaded?.claimId])) {
    if (id && !named.has(id)) await removeClaimFiles(store, cfg, table, partition, id);
  }
  return { state: stored, generation };
}

/** writeState, with a lost race (somebody else wrote first) answered as null: read again and decide again. */
export async function tryWriteState(
  store: ObjectStore,
  cfg: StateConfig,
  handle: StateHandle,
  next: PartitionState,
): Promise<StateHandle | null> {
  try {
    return await writeState(store, cfg, handle, next);
  } catch (err) {
    if (isLostRace(err)) return null;
    throw err;
  }
}

async function headNames(
  store: ObjectStore,
  cfg: StateConfig,
  table: string,
  partition: string,
  claimId: string,
): Promise<boolean> {
  try {
    const found = await store.read(cfg.bucket, stateObjectName(cfg, table, partition));
    return !!found && found.data.toString('utf8').includes(claimId);
  } catch {
    return true; // cannot tell: keep it (at worst an orphan object)
  }
}

/** Kept and held versions the head names at most (the metadata counts them all; the claim object lists them all). */
export const HEAD_VERSION_LIST_CAP = 100;

/** The head as stored: no file lists (except for a claim made without a claim object). */
function toHead(s: PartitionState): Record<string, unknown> {
  const { inflight, loaded, ...rest } = s;
  const head: Record<string, unknown> = { ...rest };
  const capped = <T extends { kept?: unknown[]; held?: unknown[] }>(o: T): T => ({
    ...o,
    ...(o.kept ? { kept: o.kept.slice(0, HEAD_VERSION_LIST_CAP) } : {}),
    ...(o.held ? { held: o.held.slice(0, HEAD_VERSION_LIST_CAP) } : {}),
  });
  if (loaded) {
    const { files: _files, ...l } = loaded;
    head.loaded = capped(l);
  }
  if (inflight) {
    const { files, added: _added, load, ...i } = inflight;
    head.inflight = capped(i.claimId ? i : { ...i, files, ...(load ? { load } : {}) });
  }
  return head;
}

/**
 * Applies `change` to the current state with compare-and-swap, re-reading on conflict (with
 * jittered backoff through `clock`: one object takes about one write per second).
 * `change` returns null to leave the state as it is.
 */
export async function updateState(
  store: ObjectStore,
  cfg: StateConfig,
  table: string,
  partition: string,
  clock: Pick<Clock, 'now' | 'sleep'> | (() => number),
  change: (state: PartitionState) => PartitionState | null,
  attempts = 10,
): Promise<StateHandle> {
  const c = typeof clock === 'function' ? { now: clock, sleep: systemClock.sleep } : clock;
  for (let attempt = 1; ; attempt++) {
    const handle = await readState(store, cfg, table, partition, c.now());
    const next = change(structuredClone(handle.state));
    if (!next) return handle;
    next.updatedAt = c.now();
    try {
      return await writeState(store, cfg, handle, next);
    } catch (err) {
      if (!isLostRace(err) || attempt >= attempts) throw err;
      await casBackoff(c, attempt);
    }
  }
}

const META = {
  status: 'tidemark-status',
  sourceFingerprint: 'tidemark-source-fp',
  objects: 'tidemark-objects',
  bytes: 'tidemark-bytes',
  rows: 'tidemark-rows',
  jobId: 'tidemark-job',
  loadedAt: 'tidemark-loaded-at',
  quarantined: 'tidemark-quarantined',
  inflight: 'tidemark-inflight',
  updatedAt: 'tidemark-updated-at',
  kept: 'tidemark-kept',
  held: 'tidemark-held',
} as const;

function summaryMetadata(s: PartitionState): Record<string, string> {
  return {
    [META.status]: s.status,
    [META.sourceFingerprint]: s.loaded?.sourceFingerprint ?? '',
    [META.objects]: String(s.loaded?.objects ?? 0),
    [META.bytes]: String(s.loaded?.bytes ?? 0),
    [META.rows]: s.loaded?.rows === null || s.loaded?.rows === undefined ? '' : String(s.loaded.rows),
    [META.jobId]: s.loaded?.jobId ?? '',
    [META.loadedAt]: s.loaded ? String(s.loaded.at) : '',
    [META.quarantined]: String(s.quarantine.length),
    [META.inflight]: s.inflight?.jobId ?? '',
    [META.updatedAt]: String(s.updatedAt),
    [META.kept]: String(s.loaded?.kept?.length ?? 0),
    [META.held]: String(s.loaded?.held?.length ?? 0),
  };
}

/** Parses the summary of a state object from its listing entry; null when it is not one. */
export function summaryFromObject(
  cfg: StateConfig,
  name: string,
  metadata: Record<string, string> | undefined,
): StateSummary | null {
  const m = new RegExp(`^${escapeRegExp(cfg.prefix)}state/([^/]+)/([0-9]{8}|[0-9]{10})\\.json$`).exec(name);
  if (!m || !metadata) return null;
  const num = (k: string) => (metadata[k] ? Number(metadata[k]) : 0);
  return {
    table: m[1]!,
    partition: m[2]!,
    status: (metadata[META.status] as PartitionStatus) ?? 'new',
    sourceFingerprint: metadata[META.sourceFingerprint] || null,
    objects: num(META.objects),
    bytes: num(META.bytes),
    rows: metadata[META.rows] ? Number(metadata[META.rows]) : null,
    jobId: metadata[META.jobId] || null,
    loadedAt: metadata[META.loadedAt] ? Number(metadata[META.loadedAt]) : null,
    quarantined: num(META.quarantined),
    inflightJobId: metadata[META.inflight] || null,
    updatedAt: num(META.updatedAt),
    kept: num(META.kept),
    held: num(META.held),
  };
}

/** Every partition state of a table, from a paged listing (one call per 1,000 partitions). */
export async function listStateSummaries(
  store: Pick<ObjectStore, 'listPage'>,
  cfg: StateConfig,
  table: string,
  range?: { from: string; to: string },
): Promise<StateSummary[]> {
  const prefix = `${cfg.prefix}state/${table}/`;
  const out: StateSummary[] = [];
  let pageToken: string | undefined;
  do {
    const page = await store.listPage(cfg.bucket, {
      prefix,
      pageToken,
      ...(range ? { startOffset: `${prefix}${range.from}`, endOffset: `${prefix}${range.to}` } : {}),
    });
    for (const o of page.objects) {
      const s = summaryFromObject(cfg, o.name, o.metadata);
      if (s) out.push(s);
    }
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
