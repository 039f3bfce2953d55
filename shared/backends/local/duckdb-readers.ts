/**
 * How the local warehouse reads a load's source files: source URIs resolved to local files
 * (with BigQuery's `*` wildcard), the DuckDB reader for each format (with the table's columns,
 * or autodetected), and the checks DuckDB would skip but BigQuery makes: gzip integrity, unknown
 * NDJSON keys (in the same scan as the rows: strictJsonReader) and Parquet columns.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { extname, isAbsolute, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip, gunzip } from 'node:zlib';
import type { DuckDBConnection } from '@duckdb/node-api';
import { errorMessage } from '../../core/errors.ts';
import type { CsvOptions, JobErrorItem } from '../../core/ports.ts';
import { id, JobFailure, lit } from './duckdb-sql.ts';
import type { Column } from './duckdb-sql.ts';
import { readRows } from './duckdb-session.ts';
import { isTempFile } from './lake-store.ts';

const GLOB_CHARS = /[*?[\]{}]/;

/** Local paths of the source URIs with their sizes; every missing source is reported. */
export async function resolveSources(
  uris: string[],
  resolveUri: ((uri: string) => string) | undefined,
): Promise<{ uri: string; path: string; size: number }[]> {
  const files: { uri: string; path: string; size: number }[] = [];
  const errors: JobErrorItem[] = [];
  for (const uri of uris) {
    let path = uri;
    if (uri.startsWith('gs://')) {
      if (!resolveUri) {
        errors.push({
          reason: 'invalid',
          location: uri,
          message: `the local warehouse reads local paths; ${uri} needs the resolveUri option`,
        });
        continue;
      }
      path = resolveUri(uri);
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

/**
 * A reader of one file, or of several in one scan, into the table's columns, cast to their
 * types. With `fileColumn`, every row also names the file it came from in that column.
 */
export function explicitReader(
  format: string,
  paths: string | string[],
  columns: Column[],
  csv: CsvOptions | undefined,
  fileColumn?: string,
): string {
  const source = pathList(paths);
  const filename = fileColumn === undefined ? '' : `, filename=${lit(fileColumn)}`;
  if (format === 'CSV') {
    const skip = csv?.skipLeadingRows ?? 0;
    return `read_csv(${source}, hive_partitioning=false, columns=${structLiteral(columns)}, header=false, skip=${skip}, auto_detect=false, ${CSV_PLAIN}, ${csvReadOptions(csv).join(', ')}${filename})`;
  }
  if (format === 'NEWLINE_DELIMITED_JSON') {
    // Dates and times are read as text and cast, as strictJsonReader does (see TEXT_TYPES).
    const read = columns.map((c) => ({ ...c, type: textType(c.type) }));
    const reader = `read_json(${source}, hive_partitioning=false, columns=${structLiteral(read)}, format='newline_delimited', records=true, ${JSON_PLAIN}${filename})`;
    const casts = columns.filter((c, i) => read[i]!.type !== c.type);
    if (casts.length === 0) return reader;
    return `(SELECT * REPLACE (${casts.map((c) => `CAST(${id(c.name)} AS ${c.type}) AS ${id(c.name)}`).join(', ')}) FROM ${reader})`;
  }
  // Parquet carries its own schema: select the table's columns by name (union_by_name: files
  // may order them differently; each file's columns are checked first), cast to their types.
  const file = fileColumn === undefined ? '' : `, f.${id(fileColumn)}`;
  return `(SELECT ${columns.map((c) => `CAST(f.${id(c.name)} AS ${c.type}) AS ${id(c.name)}`).join(', ')}${file} FROM read_parquet(${source}, hive_partitioning=false, union_by_name=true${filename}) AS f)`;
}

/** One path as a string literal, several as a list literal (DuckDB scans a list as one source). */
function pathList(paths: string | string[]): string {
  return typeof paths === 'string' ? lit(paths) : `[${paths.map(lit).join(', ')}]`;
}

/**
 * DuckDB reads every file uncompressed: Node inflates gzip files first (inflateGzip), checking
 * what DuckDB's gzip reader would not. read_json spells "no compression" differently from read_csv.
 */
const JSON_PLAIN = `compression='uncompressed'`;
const CSV_PLAIN = `compression='none'`;

/** A reader of one file with its columns autodetected, as BigQuery's autodetect would. */
export function autoReader(format: string, path: string, csv: CsvOptions | undefined): string {
  if (format === 'CSV') {
    const skip = csv?.skipLeadingRows ?? 0;
    // BigQuery's autodetect takes column names from the last skipped row.
    return `read_csv(${lit(path)}, hive_partitioning=false, header=${skip > 0}, skip=${Math.max(0, skip - 1)}, ${CSV_PLAIN}, ${csvReadOptions(csv).join(', ')})`;
  }
  if (format === 'NEWLINE_DELIMITED_JSON')
    return `read_json(${lit(path)}, hive_partitioning=false, format='newline_delimited', ${JSON_PLAIN})`;
  return `read_parquet(${lit(path)}, hive_partitioning=false)`;
}

function csvReadOptions(csv: CsvOptions | undefined): string[] {
  const delimiter =
    csv?.fieldDelimiter === undefined
      ? ','
      : csv.fieldDelimiter === 'tab' || csv.fieldDelimiter === '\\t'
        ? '\t'
        : csv.fieldDelimiter;
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

/** DuckDB expands glob characters in paths even in a single file name: read such files via a plain-named link. */
export async function readablePath(path: string, scratch: string, index: number): Promise<string> {
  if (!GLOB_CHARS.test(path)) return path;
  const link = join(scratch, `f${index}${extname(path).replace(/[*?[\]{}]/g, '')}`);
  await symlink(path, link);
  return link;
}

/** Gzip by name (`.gz`) or by its magic bytes. */
export async function isGzip(path: string): Promise<boolean> {
  if (path.endsWith('.gz')) return true;
  const handle = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

const GZIP_CHUNK = 1 << 20;
/**
 * Gzip files up to this size, inflating to at most GZIP_WHOLE_OUTPUT, are inflated in one call;
 * the rest as a stream. Memory stays bounded: a load inflates a few files at once.
 */
const GZIP_WHOLE = 8 << 20;
const GZIP_WHOLE_OUTPUT = 16 << 20;
const gunzipWhole = promisify(gunzip);

/** A gzip stream that does not inflate: truncated, corrupt, or with a wrong CRC or length. */
export class CorruptGzipError extends Error {
  constructor(cause: unknown) {
    super(`corrupt or truncated gzip stream: ${errorMessage(cause)}`);
    this.name = 'CorruptGzipError';
  }
}

/** zlib's own errors (Z_DATA_ERROR, Z_BUF_ERROR, ...): the stream's fault, not the machine's. */
function isZlibError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('Z_');
}

/**
 * Inflates the gzip file at `path` (`size` bytes) into `out`, or into `largeOut` when it is
 * inflated as a stream (larger than one call takes: its size is then known only once written),
 * checking the whole stream: zlib verifies every member's CRC and length, which DuckDB's own gzip
 * reader does not (it reads a truncated stream as if it ended there; BigQuery fails it). Returns
 * the bytes written and where. A stream that does not inflate throws CorruptGzipError; anything
 * else (a full disk) is thrown as it is.
 */
export async function inflateGzip(
  path: string,
  size: number,
  out: string,
  largeOut = out,
): Promise<{ bytes: number; path: string }> {
  if (size <= GZIP_WHOLE) {
    // One inflate call on a libuv thread into one output chunk of the size the trailer claims
    // (ISIZE), when it claims a plausible one: about half the CPU of the stream below.
    const data = await readFile(path);
    // ISIZE is the length modulo 2^32 of the last member only: a hint, never trusted.
    const claimed = data.length >= 4 ? data.readUInt32LE(data.length - 4) + 1 : 0;
    const chunkSize = Math.min(Math.max(claimed, 1 << 16), GZIP_WHOLE_OUTPUT);
    let plain: Buffer | null = null;
    try {
      if (claimed <= GZIP_WHOLE_OUTPUT)
        plain = await gunzipWhole(data, { chunkSize, maxOutputLength: GZIP_WHOLE_OUTPUT });
    } catch (err) {
      if (isZlibError(err)) throw new CorruptGzipError(err);
      if ((err as { code?: unknown }).code !== 'ERR_BUFFER_TOO_LARGE') throw err;
    }
    if (plain) {
      await writeFile(out, plain);
      return { bytes: plain.length, path: out };
    }
  }
  // 1 MiB reads and output chunks: with the defaults (64 KiB in, 16 KiB out) the stream's
  // per-chunk overhead costs about half as much CPU again as inflating itself.
  const sink = createWriteStream(largeOut);
  try {
    await pipeline(
      createReadStream(path, { highWaterMark: GZIP_CHUNK }),
      createGunzip({ chunkSize: GZIP_CHUNK }),
      sink,
    );
  } catch (err) {
    throw isZlibError(err) ? new CorruptGzipError(err) : err;
  }
  return { bytes: sink.bytesWritten, path: largeOut };
}

/**
 * Dates and times, which JSON holds as text: both NDJSON readers read them as VARCHAR and cast
 * the text with DuckDB's SQL cast, so the fast and the careful path convert them alike (the
 * typed reader's own conversion of TIMESTAMPTZ differs: it refuses a zone name such as
 * `2024-03-01 09:00:00 Asia/Seoul`, which the SQL cast, as BigQuery, accepts).
 */
const TEXT_TYPES = new Set(['TIMESTAMP WITH TIME ZONE', 'TIMESTAMPTZ', 'TIMESTAMP', 'DATE', 'TIME']);

/** One field of a STRUCT spelling: a quoted or bare name, then its type. */
const STRUCT_FIELD = /^\s*(?:"((?:[^"]|"")*)"|([^\s"]+))\s+(\S.*)$/s;

