/**
 * A cross-process exclusive lock on a path, for the local backends: the DuckDB file (one process
 * at a time) and compare-and-swap writes to the folder lake. proper-lockfile does the locking
 * (an atomic mkdir, refreshed while held, taken over when stale); a sidecar JSON beside the lock
 * records who holds it, so a process that gives up waiting can say whom it waited for.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
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

/** The sidecar that names the holder of `lockPath`. */
export function holderFile(lockPath: string): string {
  return `${lockPath}.holder.json`;
}

/** Who holds `lockPath` according to its sidecar, or undefined. The sidecar may be stale. */
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
  const token = randomUUID();
  const sidecar: LockHolder = { pid: process.pid, holder: opts.holder, acquiredAt: new Date().toISOString(), token };
  await writeFile(holderFile(lockPath), JSON.stringify(sidecar)).catch(() => {});
  try {
    return await fn();
  } finally {
    const current = await readLockHolder(lockPath);
    if (current?.token === token) await rm(holderFile(lockPath), { force: true }).catch(() => {});
    // A compromised lock was released already; releasing again throws ERELEASED.
    await release().catch(() => {});
  }
}

async function acquire(lockPath: string, opts: FileLockOptions): Promise<() => Promise<void>> {
  await mkdir(dirname(lockPath), { recursive: true });
  const stale = Math.max(2000, opts.staleMs ?? 10_000);
  const started = Date.now();
  let poll = MIN_POLL_MS;
  for (;;) {
    try {
      return await lockfile.lock(lockPath, {
        lockfilePath: lockPath,
        realpath: false,
        stale,
        update: Math.floor(stale / 2),
        retries: 0,
        onCompromised:
          opts.onCompromised ??
          ((err) => process.emitWarning(`lock ${lockPath} was compromised while held: ${err.message}`, 'TidemarkLockWarning')),
      });
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
