/**
 * The local stand-in for BigQuery: one DuckDB file. Datasets are schemas; job, table and
 * partition metadata live in schema `_tidemark`. It keeps the BigQuery behaviours tidemark
 * relies on: caller-chosen job ids that can be inserted once, jobs that run in the background
 * and always finish, partition-scoped WRITE_TRUNCATE in one transaction, per-file load errors
 * that name the file, partition ids as BigQuery writes them, table etags, and table expiration
 * (`TableSpec.expiresAt`, recorded with the table; expired tables are dropped before each job
 * insert and table creation).
 *
 * The parts: `duckdb-session.ts` shares the file between processes, `duckdb-jobs.ts` executes
 * jobs (`duckdb-commit.ts` the commit transaction), `duckdb-readers.ts` reads source files,
 * `duckdb-tables.ts` keeps table metadata and `duckdb-sql.ts` writes the SQL text.
 */
import { randomBytes } from 'node:crypto';
import type { DuckDBConnection } from '@duckdb/node-api';
import {
  ConfigError,
  errorMessage,
  LoadFailedError,
  PreconditionFailedError,
  UnsafeIdentifierError,
} from '../../core/errors.ts';
import { systemClock } from '../../core/ports.ts';
import type {
  Clock,
  JobErrorItem,
  JobKind,
  JobSpec,
  JobStatus,
  PartitionInfo,
  TableLabels,
  TableRef,
  TableSpec,
  Warehouse,
} from '../../core/ports.ts';
import { LockHeldError } from './file-lock.ts';
import { COMMIT_STATS_DDL, withCommitStats } from './duckdb-commit.ts';
import { DuckDbJobRunner } from './duckdb-jobs.ts';
import { DuckDbSessions, readRows, transaction } from './duckdb-session.ts';
import {
  columnsFromSchema,
  id,
  JOB_ID,
  MAX_LABELS,
  META,
  partitionExpr,
  resolvePartition,
  tableName,
  validateJobSpec,
  validateLabels,
  validateTableRef,
} from './duckdb-sql.ts';
import {
  bumpEtag,
  createTable,
  describeTable,
  dropExpiredTables,
  dropTable,
  partitioningOf,
  setTableExpiry,
} from './duckdb-tables.ts';

export { duckDbType, validateLabels, validateTableRef } from './duckdb-sql.ts';

export interface DuckDbWarehouseOptions {
  /** The DuckDB database file (created with its folder if missing). */
  file: string;
  /** How long a call waits for another process holding the file (default 30 s); then LockHeldError. */
  lockWaitMs?: number;
  /** Who we are, for another process's "waiting for ..." message (default "tidemark"). */
  holder?: string;
  /** Close the file and release the lock after this long without work (default 250 ms). */
  idleCloseMs?: number;
  /** Release the lock between calls after holding it this long, if more work waits (default 2 s). */
  maxHoldMs?: number;
  /** Tests: keep a job RUNNING this long before it executes. */
  jobDelayMs?: (spec: JobSpec) => number;
  /** Job timestamps, ingestion time of undecorated loads, and job delays. */
  clock?: Clock;
  /** Maps a `gs://bucket/name` source URI to a local path; without it such URIs fail the job. */
  resolveUri?: (uri: string) => string;
  /**
   * For readers (`tidemark query`): open the file read-only, create nothing, and leave jobs whose
   * process died alone: re-running them is the engine's work, not a reader's (default false).
   */
  readOnly?: boolean;
  /** Files per DuckDB scan of a load (default 1,000; tests cross scan boundaries with fewer). */
  scanFiles?: number;
  /**
   * DuckDB's worker threads (default: TIDEMARK_DUCKDB_THREADS, else DuckDB's own, one per core).
   * Fewer suit a machine that runs several warehouses at once on few cores (the test suite runs
   * two test files per two cores with 1: 10% less CPU, the threads no longer fighting).
   */
  threads?: number;
}

/** The environment variable that sets DuckDbWarehouseOptions.threads. */
export const THREADS_VARIABLE = 'TIDEMARK_DUCKDB_THREADS';

