/**
 * Executing the local warehouse's jobs on an open connection: loads, copies, partition
 * truncations and no-ops. A job's data and its DONE mark commit together, so a job whose
 * process died can be run again and still takes effect once; a failed job ends DONE with
 * per-file errors and nothing written.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { errorMessage, TidemarkError } from '../../core/errors.ts';
import type { Clock, JobErrorItem, JobKind, JobSpec, JobStatus, Partitioning, TableRef } from '../../core/ports.ts';
import { runCommit } from './duckdb-commit.ts';
import { directLoad, FILE_COLUMN, prepareSources, SCAN_FILES, stageLoad, unordered } from './duckdb-load.ts';
import { memoryFolder } from './inflate-folder.ts';
import { resolveSources } from './duckdb-readers.ts';
import { readRows, transaction } from './duckdb-session.ts';
import {
  columnsFromSchema,
  id,
  isIngestionTime,
  JobFailure,
  lit,
  META,
  partitionAt,
  partitionExpr,
  partitionRange,
  PARTITIONTIME,
  resolvePartition,
  tableName,
} from './duckdb-sql.ts';
import type { PartitionTarget } from './duckdb-sql.ts';
import {
  bumpEtag,
  createTable,
  describeTable,
  forgetPartitions,
  insertTableMeta,
  partitioningOf,
  touchPartitions,
} from './duckdb-tables.ts';
import type { TableInfo } from './duckdb-tables.ts';

/** Thrown inside the fast path's transaction to roll it back and take the careful path. */
class FallBack extends Error {}

export interface DuckDbJobRunnerOptions {
  /** Job end times, the ingestion time of undecorated loads, partition modification times. */
  clock: Clock;
  /** Only RUNNING jobs of this owner are executed. */
  owner: string;
  /** Maps a `gs://bucket/name` source URI to a local path; without it such URIs fail the job. */
  resolveUri: ((uri: string) => string) | undefined;
  /** Files per DuckDB scan of a load (default SCAN_FILES). */
  scanFiles?: number | undefined;
}

type LoadJob = Extract<JobSpec, { kind: 'load' }>;
type CopyJob = Extract<JobSpec, { kind: 'copy' }>;
type TruncateJob = Extract<JobSpec, { kind: 'truncate' }>;

/** A copy's rows, one per key and none whose key `exclude` holds: BigQuery's dedupe query (bigquery-job-config.ts dedupeSql) in DuckDB. */
function dedupeSelect(select: string, d: NonNullable<CopyJob['dedupe']>): string {
  const key = id(d.key);
  const exclude = d.exclude
    ? ` WHERE NOT EXISTS (SELECT 1 FROM ${tableName(d.exclude)} AS e WHERE e.${key} = t.${key})`
    : '';
  return `SELECT * FROM (${select}) AS t${exclude} QUALIFY row_number() OVER (PARTITION BY t.${key} ORDER BY t.${id(d.order)}, to_json(t)::VARCHAR) = 1`;
}

/** Runs jobs recorded in `_tidemark.jobs` to DONE, and reads their status back. */
export class DuckDbJobRunner {
  private readonly clock: Clock;
  private readonly owner: string;
  private readonly resolveUri: ((uri: string) => string) | undefined;
  private readonly scanFiles: number;

  constructor(options: DuckDbJobRunnerOptions) {
    this.clock = options.clock;
    this.owner = options.owner;
    this.resolveUri = options.resolveUri;
    this.scanFiles = options.scanFiles ?? SCAN_FILES;
  }

