import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, afterEach, beforeEach, describe, it, mock } from 'node:test';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { ConfigError, PreconditionFailedError, UnsafeIdentifierError } from '../../../../shared/core/errors.ts';
import type { JobSpec, JobStatus, TableSpec } from '../../../../shared/core/ports.ts';
import {
  DuckDbWarehouse,
  THREADS_VARIABLE,
  threadsFromEnv,
} from '../../../../shared/backends/local/duckdb-warehouse.ts';
import { LockHeldError } from '../../../../shared/backends/local/file-lock.ts';
import { MEMORY_ROOT, memoryFolder } from '../../../../shared/backends/local/inflate-folder.ts';
import { SCAN_FILES } from '../../../../shared/backends/local/duckdb-load.ts';

const top = mkdtempSync(join(tmpdir(), 'tidemark-wh-'));
after(() => rmSync(top, { recursive: true, force: true }));
const REPO = resolve(import.meta.dirname, '../../../..');
const MODULE = join(REPO, 'shared/backends/local/duckdb-warehouse.ts');

type LoadJob = Extract<JobSpec, { kind: 'load' }>;

const EVENTS: TableSpec = {
  ref: { dataset: 'lake_us', table: 'events' },
  partitioning: { type: 'HOUR' },
  format: 'CSV',
  autodetect: false,
  csv: { skipLeadingRows: 1 },
  schema: [
    { name: 'id', type: 'INTEGER' },
    { name: 'v', type: 'STRING' },
  ],
};

/** Column-partitioned by day on a TIMESTAMP. */
const CLICKS: TableSpec = {
  ref: { dataset: 'lake_us', table: 'clicks' },
  partitioning: { type: 'DAY', field: 'ts', fieldType: 'TIMESTAMP' },
  format: 'NEWLINE_DELIMITED_JSON',
  autodetect: false,
  schema: [
    { name: 'id', type: 'INT64', mode: 'REQUIRED' },
    { name: 'ts', type: 'TIMESTAMP' },
    { name: 'tags', type: 'STRING', mode: 'REPEATED' },
    {
      name: 'geo',
      type: 'RECORD',
      fields: [
        { name: 'country', type: 'STRING' },
        { name: 'lat', type: 'FLOAT' },
      ],
    },
  ],
};

let n = 0;
let dir: string;
let wh: DuckDbWarehouse;
beforeEach(() => {
  dir = join(top, `t${++n}`);
  mkdirSync(dir, { recursive: true });
  wh = new DuckDbWarehouse({ file: join(dir, 'wh.duckdb'), holder: 'test' });
});
afterEach(() => wh.close());

/** Writes a file in the test folder and returns its absolute path. */
function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  mkdirSync(resolve(path, '..'), { recursive: true });
  writeFileSync(path, content);
  return path;
}

function csv(from: number, count: number, tag = 'x'): string {
  let s = 'id,v\n';
  for (let i = from; i < from + count; i++) s += `${i},${tag}${i}\n`;
  return s;
}

let jobSeq = 0;
function load(sourceUris: string[], over: Partial<LoadJob> = {}): LoadJob {
  return {
    kind: 'load',
    jobId: `load_${++jobSeq}`,
    table: EVENTS,
    destination: EVENTS.ref,
    partition: '2024010110',
    sourceUris,
    writeDisposition: 'WRITE_TRUNCATE',
    labels: { tidemark_kind: 'load' },
    ...over,
  };
}

async function waitDone(w: DuckDbWarehouse, jobId: string): Promise<JobStatus> {
  for (let i = 0; i < 1000; i++) {
    const s = await w.getJob(jobId);
    if (s?.state === 'DONE') return s;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`job ${jobId} did not finish`);
}

async function run(spec: JobSpec, w = wh): Promise<JobStatus> {
  const r = await w.insertJob(spec);
  assert.equal(r.created, true);
  return waitDone(w, spec.jobId);
}

async function count(table = 'lake_us.events', where = 'true'): Promise<number> {
  const [row] = await wh.query(`SELECT count(*)::INTEGER AS n FROM ${table} WHERE ${where}`);
  return Number(row!.n);
}

async function partitions(ref = EVENTS.ref) {
  return (await wh.listPartitions(ref)).map((p) => [p.partitionId, p.totalRows]);
}