/** TIDEMARK_DUCKDB_THREADS as a thread count; undefined when unset; a ConfigError naming it otherwise. */
export function threadsFromEnv(env: Record<string, string | undefined> = process.env): number | undefined {
  const raw = env[THREADS_VARIABLE];
  if (raw === undefined || raw === '') return undefined;
  if (!/^[1-9]\d{0,3}$/.test(raw))
    throw new ConfigError('the environment', [
      { path: THREADS_VARIABLE, message: `${JSON.stringify(raw)} is not a whole number of threads from 1 to 9999` },
    ]);
  return Number(raw);
}

/** One job as `jobHistory` reports it (times in epoch ms). */
export interface JobHistoryEntry {
  jobId: string;
  kind: JobKind;
  /** `dataset.table`, or null for noop jobs. */
  destination: string | null;
  /** The one partition a load, copy or truncate wrote; null for a whole table, a commit or a noop. */
  partition: string | null;
  /** The partitions a commit replaced or inserted into. */
  partitions?: string[];
  startedAt: number;
  endedAt: number | null;
  state: JobStatus['state'];
  error: JobErrorItem | null;
}

/** Owners (`pid:nonce`) of warehouses open in this process; a RUNNING job of any other owner in this pid was orphaned. */
const liveOwners = new Set<string>();

/** A Warehouse over one DuckDB file, safe to share between processes. */
export class DuckDbWarehouse implements Warehouse {
  private readonly jobDelayMs: ((spec: JobSpec) => number) | undefined;
  private readonly clock: Clock;
  /** Marks the jobs this object runs; other owners' RUNNING jobs are orphans once they are gone. */
  private readonly owner = `${process.pid}:${randomBytes(6).toString('hex')}`;
  private readonly sessions: DuckDbSessions;
  private readonly jobs: DuckDbJobRunner;
  private readonly background = new Set<Promise<void>>();
  private readonly readOnly: boolean;

  constructor(options: DuckDbWarehouseOptions) {
    this.readOnly = options.readOnly ?? false;
    this.jobDelayMs = options.jobDelayMs;
    this.clock = options.clock ?? systemClock;
    this.sessions = new DuckDbSessions({
      file: options.file,
      lockWaitMs: options.lockWaitMs ?? 30_000,
      holder: options.holder ?? 'tidemark',
      idleCloseMs: options.idleCloseMs ?? 250,
      maxHoldMs: options.maxHoldMs ?? 2_000,
      prepare: (conn) => this.prepare(conn),
      readOnly: this.readOnly,
      threads: options.threads ?? threadsFromEnv(),
    });
    this.jobs = new DuckDbJobRunner({
      clock: this.clock,
      owner: this.owner,
      resolveUri: options.resolveUri,
      scanFiles: options.scanFiles,
    });
    liveOwners.add(this.owner);
  }

  // ---- Warehouse ----

  async insertJob(spec: JobSpec): Promise<{ status: JobStatus; created: boolean }> {
    validateJobSpec(spec);
    const result = await this.sessions.withDb(async (conn) => {
      // Expired tables are gone before any job can read them (a copy from an expired stage fails notFound).
      await dropExpiredTables(conn, this.clock.now());
      const existing = await this.readJob(conn, spec.jobId);
      if (existing) return { status: existing, created: false };
      const now = this.clock.now();
      await conn.run(
        `INSERT INTO ${META}.jobs (job_id, spec, kind, state, labels, created_at, started_at, owner)
         VALUES (?, ?::JSON, ?, 'RUNNING', ?::JSON, epoch_ms(?::BIGINT)::TIMESTAMPTZ, epoch_ms(?::BIGINT)::TIMESTAMPTZ, ?)`,
        [spec.jobId, JSON.stringify(spec), spec.kind, JSON.stringify(spec.labels ?? {}), now, now, this.owner],
      );
      const status: JobStatus = { jobId: spec.jobId, state: 'RUNNING', kind: spec.kind, labels: { ...spec.labels } };
      return { status, created: true };
    });
    if (result.created) this.track(this.runJob(spec));
    return result;
  }

