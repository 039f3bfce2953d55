/**
 * Staging a load's files: every file read once, all in one DuckDB scan, into one temp table with
 * a column naming each row's file, then checked per file with one grouped query per check. Only
 * when the scan itself fails (a file DuckDB cannot parse) are the files read one by one, to name
 * each bad file. The cost of a load grows with its rows, not with its files squared: no temp
 * table per file, no catalog lookup per file. Gzip files are inflated once, by Node, into a
 * folder of the load's own, in memory when there is room (plainFiles, inflate-folder.ts): DuckDB
 * reads only plain files.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { errorMessage } from '../../core/errors.ts';
import type { CsvOptions, JobErrorItem, Partitioning } from '../../core/ports.ts';
import {
  autoReader,
  checkParquetColumns,
  CorruptGzipError,
  explicitReader,
  inflateGzip,
  isGzip,
  readablePath,
  strictJsonReader,
  templateRecord,
} from './duckdb-readers.ts';
import { readRows } from './duckdb-session.ts';
import { isNoRoom, MEMORY_SCAN_BYTES } from './inflate-folder.ts';
import { checkKeys, fieldsOf, respell } from './json-keys.ts';
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
  /** A folder of the load's own, for inflated gzip files. */
  scratch: string;
  /** Files per DuckDB scan (SCAN_FILES). */
  scanFiles: number;
}

/** The outcome: the columns read (null when every file was empty and none were known), and one error per bad file. */
export interface StageResult {
  columns: Column[] | null;
  /** Whether the stage table exists (it does not when every file was empty). */
  staged: boolean;
  errors: JobErrorItem[];
}

/** A non-empty source file of a load. */
export interface SourceFile {
  uri: string;
  /** The file (a plain-named link for names with glob characters); once plain, what DuckDB reads. */
  path: string;
  /** Gzip-compressed: inflated by plainFiles before DuckDB reads it. */
  gzip: boolean;
  size: number;
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
    sources.push({
      uri: file.uri,
      path: gzip ? file.path : await readablePath(file.path, scratch, i),
      gzip,
      size: file.size,
    });
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