/** The fields of a STRUCT spelling, or null when `type` is not one (or is not understood). */
export function structFields(type: string): { quoted: string; name: string; type: string }[] | null {
  if (!/^STRUCT\(.*\)$/s.test(type)) return null;
  const fields = [];
  for (const field of splitTopLevel(type.slice('STRUCT('.length, -1))) {
    const m = STRUCT_FIELD.exec(field);
    if (!m) return null;
    fields.push(
      m[1] !== undefined
        ? { quoted: `"${m[1]}"`, name: m[1].replace(/""/g, '"'), type: m[3]! }
        : { quoted: m[2]!, name: m[2]!, type: m[3]! },
    );
  }
  return fields;
}

/**
 * `type` as an NDJSON reader reads it: every date and time (TEXT_TYPES), at any depth, as
 * VARCHAR, to be cast to `type` after. A spelling not understood is read as it is.
 */
export function textType(type: string): string {
  const t = type.trim();
  if (t.endsWith('[]')) return `${textType(t.slice(0, -2))}[]`;
  const fields = structFields(t);
  if (fields) return `STRUCT(${fields.map((f) => `${f.quoted} ${textType(f.type)}`).join(', ')})`;
  return TEXT_TYPES.has(t.toUpperCase()) ? 'VARCHAR' : t;
}

