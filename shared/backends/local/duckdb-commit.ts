/**
 * The local warehouse's commit job (JobSpec kind 'commit'), BigQuery's multi-statement
 * transaction (bigquery-job-config.ts commitSql) in DuckDB: empty the `replace` partitions of the
 * target, insert the stage's rows of the `insert` partitions, and record the partitions, the
 * table's etag and the job's DONE mark, all in ONE transaction. Readers see all of it or none;
 * a failure rolls everything back and the job ends DONE with the error (duckdb-jobs.ts). As for
 * every job, the data commits together with DONE, so a job re-run after a crash applies once.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { errorMessage } from '../../core/errors.ts';
import type { JobSpec, JobStatus } from '../../core/ports.ts';
import { readRows, transaction } from './duckdb-session.ts';
import {
  id,
  isIngestionTime,
  JobFailure,
  META,
  partitionRange,
  PARTITIONTIME,
  resolvePartition,
  tableName,
} from './duckdb-sql.ts';
import { bumpEtag, describeTable, forgetPartitions, partitioningOf, touchPartitions } from './duckdb-tables.ts';

type CommitJob = Extract<JobSpec, { kind: 'commit' }>;

/** A finished commit's own statistics (its rows written, outputRows, are the rows inserted). */
interface CommitStats {
  insertedRows: number;
  deletedRows: number;
  /** An estimate of the stage bytes the INSERT read (see runCommit). */
  bytesBilled: number;
}

/** The columns of `_tidemark.jobs` holding a commit's statistics (added to files made before commits). */
export const COMMIT_STATS_DDL = ['bytes_billed', 'inserted_rows', 'deleted_rows']
  .map((column) => `ALTER TABLE ${META}.jobs ADD COLUMN IF NOT EXISTS ${column} BIGINT;`)
  .join('\n');

/**
 * Runs a commit job. `finish` marks the job DONE (the runner's finishJob); it runs inside the
 * transaction, so the mark commits with the data or not at all. Throws JobFailure (nothing
 * written) when the schema, the target or the stage is missing or the INSERT fails.
 */
export async function runCommit(
  conn: DuckDBConnection,
  spec: CommitJob,
  now: number,
  finish: (result: { outputRows: number }) => Promise<void>,
): Promise<void> {
  const ref = spec.table.ref;
  const name = `${ref.dataset}.${ref.table}`;
  const schema = spec.table.schema;
  if (!schema?.length) {
    throw new JobFailure([
      { reason: 'invalid', message: `commit into ${name} needs the table's schema (commit mode dml); it has none` },
    ]);
  }
  // As BigQuery's DML: the target must exist (the caller created it with ensureTable).
  const target = await describeTable(conn, ref, spec.table);
  if (!target) throw new JobFailure([{ reason: 'notFound', message: `Not found: Table ${name}` }]);
  const partitioning = partitioningOf(target) ?? spec.table.partitioning;
  const replace = [...new Set(spec.replace)].map((p) => resolvePartition(p, partitioning, name));
  const insert = [...new Set(spec.insert)].map((p) => resolvePartition(p, partitioning, name));
  // The stage is only read when there is something to insert, as in BigQuery's script.
  const stage = insert.length > 0 ? await describeTable(conn, spec.stage) : null;
  if (insert.length > 0 && !stage) {
    throw new JobFailure([
      { reason: 'notFound', message: `Not found: Table ${spec.stage.dataset}.${spec.stage.table}` },
    ]);
  }

  await transaction(conn, async () => {
    let deletedRows = 0;
    if (replace.length > 0) {
      const where = anyOf(replace.map((t) => partitionRange(partitioning, target.columns, t, name)));
      deletedRows = (await conn.run(`DELETE FROM ${tableName(ref)} WHERE ${where}`)).rowsChanged;
      for (const t of replace) await forgetPartitions(conn, ref, t.id);
    }
    let insertedRows = 0;
    let bytesBilled = 0;
    if (stage && insert.length > 0) {
      // The schema's columns by name (the stage may order them differently), plus the rows'
      // `_PARTITIONTIME` for ingestion time: the stage partition each row was loaded into.
      const names = schema.map((f) => f.name);
      if (isIngestionTime(partitioning)) names.unshift(PARTITIONTIME);
      const columns = names.map(id).join(', ');
      const where = anyOf(
        insert.map((t) => partitionRange(partitioning, stage.columns, t, `${spec.stage.dataset}.${spec.stage.table}`)),
      );
      const select = `SELECT ${columns} FROM ${tableName(spec.stage)} WHERE ${where}`;
      try {
        bytesBilled = await estimateBytes(conn, select);
        insertedRows = (await conn.run(`INSERT INTO ${tableName(ref)} (${columns}) ${select}`)).rowsChanged;
      } catch (err) {
        throw new JobFailure([{ reason: 'invalid', message: `commit into ${name}: ${errorMessage(err)}` }]);
      }
    }
    const touched = [...new Set([...replace, ...insert].map((t) => t.id))];
    if (touched.length > 0) {
      await touchPartitions(conn, ref, touched, now);
      await bumpEtag(conn, ref);
    }
    await finish({ outputRows: insertedRows });
    await recordCommitStats(conn, spec.jobId, { insertedRows, deletedRows, bytesBilled });
  });
}

/**
 * The bytes BigQuery would bill for reading these rows, estimated as the length of each row as
 * JSON text. BigQuery bills the logical size of the columns read (8 bytes per INT64, 2 plus the
 * length per STRING, a 10 MB minimum per query...), so this is an order of magnitude, not a
 * price; the DELETE of whole partitions is free there and adds nothing here.
 */
async function estimateBytes(conn: DuckDBConnection, select: string): Promise<number> {
  const [row] = await readRows(conn, `SELECT coalesce(sum(strlen(to_json(r)::VARCHAR)), 0) AS n FROM (${select}) r`);
  return Number(row?.n ?? 0);
}

/** Records a commit's statistics on its job row (inside the commit's transaction). */
async function recordCommitStats(conn: DuckDBConnection, jobId: string, r: CommitStats): Promise<void> {
  await conn.run(`UPDATE ${META}.jobs SET bytes_billed = ?, inserted_rows = ?, deleted_rows = ? WHERE job_id = ?`, [
    r.bytesBilled,
    r.insertedRows,
    r.deletedRows,
    jobId,
  ]);
}

/** Adds a commit's statistics to its status as the job runner read it; other kinds are returned as they are. */
export async function withCommitStats(conn: DuckDBConnection, status: JobStatus | null): Promise<JobStatus | null> {
  if (status?.kind !== 'commit' || status.state !== 'DONE' || status.errorResult) return status;
  const [row] = await readRows(
    conn,
    `SELECT bytes_billed, inserted_rows, deleted_rows FROM ${META}.jobs WHERE job_id = ?`,
    [status.jobId],
  );
  if (row?.bytes_billed != null) status.bytesBilled = Number(row.bytes_billed);
  if (row?.inserted_rows != null) status.insertedRows = Number(row.inserted_rows);
  if (row?.deleted_rows != null) status.deletedRows = Number(row.deleted_rows);
  return status;
}

/** `(a OR b ...)`: rows of any of these partitions. */
function anyOf(conditions: string[]): string {
  return `(${conditions.join(' OR ')})`;
}
