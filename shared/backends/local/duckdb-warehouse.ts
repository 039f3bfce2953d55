/**
 * The local stand-in for BigQuery: one DuckDB file. Datasets are schemas; job, table and
 * partition metadata live in schema `_tidemark`. It keeps the BigQuery behaviours tidemark
 * relies on: caller-chosen job ids that can be inserted once, jobs that run in the background
 * and always finish, partition-scoped WRITE_TRUNCATE in one transaction, per-file load errors
 * that name the file, partition ids as BigQuery writes them, and table etags.
 *
 * Only one process may have the DuckDB file open. All DB work runs in "sessions": the first
 * call takes a cross-process file lock (`<file>.lock`) and opens the file; calls queue behind
 * each other on that one connection; after `idleCloseMs` without work the file is closed and
 * the lock released, so a CLI command can get in while `npm start` runs. A session also yields
 * after `maxHoldMs` of continuous work so a busy process cannot starve the other.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, extname, isAbsolute, join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { BackendUnavailableError, errorMessage, LoadFailedError, PreconditionFailedError, TidemarkError, UnsafeIdentifierError } from '../../core/errors.ts';
import { systemClock } from '../../core/ports.ts';
import type {
  Clock,
  CsvOptions,
  JobErrorItem,
  JobKind,
  JobSpec,
  JobStatus,
  PartitionInfo,
  Partitioning,
  SchemaField,
  TableLabels,
  TableRef,
  TableSpec,
  Warehouse,
} from '../../core/ports.ts';
import { LockHeldError, withFileLock } from './file-lock.ts';
import { isTempFile } from './lake-store.ts';

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
}

/** One job as `jobHistory` reports it (times in epoch ms). */
export interface JobHistoryEntry {
  jobId: string;
  kind: JobKind;
  /** `dataset.table`, or null for noop jobs. */
  destination: string | null;
  partition: string | null;
  startedAt: number;
  endedAt: number | null;
  state: JobStatus['state'];
  error: JobErrorItem | null;
}

type LoadJob = Extract<JobSpec, { kind: 'load' }>;
type CopyJob = Extract<JobSpec, { kind: 'copy' }>;
type TruncateJob = Extract<JobSpec, { kind: 'truncate' }>;

interface Column {
  name: string;
  type: string;
  nullable: boolean;
}

interface TableInfo {
  ref: TableRef;
  columns: Column[];
  /** The spec the table was created from; null for a table created by hand. */
  spec: TableSpec | null;
}

/** A partition decorator resolved against a table's partitioning. */
interface PartitionTarget {
  id: string;
  /** UTC start as a TIMESTAMPTZ literal body: `2024-01-02 03:00:00+00`. */
  start: string;
}

