/**
 * Staging a load's files: every file read once, all in one DuckDB scan, into one temp table with
 * a column naming each row's file, then checked per file with one grouped query per check. Only
 * when the scan itself fails (a file DuckDB cannot parse) are the files read one by one, to name
 * each bad file. The cost of a load grows with its rows, not with its files squared: no temp
 * table per file, no catalog lookup per file.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { DuckDBConnection } from '@duckdb/node-api';
import { errorMessage } from '../../core/errors.ts';
import type { CsvOptions, JobErrorItem, Partitioning } from '../../core/ports.ts';
import {
  autoReader,
  checkGzip,
  checkParquetColumns,
  explicitReader,
  isGzip,
  jsonCompression,
  readablePath,
  strictJsonReader,
  templateRecord,
} from './duckdb-readers.ts';
import { readRows } from './duckdb-session.ts';
import { id, lit, partitionExpr, partitionRange, PARTITIONTIME } from './duckdb-sql.ts';
import type { Column, PartitionTarget } from './duckdb-sql.ts';
import type { TableInfo } from './duckdb-tables.ts';

/** The stage's column naming each row's file (the path DuckDB read). */
export const FILE_COLUMN = '__tidemark_file';

/** What stageLoad needs to know about the load. */
export interface StageRequest {
  /** CSV, NEWLINE_DELIMITED_JSON or PARQUET. */
  format: string;
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
}

/** The outcome: the columns read (null when every file was empty and none were known), and one error per bad file. */
export interface StageResult {
  columns: Column[] | null;
  /** Whether the stage table exists (it does not when every file was empty). */
  staged: boolean;
  errors: JobErrorItem[];
}

/** A non-empty source file as DuckDB will read it. */
export interface SourceFile {
  uri: string;
  /** What DuckDB reads (a plain-named link for names with glob characters). */
  path: string;
  gzip: boolean;
}

/** The non-empty files of a load, with plain-named links in `scratch` for names DuckDB would read as globs. */
export async function prepareSources(
  format: string,
  files: { uri: string; path: string; size: number }[],
  scratch: string,
): Promise<SourceFile[]> {
  const sources: SourceFile[] = [];
  for (const [i, file] of files.entries()) {
    if (file.size === 0) continue; // an empty file is 0 rows in every format
    const gzip = format !== 'PARQUET' && (await isGzip(file.path));
    sources.push({ uri: file.uri, path: await readablePath(file.path, scratch, i), gzip });
  }
  return sources;
}

/**
 * The careful path: reads every file of the load into `request.stage` and checks it, naming
 * each bad file (see directLoad for the fast path, which falls back to this one).
 */
export async function stageLoad(
  conn: DuckDBConnection,
  request: StageRequest,
  sources: SourceFile[],
): Promise<StageResult> {
  const { format } = request;
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
  const gzipChecks = checkGzipFiles(
    sources.filter((s) => s.gzip),
    failIn(gzipFailures),
  );
  try {
    let columns = request.columns;
    for (const source of sources) {
      if (columns) break;
      try {
        columns = await detectColumns(conn, request, source);
      } catch (err) {
        fail(source, errorMessage(err)); // a file DuckDB cannot read says nothing about the table
      }
    }
    if (!columns) {
      await gzipChecks;
      return {
        columns: null,
        staged: false,
        errors: sources.flatMap((s) => gzipFailures.get(s.path) ?? failures.get(s.path) ?? []),
      };
    }
    if (columns.some((c) => c.name === FILE_COLUMN))
      throw new Error(`the table has a column named ${FILE_COLUMN}, which the local warehouse reserves`);
    if (format === 'PARQUET' && request.columns) {
      const known = columns;
      const problems = new Map(
        await allThenEach(sources, fail, async (group) => [
          ...(await checkParquetColumns(
            conn,
            group.map((s) => s.path),
            known,
          )),
        ]),
      );
      for (const s of sources) if (problems.has(s.path)) fail(s, problems.get(s.path)!);
    }
    const readable = sources.filter((s) => !failures.has(s.path));
    const stageColumns = [
      ...columns,
      ...(request.partitionTime ? [{ name: PARTITIONTIME, type: 'TIMESTAMPTZ', nullable: true }] : []),
    ];
    await conn.run(
      `CREATE OR REPLACE TEMP TABLE ${id(request.stage)} (${[...stageColumns.map((c) => `${id(c.name)} ${c.type}`), `${id(FILE_COLUMN)} VARCHAR`].join(', ')})`,
    );
    await readAll(conn, request, columns, readable, fail);
    await gzipChecks;
    const unfailed = sources.filter((s) => !failures.has(s.path) && !gzipFailures.has(s.path));
    await checkStaged(conn, request, columns, stageColumns, unfailed, fail);
    return {
      columns,
      staged: true,
      errors: sources.flatMap((s) => gzipFailures.get(s.path) ?? failures.get(s.path) ?? []),
    };
  } finally {
    await gzipChecks; // never leave a check running behind a thrown error
  }
}

