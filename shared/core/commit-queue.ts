/**
 * The objects a table commit (commit.ts) works from, in the state bucket:
 *
 * - dirty markers, `<prefix>dirty/<table>/<P>/<key>`: "P may have changed". One object per
 *   request with a name of its own (a file version's hash, a forced request's token, or a random
 *   id), so a stream of events writes many small objects and never one object twice a second
 *   (no hot object). The committer lists them, commits, and deletes exactly the names it listed:
 *   a marker written meanwhile has another name and waits for the next commit.
 * - the table's commit record, `<prefix>commits/<table>.json`: the table's lease (one committer
 *   at a time, by compare-and-swap), the open commit (its job id and the partitions it may have
 *   claimed) and when the last commit ended (the interval). Written about twice per commit.
 */
import { createHash } from 'node:crypto';
import type { StateConfig } from '../config/types.ts';
import { casWriteJson, isLostRace } from './cas.ts';
import type { ObjectStore } from './ports.ts';
import { randomId } from './state-files.ts';

/** What a dirty marker asks of the next commit. */
export interface DirtyRequest {
  reason: string;
  /** Replace P from its listing even if unchanged (a reload), once per token. */
  force?: boolean;
  forceToken?: string;
  retryFailed?: boolean;
  at: number;
}

export interface DirtyMarker extends DirtyRequest {
  /** The marker's object name (deleted once its partition is committed). */
  name: string;
  partition: string;
}

/** The table's open commit: enough for anyone to finish it after a crash. */
export interface OpenCommit {
  /** The transaction's job id: deterministic for this commit (record epoch and sequence). */
  jobId: string;
  /** Labels the commit's jobs (`tidemark_claim`), so a 409 is adopted only for this commit. */
  commitId: string;
  owner: string;
  startedAt: number;
  /** The staging table (same dataset as the target). */
  stage: string;
  /**
   * Unsealed: the partitions it set out to claim. Sealed: exactly the partitions it claimed
   * (their state names `jobId`); only a sealed commit is ever submitted.
   */
  partitions: string[];
  sealed: boolean;
}

export interface CommitRecord {
  version: 1;
  table: string;
  /** Random per record: a lost record never reuses a job id. */
  epoch: string;
  seq: number;
  /** When the last commit ended (epoch ms), for the interval. */
  lastCommitAt: number | null;
  open?: OpenCommit;
}

export interface RecordHandle {
  record: CommitRecord;
  generation: string;
}

export function dirtyPrefix(cfg: StateConfig, table: string): string {
  return `${cfg.prefix}dirty/${table}/`;
}

export function commitRecordName(cfg: StateConfig, table: string): string {
  return `${cfg.prefix}commits/${table}.json`;
}

/** Marks P dirty. Idempotent for a redelivered request (same version or token, same name). */
export async function markDirty(
  store: ObjectStore,
  cfg: StateConfig,
  table: string,
  partition: string,
  request: DirtyRequest,
  identity: string | undefined,
): Promise<string> {
  const key = createHash('sha256')
    .update(identity ?? randomId())
    .digest('hex')
    .slice(0, 32);
  const name = `${dirtyPrefix(cfg, table)}${partition}/${key}`;
  await store.write(cfg.bucket, name, JSON.stringify(request), { contentType: 'application/json' });
  return name;
}

/** Every dirty marker of a table (names listed, bodies read), at most `limit`. */
export async function listDirty(
  store: ObjectStore,
  cfg: StateConfig,
  table: string,
  limit: number,
): Promise<DirtyMarker[]> {
  const prefix = dirtyPrefix(cfg, table);
  const out: DirtyMarker[] = [];
  let pageToken: string | undefined;
  do {
    const page = await store.listPage(cfg.bucket, { prefix, ...(pageToken ? { pageToken } : {}) });
    for (const o of page.objects) {
      const m = /^([0-9]{8}|[0-9]{10})\/[0-9a-f]{32}$/.exec(o.name.slice(prefix.length));
      if (!m) continue;
      out.push({ name: o.name, partition: m[1]!, ...(await readRequest(store, cfg.bucket, o.name)) });
      if (out.length >= limit) return out;
    }
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

/** A marker's request; an unreadable one (deleted meanwhile, or corrupt) still means "P may have changed". */
async function readRequest(store: ObjectStore, bucket: string, name: string): Promise<DirtyRequest> {
  try {
    const found = await store.read(bucket, name);
    const v = found ? (JSON.parse(found.data.toString('utf8')) as Partial<DirtyRequest>) : {};
    return {
      reason: typeof v.reason === 'string' ? v.reason : 'dirty',
      ...(v.force === true ? { force: true } : {}),
      ...(typeof v.forceToken === 'string' ? { forceToken: v.forceToken } : {}),
      ...(v.retryFailed === true ? { retryFailed: true } : {}),
      at: typeof v.at === 'number' ? v.at : 0,
    };
  } catch {
    return { reason: 'dirty', at: 0 };
  }
}

/** Deletes markers (best effort: one left behind only costs the next commit a listing). */
export async function clearDirty(store: ObjectStore, cfg: StateConfig, names: readonly string[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < names.length) await store.remove(cfg.bucket, names[next++]!).catch(() => {});
  };
  await Promise.all(Array.from({ length: Math.min(16, names.length) }, worker));
}

/** The table's commit record (a fresh one, generation '0', when none exists or it is unreadable). */
export async function readCommitRecord(store: ObjectStore, cfg: StateConfig, table: string): Promise<RecordHandle> {
  const found = await store.read(cfg.bucket, commitRecordName(cfg, table));
  const fresh: CommitRecord = { version: 1, table, epoch: randomId(), seq: 0, lastCommitAt: null };
  if (!found) return { record: fresh, generation: '0' };
  const parsed = parseRecord(found.data.toString('utf8'), table);
  // A corrupt record is replaced (new epoch: no old job id can recur); claims it left are fenced by their partitions.
  return { record: parsed ?? fresh, generation: found.generation };
}

/** Writes the record if it is still at `handle.generation`; null when somebody else wrote first. */
export async function writeCommitRecord(
  store: ObjectStore,
  cfg: StateConfig,
  handle: RecordHandle,
  next: CommitRecord,
): Promise<RecordHandle | null> {
  try {
    const { generation } = await casWriteJson(store, cfg.bucket, commitRecordName(cfg, next.table), next, {
      ifGenerationMatch: handle.generation,
    });
    return { record: next, generation };
  } catch (err) {
    if (isLostRace(err)) return null;
    throw err;
  }
}

function parseRecord(text: string, table: string): CommitRecord | null {
  try {
    const v = JSON.parse(text) as Partial<CommitRecord>;
    if (v.version !== 1 || v.table !== table || typeof v.epoch !== 'string' || typeof v.seq !== 'number') return null;
    const o = v.open;
    const open =
      o &&
      typeof o.jobId === 'string' &&
      typeof o.commitId === 'string' &&
      typeof o.stage === 'string' &&
      typeof o.startedAt === 'number' &&
      Array.isArray(o.partitions) &&
      o.partitions.every((p) => typeof p === 'string' && /^[0-9]{8}([0-9]{2})?$/.test(p))
        ? { ...o, owner: String(o.owner ?? ''), sealed: o.sealed === true }
        : undefined;
    return {
      version: 1,
      table,
      epoch: v.epoch,
      seq: v.seq,
      lastCommitAt: typeof v.lastCommitAt === 'number' ? v.lastCommitAt : null,
      ...(open ? { open } : {}),
    };
  } catch {
    return null;
  }
}
