/**
 * Sessions on one DuckDB file shared between processes. Only one process may have the file
 * open. All DB work runs in "sessions": the first call takes a cross-process file lock
 * (`<file>.lock`) and opens the file; calls queue behind each other on that one connection;
 * after `idleCloseMs` without work the file is closed and the lock released, so a CLI command
 * can get in while `npm start` runs. A session also yields after `maxHoldMs` of continuous work
 * so a busy process cannot starve the other.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { BackendUnavailableError, errorMessage, TidemarkError } from '../../core/errors.ts';
import { withFileLock } from './file-lock.ts';

export interface DuckDbSessionsOptions {
  /** The DuckDB database file (created with its folder if missing). */
  file: string;
  /** How long a call waits for another process holding the file; then LockHeldError. */
  lockWaitMs: number;
  /** Who we are, for another process's "waiting for ..." message. */
  holder: string;
  /** Close the file and release the lock after this long without work. */
  idleCloseMs: number;
  /** Release the lock between calls after holding it this long, if more work waits. */
  maxHoldMs: number;
  /** Session setup, run on the fresh connection before any queued work. */
  prepare: (conn: DuckDBConnection) => Promise<void>;
  /** Open the file read-only (DuckDB refuses every write). */
  readOnly?: boolean;
  /** DuckDB's worker threads (default: DuckDB's own, one per core). */
  threads?: number;
}

interface Task {
  run: (conn: DuckDBConnection) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** Runs work on one DuckDB file in sessions that hold the cross-process lock only while busy. */
export class DuckDbSessions {
  private readonly file: string;
  private readonly lockPath: string;
  private readonly lockWaitMs: number;
  private readonly holder: string;
  private readonly idleCloseMs: number;
  private readonly maxHoldMs: number;
  private readonly prepare: (conn: DuckDBConnection) => Promise<void>;
  private readonly readOnly: boolean;
  private readonly threads: number | undefined;

  private readonly queue: Task[] = [];
  private session: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private isClosing = false;
  private isClosed = false;

  constructor(options: DuckDbSessionsOptions) {
    this.file = options.file;
    this.lockPath = `${options.file}.lock`;
    this.lockWaitMs = options.lockWaitMs;
    this.holder = options.holder;
    this.idleCloseMs = options.idleCloseMs;
    this.maxHoldMs = options.maxHoldMs;
    this.prepare = options.prepare;
    this.readOnly = options.readOnly ?? false;
    this.threads = options.threads;
  }

  /** True once closing has begun: a session then ends as soon as its queue is empty. */
  get closing(): boolean {
    return this.isClosing;
  }

  /** True once closed: further work is refused. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Stops idling: from now on a session closes the file as soon as it has no work. */
  startClosing(): void {
    this.isClosing = true;
  }

  /** Ends the current session (after its queued work) and refuses work from then on. */
  async close(): Promise<void> {
    this.isClosing = true;
    this.wake?.();
    await this.session;
    this.isClosed = true;
  }

  /** Queues `run` for the one connection, opening the file (and taking the lock) if needed. */
  withDb<T>(run: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    if (this.isClosed)
      return Promise.reject(new BackendUnavailableError(`warehouse ${this.file} is closed`, { file: this.file }));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (v: unknown) => void, reject });
      this.wake?.();
      this.startSession();
    });
  }

  private startSession(): void {
    if (this.session) return;
    this.session = this.runSession().finally(() => {
      this.session = undefined;
      if (this.queue.length > 0) this.startSession();
    });
  }

  private async runSession(): Promise<void> {
    try {
      const outcome = await withFileLock(this.lockPath, () => this.serve(), {
        waitMs: this.lockWaitMs,
        holder: this.holder,
      });
      // Let a process polling for the lock in, before taking it back.
      if (outcome === 'yield') await new Promise((r) => setTimeout(r, 150));
    } catch (err) {
      // The lock (LockHeldError) or the file itself (DuckDB's own lock, held by a process that
      // does not use ours, such as the duckdb CLI) is unavailable: transient.
      const failure =
        err instanceof TidemarkError
          ? err
          : new BackendUnavailableError(
              `cannot open the local warehouse ${this.file}: ${errorMessage(err)}`,
              { file: this.file },
              { cause: err },
            );
      for (const task of this.queue.splice(0)) task.reject(failure);
    }
  }

  /** Holds the lock: opens the file, runs queued tasks until idle (or too long), closes. */
  private async serve(): Promise<'idle' | 'yield'> {
    if (!this.readOnly) await mkdir(dirname(this.file), { recursive: true });
    const instance = await DuckDBInstance.create(this.file, {
      ...(this.readOnly ? { access_mode: 'READ_ONLY' } : {}),
      ...(this.threads ? { threads: String(this.threads) } : {}),
    });
    try {
      const conn = await instance.connect();
      try {
        await this.prepare(conn);
        const since = Date.now();
        for (;;) {
          if (this.queue.length > 0 && Date.now() - since > this.maxHoldMs) return 'yield';
          const task = this.queue.shift();
          if (!task) {
            if (await this.waitForWork()) continue;
            return 'idle';
          }
          try {
            task.resolve(await task.run(conn));
          } catch (err) {
            task.reject(err);
          }
        }
      } finally {
        conn.closeSync();
      }
    } finally {
      instance.closeSync();
    }
  }

  /** Resolves true when a task arrives, false after idleCloseMs (at once when closing). */
  private waitForWork(): Promise<boolean> {
    if (this.isClosing) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve(false);
      }, this.idleCloseMs);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(true);
      };
    });
  }
}

/** Runs `fn` in a transaction: COMMIT when it resolves, ROLLBACK when it throws. */
export async function transaction<T>(conn: DuckDBConnection, fn: () => Promise<T>): Promise<T> {
  await conn.run('BEGIN TRANSACTION');
  try {
    const result = await fn();
    await conn.run('COMMIT');
    return result;
  } catch (err) {
    await conn.run('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** The rows of a query with JSON-safe values (BIGINT and timestamps as strings). */
export async function readRows(
  conn: DuckDBConnection,
  sql: string,
  params?: DuckDBValue[],
): Promise<Record<string, unknown>[]> {
  return (await conn.runAndReadAll(sql, params)).getRowObjectsJson();
}
