/**
 * A cross-process exclusive lock on a path, for the local backends: the DuckDB file (one process
 * at a time) and compare-and-swap writes to the folder lake. proper-lockfile does the locking
 * (an atomic mkdir, refreshed while held, taken over when stale). Who holds the lock is recorded
 * in `holder.json` inside the lock directory, which appears and disappears together with it: the
 * directory is built under a temp name with its holder record and renamed into place, and
 * released by renaming it away. A process that gives up waiting can always say whom it waited
 * for (a holder written after the mkdir left a window where a busy machine showed "holder unknown").
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import lockfile from 'proper-lockfile';
import { BackendUnavailableError } from '../../core/errors.ts';

export interface FileLockOptions {
  /** How long to wait for a lock held by someone else before throwing LockHeldError. */
  waitMs: number;
  /** Who we are, for the other side's messages: "pid 1234, tidemark start". */
  holder: string;
  /** A lock not refreshed for this long belongs to a dead process and is taken over (default 10 s, min 2 s). */
  staleMs?: number;
  /** Called if the lock is lost while held (the event loop was blocked past staleMs). Default: a process warning. */
  onCompromised?: (err: Error) => void;
}

/** What the holder sidecar says. */
export interface LockHolder {
  pid: number;
  holder: string;
  acquiredAt: string;
  token: string;
}

/** Waited `waitedMs` for a lock someone else holds. Transient: the holder will let go. */
export class LockHeldError extends BackendUnavailableError {
  readonly lockPath: string;
  readonly holder: string | undefined;
  readonly waitedMs: number;
  constructor(lockPath: string, holder: string | undefined, waitedMs: number) {
    super(
      `lock ${lockPath} is held by ${holder ?? 'another process (holder unknown)'}; gave up after waiting ${waitedMs} ms`,
      { lockPath, holder, waitedMs },
    );
    this.lockPath = lockPath;
    this.holder = holder;
    this.waitedMs = waitedMs;
  }
}

const MIN_POLL_MS = 20;
const MAX_POLL_MS = 100;

/** The record inside the lock directory that names the holder of `lockPath`. */
export function holderFile(lockPath: string): string {
  return join(lockPath, 'holder.json');
}