interface Task {
  run: (conn: DuckDBConnection) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** A job that ends DONE with these errors (nothing written). */
class JobFailure extends Error {
  constructor(readonly items: JobErrorItem[]) {
    super(items[0]?.message ?? 'job failed');
  }
}

const META = '_tidemark';
const PARTITIONTIME = '_PARTITIONTIME';
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const JOB_ID = /^[A-Za-z0-9_-]{1,1024}$/;
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
const MAX_LABELS = 64;
const GLOB_CHARS = /[*?[\]{}]/;

/** Owners (`pid:nonce`) of warehouses open in this process; a RUNNING job of any other owner in this pid was orphaned. */
const liveOwners = new Set<string>();

// ---- validation (exported: config and CLI code may want the same rules) ----------------------

/** Throws UnsafeIdentifierError unless `ref` is a plain dataset and table identifier. */
export function validateTableRef(ref: TableRef): void {
  for (const [what, value] of [['dataset', ref?.dataset], ['table', ref?.table]] as const) {
    if (typeof value !== 'string' || !IDENTIFIER.test(value) || value.length > 1024) {
      throw new UnsafeIdentifierError(`invalid ${what} identifier ${JSON.stringify(value)}: must match ${IDENTIFIER}`, { [what]: value });
    }
  }
  if (ref.dataset === META) throw new UnsafeIdentifierError(`dataset ${META} is reserved for tidemark's metadata`, { dataset: ref.dataset });
}

/** Throws UnsafeIdentifierError unless every key and value follows BigQuery's label rules. */
export function validateLabels(labels: Record<string, string>): void {
  for (const [key, value] of Object.entries(labels ?? {})) {
    if (!LABEL_KEY.test(key)) {
      throw new UnsafeIdentifierError(`invalid label key ${JSON.stringify(key)}: must match ${LABEL_KEY}`, { label: key });
    }
    if (typeof value !== 'string' || !LABEL_VALUE.test(value)) {
      throw new UnsafeIdentifierError(`invalid value ${JSON.stringify(value)} for label ${key}: must match ${LABEL_VALUE}`, { label: key, value });
    }
  }
}

// ---- SQL text helpers ------------------------------------------------------------------------

/** A quoted SQL identifier. */
function id(name: string): string {
  if (name.includes('\0')) throw new UnsafeIdentifierError(`identifier contains NUL: ${JSON.stringify(name)}`);
  return `"${name.replaceAll('"', '""')}"`;
}

/** A SQL string literal. */
function lit(value: string): string {
  if (value.includes('\0')) throw new UnsafeIdentifierError(`string contains NUL: ${JSON.stringify(value)}`);
  return `'${value.replaceAll("'", "''")}'`;
}

function tableName(ref: TableRef): string {
  return `${id(ref.dataset)}.${id(ref.table)}`;
}

/** DuckDB type for a BigQuery schema field. */
export function duckDbType(field: SchemaField): string {
  let base: string;
  switch (field.type.toUpperCase()) {
    case 'STRING':
    case 'GEOGRAPHY':
      base = 'VARCHAR';
      break;
    case 'BYTES':
      base = 'BLOB';
      break;
    case 'INTEGER':
    case 'INT64':
      base = 'BIGINT';
      break;
    case 'FLOAT':
    case 'FLOAT64':
    case 'BIGNUMERIC':
    case 'BIGDECIMAL':
      base = 'DOUBLE';
      break;
    case 'NUMERIC':
    case 'DECIMAL':
      base = 'DECIMAL(38,9)';
      break;
    case 'BOOLEAN':
    case 'BOOL':
      base = 'BOOLEAN';
      break;
    case 'TIMESTAMP':
      base = 'TIMESTAMPTZ';
      break;
    case 'DATE':
      base = 'DATE';
      break;
    case 'DATETIME':
      base = 'TIMESTAMP';
      break;
    case 'TIME':
      base = 'TIME';
      break;
    case 'JSON':
      base = 'JSON';
      break;
    case 'INTERVAL':
      base = 'INTERVAL';
      break;
    case 'RECORD':
    case 'STRUCT':
      if (!field.fields?.length) throw new UnsafeIdentifierError(`RECORD field ${field.name} has no fields`, { field: field.name });
      validateFieldNames(field.fields, `${field.name}.`);
      base = `STRUCT(${field.fields.map((f) => `${id(f.name)} ${duckDbType(f)}`).join(', ')})`;
      break;
    default:
      throw new UnsafeIdentifierError(`unsupported BigQuery type ${JSON.stringify(field.type)} for field ${field.name}`, { field: field.name });
  }
  return field.mode === 'REPEATED' ? `${base}[]` : base;
}

function validateFieldNames(fields: SchemaField[], path = ''): void {
  const seen = new Set<string>();
  for (const f of fields) {
    if (typeof f.name !== 'string' || f.name.length === 0 || f.name.length > 300 || f.name.includes('\0')) {
      throw new UnsafeIdentifierError(`invalid field name ${JSON.stringify(path + f.name)}`, { field: path + f.name });
    }
    if (!path && f.name.toUpperCase().startsWith('_PARTITION')) {
      throw new UnsafeIdentifierError(`field name ${f.name} is reserved (_PARTITION prefix)`, { field: f.name });
    }
    const key = f.name.toLowerCase();
    if (seen.has(key)) throw new UnsafeIdentifierError(`duplicate field name ${JSON.stringify(path + f.name)}`, { field: path + f.name });
    seen.add(key);
  }
}

function columnsFromSchema(schema: SchemaField[]): Column[] {
  validateFieldNames(schema);
  return schema.map((f) => ({ name: f.name, type: duckDbType(f), nullable: f.mode !== 'REQUIRED' }));
}

function isIngestionTime(p: Partitioning): boolean {
  return !p.field;
}

/** Columns DDL for a new table: the schema, plus `_PARTITIONTIME` for ingestion-time partitioning. */
function columnsDdl(columns: Column[], partitioning: Partitioning): string {
  const defs = columns.map((c) => `${id(c.name)} ${c.type}${c.nullable ? '' : ' NOT NULL'}`);
  if (isIngestionTime(partitioning) && !columns.some((c) => c.name === PARTITIONTIME)) defs.push(`${id(PARTITIONTIME)} TIMESTAMPTZ`);
  return defs.join(', ');
}

/**
 * The SQL expression giving a row's partition id, exactly as BigQuery writes it: the UTC hour
 * (YYYYMMDDHH) or day (YYYYMMDD) of `_PARTITIONTIME` or of the partitioning column; `__NULL__`
 * for a NULL column value.
 */
function partitionExpr(partitioning: Partitioning, columns: Column[], table: string): string {
  const fmt = partitioning.type === 'HOUR' ? '%Y%m%d%H' : '%Y%m%d';
  const field = partitioning.field ?? PARTITIONTIME;
  const column = columns.find((c) => c.name.toLowerCase() === field.toLowerCase());
  if (!column) throw new JobFailure([{ reason: 'invalid', message: `partitioning field ${field} is not a column of ${table}` }]);
  const type = column.type.toUpperCase();
  let time: string;
  if (type === 'DATE') time = id(column.name);
  else if (type === 'TIMESTAMP WITH TIME ZONE' || type === 'TIMESTAMPTZ') time = `timezone('UTC', ${id(column.name)})`;
  else if (type === 'TIMESTAMP') time = id(column.name);
  else throw new JobFailure([{ reason: 'invalid', message: `partitioning field ${field} of ${table} has type ${column.type}, not DATE, TIMESTAMP or DATETIME` }]);
  return `coalesce(strftime(${time}, '${fmt}'), '__NULL__')`;
}

/** Checks a decorator against the partitioning and gives its UTC start. */
function resolvePartition(decorator: string, partitioning: Partitioning, table: string): PartitionTarget {
  const hourly = partitioning.type === 'HOUR';
  const shape = hourly ? /^(\d{4})(\d{2})(\d{2})(\d{2})$/ : /^(\d{4})(\d{2})(\d{2})$/;
  const m = shape.exec(decorator);
  const [y, mo, d, h] = (m?.slice(1) ?? []).map(Number) as [number, number, number, number?];
  const date = m ? new Date(Date.UTC(y, mo - 1, d, h ?? 0)) : null;
  if (!date || date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || date.getUTCHours() !== (h ?? 0)) {
    throw new JobFailure([
      { reason: 'invalid', message: `invalid partition decorator ${table}$${decorator}: the table is partitioned by ${partitioning.type}, expected ${hourly ? 'YYYYMMDDHH' : 'YYYYMMDD'}` },
    ]);
  }
  return { id: decorator, start: date.toISOString().replace('T', ' ').replace('.000Z', '+00') };
}

/** The partition an ingestion-time row written at `ms` goes to. */
function partitionAt(ms: number, partitioning: Partitioning): PartitionTarget {
  const iso = new Date(ms).toISOString();
  const decorator = iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + (partitioning.type === 'HOUR' ? iso.slice(11, 13) : '');
  return resolvePartition(decorator, partitioning, '');
}

function csvReadOptions(csv: CsvOptions | undefined): string[] {
  const delimiter = csv?.fieldDelimiter === undefined ? ',' : csv.fieldDelimiter === 'tab' || csv.fieldDelimiter === '\\t' ? '\t' : csv.fieldDelimiter;
  const quote = csv?.quote ?? '"';
  const options = [`delim=${lit(delimiter)}`, `quote=${lit(quote)}`, `escape=${lit(quote)}`];
  if (csv?.nullMarker !== undefined) options.push(`nullstr=${lit(csv.nullMarker)}`);
  if (csv?.allowJaggedRows) options.push('null_padding=true');
  if (csv?.encoding === 'ISO-8859-1') options.push(`encoding='latin-1'`);
  return options;
}

function structLiteral(columns: Column[]): string {
  return `{${columns.map((c) => `${lit(c.name)}: ${lit(c.type)}`).join(', ')}}`;
}

// ---- the warehouse -----------------------------------------------------------------------------

/** A Warehouse over one DuckDB file, safe to share between processes. */
export class DuckDbWarehouse implements Warehouse {
  private readonly file: string;
  private readonly lockPath: string;
  private readonly lockWaitMs: number;
  private readonly holder: string;
  private readonly idleCloseMs: number;
  private readonly maxHoldMs: number;
  private readonly jobDelayMs: ((spec: JobSpec) => number) | undefined;
  private readonly clock: Clock;
  private readonly resolveUri: ((uri: string) => string) | undefined;
  /** Marks the jobs this object runs; other owners' RUNNING jobs are orphans once they are gone. */
  private readonly owner = `${process.pid}:${randomBytes(6).toString('hex')}`;