/** Runs an ES module body in a child Node process; `Warehouse` is the DuckDbWarehouse class. */
function child(
  code: string,
  onLine: (line: string) => void = () => {},
): Promise<{ code: number | null; lines: string[]; stderr: string }> {
  return new Promise((done, fail) => {
    const p = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { DuckDbWarehouse: Warehouse } = await import(${JSON.stringify(MODULE)});\n${code}`,
      ],
      {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const lines: string[] = [];
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => {
      for (const line of b.toString().split('\n').filter(Boolean)) {
        lines.push(line);
        onLine(line);
      }
    });
    p.stderr.on('data', (b) => (stderr += b));
    p.on('error', fail);
    p.on('close', (code) => done({ code, lines, stderr }));
  });
}

describe('DuckDbWarehouse', () => {
  describe('tables', () => {
    it('creates dataset and table with BigQuery types mapped, _PARTITIONTIME for ingestion time, idempotently', async () => {
      await wh.ensureTable({ ...EVENTS, labels: { owner: 'data-eng' } });
      await wh.ensureTable(EVENTS);
      await wh.ensureTable(CLICKS);
      const cols = await wh.query(
        `SELECT table_name, column_name, data_type, is_nullable FROM duckdb_columns() WHERE schema_name = 'lake_us' ORDER BY table_name, column_index`,
      );
      assert.deepEqual(
        cols.map((c) => `${c.table_name}.${c.column_name} ${c.data_type}${c.is_nullable ? '' : ' NOT NULL'}`),
        [
          'clicks.id BIGINT NOT NULL',
          'clicks.ts TIMESTAMP WITH TIME ZONE',
          'clicks.tags VARCHAR[]',
          'clicks.geo STRUCT(country VARCHAR, lat DOUBLE)',
          'events.id BIGINT',
          'events.v VARCHAR',
          'events._PARTITIONTIME TIMESTAMP WITH TIME ZONE',
        ],
      );
      assert.deepEqual((await wh.getTableLabels(EVENTS.ref))?.labels, { owner: 'data-eng' });
      assert.equal(await wh.getTableLabels({ dataset: 'lake_us', table: 'nope' }), null);
      assert.deepEqual(await wh.listPartitions({ dataset: 'lake_us', table: 'nope' }), []);
    });

    it('maps every scalar type', async () => {
      const types = [
        'STRING',
        'BYTES',
        'INTEGER',
        'INT64',
        'FLOAT',
        'FLOAT64',
        'NUMERIC',
        'BIGNUMERIC',
        'BOOLEAN',
        'BOOL',
        'TIMESTAMP',
        'DATE',
        'DATETIME',
        'TIME',
        'JSON',
      ];
      await wh.ensureTable({
        ...EVENTS,
        ref: { dataset: 'd', table: 'all_types' },
        schema: types.map((type, i) => ({ name: `c${i}`, type })),
      });
      const cols = await wh.query(
        `SELECT data_type FROM duckdb_columns() WHERE table_name = 'all_types' ORDER BY column_index`,
      );
      assert.deepEqual(
        cols.map((c) => c.data_type),
        [
          'VARCHAR',
          'BLOB',
          'BIGINT',
          'BIGINT',
          'DOUBLE',
          'DOUBLE',
          'DECIMAL(38,9)',
          'DOUBLE',
          'BOOLEAN',
          'BOOLEAN',
          'TIMESTAMP WITH TIME ZONE',
          'DATE',
          'TIMESTAMP',
          'TIME',
          'JSON',
          'TIMESTAMP WITH TIME ZONE',
        ],
      );
    });

    it('rejects unsafe identifiers, labels and types before they reach SQL', async () => {
      for (const ref of [
        { dataset: 'x; DROP', table: 't' },
        { dataset: 'd', table: 'a"b' },
        { dataset: 'd', table: 'a.b' },
        { dataset: 'd', table: 'a`b' },
        { dataset: '_tidemark', table: 'jobs' },
      ]) {
        await assert.rejects(wh.ensureTable({ ...EVENTS, ref }), UnsafeIdentifierError);
        await assert.rejects(wh.getTableLabels(ref), UnsafeIdentifierError);
      }
      await assert.rejects(wh.ensureTable({ ...EVENTS, labels: { Owner: 'x' } }), UnsafeIdentifierError);
      await assert.rejects(
        wh.ensureTable({ ...EVENTS, schema: [{ name: 'x', type: 'GEOMETRY_BLOB' }] }),
        UnsafeIdentifierError,
      );
      await assert.rejects(
        wh.ensureTable({ ...EVENTS, schema: [{ name: '_PARTITIONTIME', type: 'TIMESTAMP' }] }),
        UnsafeIdentifierError,
      );
      await assert.rejects(wh.insertJob(load(['/x'], { jobId: 'bad id!' })), UnsafeIdentifierError);
      await assert.rejects(
        wh.insertJob(load(['/x'], { destination: { dataset: 'a-b', table: 't' } })),
        UnsafeIdentifierError,
      );
    });

    it('patches labels only with the current etag; jobs that write the table change the etag', async () => {
      await wh.ensureTable(EVENTS);
      const first = (await wh.getTableLabels(EVENTS.ref))!;
      assert.deepEqual(first.labels, {});
      await wh.patchTableLabels(EVENTS.ref, { tidemark_last_load: '20240101t1000z' }, first.etag);
      const second = (await wh.getTableLabels(EVENTS.ref))!;
      assert.deepEqual(second.labels, { tidemark_last_load: '20240101t1000z' });
      assert.notEqual(second.etag, first.etag);
      const stale = await wh.patchTableLabels(EVENTS.ref, { other: 'x' }, first.etag).catch((e: unknown) => e);
      assert.ok(stale instanceof PreconditionFailedError);
      assert.match(stale.message, new RegExp(`expected etag ${first.etag}, found ${second.etag}`));
      await wh.patchTableLabels(EVENTS.ref, { other: 'x' }, second.etag);
      const third = (await wh.getTableLabels(EVENTS.ref))!;
      assert.deepEqual(third.labels, { tidemark_last_load: '20240101t1000z', other: 'x' });

      await run(load([file('a.csv', csv(1, 2))]));
      const fourth = (await wh.getTableLabels(EVENTS.ref))!;
      assert.notEqual(fourth.etag, third.etag);
      assert.deepEqual(fourth.labels, third.labels);
      await assert.rejects(wh.patchTableLabels(EVENTS.ref, { k: 'Not Valid' }, fourth.etag), UnsafeIdentifierError);
      await assert.rejects(
        wh.patchTableLabels(EVENTS.ref, { k: '2024-01-01T10:00:00Z' }, fourth.etag),
        UnsafeIdentifierError,
      );
      await assert.rejects(
        wh.patchTableLabels({ dataset: 'lake_us', table: 'missing' }, { k: 'v' }, '1'),
        PreconditionFailedError,
      );
    });

    it('deletes tables and their metadata', async () => {
      await run(load([file('a.csv', csv(1, 2))]));
      await wh.deleteTable(EVENTS.ref);
      await wh.deleteTable(EVENTS.ref);
      assert.equal(await wh.getTableLabels(EVENTS.ref), null);
      assert.deepEqual(await wh.listPartitions(EVENTS.ref), []);
    });
  });

  describe('table expiration', () => {
    it('drops a table once its expiresAt has passed, including one a load created and ensureTable then dated', async () => {
      let now = Date.UTC(2026, 0, 1);
      const clock = { now: () => now, sleep: async () => {} };
      const w = new DuckDbWarehouse({ file: join(dir, 'exp.duckdb'), clock });
      try {
        const stage = { ...EVENTS, ref: { dataset: 'lake_us', table: 'events__stage' }, expiresAt: now + 1_000 };
        await w.ensureTable(stage);
        const auto: TableSpec = {
          ...EVENTS,
          ref: { dataset: 'lake_us', table: 'auto__stage' },
          schema: undefined,
          autodetect: true,
        };
        await run(load([file('e1.csv', csv(1, 2))], { table: auto, destination: auto.ref }), w);
        await w.ensureTable({ ...auto, expiresAt: now + 5_000 });
        const names = async () =>
          (await w.query(`SELECT table_name FROM duckdb_tables() WHERE schema_name = 'lake_us' ORDER BY 1`)).map(
            (r) => r.table_name,
          );
        assert.deepEqual(await names(), ['auto__stage', 'events__stage']);
        now += 1_000;
        await w.ensureTable(EVENTS);
        assert.deepEqual(await names(), ['auto__stage', 'events']);
        now += 4_000;
        // Expired tables are gone before a job can read them: a copy from one fails notFound.
        const copy = await run(
          {
            kind: 'copy',
            jobId: 'copy_expired',
            source: auto.ref,
            destination: EVENTS.ref,
            partition: null,
            writeDisposition: 'WRITE_APPEND',
            labels: {},
          },
          w,
        );
        assert.equal(copy.errorResult?.reason, 'notFound');
        assert.deepEqual(await names(), ['events']);
      } finally {
        await w.close();
      }
    });
  });

  describe('load jobs', () => {
    it('loads CSV into an hourly ingestion-time partition: rows, bytes, _PARTITIONTIME, partition id', async () => {
      const a = file('a.csv', csv(1, 3));
      const b = file('b.csv', csv(10, 4));
      const status = await run(load([a, b]));
      assert.equal(status.errorResult, undefined);
      assert.equal(status.outputRows, 7);
      assert.equal(status.inputBytes, statSync(a).size + statSync(b).size);
      assert.equal(status.kind, 'load');
      assert.deepEqual(status.labels, { tidemark_kind: 'load' });
      assert.equal(await count(), 7);
      const [row] = await wh.query(`SELECT DISTINCT _PARTITIONTIME AS t FROM lake_us.events`);
      assert.equal(row!.t, '2024-01-01 10:00:00+00');
      const parts = await wh.listPartitions(EVENTS.ref);
      assert.equal(parts.length, 1);
      assert.equal(parts[0]!.partitionId, '2024010110');
      assert.equal(parts[0]!.totalRows, 7);
      assert.ok(Math.abs(parts[0]!.lastModified! - Date.now()) < 60_000);
    });

    it('WRITE_TRUNCATE of one partition replaces it and leaves the others intact; WRITE_APPEND adds', async () => {
      await run(load([file('h10.csv', csv(1, 5))], { partition: '2024010110' }));
      await run(load([file('h11.csv', csv(100, 3))], { partition: '2024010111' }));
      await run(load([file('h10b.csv', csv(50, 2))], { partition: '2024010110' }));
      assert.deepEqual(await partitions(), [
        ['2024010110', 2],
        ['2024010111', 3],
      ]);
      await run(load([file('h11b.csv', csv(200, 4))], { partition: '2024010111', writeDisposition: 'WRITE_APPEND' }));
      assert.deepEqual(await partitions(), [
        ['2024010110', 2],
        ['2024010111', 7],
      ]);
      assert.equal(await count('lake_us.events', 'id >= 50 AND id < 52'), 2);
      assert.equal(await count('lake_us.events', 'id < 50'), 0);
      // WRITE_TRUNCATE without a decorator replaces the whole table.
      await run(load([file('all.csv', csv(1, 1))], { partition: null }));
      assert.equal(await count(), 1);
    });

    it('loads NDJSON into a column-partitioned table; partition ids are UTC days of the column', async () => {
      const rows = [
        { id: 1, ts: '2024-03-01T23:30:00-02:00', tags: ['a', 'b'], geo: { country: 'KR', lat: 37.5 } },
        { id: 2, ts: '2024-03-02T00:10:00Z', tags: [] },
        { id: 3, ts: '2024-03-01T12:00:00Z' },
      ];
      const status = await run({
        ...load([file('c.json', rows.map((r) => JSON.stringify(r)).join('\n') + '\n')]),
        table: CLICKS,
        destination: CLICKS.ref,
        partition: null,
        writeDisposition: 'WRITE_APPEND',
      });
      assert.equal(status.errorResult, undefined, JSON.stringify(status.errorResult));
      assert.equal(status.outputRows, 3);
      assert.deepEqual(await partitions(CLICKS.ref), [
        ['20240301', 1],
        ['20240302', 2],
      ]);
      const [first] = await wh.query(`SELECT tags, geo FROM lake_us.clicks WHERE id = 1`);
      assert.deepEqual(first, { tags: ['a', 'b'], geo: { country: 'KR', lat: 37.5 } });
    });

    it('fails a column-partitioned load whose rows fall outside the decorated partition, naming the file', async () => {
      const good = file('good.json', '{"id":1,"ts":"2024-03-01T01:00:00Z"}\n');
      const bad = file('bad.json', '{"id":2,"ts":"2024-03-01T02:00:00Z"}\n{"id":3,"ts":"2024-03-05T00:00:00Z"}\n');
      const status = await run({ ...load([good, bad]), table: CLICKS, destination: CLICKS.ref, partition: '20240301' });
      assert.equal(status.errors?.length, 1);
      assert.equal(status.errorResult?.location, bad);
      assert.match(
        status.errorResult!.message,
        /1 row\(s\) fall outside partition lake_us\.clicks\$20240301: ts puts them in partition 20240305/,
      );
      assert.equal(await count('lake_us.clicks'), 0);
    });

    it('fails NDJSON rows with unknown fields or NULL in a REQUIRED field', async () => {
      const unknown = file('u.json', '{"id":1,"ts":"2024-03-01T01:00:00Z","colour":"red"}\n');
      const nul = file('n.json', '{"ts":"2024-03-01T01:00:00Z"}\n');
      const status = await run({
        ...load([unknown, nul]),
        table: CLICKS,
        destination: CLICKS.ref,
        partition: '20240301',
      });
      assert.deepEqual(
        status.errors?.map((e) => e.location),
        [unknown, nul],
      );
      assert.match(status.errors![0]!.message, /No such field: colour/);
      assert.match(status.errors![1]!.message, /Required field id cannot be null/);
    });

    it('matches NDJSON keys to columns and fields in any case, as BigQuery does, on both paths', async () => {
      const lines =
        '{"ID":1,"Ts":"2024-03-01T01:00:00Z","GEO":{"Country":"KR","lat":1.5},"tags":["a"]}\n' +
        '{"id":2,"ts":"2024-03-01T02:00:00Z","geo":{"country":"US"}}\n';
      const spelled = file('case/a.json', lines);
      const careful = { ...CLICKS, ref: { dataset: 'lake_us', table: 'clicks_case' } };
      for (const [table, partition] of [
        [CLICKS, '20240301'], // fast path first (its exact keys fail), then the careful one
        [careful, null], // the careful path alone
      ] as const) {
        const status = await run({ ...load([spelled]), table, destination: table.ref, partition });
        assert.equal(status.outputRows, 2, JSON.stringify(status.errorResult));
        assert.deepEqual(await wh.query(`SELECT id, geo FROM lake_us.${table.ref.table} ORDER BY id`), [
          { id: '1', geo: { country: 'KR', lat: 1.5 } },
          { id: '2', geo: { country: 'US', lat: null } },
        ]);
      }
    });

    it('fails an NDJSON file with an unknown nested key or two keys for one column, on both paths', async () => {
      const nested = file('nested/a.json', '{"id":1,"ts":"2024-03-01T01:00:00Z","geo":{"country":"KR","alt":3}}\n');
      const inList = file(
        'nested/b.json',
        '{"id":2,"ts":"2024-03-01T01:00:00Z","tags":["x"],"geo":{"lat":1}}\n{"id":3,"ID":4,"ts":"2024-03-01T01:00:00Z"}\n',
      );
      const good = file('nested/c.json', '{"id":5,"ts":"2024-03-01T01:00:00Z"}\n');
      for (const partition of ['20240301', null]) {
        const status = await run({
          ...load([good, nested, inList]),
          table: CLICKS,
          destination: CLICKS.ref,
          partition,
        });
        assert.deepEqual(
          status.errors?.map((e) => e.location),
          [nested, inList],
        );
        assert.match(
          status.errors![0]!.message,
          /No such field: geo\.alt \(in 1 row\(s\)\); lake_us\.clicks has no field/,
        );
        assert.match(status.errors![1]!.message, /Duplicate field id: the keys "id" and "ID"/);
        assert.equal(await count('lake_us.clicks'), 0);
      }
    });

    it('loads Parquet by column name and fails a Parquet file with another schema', async () => {
      const good = join(dir, 'good.parquet');
      const reordered = join(dir, 'reordered.parquet');
      const other = join(dir, 'other.parquet');
      await wh.query(`COPY (SELECT 'p' || i AS v, i::INTEGER AS id FROM range(4) t(i)) TO '${good}' (FORMAT PARQUET)`);
      await wh.query(`COPY (SELECT 9 AS id, 'z' AS v, 1 AS extra) TO '${reordered}' (FORMAT PARQUET)`);
      await wh.query(`COPY (SELECT 1 AS ident, 'x' AS value) TO '${other}' (FORMAT PARQUET)`);
      const spec = { ...EVENTS, format: 'PARQUET' as const };
      const ok = await run(load([good, reordered], { table: spec }));
      assert.equal(ok.errorResult, undefined, JSON.stringify(ok.errorResult));
      assert.equal(ok.outputRows, 5);
      assert.deepEqual(await wh.query(`SELECT id, v FROM lake_us.events ORDER BY id`), [
        { id: '0', v: 'p0' },
        { id: '1', v: 'p1' },
        { id: '2', v: 'p2' },
        { id: '3', v: 'p3' },
        { id: '9', v: 'z' },
      ]);
      const failed = await run(load([good, other], { table: spec, partition: '2024010111' }));
      assert.equal(failed.errors?.length, 1);
      assert.equal(failed.errorResult?.location, other);
      assert.match(failed.errorResult!.message, /missing column\(s\) id, v; the file has ident, value/);
      assert.deepEqual(await partitions(), [['2024010110', 5]]);
    });

    it('names each file DuckDB cannot read at all (not Parquet, not JSON) among good ones, and loads nothing', async () => {
      const good = join(dir, 'good.parquet');
      await wh.query(`COPY (SELECT i::INTEGER AS id, 'p' || i AS v FROM range(3) t(i)) TO '${good}' (FORMAT PARQUET)`);
      const junk = file('junk.parquet', 'this is not a parquet file at all');
      const parquet = await run(load([good, junk], { table: { ...EVENTS, format: 'PARQUET' } }));
      assert.deepEqual(
        parquet.errors?.map((e) => e.location),
        [junk],
      );
      const okJson = file('ok.json', '{"id":1,"ts":"2024-03-01T01:00:00Z"}\n');
      const broken = file('broken.json', '{"id":2,"ts":"2024-03-01T01:00:00Z"}\n{"id":3, "ts": \n');
      const json = await run({
        ...load([okJson, broken]),
        table: CLICKS,
        destination: CLICKS.ref,
        partition: '20240301',
      });
      assert.deepEqual(
        json.errors?.map((e) => e.location),
        [broken],
      );
      assert.equal(await count(), 0);
      assert.equal(await count('lake_us.clicks'), 0);
    });

    it('loads gzip CSV and JSON (by .gz suffix or by magic bytes)', async () => {
      const gz = file('a.csv.gz', gzipSync(csv(1, 3)));
      const noSuffix = file('b.csv', gzipSync(csv(10, 2)));
      assert.equal((await run(load([gz, noSuffix]))).outputRows, 5);
      const json = file(
        'c.json.gz',
        gzipSync('{"id":1,"ts":"2024-03-01T01:00:00Z"}\n{"id":2,"ts":"2024-03-01T02:00:00Z"}\n'),
      );
      const status = await run({ ...load([json]), table: CLICKS, destination: CLICKS.ref, partition: '20240301' });
      assert.equal(status.outputRows, 2, JSON.stringify(status.errorResult));
      assert.equal(await count('lake_us.clicks'), 2);
    });

    it('fails truncated gzip files naming each (DuckDB alone would load the part it could read)', async () => {
      const whole = gzipSync(csv(1, 50));
      const cutAtEnd = file('end.csv.gz', whole.subarray(0, whole.length - 4)); // only the trailer missing
      const cutMid = file('mid.csv.gz', whole.subarray(0, Math.floor(whole.length / 2)));
      const good = file('good.csv.gz', whole);
      const status = await run(load([good, cutAtEnd, cutMid]));
      assert.deepEqual(
        status.errors?.map((e) => e.location),
        [cutAtEnd, cutMid],
      );
      assert.ok(status.errors!.every((e) => /corrupt or truncated gzip/.test(e.message) && e.reason === 'invalid'));
      assert.equal(status.outputRows, undefined);
      assert.equal(await count(), 0);
    });

    it('fails a truncated gzip NDJSON file of a decorated load into an existing table (the one-inflate fast path)', async () => {
      const rows = Array.from({ length: 200 }, (_, i) => `{"id":${i},"ts":"2024-03-01T01:00:00Z"}`).join('\n') + '\n';
      const whole = gzipSync(rows);
      const good = file('ok.json.gz', whole);
      const cut = file('cut.json.gz', whole.subarray(0, whole.length - 4)); // only the trailer missing
      const status = await run({ ...load([good, cut]), table: CLICKS, destination: CLICKS.ref, partition: '20240301' });
      assert.deepEqual(
        status.errors?.map((e) => e.location),
        [cut],
      );
      assert.match(status.errors![0]!.message, /corrupt or truncated gzip/);
      assert.equal(await count('lake_us.clicks'), 0);
      assert.equal(
        (await run({ ...load([good]), table: CLICKS, destination: CLICKS.ref, partition: '20240301' })).outputRows,
        200,
      );
    });

    it('inflates gzip files in memory when there is room, and leaves no inflated file behind', async () => {
      const probe = await memoryFolder();
      if (probe) rmSync(probe, { recursive: true, force: true });
      const mine = () => readdirSync(MEMORY_ROOT).filter((n) => n.startsWith(`tidemark-inflate-${process.pid}-`));
      const before = probe ? mine() : [];
      const rows = Array.from({ length: 50 }, (_, i) => `{"id":${i},"ts":"2024-03-01T01:00:00Z"}`).join('\n') + '\n';
      const sources = [file('mem/a.json.gz', gzipSync(rows)), file('mem/b.json.gz', gzipSync(rows))];
      const read: string[] = [];
      const original = DuckDBConnection.prototype.run;
      mock.method(
        DuckDBConnection.prototype,
        'run',
        function (this: DuckDBConnection, ...args: Parameters<typeof original>) {
          if (String(args[0]).startsWith('INSERT INTO')) read.push(String(args[0]));
          return original.apply(this, args);
        },
      );
      let status: JobStatus;
      try {
        status = await run({ ...load(sources), table: CLICKS, destination: CLICKS.ref, partition: '20240301' });
      } finally {
        mock.restoreAll();
      }
      assert.equal(status.outputRows, 100, JSON.stringify(status.errorResult));
      // Where the one scan read them: memory when this machine has room there, else the disk.
      const folder = probe ? `${MEMORY_ROOT}/tidemark-inflate-${process.pid}-` : `${tmpdir()}/tidemark-load-`;
      assert.equal(read.filter((sql) => sql.includes(folder)).length, 1, read.join('\n'));
      if (probe) assert.deepEqual(mine(), before);
    });

    it('reads each NDJSON file once on the fast path, into the same rows as the careful path reads', async () => {
      const rows = (base: number) => [
        { id: base + 1, ts: '2024-03-01T21:30:00-02:00', tags: ['a', 'b'], geo: { country: 'KR', lat: 37.5 } },
        { id: String(base + 2), ts: '2024-03-01 00:00:00', tags: [], geo: { lat: -1 } }, // a string id; a nested key missing
        { id: base + 3, ts: '2024-03-01T05:00:00Z', geo: null },
        { ts: '2024-03-01T12:00:00.123456Z', id: base + 4, tags: ['\u00e9', 'x"y'] }, // keys in another order
      ];
      const lines = (base: number) =>
        rows(base)
          .map((r) => JSON.stringify(r))
          .join('\n') + '\n';
      const sources = [file('once/a.json.gz', gzipSync(lines(0))), file('once/b.json', lines(10))];
      // Which statements DuckDB runs that name each file: the plain file itself, and the gzip
      // file's copy that Node inflated into the load's scratch folder (source 0: `z0`). DuckDB
      // never reads the gzip file itself.
      const readAs = [/\/z0'/, new RegExp(`'${sources[1]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'`)];
      const seen = new Map<string, number>();
      const original = DuckDBConnection.prototype.run;
      mock.method(
        DuckDBConnection.prototype,
        'run',
        function (this: DuckDBConnection, ...args: Parameters<typeof original>) {
          const sql = String(args[0]);
          assert.ok(!sql.includes(sources[0]!), 'DuckDB reads the gzip file itself');
          sources.forEach((path, i) => {
            if (readAs[i]!.test(sql)) seen.set(path, (seen.get(path) ?? 0) + 1);
          });
          return original.apply(this, args);
        },
      );
      let fast: JobStatus;
      try {
        fast = await run({ ...load(sources), table: CLICKS, destination: CLICKS.ref, partition: '20240301' });
      } finally {
        mock.restoreAll();
      }
      assert.equal(fast.errorResult, undefined, JSON.stringify(fast.errorResult));
      assert.equal(fast.outputRows, 8);
      assert.deepEqual(Object.fromEntries(seen), Object.fromEntries(sources.map((p) => [p, 1])));
      // Not decorated: the careful path (a stage, checked per file) reads the same files.
      const careful = { ...CLICKS, ref: { dataset: 'lake_us', table: 'clicks_careful' } };
      const staged = await run({ ...load(sources), table: careful, destination: careful.ref, partition: null });
      assert.equal(staged.outputRows, 8, JSON.stringify(staged.errorResult));
      const all = (table: string) => wh.query(`SELECT * FROM lake_us.${table} ORDER BY id`);
      assert.deepEqual(await all('clicks'), await all('clicks_careful'));
      assert.deepEqual((await all('clicks'))[1], {
        id: '2',
        ts: '2024-03-01 00:00:00+00',
        tags: [],
        geo: { country: null, lat: -1 },
      });
    });

    it('fails an NDJSON file whose one fault is an unknown key deep in it, on the fast path as on the careful one', async () => {
      const row = (i: number, extra = '') => `{"id":${i},"ts":"2024-03-01T01:00:00Z"${extra}}`;
      const many = (from: number) => Array.from({ length: 500 }, (_, i) => row(from + i)).join('\n') + '\n';
      const good = file('deep/good.json.gz', gzipSync(many(0)));
      const late = file('deep/late.json.gz', gzipSync(many(1000) + row(2000, ',"colour":"red"') + '\n' + many(3000)));
      for (const partition of ['20240301', null]) {
        const status = await run({ ...load([good, late]), table: CLICKS, destination: CLICKS.ref, partition });
        assert.deepEqual(
          status.errors?.map((e) => e.location),
          [late],
        );
        assert.match(status.errors![0]!.message, /No such field: colour \(in 1 row\(s\)\)/);
        assert.equal(await count('lake_us.clicks'), 0);
      }
    });

    it('fails files with the wrong column count, naming every bad file, and loads nothing', async () => {
      await run(load([file('before.csv', csv(1, 4))]));
      const short = file('short.csv', 'id,v\n1\n');
      const long = file('long.csv', 'id,v\n1,a,extra\n');
      const good = file('good.csv', csv(7, 2));
      const status = await run(load([good, short, long]));
      assert.equal(status.state, 'DONE');
      assert.deepEqual(
        status.errors?.map((e) => e.location),
        [short, long],
      );
      assert.deepEqual(status.errorResult, status.errors![0]);
      assert.match(status.errors![0]!.message, /Expected Number of Columns: 2 Found: 1/);
      assert.match(status.errors![1]!.message, /Expected Number of Columns: 2 Found: 3/);
      assert.equal(await count(), 4); // the partition is untouched
      // allowJaggedRows pads missing trailing columns with NULL.
      const jagged = await run(
        load([short], { table: { ...EVENTS, csv: { skipLeadingRows: 1, allowJaggedRows: true } } }),
      );
      assert.equal(jagged.outputRows, 1);
    });

    it('fails values that do not cast to the column type', async () => {
      const status = await run(load([file('t.csv', 'id,v\nnot-a-number,x\n')]));
      assert.match(status.errorResult!.message, /Could not convert string "not-a-number"/);
    });

    it('honours CSV options: delimiter, quote, null marker, more leading rows', async () => {
      const f = file('o.csv', "title\nid|v\n1|'a|b'\n2|NA\n");
      const spec = { ...EVENTS, csv: { skipLeadingRows: 2, fieldDelimiter: '|', quote: "'", nullMarker: 'NA' } };
      assert.equal((await run(load([f], { table: spec }))).outputRows, 2);
      assert.deepEqual(await wh.query(`SELECT id, v FROM lake_us.events ORDER BY id`), [
        { id: '1', v: 'a|b' },
        { id: '2', v: null },
      ]);
    });

    it('loads empty files as 0 rows', async () => {
      const status = await run(load([file('empty.csv', ''), file('header-only.csv', 'id,v\n')]));
      assert.equal(status.errorResult, undefined);
      assert.equal(status.outputRows, 0);
    });

    it('creates an autodetect table at its first load from the files, then loads with its columns', async () => {
      const spec: TableSpec = {
        ref: { dataset: 'auto', table: 'hits' },
        partitioning: { type: 'DAY' },
        format: 'CSV',
        autodetect: true,
        csv: { skipLeadingRows: 1 },
      };
      await wh.ensureTable(spec);
      assert.equal(await wh.getTableLabels(spec.ref), null);
      const first = await run(
        load([file('h1.csv', 'page,n\n/a,1\n/b,2\n')], { table: spec, destination: spec.ref, partition: '20240101' }),
      );
      assert.equal(first.outputRows, 2, JSON.stringify(first.errorResult));
      const cols = await wh.query(
        `SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'hits' ORDER BY column_index`,
      );
      assert.deepEqual(
        cols.map((c) => `${c.column_name} ${c.data_type}`),
        ['page VARCHAR', 'n BIGINT', '_PARTITIONTIME TIMESTAMP WITH TIME ZONE'],
      );
      const second = await run(
        load([file('h2.csv', 'page,n\n/c,x\n')], { table: spec, destination: spec.ref, partition: '20240102' }),
      );
      assert.match(second.errorResult!.message, /Could not convert/);
      assert.equal(
        (
          await run(
            load([file('h3.csv', 'page,n\n/c,3\n')], { table: spec, destination: spec.ref, partition: '20240102' }),
          )
        ).outputRows,
        1,
      );
      assert.deepEqual(await partitions(spec.ref), [
        ['20240101', 2],
        ['20240102', 1],
      ]);
    });

    for (const name of ['g?.csv', 'g[12].csv', 'g{1,2}.csv', 'g[!x].csv', 'g\\1.csv']) {
      it(`reads ${name} as itself, not as a pattern over its neighbours`, async () => {
        for (const decoy of ['g1.csv', 'g2.csv', 'gx.csv', 'g12.csv']) file(`lit/${decoy}`, csv(100, 5));
        const literal = file(`lit/${name}`, csv(1, 2));
        const r = await run(load([literal]));
        assert.equal(r.outputRows, 2, JSON.stringify(r.errorResult));
        assert.equal(await count('lake_us.events', 'id < 100'), 2);
        assert.equal(await count('lake_us.events', 'id >= 100'), 0);
      });
    }

    it('reads a file whose name has glob characters as itself', async () => {
      file('x1.csv', csv(100, 5));
      const bracket = file('x[1].csv', csv(1, 2));
      assert.equal((await run(load([bracket]))).outputRows, 2);
      assert.equal(await count('lake_us.events', 'id < 100'), 2);
    });

    it('expands one * like BigQuery, and reports missing sources and unsupported formats clearly', async () => {
      file('w/a/1.csv', csv(1, 1));
      file('w/b/2.csv', csv(2, 1));
      file('w/b/3.txt', 'nope');
      assert.equal((await run(load([join(dir, 'w/*.csv')]))).outputRows, 2);
      const missing = join(dir, 'missing.csv');
      const notFound = await run(load([missing, join(dir, 'none/*.csv')]));
      assert.deepEqual(
        notFound.errors?.map((e) => [e.reason, e.location]),
        [
          ['notFound', missing],
          ['notFound', join(dir, 'none/*.csv')],
        ],
      );
      const avro = await run(load([file('a.avro', 'x')], { table: { ...EVENTS, format: 'AVRO' } }));
      assert.match(avro.errorResult!.message, /AVRO is not supported by the local warehouse/);
      const gs = await run(load(['gs://lake/a.csv']));
      assert.match(gs.errorResult!.message, /resolveUri/);
      const badPartition = await run(load([file('p.csv', csv(1, 1))], { partition: '20240101' }));
      assert.match(badPartition.errorResult!.message, /invalid partition decorator lake_us\.events\$20240101.*HOUR/);
    });

    it('a load costs the same SQL statements for 3 files as for 30, on the fast path and on the per-file error path', async () => {
      // Counts what reaches DuckDB: a per-file statement (a temp table, a catalog lookup) would grow with the files.
      const statements = async (spec: LoadJob) => {
        let n = 0;
        const original = DuckDBConnection.prototype.run;
        const read = DuckDBConnection.prototype.runAndReadAll;
        // Only statements about the sources or the load's temp tables: not job polling or session setup.
        const count = (args: unknown[]) => {
          const text = String(args[0]) + JSON.stringify(args[1] ?? []);
          if (text.includes(dir) || text.includes('__tidemark_')) n++;
        };
        mock.method(
          DuckDBConnection.prototype,
          'run',
          function (this: DuckDBConnection, ...args: Parameters<typeof original>) {
            count(args);
            return original.apply(this, args);
          },
        );
        mock.method(
          DuckDBConnection.prototype,
          'runAndReadAll',
          function (this: DuckDBConnection, ...args: Parameters<typeof read>) {
            count(args);
            return read.apply(this, args);
          },
        );
        try {
          const status = await run(spec);
          return { n, status };
        } finally {
          mock.restoreAll();
        }
      };
      await wh.ensureTable(CLICKS);
      const files = (count: number, tag: string) =>
        Array.from({ length: count }, (_, i) =>
          file(
            `${tag}/${i}.json`,
            `{"id":${i},"ts":"2024-03-01T01:00:00Z"}\n{"id":${i + 100},"ts":"2024-03-01T02:00:00Z"}\n`,
          ),
        );
      const clicks = (uris: string[]): LoadJob => ({
        ...load(uris),
        table: CLICKS,
        destination: CLICKS.ref,
        partition: '20240301',
      });
      const few = await statements(clicks(files(3, 'few')));
      const many = await statements(clicks(files(30, 'many')));
      assert.equal(few.status.outputRows, 6);
      assert.equal(many.status.outputRows, 60);
      assert.equal(many.n, few.n, `3 files: ${few.n} statements; 30 files: ${many.n}`);
      // One bad file among many: the staging path names it, still without a statement per good file.
      const withBad = (tag: string, count: number) => [
        ...files(count, tag),
        file(`${tag}/bad.json`, '{"id":1,"ts":"2024-03-09T00:00:00Z"}\n'),
      ];
      const fewBad = await statements(clicks(withBad('few-bad', 3)));
      const manyBad = await statements(clicks(withBad('many-bad', 30)));
      assert.deepEqual(
        manyBad.status.errors?.map((e) => e.location),
        [join(dir, 'many-bad/bad.json')],
      );
      assert.equal(manyBad.n, fewBad.n, `3 good files: ${fewBad.n} statements; 30: ${manyBad.n}`);
      assert.equal(await count('lake_us.clicks'), 60);
    });

    it('loads more files than one scan takes, and names a bad file past the first scan', async () => {
      // Scans of 10 here (the default, SCAN_FILES, is 1,000): the same code, crossed cheaply.
      assert.equal(SCAN_FILES, 1000);
      const w = new DuckDbWarehouse({ file: join(dir, 'scans.duckdb'), scanFiles: 10 });
      try {
        await w.ensureTable(EVENTS);
        const uris = Array.from({ length: 25 }, (_, i) =>
          file(`big/${String(i).padStart(4, '0')}.csv`, `id,v\n${i},x\n`),
        );
        const ok = await run(load(uris), w);
        assert.equal(ok.errorResult, undefined, JSON.stringify(ok.errorResult));
        assert.equal(ok.outputRows, 25);
        const rows = await w.query(
          'SELECT count(*)::INTEGER AS n, count(DISTINCT id)::INTEGER AS d FROM lake_us.events',
        );
        assert.deepEqual(rows, [{ n: 25, d: 25 }]);
        const bad = file('big/bad.csv', 'id,v\nnot-a-number,x\n');
        const failed = await run(load([...uris.slice(0, 23), bad, ...uris.slice(23)]), w);
        assert.deepEqual(
          failed.errors?.map((e) => e.location),
          [bad],
        );
        assert.deepEqual(await w.query('SELECT count(*)::INTEGER AS n FROM lake_us.events'), [{ n: 25 }]); // untouched
      } finally {
        await w.close();
      }
    });

    it('resolves gs:// URIs with resolveUri', async () => {
      const local = file('lake/events/a.csv', csv(1, 3));
      const w = new DuckDbWarehouse({
        file: join(dir, 'gs.duckdb'),
        resolveUri: (uri) => join(dir, uri.slice('gs://'.length)),
      });
      try {
        const status = await run(load(['gs://lake/events/a.csv']), w);
        assert.equal(status.outputRows, 3);
        assert.equal(status.inputBytes, statSync(local).size);
      } finally {
        await w.close();
      }
    });
  });

  describe('other jobs', () => {
    it('copies a staging table into one partition, replacing it', async () => {
      const stage = { dataset: 'lake_us', table: 'events_stage_1' };
      await wh.ensureTable({ ...EVENTS, ref: stage });
      await run(load([file('s1.csv', csv(1, 3))], { destination: stage, writeDisposition: 'WRITE_TRUNCATE' }));
      await run(load([file('s2.csv', csv(10, 2))], { destination: stage, writeDisposition: 'WRITE_APPEND' }));
      await run(load([file('old.csv', csv(100, 9))], { partition: '2024010110' }));
      await run(load([file('keep.csv', csv(200, 1))], { partition: '2024010111' }));
      const copy = await run({
        kind: 'copy',
        jobId: 'copy_1',
        source: stage,
        destination: EVENTS.ref,
        partition: '2024010110',
        writeDisposition: 'WRITE_TRUNCATE',
        labels: {},
      });
      assert.equal(copy.errorResult, undefined);
      assert.equal(copy.outputRows, 5);
      assert.deepEqual(await partitions(), [
        ['2024010110', 5],
        ['2024010111', 1],
      ]);
      await wh.deleteTable(stage);
      const missing = await run({
        kind: 'copy',
        jobId: 'copy_2',
        source: stage,
        destination: EVENTS.ref,
        partition: '2024010110',
        writeDisposition: 'WRITE_TRUNCATE',
        labels: {},
      });
      assert.match(missing.errorResult!.message, /Not found: Table lake_us\.events_stage_1/);
    });

    it('truncates one partition; noop only claims the id', async () => {
      await run(load([file('a.csv', csv(1, 3))], { partition: '2024010110' }));
      await run(load([file('b.csv', csv(5, 2))], { partition: '2024010111' }));
      const t = await run({ kind: 'truncate', jobId: 'trunc_1', table: EVENTS, partition: '2024010110', labels: {} });
      assert.equal(t.errorResult, undefined);
      assert.deepEqual(await partitions(), [['2024010111', 2]]);
      const noop = await run({ kind: 'noop', jobId: 'noop_1', labels: { tidemark_kind: 'noop' } });
      assert.equal(noop.kind, 'noop');
      assert.equal(await count(), 2);
    });

    it('deletePartition removes a partition by hand', async () => {
      await run(load([file('a.csv', csv(1, 3))], { partition: '2024010110' }));
      await run(load([file('b.csv', csv(5, 2))], { partition: '2024010111' }));
      await wh.deletePartition(EVENTS.ref, '2024010111');
      assert.deepEqual(await partitions(), [['2024010110', 3]]);
    });
  });

  describe('job ids', () => {
    it('inserts a job id once: a second insert gets the first job, even with another spec', async () => {
      const a = file('a.csv', csv(1, 3));
      const first = load([a], { jobId: 'dup_1', labels: { tidemark_kind: 'load' } });
      const second: JobSpec = { kind: 'noop', jobId: 'dup_1', labels: { tidemark_kind: 'noop' } };
      const [r1, r2] = await Promise.all([wh.insertJob(first), wh.insertJob(second)]);
      assert.equal(r1.created, true);
      assert.equal(r2.created, false);
      assert.equal(r2.status.kind, 'load');
      assert.deepEqual(r2.status.labels, { tidemark_kind: 'load' });
      assert.deepEqual(await wh.getJobSpec('dup_1'), first);
      await waitDone(wh, 'dup_1');
      const again = await wh.insertJob(first);
      assert.equal(again.created, false);
      assert.equal(again.status.state, 'DONE');
      assert.equal(again.status.outputRows, 3);
      assert.equal(await count(), 3);
      assert.equal(await wh.getJob('never'), null);
    });

    it('a failed job keeps its id', async () => {
      const spec = load([join(dir, 'missing.csv')], { jobId: 'failed_1' });
      assert.ok((await run(spec)).errorResult);
      assert.equal((await wh.insertJob(load([file('a.csv', csv(1, 1))], { jobId: 'failed_1' }))).created, false);
    });

    it('holds jobs RUNNING for jobDelayMs and records their times in jobHistory', async () => {
      const w = new DuckDbWarehouse({
        file: join(dir, 'delay.duckdb'),
        jobDelayMs: (s) => (s.kind === 'load' ? 150 : 0),
      });
      try {
        const spec = load([file('a.csv', csv(1, 2))], { jobId: 'slow_1' });
        const r = await w.insertJob(spec);
        assert.equal(r.status.state, 'RUNNING');
        await new Promise((res) => setTimeout(res, 50));
        assert.equal((await w.getJob('slow_1'))?.state, 'RUNNING');
        await waitDone(w, 'slow_1');
        await run({ kind: 'noop', jobId: 'fast_1', labels: {} }, w);
        const history = await w.jobHistory();
        assert.deepEqual(
          history.map((h) => [h.jobId, h.kind, h.destination, h.partition, h.state, h.error]),
          [
            ['slow_1', 'load', 'lake_us.events', '2024010110', 'DONE', null],
            ['fast_1', 'noop', null, null, 'DONE', null],
          ],
        );
        assert.ok(history[0]!.endedAt! - history[0]!.startedAt >= 150);
      } finally {
        await w.close();
      }
    });
  });

  describe('threads', () => {
    const threadsOf = async (w: DuckDbWarehouse) =>
      Number((await w.query(`SELECT current_setting('threads') AS n`))[0]!.n);

    it("runs DuckDB with the threads asked for, else TIDEMARK_DUCKDB_THREADS, else DuckDB's own", async () => {
      const asked = new DuckDbWarehouse({ file: join(dir, 'threads-3.duckdb'), threads: 3 });
      const saved = process.env[THREADS_VARIABLE];
      try {
        assert.equal(await threadsOf(asked), 3);
        process.env[THREADS_VARIABLE] = '2';
        const fromEnv = new DuckDbWarehouse({ file: join(dir, 'threads-env.duckdb') });
        assert.equal(await threadsOf(fromEnv), 2);
        await fromEnv.close();
        delete process.env[THREADS_VARIABLE];
        const own = new DuckDbWarehouse({ file: join(dir, 'threads-own.duckdb') });
        const bare = await DuckDBInstance.create(':memory:');
        const conn = await bare.connect();
        const duckDbOwn = Number(
          (await conn.runAndReadAll(`SELECT current_setting('threads') AS n`)).getRowObjects()[0]!.n,
        );
        conn.closeSync();
        bare.closeSync();
        assert.equal(await threadsOf(own), duckDbOwn);
        await own.close();
      } finally {
        if (saved === undefined) delete process.env[THREADS_VARIABLE];
        else process.env[THREADS_VARIABLE] = saved;
        await asked.close();
      }
    });

    for (const bad of ['0', '-1', 'two', '1.5', '10000', ' 2'])
      it(`TIDEMARK_DUCKDB_THREADS=${JSON.stringify(bad)} is a ConfigError naming the variable and the value`, () => {
        assert.throws(
          () => threadsFromEnv({ [THREADS_VARIABLE]: bad }),
          (err: unknown) =>
            err instanceof ConfigError &&
            err.message.includes(`TIDEMARK_DUCKDB_THREADS: ${JSON.stringify(bad)} is not a whole number of threads`),
        );
      });

    it('unset or empty leaves the choice to DuckDB', () => {
      assert.equal(threadsFromEnv({}), undefined);
      assert.equal(threadsFromEnv({ [THREADS_VARIABLE]: '' }), undefined);
      assert.equal(threadsFromEnv({ [THREADS_VARIABLE]: '16' }), 16);
    });
  });

  describe('several processes', () => {
    it('a second warehouse in a child process waits for the lock, then succeeds', async () => {
      const db = join(dir, 'shared.duckdb');
      const parent = new DuckDbWarehouse({ file: db, holder: 'tidemark start', idleCloseMs: 800 });
      try {
        await parent.ensureTable(EVENTS);
        await run(load([file('a.csv', csv(1, 4))]), parent);
        const r = await child(
          `
          const w = new Warehouse({ file: ${JSON.stringify(db)}, holder: 'tidemark query', lockWaitMs: 10000 });
          console.log('ready');
          await new Promise((r) => setTimeout(r, 200));
          const t0 = Date.now();
          const rows = await w.query('SELECT count(*)::INTEGER AS n FROM lake_us.events');
          console.log(JSON.stringify({ n: rows[0].n, waited: Date.now() - t0 }));
          await w.close();`,
          (line) => void (line === 'ready' && parent.query('SELECT 1')),
        );
        assert.equal(r.code, 0, r.stderr);
        const result = JSON.parse(r.lines[1]!) as { n: number; waited: number };
        assert.equal(result.n, 4);
        assert.ok(result.waited >= 300, `child waited ${result.waited} ms`);
        // And the parent gets the file back afterwards.
        assert.equal((await parent.listPartitions(EVENTS.ref))[0]?.totalRows, 4);
      } finally {
        await parent.close();
      }
    });

    it('a busy process yields the lock after maxHoldMs so a waiting one gets in', async () => {
      const db = join(dir, 'fair.duckdb');
      const parent = new DuckDbWarehouse({ file: db, maxHoldMs: 100, idleCloseMs: 1000 });
      let stop = false;
      let parentQueries = 0;
      const busy = (async () => {
        while (!stop) {
          await parent.query('SELECT 1');
          parentQueries++;
        }
      })();
      try {
        const r = await child(`
          const w = new Warehouse({ file: ${JSON.stringify(db)}, lockWaitMs: 5000 });
          const t0 = Date.now();
          await w.query('SELECT 1');
          console.log(JSON.stringify({ waited: Date.now() - t0 }));
          await w.close();`);
        assert.equal(r.code, 0, r.stderr);
        assert.ok((JSON.parse(r.lines[0]!) as { waited: number }).waited < 2000);
        assert.ok(parentQueries > 10);
      } finally {
        stop = true;
        await busy;
        await parent.close();
      }
    });

    it('with a short lockWaitMs the child gets LockHeldError naming the lock and its holder', async () => {
      const db = join(dir, 'busy.duckdb');
      const parent = new DuckDbWarehouse({ file: db, holder: 'tidemark start', idleCloseMs: 5000 });
      try {
        await parent.query('SELECT 1'); // holds the file for 5 s of idleness
        const r = await child(`
          const w = new Warehouse({ file: ${JSON.stringify(db)}, lockWaitMs: 200 });
          const err = await w.query('SELECT 1').catch((e) => e);
          console.log(JSON.stringify({ name: err.name, message: err.message, permanent: err.permanent }));
          await w.close();`);
        assert.equal(r.code, 0, r.stderr);
        const err = JSON.parse(r.lines[0]!) as { name: string; message: string; permanent: boolean };
        assert.equal(err.name, LockHeldError.name);
        assert.equal(err.permanent, false);
        assert.ok(err.message.includes(`${db}.lock`), err.message);
        assert.ok(err.message.includes(`pid ${process.pid}, tidemark start`), err.message);
        assert.match(err.message, /waiting \d+ ms/);
      } finally {
        await parent.close();
      }
    });

    it('re-runs a job left RUNNING by a process that died', async () => {
      const db = join(dir, 'crash.duckdb');
      const spec = load([file('a.csv', csv(1, 6))], { jobId: 'orphan_1' });
      const r = await child(`
        const w = new Warehouse({ file: ${JSON.stringify(db)}, jobDelayMs: () => 60000, idleCloseMs: 10 });
        const res = await w.insertJob(${JSON.stringify(spec)});
        console.log(JSON.stringify(res));
        process.exit(0);`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.lines[0]!) as { created: boolean }).created, true);
      const w = new DuckDbWarehouse({ file: db });
      try {
        const status = await waitDone(w, 'orphan_1');
        assert.equal(status.outputRows, 6);
        assert.equal((await w.listPartitions(EVENTS.ref))[0]?.totalRows, 6);
      } finally {
        await w.close();
      }
    });
  });
});