  async getJob(jobId: string): Promise<JobStatus | null> {
    if (typeof jobId !== 'string' || !JOB_ID.test(jobId)) return null;
    return this.sessions.withDb((conn) => this.readJob(conn, jobId));
  }

  async getTableLabels(ref: TableRef): Promise<TableLabels | null> {
    validateTableRef(ref);
    return this.sessions.withDb(async (conn) => {
      const table = await describeTable(conn, ref);
      if (!table) return null;
      const [meta] = await readRows(
        conn,
        `SELECT labels, etag FROM ${META}.tables WHERE dataset = ? AND table_name = ?`,
        [ref.dataset, ref.table],
      );
      return { labels: JSON.parse(String(meta!.labels)) as Record<string, string>, etag: String(meta!.etag) };
    });
  }

  async patchTableLabels(ref: TableRef, labels: Record<string, string>, etag: string): Promise<void> {
    validateTableRef(ref);
    validateLabels(labels);
    await this.sessions.withDb(async (conn) => {
      const table = await describeTable(conn, ref);
      const [meta] = table
        ? await readRows(conn, `SELECT labels, etag FROM ${META}.tables WHERE dataset = ? AND table_name = ?`, [
            ref.dataset,
            ref.table,
          ])
        : [];
      if (!meta) {
        throw new PreconditionFailedError(
          `cannot patch labels of ${ref.dataset}.${ref.table}: the table does not exist`,
          { ...ref, expected: etag, actual: null },
        );
      }
      if (String(meta.etag) !== etag) {
        throw new PreconditionFailedError(
          `labels of ${ref.dataset}.${ref.table} changed: expected etag ${etag}, found ${String(meta.etag)}`,
          {
            ...ref,
            expected: etag,
            actual: String(meta.etag),
          },
        );
      }
      const merged = { ...(JSON.parse(String(meta.labels)) as Record<string, string>), ...labels };
      if (Object.keys(merged).length > MAX_LABELS) {
        throw new UnsafeIdentifierError(
          `${ref.dataset}.${ref.table} would have ${Object.keys(merged).length} labels; BigQuery allows ${MAX_LABELS}`,
          { ...ref },
        );
      }
      await conn.run(
        `UPDATE ${META}.tables SET labels = ?::JSON, etag = nextval('${META}.etag_seq')::VARCHAR WHERE dataset = ? AND table_name = ?`,
        [JSON.stringify(merged), ref.dataset, ref.table],
      );
    });
  }

  async listPartitions(ref: TableRef): Promise<PartitionInfo[]> {
    validateTableRef(ref);
    return this.sessions.withDb(async (conn) => {
      const table = await describeTable(conn, ref);
      if (!table) return [];
      const partitioning = partitioningOf(table);
      const expr = partitioning
        ? partitionExpr(partitioning, table.columns, `${ref.dataset}.${ref.table}`)
        : `'__UNPARTITIONED__'`;
      const rows = await readRows(
        conn,
        `SELECT d.pid AS partition_id, d.n AS total_rows, epoch_ms(p.last_modified) AS last_modified
         FROM (SELECT ${expr} AS pid, count(*) AS n FROM ${tableName(ref)} GROUP BY 1) d
         LEFT JOIN ${META}.partitions p ON p.dataset = ? AND p.table_name = ? AND p.partition_id = d.pid
         ORDER BY d.pid`,
        [ref.dataset, ref.table],
      );
      return rows.map((r) => {
        const info: PartitionInfo = { partitionId: String(r.partition_id), totalRows: Number(r.total_rows) };
        if (r.last_modified !== null) info.lastModified = Number(r.last_modified);
        return info;
      });
    });
  }

