/**
 * The embedded warehouse's load path against DuckDB reading the same files directly.
 *
 *   (a) warehouse: `DuckDbWarehouse.insertJob` of one load job naming every file, with a
 *       partition decorator (so the partition check runs), until the job is DONE.
 *   (b) plain DuckDB: one `INSERT INTO t SELECT * FROM read_xxx([files])` into a table of the
 *       same columns, in a fresh database file of the same process: no checks at all, DuckDB's
 *       default settings (rows inserted in the files' order).
 *   (c) plain DuckDB as (b) with `preserve_insertion_order = false`, as the warehouse's loads run
 *       (a load's rows have no order): what DuckDB alone does at its fastest.
 *
 * Two data sets, written once per bench run (not timed) with DuckDB's COPY: Parquet files and
 * gzip NDJSON files, all rows in one UTC day. Each run uses a fresh database file; runs of (a), (b)
 * and (c) rotate a, b, c, b, c, a, ... after one untimed warm-up round; medians are reported, and
 * the ratios plain / warehouse (1.0: as fast as DuckDB alone).
 *
 *   npm run bench:load [-- --runs=5] [--parquet=100] [--parquet-rows=100000] [--ndjson=200] [--rows=20000]
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { DuckDbWarehouse } from '../shared/backends/local/duckdb-warehouse.ts';
import type { JobSpec, TableSpec } from '../shared/core/ports.ts';
import { median } from './stats.ts';

const COLUMNS = `{'id': 'BIGINT', 'ts': 'TIMESTAMPTZ', 'user_id': 'VARCHAR', 'amount': 'DOUBLE', 'country': 'VARCHAR', 'flag': 'BOOLEAN'}`;
// The warehouse's table has the same columns, REQUIRED id as NOT NULL: both pay for the constraint.
const DDL = 'id BIGINT NOT NULL, ts TIMESTAMPTZ, user_id VARCHAR, amount DOUBLE, country VARCHAR, flag BOOLEAN';
const SPEC = (format: 'PARQUET' | 'NEWLINE_DELIMITED_JSON'): TableSpec => ({
  ref: { dataset: 'bench', table: 't' },
  partitioning: { type: 'DAY', field: 'ts', fieldType: 'TIMESTAMP' },
  format,
  autodetect: false,
  schema: [
    { name: 'id', type: 'INT64', mode: 'REQUIRED' },
    { name: 'ts', type: 'TIMESTAMP' },
    { name: 'user_id', type: 'STRING' },
    { name: 'amount', type: 'FLOAT64' },
    { name: 'country', type: 'STRING' },
    { name: 'flag', type: 'BOOL' },
  ],
});

/** Writes `count` files of `rows` rows each; returns their paths. */
async function writeFiles(dir: string, kind: 'parquet' | 'ndjson', count: number, rows: number): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const paths: string[] = [];
  for (let f = 0; f < count; f++) {
    const path = join(dir, kind === 'parquet' ? `part-${f}.parquet` : `part-${f}.json.gz`);
    const select = `SELECT ${f}::BIGINT * ${rows} + i AS id, TIMESTAMPTZ '2024-03-01 00:00:00+00' + to_seconds(i % 86400) AS ts,
      'user-' || (i * 7919 % 100000) AS user_id, (i % 1000) / 7.0 AS amount, ['KR', 'US', 'DE', 'BR'][i % 4 + 1] AS country, i % 3 = 0 AS flag
      FROM range(${rows}) r(i)`;
    await conn.run(
      `SET TimeZone = 'UTC'; COPY (${select}) TO '${path}' (FORMAT ${kind === 'parquet' ? 'PARQUET' : "JSON, COMPRESSION 'gzip'"})`,
    );
    paths.push(path);
  }
  conn.closeSync();
  db.closeSync();
  return paths;
}

async function plain(file: string, kind: 'parquet' | 'ndjson', paths: string[], unordered = false): Promise<number> {
  const started = performance.now();
  const db = await DuckDBInstance.create(file);
  const conn = await db.connect();
  const list = `[${paths.map((p) => `'${p}'`).join(', ')}]`;
  const reader =
    kind === 'parquet'
      ? `read_parquet(${list})`
      : `read_json(${list}, format='newline_delimited', columns=${COLUMNS}, compression='gzip')`;
  const order = unordered ? 'SET preserve_insertion_order = false;' : '';
  await conn.run(`SET TimeZone = 'UTC'; ${order} CREATE TABLE t (${DDL}); INSERT INTO t SELECT * FROM ${reader}`);
  conn.closeSync();
  db.closeSync();
  return performance.now() - started;
}

