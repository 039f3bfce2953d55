/**
 * Validation of the state objects read back from the store (hand-written: the Cloud Functions
 * bundles carry no schema library). A state object is only ever written by tidemark, so a shape
 * error means corruption (a hand edit, a truncated upload, another tool under the prefix): the
 * reader reports it with the path of the first bad field and recovers (state.ts).
 */
import type { FileRef, Inflight, LoadRecord, PartitionState, QuarantineEntry } from './state.ts';

/** A shape error at `path` (e.g. `inflight.files[3].generation`). */
class ShapeError extends Error {}

type Obj = Record<string, unknown>;

function obj(v: unknown, path: string): Obj {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ShapeError(`${path || '(root)'} is not an object`);
  return v as Obj;
}
function str(o: Obj, k: string, path: string): string {
  if (typeof o[k] !== 'string') throw new ShapeError(`${path}${k} is not a string`);
  return o[k] as string;
}
function num(o: Obj, k: string, path: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ShapeError(`${path}${k} is not a finite number`);
  return v;
}
function optStr(o: Obj, k: string, path: string): string | undefined {
  return o[k] === undefined ? undefined : str(o, k, path);
}
function arr<T>(o: Obj, k: string, path: string, item: (v: unknown, p: string) => T): T[] {
  const v = o[k];
  if (!Array.isArray(v)) throw new ShapeError(`${path}${k} is not an array`);
  return v.map((x, i) => item(x, `${path}${k}[${i}]`));
}
function oneOf<T extends string>(o: Obj, k: string, path: string, allowed: readonly T[]): T {
  const v = str(o, k, path);
  if (!(allowed as readonly string[]).includes(v))
    throw new ShapeError(`${path}${k} is ${JSON.stringify(v)}, not one of ${allowed.join(', ')}`);
  return v as T;
}

/** One (name, generation) pair. */
export function parseVersion(v: unknown, path: string): { name: string; generation: string } {
  const o = obj(v, path);
  return { name: str(o, 'name', `${path}.`), generation: str(o, 'generation', `${path}.`) };
}

export function parseFileRef(v: unknown, path: string): FileRef {
  const o = obj(v, path);
  return { ...parseVersion(o, path), size: num(o, 'size', `${path}.`) };
}

function parseQuarantine(v: unknown, path: string): QuarantineEntry {
  const o = obj(v, path);
  const p = `${path}.`;
  return { ...parseVersion(o, path), error: str(o, 'error', p), jobId: str(o, 'jobId', p), at: num(o, 'at', p) };
}

function parseLoaded(v: unknown): LoadRecord {
  const o = obj(v, 'loaded');
  const p = 'loaded.';
  if (o.rows !== null && o.rows !== undefined) num(o, 'rows', p);
  const rec: LoadRecord = {
    sourceFingerprint: str(o, 'sourceFingerprint', p),
    loadedFingerprint: str(o, 'loadedFingerprint', p),
    objects: num(o, 'objects', p),
    bytes: num(o, 'bytes', p),
    rows: (o.rows as number | null | undefined) ?? null,
    jobId: str(o, 'jobId', p),
    at: num(o, 'at', p),
  };
  const claimId = optStr(o, 'claimId', p);
  if (claimId !== undefined) rec.claimId = claimId;
  // Version 1 heads carried the loaded (name, generation) pairs inline.
  if (o.files !== undefined) rec.files = arr(o, 'files', p, parseVersion);
  // onSourceDelete keep: rows of deleted objects the partition keeps, rewritten files held back.
  if (o.kept !== undefined) rec.kept = arr(o, 'kept', p, parseVersion);
  if (o.held !== undefined) rec.held = arr(o, 'held', p, parseVersion);
  return rec;
}