  // One error per bad file, the first problem found: a corrupt gzip stream first (the file is
  // then left out, so nothing else is said of it).
  const failures = new Map<string, JobErrorItem>();
  const fail = (source: SourceFile, message: string) => {
    if (!failures.has(source.uri)) failures.set(source.uri, { reason: 'invalid', location: source.uri, message });
  };
  const errors = () => sources.flatMap((s) => failures.get(s.uri) ?? []);
  // Every file at once: the stage holds every row of the load anyway.
  const { files } = await plainFiles(sources, 0, { files: Infinity, bytes: Infinity }, [request.scratch], fail);
  let columns = request.columns;
  for (const file of files) {
    if (columns) break;
    try {
      columns = await detectColumns(conn, request, file);
    } catch (err) {
      fail(file, errorMessage(err)); // a file DuckDB cannot read says nothing about the table
    }
  }
  if (!columns) return { columns: null, staged: false, errors: errors() };
  if (columns.some((c) => c.name === FILE_COLUMN))
    throw new Error(`the table has a column named ${FILE_COLUMN}, which the local warehouse reserves`);
  if (format === 'PARQUET' && request.columns) {
    const known = columns;
    const problems = new Map(
      await allThenEach(files, fail, async (group) => [
        ...(await checkParquetColumns(
          conn,
          group.map((s) => s.path),
          known,
        )),
      ]),
    );
    for (const s of files) if (problems.has(s.path)) fail(s, problems.get(s.path)!);
  }
  let readable = files.filter((s) => !failures.has(s.uri));
  const stageColumns = [
    ...columns,
    ...(request.partitionTime ? [{ name: PARTITIONTIME, type: 'TIMESTAMPTZ', nullable: true }] : []),
  ];
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE ${id(request.stage)} (${[...stageColumns.map((c) => `${id(c.name)} ${c.type}`), `${id(FILE_COLUMN)} VARCHAR`].join(', ')})`,
  );
  // NDJSON: one strict scan proves every key a column or field, spelled as the table spells it;
  // only when it fails are the keys checked file by file, in Node (json-keys.ts).
  if (!(format === 'NEWLINE_DELIMITED_JSON' && (await readStrict(conn, request, columns, readable)))) {
    if (format === 'NEWLINE_DELIMITED_JSON') readable = await checkJsonKeys(request, columns, readable, fail);
    await readAll(conn, request, columns, readable, fail);
  }
  const unfailed = readable.filter((s) => !failures.has(s.uri));
  await checkStaged(conn, request, columns, stageColumns, unfailed, fail);
  return { columns, staged: true, errors: errors() };
}

/** Columns of an autodetect table at its first load: as DuckDB detects them in the first file. */
async function detectColumns(conn: DuckDBConnection, request: StageRequest, first: SourceFile): Promise<Column[]> {
  const described = await readRows(
    conn,
    `DESCRIBE SELECT * FROM ${autoReader(request.format, first.path, request.csv)}`,
  );
  return described.map((r) => ({ name: String(r.column_name), type: String(r.column_type), nullable: true }));
}

/**
 * Reads every NDJSON file into the stage with strictJsonReader, which fails on any key that is
 * not a column or field spelled as the table spells it. Returns false, the stage emptied, when
 * any scan fails (then readAll reads them, after checkJsonKeys).
 */
async function readStrict(
  conn: DuckDBConnection,
  request: StageRequest,
  columns: Column[],
  sources: SourceFile[],
): Promise<boolean> {
  const extra = request.partitionTime ? `, TIMESTAMPTZ ${lit(request.partitionTime)} AS ${id(PARTITIONTIME)}` : '';
  const template = await writeTemplate(request.scratch, columns);
  try {
    for (let i = 0; i < sources.length; i += request.scanFiles) {
      const paths = sources.slice(i, i + request.scanFiles).map((s) => s.path);
      await conn.run(
        `INSERT INTO ${id(request.stage)} BY NAME SELECT *${extra} FROM ${strictJsonReader(template, paths, columns, FILE_COLUMN)}`,
      );
    }
    return true;
  } catch {
    await conn.run(`DELETE FROM ${id(request.stage)}`);
    return false;
  }
}

/** One scan of all files; if it fails, one read per file to name each bad one. */
async function readAll(
  conn: DuckDBConnection,
  request: StageRequest,
  columns: Column[],
  sources: SourceFile[],
  fail: (s: SourceFile, message: string) => void,
): Promise<void> {
  const extra = request.partitionTime ? `, TIMESTAMPTZ ${lit(request.partitionTime)} AS ${id(PARTITIONTIME)}` : '';
  const insert = (paths: string | string[]) =>
    conn.run(
      `INSERT INTO ${id(request.stage)} BY NAME SELECT *${extra} FROM ${explicitReader(request.format, paths, columns, request.csv, FILE_COLUMN)}`,
    );
  try {
    for (let i = 0; i < sources.length; i += request.scanFiles)
      await insert(sources.slice(i, i + request.scanFiles).map((s) => s.path));
    return;
  } catch {
    // Some file is bad; DuckDB names only the first it meets (and not always). Read them one by one.
  }
  await conn.run(`DELETE FROM ${id(request.stage)}`);
  for (const source of sources) {
    try {
      await insert(source.path);
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
 * Files per DuckDB scan, unless the warehouse sets `scanFiles`. One scan of many files keeps some state
 * per file (about 30 KiB for a CSV file: 400 MiB for 10,000 files), so scans take a bounded
 * number of files at a time.
 */
export const SCAN_FILES = 1000;

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

/**
 * Inflated bytes per scan of the fast path on disk, about: what the scratch folder holds at most
 * (in memory: MEMORY_SCAN_BYTES). Fewer,
 * larger scans cost less CPU (measured: 15 scans of 16 MiB took 1.5x the CPU of one scan of the
 * same 236 MiB), and inflating the next scan's files while DuckDB reads this one's makes DuckDB's
 * threads and zlib's compete for the cores: more CPU and no sooner done. So scans run one after
 * the other, each inflated first.
 */
const SCAN_BYTES = 512 << 20;

/**
 * Gzip files inflated at once. Each file's read, inflate and write are separate trips to libuv's
 * threads, so more files than cores in flight keep the cores busy: measured in a load of 200
 * files, 8 at once inflated in 207-251 ms where 4 took 269-293 and 16 232-249.
 */
const INFLATE_AT_ONCE = 8;

/** Files DuckDB reads (see plainFiles). */
interface PlainBatch {
  files: SourceFile[];
  /** Where the next batch starts. */
  next: number;
  /** What to delete once read. */
  inflated: string[];
}

/**
 * The sources from `from` as DuckDB reads them: plain files as they are, gzip files inflated by
 * Node into the first of `folders` (a file too large to inflate in one call into the last), each
 * once and INFLATE_AT_ONCE at a time (on libuv threads),
 * until `max.files` files or `max.bytes` inflated bytes. A folder with no room left is dropped
 * from `folders` (the file goes to the next one). A gzip stream that does not inflate goes to
 * `fail` and is left out. Returns the files in order, where the next batch starts, and the
 * inflated files (for the caller to delete once read).
 */
export async function plainFiles(
  sources: SourceFile[],
  from: number,
  max: { files: number; bytes: number },
  folders: string[],
  fail: (s: SourceFile, message: string) => void,
): Promise<PlainBatch> {
  const files: (SourceFile | null)[] = [];
  const inflated: string[] = [];
  let next = from;
  let bytes = 0;
  const worker = async () => {
    while (next < sources.length && next - from < max.files && bytes < max.bytes) {
      const i = next++;
      const source = sources[i]!;
      files[i - from] = null;
      if (!source.gzip) {
        files[i - from] = source;
        continue;
      }
      for (;;) {
        const folder = folders[0]!;
        // A file inflated as a stream (too large for one call) goes to the last folder, the disk.
        const [small, large] = [folder, folders.at(-1)!].map((f) => join(f, `z${i}`)) as [string, string];
        inflated.push(small, large);
        try {
          const done = await inflateGzip(source.path, source.size, small, large);
          bytes += done.bytes;
          files[i - from] = { ...source, path: done.path, gzip: false };
        } catch (err) {
          // No room: drop the folder (unless another file already did) and try the next one.
          if (isNoRoom(err) && (folders[0] !== folder || folders.length > 1)) {
            if (folders[0] === folder) folders.shift();
            continue;
          }
          if (!(err instanceof CorruptGzipError)) throw err;
          fail(source, err.message);
        }
        break;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: INFLATE_AT_ONCE }, worker));
  for (const s of settled) if (s.status === 'rejected') throw s.reason;
  return { files: files.filter((f) => f !== null), next, inflated };
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
  /** A folder of the load's own, on disk, for inflated gzip files and the NDJSON template file. */
  scratch: string;
  /** A folder of the load's own in memory (see inflate-folder.ts), tried first for inflated files. */
  memory: string | null;
  /** Files per DuckDB scan (SCAN_FILES). */
  scanFiles: number;
}

/**
 * The fast path of a decorated load into an existing table: scans of the files straight into
 * the table, with every check inline (a bad row raises an error), inside the caller's
 * transaction. Each file is read once (NDJSON too: strictJsonReader fails on unknown keys in the
 * scan that reads the rows; a gzip file is inflated once, by Node, which checks its whole stream).
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
  const checks: string[] = [];
  if (request.partitioning.field)
    checks.push(`${partitionRange(request.partitioning, request.columns, request.target, request.name)} IS NOT TRUE`);
  const fail = checks.length === 0 ? [] : [`WHEN ${checks.join(' OR ')} THEN error('a row fails a check')`];
  const extra = request.partitionTime ? `, TIMESTAMPTZ ${lit(request.partitionTime)} AS ${id(PARTITIONTIME)}` : '';
  const template = json ? await writeTemplate(request.scratch, request.columns) : null;
  const statement = (paths: string[]) => {
    const reader = template
      ? strictJsonReader(template, paths, request.columns)
      : explicitReader(request.format, paths, request.columns, request.csv);
    return `SELECT *${extra} FROM ${reader}${fail.length === 0 ? '' : ` WHERE CASE ${fail.join(' ')} ELSE true END`}`;
  };

  let corrupt = false;
  let rows = 0;
  const folders = request.memory ? [request.memory, request.scratch] : [request.scratch];
  for (let from = 0; from < sources.length;) {
    const bytes = folders[0] === request.memory ? MEMORY_SCAN_BYTES : SCAN_BYTES;
    const { files, next, inflated } = await plainFiles(
      sources,
      from,
      { files: request.scanFiles, bytes },
      folders,
      () => (corrupt = true),
    );
    if (corrupt) return null;
    try {
      if (files.length > 0)
        rows += (await conn.run(`INSERT INTO ${insertInto} BY NAME ${statement(files.map((f) => f.path))}`))
          .rowsChanged;
    } catch {
      return null;
    }
    await Promise.all(inflated.map((path) => rm(path, { force: true })));
    from = next;
  }
  return rows;
}

/**
 * Runs `work` with DuckDB free to insert rows in any order (on this connection only): a load's
 * rows have no order (BigQuery keeps none), and DuckDB then inserts them as its threads finish,
 * about 0.87x the CPU of keeping the files' order. Outside any transaction: a failed statement
 * leaves a transaction where not even a setting can change.
 */
export async function unordered<T>(conn: DuckDBConnection, work: () => Promise<T>): Promise<T> {
  await conn.run('SET SESSION preserve_insertion_order = false');
  try {
    return await work();
  } finally {
    await conn.run('RESET SESSION preserve_insertion_order');
  }
}

/** Writes the template file of strictJsonReader. */
async function writeTemplate(scratch: string, columns: Column[]): Promise<string> {
  const path = join(scratch, 'template.json');
  await writeFile(path, templateRecord(columns));
  return path;
}

/**
 * Checks the keys of every NDJSON file as BigQuery matches them (json-keys.ts): a file with a key
 * that is no column or field fails; a file whose keys are spelled otherwise than the columns is
 * read from a respelled copy in the scratch folder. Returns the files to read.
 */
async function checkJsonKeys(
  request: StageRequest,
  columns: Column[],
  files: SourceFile[],
  fail: (s: SourceFile, message: string) => void,
): Promise<SourceFile[]> {
  const fields = fieldsOf(columns);
  const out: SourceFile[] = [];
  for (const [i, file] of files.entries()) {
    const { problem, respell: respelled } = await checkKeys(file.path, fields, request.name);
    if (problem) {
      fail(file, problem);
      continue;
    }
    if (!respelled) {
      out.push(file);
      continue;
    }
    const path = join(request.scratch, `k${i}`);
    await respell(file.path, fields, path);
    out.push({ ...file, path });
  }
  return out;
}
