/**
 * Staging a load's files: every file read once, all in one DuckDB scan, into one temp table with
 * a column naming each row's file, then checked per file with one grouped query per check. Only
 * when the scan itself fails (a file DuckDB cannot parse) are the files read one by one, to name
 * each bad file. The cost of a load grows with its rows, not with its files squared: no temp
 * table per file, no catalog lookup per file.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { errorMessage } from '../../core/errors.ts';
import type { CsvOptions, JobErrorItem, Partitioning } from '../../core/ports.ts';
import { autoReader, checkGzip, checkParquetColumns, explicitReader, isGzip, jsonCompression, readablePath } from './duckdb-readers.ts';
import { readRows } from './duckdb-session.ts';
import { id, lit, partitionExpr, PARTITIONTIME } from './duckdb-sql.ts';
import type { Column, PartitionTarget } from './duckdb-sql.ts';
import type { TableInfo } from './duckdb-tables.ts';

/** The stage's column naming each row's file (the path DuckDB read). */
export const FILE_COLUMN = '__tidemark_file';

/** What stageLoad needs to know about the load. */
export interface StageRequest {
  /** CSV, NEWLINE_DELIMITED_JSON or PARQUET. */
  format: string;
  files: { uri: string; path: string; size: number }[];
  /** The table's columns (without `_PARTITIONTIME`), or null to autodetect them from the first file. */
  columns: Column[] | null;
  csv: CsvOptions | undefined;
  /** The table, if it exists: its REQUIRED columns are checked. */
  table: TableInfo | null;
  partitioning: Partitioning;
  /** The decorated partition; with a partitioning field, every row must fall in it. */
  target: PartitionTarget | null;
  /** `_PARTITIONTIME` of every row (ingestion-time tables), as a TIMESTAMPTZ literal body. */
  partitionTime: string | null;
  /** `dataset.table`, for messages. */
  name: string;
  /** The temp table to fill (created here; the caller drops it). */
  stage: string;
  /** A private folder for links to files whose names DuckDB would read as globs. */
  scratch: string;
}

/** The outcome: the columns read (null when every file was empty and none were known), and one error per bad file. */
export interface StageResult {
  columns: Column[] | null;
  /** Whether the stage table exists (it does not when every file was empty). */
  staged: boolean;
  errors: JobErrorItem[];
}

interface SourceFile {
  uri: string;
  /** What DuckDB reads (a plain-named link for names with glob characters). */
  path: string;
  gzip: boolean;
}

/** Reads every non-empty file of the load into `request.stage` and checks it, naming each bad file. */
export async function stageLoad(conn: DuckDBConnection, request: StageRequest): Promise<StageResult> {
  const { format } = request;
  const sources: SourceFile[] = [];
  for (const [i, file] of request.files.entries()) {
    if (file.size === 0) continue; // an empty file is 0 rows in every format
    const gzip = format !== 'PARQUET' && (await isGzip(file.path));
    sources.push({ uri: file.uri, path: await readablePath(file.path, request.scratch, i), gzip });
  }
  if (sources.length === 0) return { columns: request.columns, staged: false, errors: [] };

  // One error per bad file: a corrupt gzip stream first (it explains any other), else the first problem found.
  const failures = new Map<string, JobErrorItem>();
  const gzipFailures = new Map<string, JobErrorItem>();
  const failIn = (into: Map<string, JobErrorItem>) => (source: SourceFile, message: string) => {
    if (!into.has(source.path)) into.set(source.path, { reason: 'invalid', location: source.uri, message });
  };
  const fail = failIn(failures);
  // DuckDB reads a truncated gzip stream as if it ended there; BigQuery fails it. Node checks
  // every gzip stream on its own threads while DuckDB scans the files.
  const gzipChecks = checkGzipFiles(sources.filter((s) => s.gzip), failIn(gzipFailures));
  try {
    const columns = request.columns ?? (await detectColumns(conn, request, sources[0]!));
    if (columns.some((c) => c.name === FILE_COLUMN)) throw new Error(`the table has a column named ${FILE_COLUMN}, which the local warehouse reserves`);
    if (format === 'PARQUET' && request.columns) {
      const problems = await checkParquetColumns(conn, sources.map((s) => s.path), columns);
      for (const s of sources) if (problems.has(s.path)) fail(s, problems.get(s.path)!);
    }
    const readable = sources.filter((s) => !failures.has(s.path));
    const stageColumns = [...columns, ...(request.partitionTime ? [{ name: PARTITIONTIME, type: 'TIMESTAMPTZ', nullable: true }] : [])];
    await conn.run(`CREATE OR REPLACE TEMP TABLE ${id(request.stage)} (${[...stageColumns.map((c) => `${id(c.name)} ${c.type}`), `${id(FILE_COLUMN)} VARCHAR`].join(', ')})`);
    await readAll(conn, request, columns, readable, fail);
    await gzipChecks;
    await checkStaged(conn, request, columns, stageColumns, sources, fail);
    return { columns, staged: true, errors: sources.flatMap((s) => gzipFailures.get(s.path) ?? failures.get(s.path) ?? []) };
  } finally {
    await gzipChecks; // never leave a check running behind a thrown error
  }
}