/** The inflight claim as stored: its files live in the claim object unless a version 1 head inlined them. */
function parseInflight(v: unknown): Omit<Inflight, 'files'> & { files?: FileRef[] } {
  const o = obj(v, 'inflight');
  const p = 'inflight.';
  const inf: Omit<Inflight, 'files'> & { files?: FileRef[] } = {
    jobId: str(o, 'jobId', p),
    kind: oneOf(o, 'kind', p, ['load', 'append', 'copy', 'truncate', 'commit'] as const),
    sourceFingerprint: str(o, 'sourceFingerprint', p),
    loadedFingerprint: str(o, 'loadedFingerprint', p),
    quarantine: arr(o, 'quarantine', p, parseQuarantine),
    owner: str(o, 'owner', p),
    startedAt: num(o, 'startedAt', p),
    reason: str(o, 'reason', p),
  };
  const stageTable = optStr(o, 'stageTable', p);
  if (stageTable !== undefined) inf.stageTable = stageTable;
  if (o.tail !== undefined) inf.tail = arr(o, 'tail', p, parseFileRef);
  const claimId = optStr(o, 'claimId', p);
  if (claimId !== undefined) inf.claimId = claimId;
  if (o.files !== undefined) inf.files = arr(o, 'files', p, parseFileRef);
  if (o.kept !== undefined) inf.kept = arr(o, 'kept', p, parseVersion);
  if (o.held !== undefined) inf.held = arr(o, 'held', p, parseVersion);
  if (o.commit !== undefined) {
    const c = obj(o.commit, 'inflight.commit');
    if (typeof c.replace !== 'boolean') throw new ShapeError('inflight.commit.replace is not a boolean');
    inf.commit = { stage: str(c, 'stage', 'inflight.commit.'), replace: c.replace };
  }
  if (inf.kind === 'commit' && !inf.commit) throw new ShapeError('inflight.commit is missing for a commit claim');
  if (inf.files === undefined && inf.claimId === undefined)
    throw new ShapeError('inflight has neither files nor claimId');
  return inf;
}

export type StoredState = Omit<PartitionState, 'inflight'> & {
  inflight?: Omit<Inflight, 'files'> & { files?: FileRef[] };
};

/**
 * Parses a state object's text for partition `table$partition`. Returns the state (inflight
 * files not yet attached when they live in a claim object), or a string naming what is wrong.
 */
export function parseState(text: string, table: string, partition: string): StoredState | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  try {
    const o = obj(v, '');
    if (o.version !== 1 && o.version !== 2) throw new ShapeError(`version is ${JSON.stringify(o.version)}, not 1 or 2`);
    if (str(o, 'table', '') !== table || str(o, 'partition', '') !== partition) {
      throw new ShapeError(`it holds the state of ${String(o.table)}$${String(o.partition)}`);
    }
    const s: StoredState = {
      version: 2,
      table,
      partition,
      epoch: o.version === 2 ? str(o, 'epoch', '') : (optStr(o, 'epoch', '') ?? ''),
      status: oneOf(o, 'status', '', ['new', 'loaded', 'empty', 'failed'] as const),
      quarantine: arr(o, 'quarantine', '', parseQuarantine),
      failures: num(o, 'failures', ''),
      updatedAt: num(o, 'updatedAt', ''),
    };
    if (o.version === 2 && !/^[0-9a-f]{8,64}$/.test(s.epoch)) throw new ShapeError('epoch is not a hex string');
    if (o.loaded !== undefined) s.loaded = parseLoaded(o.loaded);
    if (o.inflight !== undefined) s.inflight = parseInflight(o.inflight);
    if (o.seq !== undefined) s.seq = num(o, 'seq', '');
    const token = optStr(o, 'lastForceToken', '');
    if (token !== undefined) s.lastForceToken = token;
    if (o.lastError !== undefined) {
      const e = obj(o.lastError, 'lastError');
      if (e.jobId !== null) str(e, 'jobId', 'lastError.');
      s.lastError = {
        jobId: (e.jobId as string | null) ?? null,
        message: str(e, 'message', 'lastError.'),
        at: num(e, 'at', 'lastError.'),
      };
      const fp = optStr(e, 'sourceFingerprint', 'lastError.');
      if (fp !== undefined) s.lastError.sourceFingerprint = fp;
    }
    return s;
  } catch (err) {
    if (err instanceof ShapeError) return err.message;
    throw err;
  }
}

/** The files of a claim object (see state-files.ts), or a string naming what is wrong. */
export function parseClaimFiles(
  text: string,
  jobId: string,
): { files: FileRef[]; added: { name: string; generation: string }[]; load?: FileRef[] } | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  try {
    const o = obj(v, '');
    if (str(o, 'jobId', '') !== jobId) throw new ShapeError(`it belongs to job ${String(o.jobId)}`);
    return {
      files: arr(o, 'files', '', parseFileRef),
      added: arr(o, 'added', '', parseVersion),
      ...(o.load !== undefined ? { load: arr(o, 'load', '', parseFileRef) } : {}),
    };
  } catch (err) {
    if (err instanceof ShapeError) return err.message;
    throw err;
  }
}