  async ensureTable(spec: TableSpec): Promise<void> {
    validateTableRef(spec.ref);
    validateLabels(spec.labels ?? {});
    const columns = spec.schema?.length ? columnsFromSchema(spec.schema) : null;
    if (columns && spec.partitioning.field) {
      // Fails early (and permanently) on a partitioning field the schema lacks.
      try {
        partitionExpr(spec.partitioning, columns, `${spec.ref.dataset}.${spec.ref.table}`);
      } catch (err) {
        throw new LoadFailedError(errorMessage(err), { ...spec.ref });
      }
    }
    await this.sessions.withDb(async (conn) => {
      await dropExpiredTables(conn, this.clock.now());
      await conn.run(`CREATE SCHEMA IF NOT EXISTS ${id(spec.ref.dataset)}`);
      if (await describeTable(conn, spec.ref, spec)) {
        // A table a load created (autodetect) gets its expiration now, as BigQuery's tables.patch.
        if (spec.expiresAt !== undefined) await setTableExpiry(conn, spec.ref, spec.expiresAt);
        return;
      }
      // With autodetect and no schema, the first load creates the table from the files.
      if (!columns) return;
      await transaction(conn, () => createTable(conn, spec.ref, columns, spec));
    });
  }

  async deleteTable(ref: TableRef): Promise<void> {
    validateTableRef(ref);
    await this.sessions.withDb((conn) => transaction(conn, () => dropTable(conn, ref)));
  }

  // ---- helpers for the CLI and tests ----

  /** Runs any SQL and returns its rows with JSON-safe values (BIGINT and timestamps as strings). */
  async query(sql: string): Promise<Record<string, unknown>[]> {
    return this.sessions.withDb(async (conn) => (await conn.runAndReadAll(sql)).getRowObjectsJson());
  }

  /** Tests: an operator deletes a partition by hand (`bq rm table$P`). */
  async deletePartition(ref: TableRef, partitionId: string): Promise<void> {
    validateTableRef(ref);
    await this.sessions.withDb(async (conn) => {
      const table = await describeTable(conn, ref);
      const partitioning = table && partitioningOf(table);
      if (!table || !partitioning) return;
      const target = resolvePartition(partitionId, partitioning, `${ref.dataset}.${ref.table}`);
      await transaction(conn, async () => {
        await conn.run(
          `DELETE FROM ${tableName(ref)} WHERE ${partitionExpr(partitioning, table.columns, ref.table)} = ?`,
          [target.id],
        );
        await conn.run(`DELETE FROM ${META}.partitions WHERE dataset = ? AND table_name = ? AND partition_id = ?`, [
          ref.dataset,
          ref.table,
          target.id,
        ]);
        await bumpEtag(conn, ref);
      });
    });
  }

  /** Every job, oldest first: tests check that no two jobs of one partition overlapped. */
  async jobHistory(): Promise<JobHistoryEntry[]> {
    const rows = await this.sessions.withDb((conn) =>
      readRows(
        conn,
        `SELECT job_id, spec, kind, state, error, epoch_ms(started_at) AS started_at, epoch_ms(ended_at) AS ended_at
         FROM ${META}.jobs ORDER BY created_at, rowid`,
      ),
    );
    return rows.map((r) => {
      const spec = JSON.parse(String(r.spec)) as JobSpec;
      const destination =
        spec.kind === 'load' || spec.kind === 'copy'
          ? spec.destination
          : spec.kind === 'truncate' || spec.kind === 'commit'
            ? spec.table.ref
            : null;
      return {
        jobId: String(r.job_id),
        kind: spec.kind,
        destination: destination ? `${destination.dataset}.${destination.table}` : null,
        partition: spec.kind === 'noop' || spec.kind === 'commit' ? null : spec.partition,
        ...(spec.kind === 'commit' ? { partitions: [...new Set([...spec.replace, ...spec.insert])].sort() } : {}),
        startedAt: Number(r.started_at),
        endedAt: r.ended_at === null ? null : Number(r.ended_at),
        state: String(r.state) as JobStatus['state'],
        error: r.error === null ? null : (JSON.parse(String(r.error)) as JobErrorItem),
      };
    });
  }