let jobs = 0;
async function warehouse(file: string, kind: 'parquet' | 'ndjson', paths: string[]): Promise<number> {
  const spec = SPEC(kind === 'parquet' ? 'PARQUET' : 'NEWLINE_DELIMITED_JSON');
  const started = performance.now();
  const wh = new DuckDbWarehouse({ file, holder: 'bench' });
  try {
    await wh.ensureTable(spec);
    const job: JobSpec = {
      kind: 'load',
      jobId: `bench_${++jobs}`,
      table: spec,
      destination: spec.ref,
      partition: '20240301',
      sourceUris: paths,
      writeDisposition: 'WRITE_TRUNCATE',
      labels: {},
    };
    await wh.insertJob(job);
    for (;;) {
      const status = await wh.getJob(job.jobId);
      if (status?.state === 'DONE') {
        if (status.errorResult) throw new Error(`load failed: ${JSON.stringify(status.errorResult)}`);
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    await wh.close();
  }
  return performance.now() - started;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      parquet: { type: 'string' },
      ndjson: { type: 'string' },
      rows: { type: 'string' },
      'parquet-rows': { type: 'string' },
    },
  });
  const runs = Number(values.runs ?? 5);
  const rows = Number(values.rows ?? 20_000);
  const sets = [
    {
      kind: 'parquet' as const,
      count: Number(values.parquet ?? 100),
      rows: Number(values['parquet-rows'] ?? rows * 5),
    },
    { kind: 'ndjson' as const, count: Number(values.ndjson ?? 200), rows },
  ];
  const top = mkdtempSync(join(tmpdir(), 'tidemark-bench-load-'));
  const load = [loadavg()[0]!];
  const lines: string[] = [];
  try {
    for (const set of sets) {
      const paths = await writeFiles(join(top, set.kind), set.kind, set.count, set.rows);
      type Which = 'warehouse' | 'plain' | 'unordered';
      const times: Record<Which, number[]> = { warehouse: [], plain: [], unordered: [] };
      // CPU time of this process (DuckDB's threads included): steadier than wall time on a shared machine.
      const cpu: Record<Which, number[]> = { warehouse: [], plain: [], unordered: [] };
      let n = 0;
      const once = async (which: Which) => {
        const file = join(top, `db-${++n}.duckdb`);
        const before = process.cpuUsage();
        const ms =
          which === 'warehouse'
            ? await warehouse(file, set.kind, paths)
            : await plain(file, set.kind, paths, which === 'unordered');
        const used = process.cpuUsage(before);
        rmSync(file, { force: true });
        rmSync(`${file}.wal`, { force: true });
        return { ms, cpuMs: (used.user + used.system) / 1000 };
      };
      const order: Which[] = ['warehouse', 'plain', 'unordered'];
      for (const which of order) await once(which);
      for (let i = 0; i < runs; i++) {
        // Each run rotates the order, so no variant always follows the same one.
        for (const which of [...order.slice(i % 3), ...order.slice(0, i % 3)]) {
          const { ms, cpuMs } = await once(which);
          times[which].push(ms);
          cpu[which].push(cpuMs);
          process.stderr.write(
            `${set.kind} run ${i + 1} ${which}: ${Math.round(ms)} ms wall, ${Math.round(cpuMs)} ms CPU\n`,
          );
        }
      }
      const fmt = (xs: number[]) =>
        `${Math.round(median(xs))} (${Math.round(Math.min(...xs))}-${Math.round(Math.max(...xs))})`;
      const ratio = (m: Record<Which, number[]>, base: Which) => (median(m[base]) / median(m.warehouse)).toFixed(2);
      lines.push(
        `| ${set.count} ${set.kind === 'parquet' ? 'Parquet' : 'NDJSON.gz'} files x ${set.rows} rows | ${fmt(times.warehouse)} | ${fmt(times.plain)} | ${ratio(times, 'plain')} | ${fmt(cpu.warehouse)} | ${fmt(cpu.plain)} | ${ratio(cpu, 'plain')} | ${ratio(times, 'unordered')} / ${ratio(cpu, 'unordered')} |`,
      );
    }
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
  load.push(loadavg()[0]!);
  console.log(
    [
      `- machine: nproc ${cpus().length} (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; load average ${load.map((l) => l.toFixed(1)).join(' -> ')} (before -> after)`,
      `- command: \`npm run bench:load -- ${process.argv.slice(2).join(' ')}\``,
      `- ${runs} rotating runs of each variant after one warm-up round; from opening a fresh database file to the job DONE (warehouse) or the INSERT done (plain); wall ms and CPU ms of the process, median (min-max). Plain is DuckDB's default settings; "unordered" is plain with preserve_insertion_order = false, as the warehouse's loads run`,
      '',
      '| files | warehouse wall ms | plain wall ms | speed vs plain, wall | warehouse CPU ms | plain CPU ms | speed vs plain, CPU | speed vs unordered plain, wall / CPU |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      ...lines,
    ].join('\n'),
  );
}

await main();
