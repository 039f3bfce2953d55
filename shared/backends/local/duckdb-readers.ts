/**
 * How the local warehouse reads a load's source files: source URIs resolved to local files
 * (with BigQuery's `*` wildcard), the DuckDB reader for each format (with the table's columns,
 * or autodetected), and the checks DuckDB would skip but BigQuery makes: gzip integrity, unknown
 * NDJSON keys (in the same scan as the rows: strictJsonReader) and Parquet columns.
 */
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, stat, symlink } from 'node:fs/promises';
import { extname, isAbsolute, join } from 'node:path';
import { Writable } from 'node:stream';
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
  gzip: boolean,
  fileColumn?: string,
): string {
  const compression = `compression=${lit(gzip ? 'gzip' : 'none')}`;
  const source = pathList(paths);
  const filename = fileColumn === undefined ? '' : `, filename=${lit(fileColumn)}`;
  if (format === 'CSV') {
    const skip = csv?.skipLeadingRows ?? 0;
    return `read_csv(${source}, hive_partitioning=false, columns=${structLiteral(columns)}, header=false, skip=${skip}, auto_detect=false, ${compression}, ${csvReadOptions(csv).join(', ')}${filename})`;
  }
  if (format === 'NEWLINE_DELIMITED_JSON') {
    return `read_json(${source}, hive_partitioning=false, columns=${structLiteral(columns)}, format='newline_delimited', records=true, ${jsonCompression(gzip)}${filename})`;
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

/** read_json spells "no compression" differently from read_csv. */
export function jsonCompression(gzip: boolean): string {
  return `compression=${lit(gzip ? 'gzip' : 'uncompressed')}`;
}

/** A reader of one file with its columns autodetected, as BigQuery's autodetect would. */
export function autoReader(format: string, path: string, csv: CsvOptions | undefined, gzip: boolean): string {
  const compression = `compression=${lit(gzip ? 'gzip' : 'none')}`;
  if (format === 'CSV') {
    const skip = csv?.skipLeadingRows ?? 0;
    // BigQuery's autodetect takes column names from the last skipped row.
    return `read_csv(${lit(path)}, hive_partitioning=false, header=${skip > 0}, skip=${Math.max(0, skip - 1)}, ${compression}, ${csvReadOptions(csv).join(', ')})`;
  }
  if (format === 'NEWLINE_DELIMITED_JSON')
    return `read_json(${lit(path)}, hive_partitioning=false, format='newline_delimited', ${jsonCompression(gzip)})`;
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
/** Gzip files up to this size are inflated in one call; larger ones as a stream (memory stays bounded). */
const GZIP_WHOLE = 16 << 20;
/** The most output one-call inflating may produce before the stream takes over. */
const GZIP_WHOLE_OUTPUT = 64 << 20;
const gunzipWhole = promisify(gunzip);

/** DuckDB reads a truncated gzip stream as if it ended there; BigQuery fails it. Check the whole stream. */
export async function checkGzip(path: string): Promise<void> {
  try {
    if ((await stat(path)).size <= GZIP_WHOLE) {
      // One inflate call on a libuv thread: about 0.75x the CPU of the stream below (no per-chunk
      // stream machinery); the output is dropped at once.
      try {
        const data = await readFile(path);
        // One output chunk of the size the trailer claims (ISIZE), when it claims a plausible one.
        const claimed = data.length >= 4 ? data.readUInt32LE(data.length - 4) + 1 : 0;
        const chunkSize = Math.min(Math.max(claimed, 1 << 16), GZIP_WHOLE_OUTPUT);
        await gunzipWhole(data, { chunkSize, maxOutputLength: GZIP_WHOLE_OUTPUT });
        return;
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'ERR_BUFFER_TOO_LARGE') throw err;
      }
    }
    const sink = new Writable({ write: (_chunk, _enc, done) => done() });
    // 1 MiB reads and output chunks: with the defaults (64 KiB in, 16 KiB out) the stream's
    // per-chunk overhead costs about half as much CPU again as inflating itself.
    await pipeline(
      createReadStream(path, { highWaterMark: GZIP_CHUNK }),
      createGunzip({ chunkSize: GZIP_CHUNK }),
      sink,
    );
  } catch (err) {
    throw new Error(`corrupt or truncated gzip stream: ${errorMessage(err)}`);
  }
}

/**
 * The JSON value of a column in a load's template record (see strictJsonReader): a value DuckDB's
 * JSON type detection reads back as exactly `type` (BIGINT, DOUBLE, BOOLEAN, VARCHAR, and structs
 * and lists of those), or null where no value would (TIMESTAMPTZ, DATE, DECIMAL, ...): DuckDB
 * detects null as JSON, which the reader then casts to the column's type with the same
 * conversion its typed reader uses. `type` is DuckDB's spelling (`STRUCT(a VARCHAR, "b c" DOUBLE)[]`).
 */
export function templateValue(type: string): unknown {
  const t = type.trim();
  if (t.endsWith('[]')) return [templateValue(t.slice(0, -2))];
  if (/^STRUCT\(.*\)$/s.test(t)) {
    const record: Record<string, unknown> = {};
    for (const field of splitTopLevel(t.slice('STRUCT('.length, -1))) {
      const m = /^\s*(?:"((?:[^"]|"")*)"|([^\s"]+))\s+(\S.*)$/s.exec(field);
      if (!m) return null; // a spelling not understood: the whole value is read as JSON and cast
      record[m[1] !== undefined ? m[1].replace(/""/g, '"') : m[2]!] = templateValue(m[3]!);
    }
    return record;
  }
  return SCALAR_TEMPLATES.get(t) ?? null;
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
 * from that record alone. Every row carries its file's position in the list in `indexColumn`: the
 * template's row (0) holds placeholders and must be filtered out by the caller before any value is
 * used. Values detected as JSON are cast to the column type (the typed reader's own conversion);
 * the rest already are. Keys match exactly, as in DuckDB's typed reader.
 */
export function strictJsonReader(
  template: string,
  paths: string[],
  columns: Column[],
  gzip: boolean,
  indexColumn: string,
): string {
  const casts = columns.map((c) => `CAST(${id(c.name)} AS ${c.type}) AS ${id(c.name)}`).join(', ');
  return `(SELECT * REPLACE (${casts}), file_index AS ${id(indexColumn)} FROM read_json(${pathList([template, ...paths])}, hive_partitioning=false, format='newline_delimited', records=true, auto_detect=true, sample_size=1, maximum_sample_files=1, map_inference_threshold=-1, union_by_name=false, ignore_errors=false, ${jsonCompression(gzip)}))`;
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