  /** The spec a job was inserted with, or null. */
  async getJobSpec(jobId: string): Promise<JobSpec | null> {
    const [row] = await this.sessions.withDb((conn) =>
      readRows(conn, `SELECT spec FROM ${META}.jobs WHERE job_id = ?`, [jobId]),
    );
    return row ? (JSON.parse(String(row.spec)) as JobSpec) : null;
  }

  /**
   * Waits for the jobs this object runs, then closes the file and releases the lock. Jobs
   * still waiting for the lock when it gives up stay RUNNING and are re-run by the next opener.
   */
  async close(): Promise<void> {
    if (this.sessions.closed) return;
    this.sessions.startClosing();
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
    await this.sessions.close();
    liveOwners.delete(this.owner);
  }

  // ---- sessions and background jobs ----

  /** Session setup: UTC, metadata tables, and adoption of jobs whose process died (not for readers). */
  private async prepare(conn: DuckDBConnection): Promise<void> {
    if (this.readOnly) {
      await conn.run(`SET TimeZone = 'UTC'`);
      return;
    }
    await conn.run(`SET TimeZone = 'UTC';
      CREATE SCHEMA IF NOT EXISTS ${META};
      CREATE TABLE IF NOT EXISTS ${META}.jobs (
        job_id VARCHAR PRIMARY KEY, spec JSON NOT NULL, kind VARCHAR NOT NULL, state VARCHAR NOT NULL,
        error JSON, errors JSON, output_rows BIGINT, input_bytes BIGINT, labels JSON,
        created_at TIMESTAMPTZ, started_at TIMESTAMPTZ, ended_at TIMESTAMPTZ, owner VARCHAR);
      CREATE TABLE IF NOT EXISTS ${META}.tables (dataset VARCHAR, table_name VARCHAR, labels JSON, etag VARCHAR, spec JSON);
      CREATE TABLE IF NOT EXISTS ${META}.partitions (dataset VARCHAR, table_name VARCHAR, partition_id VARCHAR, last_modified TIMESTAMPTZ);
      CREATE SEQUENCE IF NOT EXISTS ${META}.etag_seq;
      ${COMMIT_STATS_DDL}`);
    if (this.sessions.closing) return;
    const running = await readRows(
      conn,
      `SELECT job_id, spec, owner FROM ${META}.jobs WHERE state = 'RUNNING' ORDER BY created_at`,
    );
    for (const row of running) {
      if (ownerAlive(String(row.owner))) continue;
      // Its process died mid-job; the job never committed (data and DONE commit together), and
      // jobs are deterministic, so running it again finishes it exactly once.
      await conn.run(`UPDATE ${META}.jobs SET owner = ? WHERE job_id = ?`, [this.owner, String(row.job_id)]);
      this.track(this.runJob(JSON.parse(String(row.spec)) as JobSpec));
    }
  }

  /** A job's status as the runner records it, with a commit's statistics. */
  private async readJob(conn: DuckDBConnection, jobId: string): Promise<JobStatus | null> {
    return withCommitStats(conn, await this.jobs.readJob(conn, jobId));
  }

  private track(job: Promise<void>): void {
    this.background.add(job);
    void job.finally(() => this.background.delete(job));
  }

  /** Runs a job in the background until it is DONE (or this object closes while locked out). */
  private async runJob(spec: JobSpec): Promise<void> {
    const delay = this.jobDelayMs?.(spec) ?? 0;
    if (delay > 0) await this.clock.sleep(delay);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.sessions.withDb((conn) => this.jobs.executeJob(conn, spec));
        return;
      } catch (err) {
        const locked = err instanceof LockHeldError;
        if (this.sessions.closing && locked) return; // stays RUNNING; the next opener re-runs it
        if (!locked && attempt >= 5) {
          process.emitWarning(
            `local warehouse job ${spec.jobId} could not run: ${errorMessage(err)}`,
            'TidemarkWarehouseWarning',
          );
          return;
        }
        await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** attempt)));
      }
    }
  }
}

/** Whether a job's owner still runs: its process is alive and, in this process, its warehouse is open. */
function ownerAlive(owner: string): boolean {
  const pid = Number(owner.split(':')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return liveOwners.has(owner);
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