  private readonly queue: Task[] = [];
  private session: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly background = new Set<Promise<void>>();
  private closing = false;
  private closed = false;

  constructor(options: DuckDbWarehouseOptions) {
    this.file = options.file;
    this.lockPath = `${options.file}.lock`;
    this.lockWaitMs = options.lockWaitMs ?? 30_000;
    this.holder = options.holder ?? 'tidemark';
    this.idleCloseMs = options.idleCloseMs ?? 250;
    this.maxHoldMs = options.maxHoldMs ?? 2_000;
    this.jobDelayMs = options.jobDelayMs;
    this.clock = options.clock ?? systemClock;
    this.resolveUri = options.resolveUri;
    liveOwners.add(this.owner);
  }

  // ---- Warehouse ----

  async insertJob(spec: JobSpec): Promise<{ status: JobStatus; created: boolean }> {
    validateJobSpec(spec);
    const result = await this.withDb(async (conn) => {
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
    return this.withDb((conn) => this.readJob(conn, jobId));
  }

  async getTableLabels(ref: TableRef): Promise<TableLabels | null> {
    validateTableRef(ref);
    return this.withDb(async (conn) => {
      const table = await this.describeTable(conn, ref);
      if (!table) return null;
      const [meta] = await this.rows(conn, `SELECT labels, etag FROM ${META}.tables WHERE dataset = ? AND table_name = ?`, [ref.dataset, ref.table]);
      return { labels: JSON.parse(String(meta!.labels)) as Record<string, string>, etag: String(meta!.etag) };
    });
  }

  async patchTableLabels(ref: TableRef, labels: Record<string, string>, etag: string): Promise<void> {
    validateTableRef(ref);
    validateLabels(labels);
    await this.withDb(async (conn) => {
      const table = await this.describeTable(conn, ref);
      const [meta] = table ? await this.rows(conn, `SELECT labels, etag FROM ${META}.tables WHERE dataset = ? AND table_name = ?`, [ref.dataset, ref.table]) : [];
      if (!meta) {
        throw new PreconditionFailedError(`cannot patch labels of ${ref.dataset}.${ref.table}: the table does not exist`, { ...ref, expected: etag, actual: null });
      }
      if (String(meta.etag) !== etag) {
        throw new PreconditionFailedError(`labels of ${ref.dataset}.${ref.table} changed: expected etag ${etag}, found ${String(meta.etag)}`, {
          ...ref,
          expected: etag,
          actual: String(meta.etag),
        });
      }
      const merged = { ...(JSON.parse(String(meta.labels)) as Record<string, string>), ...labels };
      if (Object.keys(merged).length > MAX_LABELS) {
        throw new UnsafeIdentifierError(`${ref.dataset}.${ref.table} would have ${Object.keys(merged).length} labels; BigQuery allows ${MAX_LABELS}`, { ...ref });
      }
      await conn.run(`UPDATE ${META}.tables SET labels = ?::JSON, etag = nextval('${META}.etag_seq')::VARCHAR WHERE dataset = ? AND table_name = ?`, [
        JSON.stringify(merged),
        ref.dataset,
        ref.table,
      ]);
    });
  }

  async listPartitions(ref: TableRef): Promise<PartitionInfo[]> {
    validateTableRef(ref);
    return this.withDb(async (conn) => {
      const table = await this.describeTable(conn, ref);
      if (!table) return [];
      const partitioning = this.partitioningOf(table);
      const expr = partitioning ? partitionExpr(partitioning, table.columns, `${ref.dataset}.${ref.table}`) : `'__UNPARTITIONED__'`;
      const rows = await this.rows(
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
    await this.withDb(async (conn) => {
      await conn.run(`CREATE SCHEMA IF NOT EXISTS ${id(spec.ref.dataset)}`);
      if (await this.describeTable(conn, spec.ref, spec)) return;
      // With autodetect and no schema, the first load creates the table from the files.
      if (!columns) return;
      await this.transaction(conn, () => this.createTable(conn, spec.ref, columns, spec));
    });
  }

  async deleteTable(ref: TableRef): Promise<void> {
    validateTableRef(ref);
    await this.withDb((conn) =>
      this.transaction(conn, async () => {
        await conn.run(`DROP TABLE IF EXISTS ${tableName(ref)}`);
        await conn.run(`DELETE FROM ${META}.tables WHERE dataset = ? AND table_name = ?`, [ref.dataset, ref.table]);
        await conn.run(`DELETE FROM ${META}.partitions WHERE dataset = ? AND table_name = ?`, [ref.dataset, ref.table]);
      }),
    );
  }

  // ---- helpers for the CLI and tests ----

  /** Runs any SQL and returns its rows with JSON-safe values (BIGINT and timestamps as strings). */
  async query(sql: string): Promise<Record<string, unknown>[]> {
    return this.withDb(async (conn) => (await conn.runAndReadAll(sql)).getRowObjectsJson());
  }

  /** Tests: an operator deletes a partition by hand (`bq rm table$P`). */
  async deletePartition(ref: TableRef, partitionId: string): Promise<void> {
    validateTableRef(ref);
    await this.withDb(async (conn) => {
      const table = await this.describeTable(conn, ref);
      const partitioning = table && this.partitioningOf(table);
      if (!table || !partitioning) return;
      const target = resolvePartition(partitionId, partitioning, `${ref.dataset}.${ref.table}`);
      await this.transaction(conn, async () => {
        await conn.run(`DELETE FROM ${tableName(ref)} WHERE ${partitionExpr(partitioning, table.columns, ref.table)} = ?`, [target.id]);
        await conn.run(`DELETE FROM ${META}.partitions WHERE dataset = ? AND table_name = ? AND partition_id = ?`, [ref.dataset, ref.table, target.id]);
        await this.bumpEtag(conn, ref);
      });
    });
  }

  /** Every job, oldest first: tests check that no two jobs of one partition overlapped. */
  async jobHistory(): Promise<JobHistoryEntry[]> {
    const rows = await this.withDb((conn) =>
      this.rows(
        conn,
        `SELECT job_id, spec, kind, state, error, epoch_ms(started_at) AS started_at, epoch_ms(ended_at) AS ended_at
         FROM ${META}.jobs ORDER BY created_at, job_id`,
      ),
    );
    return rows.map((r) => {
      const spec = JSON.parse(String(r.spec)) as JobSpec;
      const destination = spec.kind === 'load' || spec.kind === 'copy' ? spec.destination : spec.kind === 'truncate' ? spec.table.ref : null;
      return {
        jobId: String(r.job_id),
        kind: spec.kind,
        destination: destination ? `${destination.dataset}.${destination.table}` : null,
        partition: spec.kind === 'noop' ? null : spec.partition,
        startedAt: Number(r.started_at),
        endedAt: r.ended_at === null ? null : Number(r.ended_at),
        state: String(r.state) as JobStatus['state'],
        error: r.error === null ? null : (JSON.parse(String(r.error)) as JobErrorItem),
      };
    });
  }

  /** The spec a job was inserted with, or null. */
  async getJobSpec(jobId: string): Promise<JobSpec | null> {
    const [row] = await this.withDb((conn) => this.rows(conn, `SELECT spec FROM ${META}.jobs WHERE job_id = ?`, [jobId]));
    return row ? (JSON.parse(String(row.spec)) as JobSpec) : null;
  }

  /**
   * Waits for the jobs this object runs, then closes the file and releases the lock. Jobs
   * still waiting for the lock when it gives up stay RUNNING and are re-run by the next opener.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
    this.wake?.();
    await this.session;
    this.closed = true;
    liveOwners.delete(this.owner);
  }

  // ---- sessions: the file lock, the open file, the queue ----

  private withDb<T>(run: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new BackendUnavailableError(`warehouse ${this.file} is closed`, { file: this.file }));
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
      const outcome = await withFileLock(this.lockPath, () => this.serve(), { waitMs: this.lockWaitMs, holder: this.holder });
      // Let a process polling for the lock in, before taking it back.
      if (outcome === 'yield') await new Promise((r) => setTimeout(r, 150));
    } catch (err) {
      // The lock (LockHeldError) or the file itself (DuckDB's own lock, held by a process that
      // does not use ours, such as the duckdb CLI) is unavailable: transient.
      const failure =
        err instanceof TidemarkError ? err : new BackendUnavailableError(`cannot open the local warehouse ${this.file}: ${errorMessage(err)}`, { file: this.file }, { cause: err });
      for (const task of this.queue.splice(0)) task.reject(failure);
    }
  }

  /** Holds the lock: opens the file, runs queued tasks until idle (or too long), closes. */
  private async serve(): Promise<'idle' | 'yield'> {
    await mkdir(dirname(this.file), { recursive: true });
    const instance = await DuckDBInstance.create(this.file);
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
    if (this.closing) return Promise.resolve(false);
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

  /** Session setup: UTC, metadata tables, and adoption of jobs whose process died. */
  private async prepare(conn: DuckDBConnection): Promise<void> {
    await conn.run(`SET TimeZone = 'UTC';
      CREATE SCHEMA IF NOT EXISTS ${META};
      CREATE TABLE IF NOT EXISTS ${META}.jobs (
        job_id VARCHAR PRIMARY KEY, spec JSON NOT NULL, kind VARCHAR NOT NULL, state VARCHAR NOT NULL,
        error JSON, errors JSON, output_rows BIGINT, input_bytes BIGINT, labels JSON,
        created_at TIMESTAMPTZ, started_at TIMESTAMPTZ, ended_at TIMESTAMPTZ, owner VARCHAR);
      CREATE TABLE IF NOT EXISTS ${META}.tables (dataset VARCHAR, table_name VARCHAR, labels JSON, etag VARCHAR, spec JSON);
      CREATE TABLE IF NOT EXISTS ${META}.partitions (dataset VARCHAR, table_name VARCHAR, partition_id VARCHAR, last_modified TIMESTAMPTZ);
      CREATE SEQUENCE IF NOT EXISTS ${META}.etag_seq;`);
    if (this.closing) return;
    const running = await this.rows(conn, `SELECT job_id, spec, owner FROM ${META}.jobs WHERE state = 'RUNNING' ORDER BY created_at`);
    for (const row of running) {
      if (ownerAlive(String(row.owner))) continue;
      // Its process died mid-job; the job never committed (data and DONE commit together), and
      // jobs are deterministic, so running it again finishes it exactly once.
      await conn.run(`UPDATE ${META}.jobs SET owner = ? WHERE job_id = ?`, [this.owner, String(row.job_id)]);
      this.track(this.runJob(JSON.parse(String(row.spec)) as JobSpec));
    }
  }

  private track(job: Promise<void>): void {
    this.background.add(job);
    void job.finally(() => this.background.delete(job));
  }

  // ---- jobs ----

  /** Runs a job in the background until it is DONE (or this object closes while locked out). */
  private async runJob(spec: JobSpec): Promise<void> {
    const delay = this.jobDelayMs?.(spec) ?? 0;
    if (delay > 0) await this.clock.sleep(delay);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.withDb((conn) => this.executeJob(conn, spec));
        return;
      } catch (err) {
        const locked = err instanceof LockHeldError;
        if (this.closing && locked) return; // stays RUNNING; the next opener re-runs it
        if (!locked && attempt >= 5) {
          process.emitWarning(`local warehouse job ${spec.jobId} could not run: ${errorMessage(err)}`, 'TidemarkWarehouseWarning');
          return;
        }
        await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** attempt)));
      }
    }
  }

  private async executeJob(conn: DuckDBConnection, spec: JobSpec): Promise<void> {
    const [row] = await this.rows(conn, `SELECT state, owner FROM ${META}.jobs WHERE job_id = ?`, [spec.jobId]);
    if (!row || row.state !== 'RUNNING' || row.owner !== this.owner) return;
    try {
      switch (spec.kind) {
        case 'load':
          return await this.runLoad(conn, spec);
        case 'copy':
          return await this.runCopy(conn, spec);
        case 'truncate':
          return await this.runTruncate(conn, spec);
        case 'noop':
          return await this.finishJob(conn, spec.jobId, {});
      }
    } catch (err) {
      const items =
        err instanceof JobFailure ? err.items : [{ reason: err instanceof TidemarkError ? 'invalid' : 'internalError', message: errorMessage(err) }];
      await this.finishJob(conn, spec.jobId, { errors: items });
    }
  }

  private async finishJob(
    conn: DuckDBConnection,
    jobId: string,
    result: { errors?: JobErrorItem[]; outputRows?: number; inputBytes?: number },
  ): Promise<void> {
    const failed = result.errors && result.errors.length > 0;
    await conn.run(
      `UPDATE ${META}.jobs SET state = 'DONE', error = ?::JSON, errors = ?::JSON, output_rows = ?, input_bytes = ?,
         ended_at = epoch_ms(?::BIGINT)::TIMESTAMPTZ WHERE job_id = ?`,
      [
        failed ? JSON.stringify(result.errors![0]) : null,
        failed ? JSON.stringify(result.errors) : null,
        failed ? null : (result.outputRows ?? null),
        result.inputBytes ?? null,
        this.clock.now(),
        jobId,
      ],
    );
  }

  private async readJob(conn: DuckDBConnection, jobId: string): Promise<JobStatus | null> {
    const [row] = await this.rows(conn, `SELECT job_id, kind, state, error, errors, output_rows, input_bytes, labels FROM ${META}.jobs WHERE job_id = ?`, [jobId]);
    if (!row) return null;
    const status: JobStatus = {
      jobId: String(row.job_id),
      state: String(row.state) as JobStatus['state'],
      kind: String(row.kind) as JobKind,
      labels: row.labels === null ? {} : (JSON.parse(String(row.labels)) as Record<string, string>),
    };
    if (row.error !== null) status.errorResult = JSON.parse(String(row.error)) as JobErrorItem;
    if (row.errors !== null) status.errors = JSON.parse(String(row.errors)) as JobErrorItem[];
    if (row.output_rows !== null) status.outputRows = Number(row.output_rows);
    if (row.input_bytes !== null) status.inputBytes = Number(row.input_bytes);
    return status;
  }

  /**
   * A load: every file is first read on its own into a temp table (so each bad file is named,
   * and nothing is written yet); only if all are good are they written in one transaction with
   * the truncation and the job's DONE mark.
   */
  private async runLoad(conn: DuckDBConnection, spec: LoadJob): Promise<void> {
    const ref = spec.destination;
    const name = `${ref.dataset}.${ref.table}`;
    const format = spec.table.format;
    if (format !== 'CSV' && format !== 'NEWLINE_DELIMITED_JSON' && format !== 'PARQUET') {
      throw new JobFailure([{ reason: 'invalid', message: `source format ${format} is not supported by the local warehouse (CSV, NEWLINE_DELIMITED_JSON and PARQUET are)` }]);
    }
    const files = await this.resolveSources(spec.sourceUris);
    const inputBytes = files.reduce((sum, f) => sum + f.size, 0);

    await conn.run(`CREATE SCHEMA IF NOT EXISTS ${id(ref.dataset)}`);
    let table = await this.describeTable(conn, ref, spec.table);
    if (!table && spec.table.schema?.length) {
      await this.transaction(conn, () => this.createTable(conn, ref, columnsFromSchema(spec.table.schema!), spec.table));
      table = await this.describeTable(conn, ref, spec.table);
    }
    const partitioning = (table && this.partitioningOf(table)) ?? spec.table.partitioning;
    const target = spec.partition === null ? null : resolvePartition(spec.partition, partitioning, name);
    const ingestion = isIngestionTime(partitioning);
    // Rows of an ingestion-time table land in the decorated partition, else in "now".
    const partitionTime = ingestion ? (target ?? partitionAt(this.clock.now(), partitioning)).start : null;
    let columns = table ? table.columns.filter((c) => c.name !== PARTITIONTIME) : null;

    const stages: { stage: string; uri: string }[] = [];
    const errors: JobErrorItem[] = [];
    const scratch = await mkdtemp(join(tmpdir(), 'tidemark-load-'));
    try {
      for (const [i, file] of files.entries()) {
        if (file.size === 0) continue; // an empty file is 0 rows in every format
        const stage = `__tidemark_${spec.jobId.slice(0, 40).replace(/-/g, '_')}_${i}`;
        try {
          const path = await readablePath(file.path, scratch, i);
          const gzip = format !== 'PARQUET' && (await isGzip(file.path));
          if (gzip) await checkGzip(file.path);
          if (format === 'PARQUET' && columns) await this.checkParquetColumns(conn, path, columns);
          const reader = columns ? explicitReader(format, path, columns, spec.table.csv, gzip) : autoReader(format, path, spec.table.csv, gzip);
          const extra = partitionTime ? `, TIMESTAMPTZ ${lit(partitionTime)} AS ${id(PARTITIONTIME)}` : '';
          await conn.run(`CREATE OR REPLACE TEMP TABLE ${id(stage)} AS SELECT *${extra} FROM ${reader}`);
          stages.push({ stage, uri: file.uri });
          const stageColumns = await this.columnsOf(conn, 'temp', 'main', stage);
          columns ??= stageColumns.filter((c) => c.name !== PARTITIONTIME);
          const problem = await this.checkStage(conn, stage, stageColumns, { format, path, gzip, columns, table, partitioning, target, name });
          if (problem) errors.push({ reason: 'invalid', location: file.uri, message: problem });
        } catch (err) {
          errors.push({ reason: 'invalid', location: file.uri, message: errorMessage(err) });
        }
      }
      if (errors.length > 0) throw new JobFailure(errors);

      await this.transaction(conn, async () => {
        if (!table) {
          if (!columns) return this.finishJob(conn, spec.jobId, { outputRows: 0, inputBytes }); // only empty files, no schema
          await this.createTable(conn, ref, columns, spec.table);
          table = await this.describeTable(conn, ref, spec.table);
        }
        const expr = partitionExpr(partitioning, table!.columns, name);
        if (spec.writeDisposition === 'WRITE_TRUNCATE') {
          if (target) await conn.run(`DELETE FROM ${tableName(ref)} WHERE ${expr} = ?`, [target.id]);
          else await conn.run(`DELETE FROM ${tableName(ref)}`);
          await this.forgetPartitions(conn, ref, target?.id);
        }
        let outputRows = 0;
        const touched = new Set<string>(target ? [target.id] : []);
        for (const { stage, uri } of stages) {
          try {
            outputRows += (await conn.run(`INSERT INTO ${tableName(ref)} BY NAME SELECT * FROM ${id(stage)}`)).rowsChanged;
          } catch (err) {
            throw new JobFailure([{ reason: 'invalid', location: uri, message: errorMessage(err) }]);
          }
          if (!target) {
            const ids = await this.rows(conn, `SELECT DISTINCT ${expr} AS pid FROM ${id(stage)}`);
            for (const r of ids) touched.add(String(r.pid));
          }
        }
        await this.touchPartitions(conn, ref, [...touched]);
        await this.bumpEtag(conn, ref);
        await this.finishJob(conn, spec.jobId, { outputRows, inputBytes });
      });
    } finally {
      for (const { stage } of stages) await conn.run(`DROP TABLE IF EXISTS temp.main.${id(stage)}`).catch(() => {});
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /** A Parquet file must have every column of the table (by name, any case); BigQuery fails it otherwise. */
  private async checkParquetColumns(conn: DuckDBConnection, path: string, columns: Column[]): Promise<void> {
    const described = await this.rows(conn, `DESCRIBE SELECT * FROM read_parquet(${lit(path)}, hive_partitioning=false)`);
    const present = new Set(described.map((r) => String(r.column_name).toLowerCase()));
    const missing = columns.filter((c) => !present.has(c.name.toLowerCase())).map((c) => c.name);
    if (missing.length > 0) {
      throw new Error(`Parquet schema does not match the table: missing column(s) ${missing.join(', ')}; the file has ${described.map((r) => String(r.column_name)).join(', ')}`);
    }
  }

  /** Checks a staged file: unknown JSON fields, NULLs in REQUIRED columns, rows outside the decorated partition. */
  private async checkStage(
    conn: DuckDBConnection,
    stage: string,
    stageColumns: Column[],
    ctx: {
      format: string;
      path: string;
      gzip: boolean;
      columns: Column[];
      table: TableInfo | null;
      partitioning: Partitioning;
      target: PartitionTarget | null;
      name: string;
    },
  ): Promise<string | undefined> {
    if (ctx.format === 'NEWLINE_DELIMITED_JSON' && ctx.table) {
      // read_json ignores keys it was not asked for; BigQuery rejects them ("No such field").
      const known = ctx.columns.map((c) => lit(c.name.toLowerCase())).join(', ');
      const [unknown] = await this.rows(
        conn,
        `SELECT k, count(*) AS n FROM (SELECT unnest(json_keys(json)) AS k FROM read_ndjson_objects(${lit(ctx.path)}, hive_partitioning=false, ${jsonCompression(ctx.gzip)}))
         WHERE lower(k) NOT IN (${known}) GROUP BY k ORDER BY k LIMIT 1`,
      );
      if (unknown) return `No such field: ${String(unknown.k)} (in ${Number(unknown.n)} row(s)); ${ctx.name} has no column of that name`;
    }
    for (const column of ctx.table?.columns ?? []) {
      if (column.nullable || column.name === PARTITIONTIME) continue;
      const [row] = await this.rows(conn, `SELECT count(*) AS n FROM ${id(stage)} WHERE ${id(column.name)} IS NULL`);
      if (Number(row!.n) > 0) return `Required field ${column.name} cannot be null (${Number(row!.n)} row(s))`;
    }
    if (ctx.target && ctx.partitioning.field) {
      const expr = partitionExpr(ctx.partitioning, stageColumns, ctx.name);
      const [row] = await this.rows(
        conn,
        `SELECT count(*) AS n, min(${expr}) AS example FROM ${id(stage)} WHERE ${expr} IS DISTINCT FROM ?`,
        [ctx.target.id],
      );
      if (Number(row!.n) > 0) {
        return `${Number(row!.n)} row(s) fall outside partition ${ctx.name}$${ctx.target.id}: ${ctx.partitioning.field} puts them in partition ${String(row!.example)}`;
      }
    }
    return undefined;
  }

  private async runCopy(conn: DuckDBConnection, spec: CopyJob): Promise<void> {
    const name = `${spec.destination.dataset}.${spec.destination.table}`;
    const source = await this.describeTable(conn, spec.source);
    if (!source) throw new JobFailure([{ reason: 'notFound', message: `Not found: Table ${spec.source.dataset}.${spec.source.table}` }]);
    let dest = await this.describeTable(conn, spec.destination);
    const partitioning = (dest && this.partitioningOf(dest)) ?? this.partitioningOf(source);
    const target = spec.partition === null || !partitioning ? null : resolvePartition(spec.partition, partitioning, name);
    const hasTime = source.columns.some((c) => c.name === PARTITIONTIME);
    // An ingestion-time destination: rows take the decorated partition (or keep their own).
    let select = `SELECT * FROM ${tableName(spec.source)}`;
    if (partitioning && isIngestionTime(partitioning) && (target || !hasTime)) {
      const time = (target ?? partitionAt(this.clock.now(), partitioning)).start;
      select = `SELECT * ${hasTime ? `EXCLUDE (${id(PARTITIONTIME)})` : ''}, TIMESTAMPTZ ${lit(time)} AS ${id(PARTITIONTIME)} FROM ${tableName(spec.source)}`;
    }
    if (target && partitioning?.field) {
      const expr = partitionExpr(partitioning, source.columns, name);
      const [row] = await this.rows(conn, `SELECT count(*) AS n, min(${expr}) AS example FROM (${select}) WHERE ${expr} IS DISTINCT FROM ?`, [target.id]);
      if (Number(row!.n) > 0) {
        throw new JobFailure([
          { reason: 'invalid', message: `${Number(row!.n)} row(s) of ${spec.source.dataset}.${spec.source.table} fall outside partition ${name}$${target.id} (e.g. partition ${String(row!.example)})` },
        ]);
      }
    }
    await this.transaction(conn, async () => {
      if (!dest) {
        await conn.run(`CREATE SCHEMA IF NOT EXISTS ${id(spec.destination.dataset)}`);
        await conn.run(`CREATE TABLE ${tableName(spec.destination)} AS ${select} LIMIT 0`);
        const destSpec = source.spec ? { ...source.spec, ref: spec.destination, labels: {} } : null;
        await this.insertTableMeta(conn, spec.destination, destSpec);
        dest = await this.describeTable(conn, spec.destination);
      }
      const expr = partitioning ? partitionExpr(partitioning, dest!.columns, name) : null;
      if (spec.writeDisposition === 'WRITE_TRUNCATE') {
        if (target && expr) await conn.run(`DELETE FROM ${tableName(spec.destination)} WHERE ${expr} = ?`, [target.id]);
        else await conn.run(`DELETE FROM ${tableName(spec.destination)}`);
        await this.forgetPartitions(conn, spec.destination, target?.id);
      }
      let outputRows: number;
      try {
        outputRows = (await conn.run(`INSERT INTO ${tableName(spec.destination)} BY NAME ${select}`)).rowsChanged;
      } catch (err) {
        throw new JobFailure([{ reason: 'invalid', message: errorMessage(err) }]);
      }
      const touched = target ? [target.id] : expr ? (await this.rows(conn, `SELECT DISTINCT ${expr} AS pid FROM (${select})`)).map((r) => String(r.pid)) : [];
      await this.touchPartitions(conn, spec.destination, touched);
      await this.bumpEtag(conn, spec.destination);
      await this.finishJob(conn, spec.jobId, { outputRows });
    });
  }

  private async runTruncate(conn: DuckDBConnection, spec: TruncateJob): Promise<void> {
    const ref = spec.table.ref;
    const name = `${ref.dataset}.${ref.table}`;
    let table = await this.describeTable(conn, ref, spec.table);
    if (!table && spec.table.schema?.length) {
      await conn.run(`CREATE SCHEMA IF NOT EXISTS ${id(ref.dataset)}`);
      await this.transaction(conn, () => this.createTable(conn, ref, columnsFromSchema(spec.table.schema!), spec.table));
      table = await this.describeTable(conn, ref, spec.table);
    }
    const partitioning = (table && this.partitioningOf(table)) ?? spec.table.partitioning;
    const target = resolvePartition(spec.partition, partitioning, name);
    if (!table) return this.finishJob(conn, spec.jobId, { outputRows: 0 }); // nothing to empty
    await this.transaction(conn, async () => {
      await conn.run(`DELETE FROM ${tableName(ref)} WHERE ${partitionExpr(partitioning, table.columns, name)} = ?`, [target.id]);
      await this.forgetPartitions(conn, ref, target.id);
      await this.touchPartitions(conn, ref, [target.id]);
      await this.bumpEtag(conn, ref);
      await this.finishJob(conn, spec.jobId, { outputRows: 0 });
    });
  }

  /** Local paths of the source URIs with their sizes; every missing source is reported. */
  private async resolveSources(uris: string[]): Promise<{ uri: string; path: string; size: number }[]> {
    const files: { uri: string; path: string; size: number }[] = [];
    const errors: JobErrorItem[] = [];
    for (const uri of uris) {
      let path = uri;
      if (uri.startsWith('gs://')) {
        if (!this.resolveUri) {
          errors.push({ reason: 'invalid', location: uri, message: `the local warehouse reads local paths; ${uri} needs the resolveUri option` });
          continue;
        }
        path = this.resolveUri(uri);
      }
      if (!isAbsolute(path) || path.includes('\0')) {
        errors.push({ reason: 'invalid', location: uri, message: `source ${uri} is not an absolute local path` });
        continue;
      }
      const paths = path.includes('*') ? await expandWildcard(path) : [path];
      let found = 0;
      for (const p of paths) {
        try {
          const s = await stat(p);
          if (!s.isFile()) continue;
          files.push({ uri: path.includes('*') ? p : uri, path: p, size: s.size });
          found++;
        } catch {
          // missing: reported below
        }
      }
      if (found === 0) errors.push({ reason: 'notFound', location: uri, message: `Not found: URI ${uri}` });
    }
    if (errors.length > 0) throw new JobFailure(errors);
    return files;
  }

  // ---- tables and their metadata ----

  /** The table's columns and spec, or null when it does not exist. Adopts a table with no metadata row. */
  private async describeTable(conn: DuckDBConnection, ref: TableRef, fallback?: TableSpec): Promise<TableInfo | null> {
    const columns = await this.columnsOf(conn, null, ref.dataset, ref.table);
    if (columns.length === 0) return null;
    const [meta] = await this.rows(conn, `SELECT spec FROM ${META}.tables WHERE dataset = ? AND table_name = ?`, [ref.dataset, ref.table]);
    if (!meta) {
      const spec = fallback ? { ...fallback, ref } : null;
      await this.insertTableMeta(conn, ref, spec);
      return { ref, columns, spec };
    }
    return { ref, columns, spec: meta.spec === null ? null : (JSON.parse(String(meta.spec)) as TableSpec) };
  }

  private async columnsOf(conn: DuckDBConnection, database: string | null, schema: string, table: string): Promise<Column[]> {
    const rows = await this.rows(
      conn,
      `SELECT column_name, data_type, is_nullable FROM duckdb_columns()
       WHERE database_name = ${database === null ? 'current_database()' : '?'} AND schema_name = ? AND table_name = ?
       ORDER BY column_index`,
      database === null ? [schema, table] : [database, schema, table],
    );
    return rows.map((r) => ({ name: String(r.column_name), type: String(r.data_type), nullable: r.is_nullable !== false }));
  }

  /** The table's partitioning; for a hand-made table without a spec, a `_PARTITIONTIME` column means daily ingestion time. */
  private partitioningOf(table: TableInfo): Partitioning | null {
    if (table.spec) return table.spec.partitioning;
    return table.columns.some((c) => c.name === PARTITIONTIME) ? { type: 'DAY' } : null;
  }

  private async createTable(conn: DuckDBConnection, ref: TableRef, columns: Column[], spec: TableSpec): Promise<void> {
    await conn.run(`CREATE TABLE IF NOT EXISTS ${tableName(ref)} (${columnsDdl(columns, spec.partitioning)})`);
    await this.insertTableMeta(conn, ref, { ...spec, ref });
  }

  private async insertTableMeta(conn: DuckDBConnection, ref: TableRef, spec: TableSpec | null): Promise<void> {
    await conn.run(`DELETE FROM ${META}.tables WHERE dataset = ? AND table_name = ?`, [ref.dataset, ref.table]);
    await conn.run(`INSERT INTO ${META}.tables VALUES (?, ?, ?::JSON, nextval('${META}.etag_seq')::VARCHAR, ?::JSON)`, [
      ref.dataset,
      ref.table,
      JSON.stringify(spec?.labels ?? {}),
      spec ? JSON.stringify(spec) : null,
    ]);
  }

  private async bumpEtag(conn: DuckDBConnection, ref: TableRef): Promise<void> {
    await conn.run(`UPDATE ${META}.tables SET etag = nextval('${META}.etag_seq')::VARCHAR WHERE dataset = ? AND table_name = ?`, [ref.dataset, ref.table]);
  }

  /** Drops partition metadata: one partition, or all of the table's. */
  private async forgetPartitions(conn: DuckDBConnection, ref: TableRef, partitionId?: string): Promise<void> {
    if (partitionId === undefined) {
      await conn.run(`DELETE FROM ${META}.partitions WHERE dataset = ? AND table_name = ?`, [ref.dataset, ref.table]);
    } else {
      await conn.run(`DELETE FROM ${META}.partitions WHERE dataset = ? AND table_name = ? AND partition_id = ?`, [ref.dataset, ref.table, partitionId]);
    }
  }

  /** Records that these partitions were modified now. */
  private async touchPartitions(conn: DuckDBConnection, ref: TableRef, ids: string[]): Promise<void> {
    const now = this.clock.now();
    for (const pid of ids) {
      await this.forgetPartitions(conn, ref, pid);
      await conn.run(`INSERT INTO ${META}.partitions VALUES (?, ?, ?, epoch_ms(?::BIGINT)::TIMESTAMPTZ)`, [ref.dataset, ref.table, pid, now]);
    }
  }

  private async transaction<T>(conn: DuckDBConnection, fn: () => Promise<T>): Promise<T> {
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

  private async rows(conn: DuckDBConnection, sql: string, params?: DuckDBValue[]): Promise<Record<string, unknown>[]> {
    return (await conn.runAndReadAll(sql, params)).getRowObjectsJson();
  }
}

// ---- job specs ------------------------------------------------------------------------------

/** Rejects what BigQuery would reject at insert time (400), before anything reaches SQL. */
function validateJobSpec(spec: JobSpec): void {
  if (typeof spec?.jobId !== 'string' || !JOB_ID.test(spec.jobId)) {
    throw new UnsafeIdentifierError(`invalid job id ${JSON.stringify(spec?.jobId)}: letters, digits, "_" and "-", at most 1024`, { jobId: spec?.jobId });
  }
  validateLabels(spec.labels ?? {});
  if (Object.keys(spec.labels ?? {}).length > MAX_LABELS) throw new UnsafeIdentifierError(`job ${spec.jobId} has more than ${MAX_LABELS} labels`, { jobId: spec.jobId });
  switch (spec.kind) {
    case 'load':
      validateTableRef(spec.destination);
      validateTableRef(spec.table.ref);
      if (!Array.isArray(spec.sourceUris) || spec.sourceUris.length === 0) {
        throw new UnsafeIdentifierError(`load job ${spec.jobId} has no source URIs`, { jobId: spec.jobId });
      }
      break;
    case 'copy':
      validateTableRef(spec.source);
      validateTableRef(spec.destination);
      break;
    case 'truncate':
      validateTableRef(spec.table.ref);
      break;
    case 'noop':
      break;
    default:
      throw new UnsafeIdentifierError(`unknown job kind ${JSON.stringify((spec as { kind?: unknown }).kind)}`, { jobId: (spec as JobSpec).jobId });
  }
}

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

// ---- reading files ----------------------------------------------------------------------------

function explicitReader(format: string, path: string, columns: Column[], csv: CsvOptions | undefined, gzip: boolean): string {
  const compression = `compression=${lit(gzip ? 'gzip' : 'none')}`;
  if (format === 'CSV') {
    const skip = csv?.skipLeadingRows ?? 0;
    return `read_csv(${lit(path)}, hive_partitioning=false, columns=${structLiteral(columns)}, header=false, skip=${skip}, auto_detect=false, ${compression}, ${csvReadOptions(csv).join(', ')})`;
  }
  if (format === 'NEWLINE_DELIMITED_JSON') {
    return `read_json(${lit(path)}, hive_partitioning=false, columns=${structLiteral(columns)}, format='newline_delimited', records=true, ${jsonCompression(gzip)})`;
  }
  // Parquet carries its own schema: select the table's columns by name, cast to their types.
  return `(SELECT ${columns.map((c) => `CAST(f.${id(c.name)} AS ${c.type}) AS ${id(c.name)}`).join(', ')} FROM read_parquet(${lit(path)}, hive_partitioning=false) AS f)`;
}

/** read_json spells "no compression" differently from read_csv. */
function jsonCompression(gzip: boolean): string {
  return `compression=${lit(gzip ? 'gzip' : 'uncompressed')}`;
}

function autoReader(format: string, path: string, csv: CsvOptions | undefined, gzip: boolean): string {
  const compression = `compression=${lit(gzip ? 'gzip' : 'none')}`;
  if (format === 'CSV') {
    const skip = csv?.skipLeadingRows ?? 0;
    // BigQuery's autodetect takes column names from the last skipped row.
    return `read_csv(${lit(path)}, hive_partitioning=false, header=${skip > 0}, skip=${Math.max(0, skip - 1)}, ${compression}, ${csvReadOptions(csv).join(', ')})`;
  }
  if (format === 'NEWLINE_DELIMITED_JSON') return `read_json(${lit(path)}, hive_partitioning=false, format='newline_delimited', ${jsonCompression(gzip)})`;
  return `read_parquet(${lit(path)}, hive_partitioning=false)`;
}

/** DuckDB expands glob characters in paths even in a single file name: read such files via a plain-named link. */
async function readablePath(path: string, scratch: string, index: number): Promise<string> {
  if (!GLOB_CHARS.test(path)) return path;
  const link = join(scratch, `f${index}${extname(path).replace(GLOB_CHARS, '')}`);
  await symlink(path, link);
  return link;
}

async function isGzip(path: string): Promise<boolean> {
  if (path.endsWith('.gz')) return true;
  const handle = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/** DuckDB reads a truncated gzip stream as if it ended there; BigQuery fails it. Check the whole stream. */
async function checkGzip(path: string): Promise<void> {
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  try {
    await pipeline(createReadStream(path), createGunzip(), sink);
  } catch (err) {
    throw new Error(`corrupt or truncated gzip stream: ${errorMessage(err)}`);
  }
}

/** BigQuery's one `*` per URI: matches any characters, `/` included. */
async function expandWildcard(pattern: string): Promise<string[]> {
  const star = pattern.indexOf('*');
  if (pattern.indexOf('*', star + 1) !== -1) return [];
  const prefix = pattern.slice(0, star);
  const suffix = pattern.slice(star + 1);
  const base = prefix.slice(0, prefix.lastIndexOf('/') + 1) || '/';
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const full = join(dir, e.name);
      if (e.isDirectory()) {
        if (full.startsWith(prefix) || prefix.startsWith(full + '/')) await walk(full);
      } else if (full.startsWith(prefix) && full.endsWith(suffix) && full.length >= prefix.length + suffix.length && !isTempFile(full)) {
        out.push(full);
      }
    }
  };
  await walk(base);
  return out.sort();
}
