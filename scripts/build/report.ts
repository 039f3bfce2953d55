/**
 * What a build came to: sizes of index.js, the lazy files and the maps, the largest inputs and
 * packages, written as bundle-report.json and printed as a table.
 */
import { join } from 'node:path';
import type { FunctionEntry } from './discover.ts';

/** What one bundle came to. */
export interface BundleResult {
  fn: FunctionEntry;
  dir: string;
  bytes: {
    /** index.js: read and parsed at every cold start. */
    eager: number;
    /** index.js and the lazily loaded package files. */
    total: number;
    /** Source maps. */
    maps: number;
  };
  /** Top inputs of index.js by bytes. */
  inputs: { path: string; bytes: number }[];
  /** Top packages of index.js by bytes. */
  packages: { name: string; bytes: number }[];
  /** Package files loaded by the import() that needs them. */
  lazy: { pkg: string; file: string; bytes: number }[];
  /** Project modules loaded by the import() that needs them (project-chunks.ts). */
  chunks: { module: string; file: string; bytes: number }[];
  files: string[];
  warnings: string[];
}

/** The npm package an input belongs to (`@scope/name` or `name`), or `(project)`. */
export function packageOf(input: string): string {
  const at = input.lastIndexOf('node_modules/');
  if (at < 0) return '(project)';
  const [first = '', second = ''] = input.slice(at + 'node_modules/'.length).split('/');
  return first.startsWith('@') ? `${first}/${second}` : first;
}

/** Where the build leaves a function's esbuild metafile: outdir/<name>.meta.json. */
export function metafilePath(outdir: string, fn: Pick<FunctionEntry, 'name'>): string {
  return join(outdir, `${fn.name}.meta.json`);
}

/** The n largest entries, as `{ [key]: name, bytes }`. */
export function topBy<K extends string>(
  entries: Map<string, number>,
  key: K,
  n: number,
): ({ [P in K]: string } & { bytes: number })[] {
  return [...entries]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, bytes]) => ({ [key]: name, bytes }) as { [P in K]: string } & { bytes: number });
}

/** Bytes as KiB or MiB. */
export function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

/** The size table printed after a build. */
export function formatSizeTable(results: BundleResult[]): string {
  const rows = [
    [
      'function',
      'entry point',
      'index.js',
      'with lazy files',
      'maps',
      'largest package in index.js',
      'loaded by import()',
    ],
    ...results.map((r) => [
      r.fn.name,
      r.fn.entryPoint,
      formatBytes(r.bytes.eager),
      formatBytes(r.bytes.total),
      formatBytes(r.bytes.maps),
      r.packages[0] ? `${r.packages[0].name} ${formatBytes(r.packages[0].bytes)}` : '',
      r.lazy.map((l) => `${l.pkg} ${formatBytes(l.bytes)}`).join(', '),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