/**
 * The JSON value of a column in a load's template record (see strictJsonReader): a value DuckDB's
 * JSON type detection reads back as exactly textType(`type`) (BIGINT, DOUBLE, BOOLEAN, VARCHAR,
 * dates and times as VARCHAR, and structs and lists of those), or null where no value would
 * (DECIMAL, BLOB, ...): DuckDB detects null as JSON, which the reader then casts to the column's
 * type with the same conversion its typed reader uses. `type` is DuckDB's spelling
 * (`STRUCT(a VARCHAR, "b c" DOUBLE)[]`).
 */
export function templateValue(type: string): unknown {
  const t = type.trim();
  if (t.endsWith('[]')) return [templateValue(t.slice(0, -2))];
  if (/^STRUCT\(.*\)$/s.test(t)) {
    const fields = structFields(t);
    // A spelling not understood: the whole value is read as JSON and cast.
    return fields && Object.fromEntries(fields.map((f) => [f.name, templateValue(f.type)]));
  }
  return SCALAR_TEMPLATES.get(textType(t)) ?? null;
}

const SCALAR_TEMPLATES = new Map<string, unknown>([
  ['BIGINT', 1],
  ['DOUBLE', 1.5],
  ['BOOLEAN', true],
  ['VARCHAR', 'a'],
]);