/** Columns of an autodetect table at its first load: as DuckDB detects them in the first file. */
async function detectColumns(conn: DuckDBConnection, request: StageRequest, first: SourceFile): Promise<Column[]> {
  const described = await readRows(conn, `DESCRIBE SELECT * FROM ${autoReader(request.format, first.path, request.csv, first.gzip)}`);
  return described.map((r) => ({ name: String(r.column_name), type: String(r.column_type), nullable: true }));
}

/** One scan of all files (one per compression); if it fails, one read per file to name each bad one. */
async function readAll(conn: DuckDBConnection, request: StageRequest, columns: Column[], sources: SourceFile[], fail: (s: SourceFile, message: string) => void): Promise<void> {
  const extra = request.partitionTime ? `, TIMESTAMPTZ ${lit(request.partitionTime)} AS ${id(PARTITIONTIME)}` : '';
  const insert = (paths: string | string[], gzip: boolean) =>
    conn.run(`INSERT INTO ${id(request.stage)} BY NAME SELECT *${extra} FROM ${explicitReader(request.format, paths, columns, request.csv, gzip, FILE_COLUMN)}`);
  try {
    for (const gzip of [false, true]) {
      const group = sources.filter((s) => s.gzip === gzip).map((s) => s.path);
      if (group.length > 0) await insert(group, gzip);
    }
    return;
  } catch {
    // Some file is bad; DuckDB names only the first it meets (and not always). Read them one by one.
  }
  await conn.run(`DELETE FROM ${id(request.stage)}`);
  for (const source of sources) {
    try {
      await insert(source.path, source.gzip);
    } catch (err) {
      fail(source, errorMessage(err));
    }
  }
}

/** Checks the staged rows per file: unknown JSON fields, NULLs in REQUIRED columns, rows outside the decorated partition. */
async function checkStaged(
  conn: DuckDBConnection,
  request: StageRequest,
  columns: Column[],
  stageColumns: Column[],
  sources: SourceFile[],
  fail: (s: SourceFile, message: string) => void,
): Promise<void> {
  const byPath = new Map(sources.map((s) => [s.path, s]));
  const report = (path: unknown, message: string) => {
    const source = byPath.get(String(path));
    if (source) fail(source, message);
  };
  const stage = id(request.stage);
  if (request.format === 'NEWLINE_DELIMITED_JSON') {
    // read_json ignores keys it was not asked for; BigQuery rejects them ("No such field").
    const known = columns.map((c) => lit(c.name.toLowerCase())).join(', ');
    for (const gzip of [false, true]) {
      const group = sources.filter((s) => s.gzip === gzip).map((s) => lit(s.path));
      if (group.length === 0) continue;
      const rows = await readRows(
        conn,
        `SELECT f, arg_min(k, k) AS k, arg_min(n, k) AS n FROM (
           SELECT f, k, count(*) AS n FROM (
             SELECT filename AS f, unnest(json_keys(json)) AS k FROM read_ndjson_objects([${group.join(', ')}], hive_partitioning=false, filename=true, ${jsonCompression(gzip)}))
           WHERE lower(k) NOT IN (${known}) GROUP BY f, k)
         GROUP BY f`,
      );
      for (const r of rows) report(r.f, `No such field: ${String(r.k)} (in ${Number(r.n)} row(s)); ${request.name} has no column of that name`);
    }
  }
  const required = (request.table?.columns ?? []).filter((c) => !c.nullable && c.name !== PARTITIONTIME);
  if (required.length > 0) {
    const counts = required.map((c, i) => `count(*) FILTER (WHERE ${id(c.name)} IS NULL) AS n${i}`).join(', ');
    const rows = await readRows(conn, `SELECT ${id(FILE_COLUMN)} AS f, ${counts} FROM ${stage} GROUP BY 1`);
    for (const r of rows) {
      const i = required.findIndex((_, j) => Number(r[`n${j}`]) > 0);
      if (i >= 0) report(r.f, `Required field ${required[i]!.name} cannot be null (${Number(r[`n${i}`])} row(s))`);
    }
  }
  if (request.target && request.partitioning.field) {
    const expr = partitionExpr(request.partitioning, stageColumns, request.name);
    const rows = await readRows(conn, `SELECT ${id(FILE_COLUMN)} AS f, count(*) AS n, min(${expr}) AS example FROM ${stage} WHERE ${expr} IS DISTINCT FROM ? GROUP BY 1`, [request.target.id]);
    for (const r of rows) {
      report(r.f, `${Number(r.n)} row(s) fall outside partition ${request.name}$${request.target.id}: ${request.partitioning.field} puts them in partition ${String(r.example)}`);
    }
  }
}

/** Checks gzip streams, two at a time (each on a libuv thread), reporting each corrupt one. */
async function checkGzipFiles(sources: SourceFile[], fail: (s: SourceFile, message: string) => void): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < sources.length) {
      const source = sources[next++]!;
      try {
        await checkGzip(source.path);
      } catch (err) {
        fail(source, errorMessage(err));
      }
    }
  };
  await Promise.all([worker(), worker()]);
}