/** Who holds `lockPath`, or undefined when nobody does. The holder may be dead (a stale lock). */
export async function readLockHolder(lockPath: string): Promise<LockHolder | undefined> {
  try {
    return JSON.parse(await readFile(holderFile(lockPath), 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

/**
 * Runs `fn` while holding the exclusive lock `lockPath` (a directory proper-lockfile creates).
 * Waits up to `opts.waitMs` for another holder, polling; then throws LockHeldError naming it.
 * The lock is released when `fn` settles, and by proper-lockfile on a normal process exit.
 */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, opts: FileLockOptions): Promise<T> {
  const release = await acquire(lockPath, opts);
  try {
    return await fn();
  } finally {
    // A compromised lock was released already (and may be someone else's now): releasing again
    // throws ERELEASED and removes nothing.
    await release().catch(() => {});
  }
}

/**
 * The fs proper-lockfile uses, with mkdir/rmdir replaced so the lock directory carries its holder
 * record from the instant it exists to the instant it is gone:
 * - mkdir builds `<lock>.<uuid>.tmp/holder.json` and renames the folder onto the lock path (atomic;
 *   it fails when a lock, never empty, is there: reported as EEXIST like mkdir would);
 * - rmdir renames the lock away first (atomic), then deletes it.
 * These and stat/utimes run as synchronous calls that answer on the next tick: each is a few
 * small metadata operations, and an asynchronous call's thread-pool round trip costs many times
 * the operation itself (BENCHMARKS.md, "Local object store").
 */
const lockFs: typeof fs = {
  ...fs,
  rmdir: ((path: string, cb: (err: NodeJS.ErrnoException | null) => void) =>
    answer(cb, () => removeLockDir(path))) as typeof fs.rmdir,
  rmdirSync: removeLockDir as typeof fs.rmdirSync,
  stat: ((path: string, cb: (err: NodeJS.ErrnoException | null, stats?: fs.Stats) => void) =>
    answer(cb, () => fs.statSync(path))) as typeof fs.stat,
  utimes: ((path: string, atime: Date, mtime: Date, cb: (err: NodeJS.ErrnoException | null) => void) =>
    answer(cb, () => fs.utimesSync(path, atime, mtime))) as typeof fs.utimes,
};

function removeLockDir(path: string): void {
  const gone = `${path}.${randomUUID()}.released`;
  fs.renameSync(path, gone);
  // A lock folder holds its holder record only: two calls, not a recursive walk (which tries
  // rmdir first, then lists); anything else in it is left to the recursive removal.
  try {
    fs.unlinkSync(join(gone, 'holder.json'));
    fs.rmdirSync(gone);
  } catch {
    fs.rmSync(gone, { recursive: true, force: true });
  }
}

/**
 * lockFs with a mkdir that writes `holder`'s record. It inherits from lockFs, and what
 * proper-lockfile learns of the file system (its mtime precision, cached on the fs object) is
 * copied back by `remember`, so it is probed once per process, not once per lock.
 */
function holderFs(holder: string): typeof fs {
  const made = Object.create(lockFs) as typeof fs;
  made.mkdir = ((path: string, cb: (err: NodeJS.ErrnoException | null) => void) =>
    answer(cb, () => {
      const temp = `${path}.${randomUUID()}.tmp`;
      fs.mkdirSync(temp);
      try {
        const record: LockHolder = {
          pid: process.pid,
          holder,
          acquiredAt: new Date().toISOString(),
          token: randomUUID(),
        };
        fs.writeFileSync(join(temp, 'holder.json'), JSON.stringify(record));
        fs.renameSync(temp, path);
      } catch (err) {
        fs.rmSync(temp, { recursive: true, force: true });
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'EISDIR' || code === 'ENOTDIR')
          throw Object.assign(new Error(`EEXIST: lock exists, mkdir '${path}'`), { code: 'EEXIST', path });
        throw err;
      }
    })) as typeof fs.mkdir;
  return made;
}

function remember(used: typeof fs): void {
  for (const key of Object.getOwnPropertySymbols(used))
    if (!(key in lockFs)) Object.defineProperty(lockFs, key, { value: (used as never)[key] });
}

/** Runs `op` now and hands its outcome to the callback on the next tick, as an fs callback API would. */
function answer<T>(cb: (err: NodeJS.ErrnoException | null, value?: T) => void, op: () => T): void {
  let value: T;
  try {
    value = op();
  } catch (err) {
    process.nextTick(cb, err as NodeJS.ErrnoException);
    return;
  }
  process.nextTick(cb, null, value);
}

async function acquire(lockPath: string, opts: FileLockOptions): Promise<() => Promise<void>> {
  fs.mkdirSync(dirname(lockPath), { recursive: true });
  const stale = Math.max(2000, opts.staleMs ?? 10_000);
  const started = Date.now();
  let poll = MIN_POLL_MS;
  for (;;) {
    try {
      const used = holderFs(opts.holder);
      const release = await lockfile.lock(lockPath, {
        lockfilePath: lockPath,
        fs: used,
        realpath: false,
        stale,
        update: Math.floor(stale / 2),
        retries: 0,
        onCompromised:
          opts.onCompromised ??
          ((err) =>
            process.emitWarning(`lock ${lockPath} was compromised while held: ${err.message}`, 'TidemarkLockWarning')),
      });
      remember(used);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
    }
    const waited = Date.now() - started;
    if (waited >= opts.waitMs) {
      const holder = await readLockHolder(lockPath);
      throw new LockHeldError(lockPath, holder ? `pid ${holder.pid}, ${holder.holder}` : undefined, waited);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(poll, opts.waitMs - waited)));
    poll = Math.min(MAX_POLL_MS, Math.ceil(poll * 1.5));
  }
}