/** Splits at commas outside parentheses and double quotes. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (quoted) continue;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** The template record's line (see strictJsonReader). */
export function templateRecord(columns: Column[]): string {
  return JSON.stringify(Object.fromEntries(columns.map((c) => [c.name, templateValue(c.type)]))) + '\n';
}

/**
 * A reader of NDJSON files that fails on any key that is not a column, in the one scan that reads
 * the rows. DuckDB's typed reader (`columns=`) drops unknown keys without a trace, but a reader
 * whose columns were auto-detected fails on a key the detection did not see (as long as every
 * detected column is read, no `union_by_name`, no `ignore_errors`). So the scan starts with
 * `template`, a one-record file holding every column (templateRecord), and detects the columns
 * from that record alone; the template's row (file 0) is filtered out before any value is cast.
 * Every column is cast to its type: values detected as JSON with the typed reader's own
 * conversion, dates and times (read as VARCHAR) as explicitReader casts them. Keys match exactly,
 * as in DuckDB's typed reader. With `fileColumn`, every row also names its file in that column.
 */
export function strictJsonReader(template: string, paths: string[], columns: Column[], fileColumn?: string): string {
  const filename = fileColumn === undefined ? '' : `, filename=${lit(fileColumn)}`;
  const casts = columns.map((c) => `CAST(${id(c.name)} AS ${c.type}) AS ${id(c.name)}`).join(', ');
  return `(SELECT * EXCLUDE (file_index) REPLACE (${casts}) FROM (SELECT *, file_index FROM read_json(${pathList([template, ...paths])}, hive_partitioning=false, format='newline_delimited', records=true, auto_detect=true, sample_size=1, maximum_sample_files=1, map_inference_threshold=-1, union_by_name=false, ignore_errors=false, ${JSON_PLAIN}${filename})) WHERE file_index > 0)`;
}

/**
 * Every Parquet file must have every column of the table (by name, any case); BigQuery fails it
 * otherwise. One metadata query for all files; returns the problem of each file that lacks one.
 */
export async function checkParquetColumns(
  conn: DuckDBConnection,
  paths: string[],
  columns: Column[],
): Promise<Map<string, string>> {
  const problems = new Map<string, string>();
  if (paths.length === 0) return problems;
  const rows = await readRows(conn, `SELECT file_name, name, num_children FROM parquet_schema(${pathList(paths)})`);
  // Each file's schema is a tree in pre-order: the root, then each top-level column with its subtree.
  const topLevel = new Map<string, string[]>();
  let i = 0;
  while (i < rows.length) {
    const file = String(rows[i]!.file_name);
    const names: string[] = [];
    let children = Number(rows[i]!.num_children ?? 0);
    i++;
    for (; children > 0; children--) {
      names.push(String(rows[i]!.name));
      // Skip the column's subtree: count the nodes still owed.
      let owed = Number(rows[i]!.num_children ?? 0);
      i++;
      while (owed > 0) {
        owed += Number(rows[i]!.num_children ?? 0) - 1;
        i++;
      }
    }
    topLevel.set(file, names);
  }
  for (const path of paths) {
    const names = topLevel.get(path) ?? [];
    const present = new Set(names.map((n) => n.toLowerCase()));
    const missing = columns.filter((c) => !present.has(c.name.toLowerCase())).map((c) => c.name);
    if (missing.length > 0)
      problems.set(
        path,
        `Parquet schema does not match the table: missing column(s) ${missing.join(', ')}; the file has ${names.join(', ')}`,
      );
  }
  return problems;
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
      } else if (
        full.startsWith(prefix) &&
        full.endsWith(suffix) &&
        full.length >= prefix.length + suffix.length &&
        !isTempFile(full)
      ) {
        out.push(full);
      }
    }
  };
  await walk(base);
  return out.sort();
}
