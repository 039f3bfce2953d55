/**
 * How the local warehouse reads a load's source files: source URIs resolved to local files
 * (with BigQuery's `*` wildcard), the DuckDB reader for each format (with the table's columns,
 * or autodetected), and the checks DuckDB would skip but BigQuery makes: gzip integrity and
 * Parquet columns.
 */
import { createReadStream } from 'node:fs';
import { open, readdir, stat, symlink } from 'node:fs/promises';
import { extname, isAbsolute, join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
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

/** DuckDB reads a truncated gzip stream as if it ended there; BigQuery fails it. Check the whole stream. */
export async function checkGzip(path: string): Promise<void> {
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  try {
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
