/**
 * Per-partition sync state, kept as one small JSON object per partition under the state prefix
 * in Cloud Storage (a folder locally): `<prefix>state/<table>/<partition>.json`.
 *
 * Every change is a compare-and-swap on the object's generation, so concurrent syncs serialise
 * on it. A summary is copied into the object's custom metadata so the auditor reads the state of
 * a whole table with one paged listing, without downloading an object per partition.
 * See docs/design.md for the race analysis.
 */
import type { StateConfig } from '../config/types.ts';
import { PreconditionFailedError } from './errors.ts';
import type { ObjectStore } from './ports.ts';

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
  /** The (name, generation) pairs loaded, so an event for one of them is answered without listing. */
  files?: { name: string; generation: string }[];
}

/** A job claimed for the partition and not yet settled. Its job id is the partition's lock. */
export interface Inflight {
  jobId: string;
  kind: 'load' | 'copy' | 'truncate';
  sourceFingerprint: string;
  loadedFingerprint: string;
  files: FileRef[];
  /** Quarantine entries still in force for this listing (carried into the state on success). */
  quarantine: QuarantineEntry[];
  /** Staging table of a load too large for one job, if any. */
  stageTable?: string;
  owner: string;
  startedAt: number;
  reason: string;
}

export type PartitionStatus = 'new' | 'loaded' | 'empty' | 'failed';

export interface PartitionState {
  version: 1;
  table: string;
  partition: string;
  status: PartitionStatus;
  loaded?: LoadRecord;
  inflight?: Inflight;
  quarantine: QuarantineEntry[];
  lastError?: { jobId: string | null; message: string; at: number; sourceFingerprint?: string };
  /** Failed attempts since the last success. */
  failures: number;
  /** Claims made so far; salts job ids so a partition never reuses one (a listing can recur). */
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
}

export interface StateHandle {
  state: PartitionState;
  /** Generation to compare-and-swap against; '0' when the object does not exist yet. */
  generation: string;
}

export function stateObjectName(cfg: StateConfig, table: string, partition: string): string {
  return `${cfg.prefix}state/${table}/${partition}.json`;
}

export function emptyState(table: string, partition: string, now: number): PartitionState {
  return { version: 1, table, partition, status: 'new', quarantine: [], failures: 0, updatedAt: now };
}

/** Reads a partition's state (a fresh one when none exists). */
export async function readState(store: ObjectStore, cfg: StateConfig, table: string, partition: string, now: number): Promise<StateHandle> {
  const found = await store.read(cfg.bucket, stateObjectName(cfg, table, partition));
  if (!found) return { state: emptyState(table, partition, now), generation: '0' };
  const state = JSON.parse(found.data.toString('utf8')) as PartitionState;
  return { state, generation: found.generation };
}

/**
 * Writes `next` if the object is still at `handle.generation`. Throws PreconditionFailedError
 * when somebody else wrote it first: the caller re-reads and decides again.
 */
export async function writeState(store: ObjectStore, cfg: StateConfig, handle: StateHandle, next: PartitionState): Promise<StateHandle> {
  const name = stateObjectName(cfg, next.table, next.partition);
  const { generation } = await store.write(cfg.bucket, name, JSON.stringify(next), {
    ifGenerationMatch: handle.generation,
    contentType: 'application/json',
    metadata: summaryMetadata(next),
  });
  return { state: next, generation };
}

/**
 * Applies `change` to the current state with compare-and-swap, re-reading on conflict.
 * `change` returns null to leave the state as it is.
 */
export async function updateState(
  store: ObjectStore,
  cfg: StateConfig,
  table: string,
  partition: string,
  now: () => number,
  change: (state: PartitionState) => PartitionState | null,
  attempts = 10,
): Promise<StateHandle> {
  for (let attempt = 1; ; attempt++) {
    const handle = await readState(store, cfg, table, partition, now());
    const next = change(structuredClone(handle.state));
    if (!next) return handle;
    next.updatedAt = now();
    try {
      return await writeState(store, cfg, handle, next);
    } catch (err) {
      if (!(err instanceof PreconditionFailedError) || attempt >= attempts) throw err;
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
  };
}

/** Parses the summary of a state object from its listing entry; null when it is not one. */
export function summaryFromObject(cfg: StateConfig, name: string, metadata: Record<string, string> | undefined): StateSummary | null {
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
  };
}

/** Every partition state of a table, from a paged listing (one call per 1,000 partitions). */
export async function listStateSummaries(store: Pick<ObjectStore, 'listPage'>, cfg: StateConfig, table: string, range?: { from: string; to: string }): Promise<StateSummary[]> {
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