  /** Executes a job if it is RUNNING and ours; it ends DONE, with its errors if it fails. */
  async executeJob(conn: DuckDBConnection, spec: JobSpec): Promise<void> {
    const [row] = await readRows(conn, `SELECT state, owner FROM ${META}.jobs WHERE job_id = ?`, [spec.jobId]);
    if (!row || row.state !== 'RUNNING' || row.owner !== this.owner) return;
    try {
      switch (spec.kind) {
        case 'load':
          return await this.runLoad(conn, spec);
        case 'copy':
          return await this.runCopy(conn, spec);
        case 'truncate':
          return await this.runTruncate(conn, spec);
        case 'commit':
          return await runCommit(conn, spec, this.clock.now(), (result) => this.finishJob(conn, spec.jobId, result));
        case 'noop':
          return await this.finishJob(conn, spec.jobId, {});
      }
    } catch (err) {
      const items =
        err instanceof JobFailure
          ? err.items
          : [{ reason: err instanceof TidemarkError ? 'invalid' : 'internalError', message: errorMessage(err) }];
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

  /** The job's status, or null when there is no such job. */
  async readJob(conn: DuckDBConnection, jobId: string): Promise<JobStatus | null> {
    const [row] = await readRows(
      conn,
      `SELECT job_id, kind, state, error, errors, output_rows, input_bytes, labels FROM ${META}.jobs WHERE job_id = ?`,
      [jobId],
    );
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
   * A load, its data committed together with the truncation and the job's DONE mark. A decorated
   * load into an existing table first tries the fast path: every file in one scan straight into
   * the table, checks inline. If anything fails it rolls back, and the careful path reads the
   * files into one temp table whose rows name their file, so each bad file is named and nothing
   * is written; only if all are good are the rows written.
   */
  private async runLoad(conn: DuckDBConnection, spec: LoadJob): Promise<void> {
    const ref = spec.destination;
    const name = `${ref.dataset}.${ref.table}`;
    const format = spec.table.format;
    if (format !== 'CSV' && format !== 'NEWLINE_DELIMITED_JSON' && format !== 'PARQUET') {
      throw new JobFailure([
        {
          reason: 'invalid',
          message: `source format ${format} is not supported by the local warehouse (CSV, NEWLINE_DELIMITED_JSON and PARQUET are)`,
        },
      ]);
    }
    const files = await resolveSources(spec.sourceUris, this.resolveUri);
    const inputBytes = files.reduce((sum, f) => sum + f.size, 0);

    await conn.run(`CREATE SCHEMA IF NOT EXISTS ${id(ref.dataset)}`);
    let table = await describeTable(conn, ref, spec.table);
    if (!table && spec.table.schema?.length) {
      await transaction(conn, () => createTable(conn, ref, columnsFromSchema(spec.table.schema!), spec.table));
      table = await describeTable(conn, ref, spec.table);
    }
    const partitioning = (table && partitioningOf(table)) ?? spec.table.partitioning;
    const target = spec.partition === null ? null : resolvePartition(spec.partition, partitioning, name);
    const ingestion = isIngestionTime(partitioning);
    // Rows of an ingestion-time table land in the decorated partition, else in "now".
    const partitionTime = ingestion ? (target ?? partitionAt(this.clock.now(), partitioning)).start : null;
    const known = table ? table.columns.filter((c) => c.name !== PARTITIONTIME) : null;

    const stage = `__tidemark_${spec.jobId.slice(0, 40).replace(/-/g, '_')}`;
    const scratch = await mkdtemp(join(tmpdir(), 'tidemark-load-'));
    let memory: string | null = null;
    try {
      const sources = await prepareSources(format, files, scratch);
      const load = {
        format,
        csv: spec.table.csv,
        partitioning,
        partitionTime,
        name,
        scratch,
        scanFiles: this.scanFiles,
      };
      if (table && known && target && sources.length > 0) {
        // The fast path: straight into the table in one transaction; anything wrong rolls it back.
        const request = {
          ...load,
          columns: known,
          table,
          target,
          memory: (memory = sources.some((s) => s.gzip) ? await memoryFolder() : null),
        };
        const done = await unordered(conn, () =>
          transaction(conn, async () => {
            if (spec.writeDisposition === 'WRITE_TRUNCATE')
              await this.emptyPartition(conn, ref, partitioning, table!, target, name);
            const outputRows = await directLoad(conn, request, sources, tableName(ref));
            if (outputRows === null) throw new FallBack();
            await touchPartitions(conn, ref, [target.id], this.clock.now());
            await bumpEtag(conn, ref);
            await this.finishJob(conn, spec.jobId, { outputRows, inputBytes });
            return true;
          }).catch((err: unknown) => {
            if (err instanceof FallBack) return false;
            throw err;
          }),
        );
        if (done) return;
      }
      const staged = await stageLoad(conn, { ...load, columns: known, table, target, stage }, sources);
      if (staged.errors.length > 0) throw new JobFailure(staged.errors);
      const columns = staged.columns;

      await transaction(conn, async () => {
        if (!table) {
          if (!columns) return this.finishJob(conn, spec.jobId, { outputRows: 0, inputBytes }); // only empty files, no schema
          await createTable(conn, ref, columns, spec.table);
          table = await describeTable(conn, ref, spec.table);
        }
        const expr = partitionExpr(partitioning, table!.columns, name);
        if (spec.writeDisposition === 'WRITE_TRUNCATE') {
          if (target) await this.emptyPartition(conn, ref, partitioning, table!, target, name);
          else {
            await conn.run(`DELETE FROM ${tableName(ref)}`);
            await forgetPartitions(conn, ref);
          }
        }
        let outputRows = 0;
        const touched = new Set<string>(target ? [target.id] : []);
        if (staged.staged) {
          try {
            outputRows = (
              await conn.run(
                `INSERT INTO ${tableName(ref)} BY NAME SELECT * EXCLUDE (${id(FILE_COLUMN)}) FROM ${id(stage)}`,
              )
            ).rowsChanged;
          } catch (err) {
            // Every file passed its checks; what is left is not any one file's fault.
            throw new JobFailure([{ reason: 'invalid', message: errorMessage(err) }]);
          }
          if (!target)
            for (const r of await readRows(conn, `SELECT DISTINCT ${expr} AS pid FROM ${id(stage)}`))
              touched.add(String(r.pid));
        }
        await touchPartitions(conn, ref, [...touched], this.clock.now());
        await bumpEtag(conn, ref);
        await this.finishJob(conn, spec.jobId, { outputRows, inputBytes });
      });
    } finally {
      await conn.run(`DROP TABLE IF EXISTS temp.main.${id(stage)}`).catch(() => {});
      await rm(scratch, { recursive: true, force: true });
      if (memory) await rm(memory, { recursive: true, force: true });
    }
  }

  /** Deletes one partition's rows (by a range on its column) and its metadata. */
  private async emptyPartition(
    conn: DuckDBConnection,
    ref: TableRef,
    partitioning: Partitioning,
    table: TableInfo,
    target: PartitionTarget,
    name: string,
  ): Promise<void> {
    await conn.run(`DELETE FROM ${tableName(ref)} WHERE ${partitionRange(partitioning, table.columns, target, name)}`);
    await forgetPartitions(conn, ref, target.id);
  }

  /** A copy: rows checked against the decorated partition, then written with the truncation and DONE in one transaction. */
  private async runCopy(conn: DuckDBConnection, spec: CopyJob): Promise<void> {
    const name = `${spec.destination.dataset}.${spec.destination.table}`;
    const source = await describeTable(conn, spec.source);
    if (!source)
      throw new JobFailure([
        { reason: 'notFound', message: `Not found: Table ${spec.source.dataset}.${spec.source.table}` },
      ]);
    let dest = await describeTable(conn, spec.destination);
    const partitioning = (dest && partitioningOf(dest)) ?? partitioningOf(source);
    const target =
      spec.partition === null || !partitioning ? null : resolvePartition(spec.partition, partitioning, name);
    const hasTime = source.columns.some((c) => c.name === PARTITIONTIME);
    // An ingestion-time destination: rows take the decorated partition (or keep their own).
    let select = `SELECT * FROM ${tableName(spec.source)}`;
    if (partitioning && isIngestionTime(partitioning) && (target || !hasTime)) {
      const time = (target ?? partitionAt(this.clock.now(), partitioning)).start;
      select = `SELECT * ${hasTime ? `EXCLUDE (${id(PARTITIONTIME)})` : ''}, TIMESTAMPTZ ${lit(time)} AS ${id(PARTITIONTIME)} FROM ${tableName(spec.source)}`;
    }
    if (spec.dedupe) select = dedupeSelect(select, spec.dedupe);
    if (target && partitioning?.field) {
      const expr = partitionExpr(partitioning, source.columns, name);
      const [row] = await readRows(
        conn,
        `SELECT count(*) AS n, min(${expr}) AS example FROM (${select}) WHERE ${expr} IS DISTINCT FROM ?`,
        [target.id],
      );
      if (Number(row!.n) > 0) {
        throw new JobFailure([
          {
            reason: 'invalid',
            message: `${Number(row!.n)} row(s) of ${spec.source.dataset}.${spec.source.table} fall outside partition ${name}$${target.id} (e.g. partition ${String(row!.example)})`,
          },
        ]);
      }
    }
    await transaction(conn, async () => {
      if (!dest) {
        await conn.run(`CREATE SCHEMA IF NOT EXISTS ${id(spec.destination.dataset)}`);
        await conn.run(`CREATE TABLE ${tableName(spec.destination)} AS ${select} LIMIT 0`);
        const destSpec = source.spec ? { ...source.spec, ref: spec.destination, labels: {} } : null;
        await insertTableMeta(conn, spec.destination, destSpec);
        dest = await describeTable(conn, spec.destination);
      }
      const expr = partitioning ? partitionExpr(partitioning, dest!.columns, name) : null;
      if (spec.writeDisposition === 'WRITE_TRUNCATE') {
        if (target && expr) await conn.run(`DELETE FROM ${tableName(spec.destination)} WHERE ${expr} = ?`, [target.id]);
        else await conn.run(`DELETE FROM ${tableName(spec.destination)}`);
        await forgetPartitions(conn, spec.destination, target?.id);
      }
      let outputRows: number;
      try {
        outputRows = (await conn.run(`INSERT INTO ${tableName(spec.destination)} BY NAME ${select}`)).rowsChanged;
      } catch (err) {
        throw new JobFailure([{ reason: 'invalid', message: errorMessage(err) }]);
      }
      const touched = target
        ? [target.id]
        : expr
          ? (await readRows(conn, `SELECT DISTINCT ${expr} AS pid FROM (${select})`)).map((r) => String(r.pid))
          : [];
      await touchPartitions(conn, spec.destination, touched, this.clock.now());
      await bumpEtag(conn, spec.destination);
      await this.finishJob(conn, spec.jobId, { outputRows });
    });
  }

  /** Empties one partition (creating the table first if its spec has a schema). */
  private async runTruncate(conn: DuckDBConnection, spec: TruncateJob): Promise<void> {
    const ref = spec.table.ref;
    const name = `${ref.dataset}.${ref.table}`;
    let table = await describeTable(conn, ref, spec.table);
    if (!table && spec.table.schema?.length) {
      await conn.run(`CREATE SCHEMA IF NOT EXISTS ${id(ref.dataset)}`);
      await transaction(conn, () => createTable(conn, ref, columnsFromSchema(spec.table.schema!), spec.table));
      table = await describeTable(conn, ref, spec.table);
    }
    const partitioning = (table && partitioningOf(table)) ?? spec.table.partitioning;
    const target = resolvePartition(spec.partition, partitioning, name);
    if (!table) return this.finishJob(conn, spec.jobId, { outputRows: 0 }); // nothing to empty
    await transaction(conn, async () => {
      await conn.run(`DELETE FROM ${tableName(ref)} WHERE ${partitionExpr(partitioning, table.columns, name)} = ?`, [
        target.id,
      ]);
      await forgetPartitions(conn, ref, target.id);
      await touchPartitions(conn, ref, [target.id], this.clock.now());
      await bumpEtag(conn, ref);
      await this.finishJob(conn, spec.jobId, { outputRows: 0 });
    });
  }
}