/** Columns of an autodetect table at its first load: as DuckDB detects them in the first file. */
async function detectColumns(conn: DuckDBConnection, request: StageRequest, first: SourceFile): Promise<Column[]> {
  const described = await readRows(
    conn,
    `DESCRIBE SELECT * FROM ${autoReader(request.format, first.path, request.csv, first.gzip)}`,
  );
  return described.map((r) => ({ name: String(r.column_name), type: String(r.column_type), nullable: true }));
}

/** One scan of all files (one per compression); if it fails, one read per file to name each bad one. */
async function readAll(
  conn: DuckDBConnection,
  request: StageRequest,
  columns: Column[],
  sources: SourceFile[],
  fail: (s: SourceFile, message: string) => void,
): Promise<void> {
  const extra = request.partitionTime ? `, TIMESTAMPTZ ${lit(request.partitionTime)} AS ${id(PARTITIONTIME)}` : '';
  const insert = (paths: string | string[], gzip: boolean) =>
    conn.run(
      `INSERT INTO ${id(request.stage)} BY NAME SELECT *${extra} FROM ${explicitReader(request.format, paths, columns, request.csv, gzip, FILE_COLUMN)}`,
    );
  try {
    for (const { gzip, group } of scanGroups(sources))
      await insert(
        group.map((s) => s.path),
        gzip,
      );
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
    for (const u of await allThenEach(sources, fail, (group) => unknownJsonKeys(conn, columns, group))) {
      report(u.path, `No such field: ${u.key} (in ${u.rows} row(s)); ${request.name} has no column of that name`);
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
    const inside = partitionRange(request.partitioning, stageColumns, request.target, request.name);
    const rows = await readRows(
      conn,
      `SELECT ${id(FILE_COLUMN)} AS f, count(*) AS n, min(${expr}) AS example FROM ${stage} WHERE ${inside} IS NOT TRUE GROUP BY 1`,
    );
    for (const r of rows) {
      report(
        r.f,
        `${Number(r.n)} row(s) fall outside partition ${request.name}$${request.target.id}: ${request.partitioning.field} puts them in partition ${String(r.example)}`,
      );
    }
  }
}

/**
 * Files per DuckDB scan. One scan of many files keeps some state per file (about 30 KiB for a
 * CSV file: 400 MiB for 10,000 files), so scans take a bounded number of files at a time.
 */
const SCAN_FILES = 1000;

/** The sources in scans: split by compression (a reader takes one), at most SCAN_FILES each. */
function scanGroups(sources: SourceFile[]): { gzip: boolean; group: SourceFile[] }[] {
  const groups: { gzip: boolean; group: SourceFile[] }[] = [];
  for (const gzip of [false, true]) {
    const all = sources.filter((s) => s.gzip === gzip);
    for (let i = 0; i < all.length; i += SCAN_FILES) groups.push({ gzip, group: all.slice(i, i + SCAN_FILES) });
  }
  return groups;
}

/** Runs a check on all files in one query; if that query fails, on each file alone, naming each file it fails on. */
async function allThenEach<T>(
  sources: SourceFile[],
  fail: (s: SourceFile, message: string) => void,
  check: (group: SourceFile[]) => Promise<T[]>,
): Promise<T[]> {
  if (sources.length === 0) return [];
  try {
    return await check(sources);
  } catch {
    const found: T[] = [];
    for (const source of sources) {
      try {
        found.push(...(await check([source])));
      } catch (err) {
        fail(source, errorMessage(err));
      }
    }
    return found;
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

/** What directLoad needs: a decorated load into an existing table. */
export interface DirectRequest {
  format: string;
  columns: Column[];
  csv: CsvOptions | undefined;
  table: TableInfo;
  partitioning: Partitioning;
  target: PartitionTarget;
  partitionTime: string | null;
  name: string;
  /** A folder of the load's own, for the NDJSON template files. */
  scratch: string;
}

/**
 * The fast path of a decorated load into an existing table: one scan of all files straight into
 * the table, with every check inline (a bad row raises an error), inside the caller's
 * transaction. Each file is read once (NDJSON too: strictJsonReader fails on unknown keys in the
 * scan that reads the rows; Node inflates gzip files alongside to catch truncated streams).
 * Returns the rows written, or null when anything is wrong: the caller rolls back and takes the
 * careful path (stageLoad), which names every bad file.
 */
export async function directLoad(
  conn: DuckDBConnection,
  request: DirectRequest,
  sources: SourceFile[],
  insertInto: string,
): Promise<number | null> {
  const json = request.format === 'NEWLINE_DELIMITED_JSON';
  if (json && request.columns.some((c) => c.name === FILE_COLUMN)) return null; // stageLoad says why
  let gzipOk = true;
  const gzipChecks = checkGzipFiles(
    sources.filter((s) => s.gzip),
    () => (gzipOk = false),
  );
  try {
    try {
      if (
        request.format === 'PARQUET' &&
        (
          await checkParquetColumns(
            conn,
            sources.map((s) => s.path),
            request.columns,
          )
        ).size > 0
      )
        return null;
    } catch {
      return null; // a file the check cannot read: the careful path names it
    }
    // REQUIRED columns need no check here: the table's NOT NULL constraint fails the insert.
    const bad: string[] = [];
    if (request.partitioning.field)
      bad.push(`${partitionRange(request.partitioning, request.columns, request.target, request.name)} IS NOT TRUE`);
    const fail = bad.length === 0 ? [] : [`WHEN ${bad.join(' OR ')} THEN error('a row fails a check')`];
    const extra = request.partitionTime ? `, TIMESTAMPTZ ${lit(request.partitionTime)} AS ${id(PARTITIONTIME)}` : '';
    let rows = 0;
    try {
      for (const { gzip, group } of scanGroups(sources)) {
        const paths = group.map((s) => s.path);
        let statement: string;
        if (json) {
          // The template's row (file 0) is dropped first: a CASE decides in order, row by row.
          const template = await writeTemplate(request.scratch, request.columns, gzip);
          const reader = strictJsonReader(template, paths, request.columns, gzip, FILE_COLUMN);
          const when = [`WHEN ${id(FILE_COLUMN)} = 0 THEN false`, ...fail].join(' ');
          statement = `SELECT * EXCLUDE (${id(FILE_COLUMN)})${extra} FROM ${reader} WHERE CASE ${when} ELSE true END`;
        } else {
          const reader = explicitReader(request.format, paths, request.columns, request.csv, gzip);
          statement = `SELECT *${extra} FROM ${reader}${fail.length === 0 ? '' : ` WHERE CASE ${fail.join(' ')} ELSE true END`}`;
        }
        rows += (await conn.run(`INSERT INTO ${insertInto} BY NAME ${statement}`)).rowsChanged;
      }
    } catch {
      return null;
    }
    await gzipChecks;
    return gzipOk ? rows : null;
  } finally {
    await gzipChecks;
  }
}

/** Writes the template file of strictJsonReader (gzip-compressed for a gzip scan: one scan, one compression). */
async function writeTemplate(scratch: string, columns: Column[], gzip: boolean): Promise<string> {
  const path = join(scratch, gzip ? 'template.json.gz' : 'template.json');
  const record = templateRecord(columns);
  await writeFile(path, gzip ? gzipSync(record) : record);
  return path;
}

/** Keys of NDJSON records that are not columns (case-insensitive): the first per file, with its count. */
async function unknownJsonKeys(
  conn: DuckDBConnection,
  columns: Column[],
  sources: SourceFile[],
): Promise<{ path: string; key: string; rows: number }[]> {
  const known = columns.map((c) => lit(c.name.toLowerCase())).join(', ');
  const found: { path: string; key: string; rows: number }[] = [];
  for (const { gzip, group: files } of scanGroups(sources)) {
    const group = files.map((s) => lit(s.path));
    const rows = await readRows(
      conn,
      // Only unknown keys are unnested: a file without any costs one key list per row.
      `SELECT f, arg_min(k, k) AS k, arg_min(n, k) AS n FROM (
         SELECT f, k, count(*) AS n FROM (
           SELECT filename AS f, unnest(list_filter(json_keys(json), k -> NOT list_contains([${known}], lower(k)))) AS k
           FROM read_ndjson_objects([${group.join(', ')}], hive_partitioning=false, filename=true, ${jsonCompression(gzip)}))
         GROUP BY f, k)
       GROUP BY f`,
    );
    for (const r of rows) found.push({ path: String(r.f), key: String(r.k), rows: Number(r.n) });
  }
  return found;
}
