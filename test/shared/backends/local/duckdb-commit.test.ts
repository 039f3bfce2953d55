/**
 * The local warehouse's commit job (shared/backends/local/duckdb-commit.ts) through the Warehouse
 * port: rows reach a stage by loads into `stage$P`, then one commit job replaces and inserts
 * partitions of the target in one transaction, all or nothing, once per job id.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { LoadFailedError, UnsafeIdentifierError } from '../../../../shared/core/errors.ts';
import type { Clock, JobSpec, JobStatus, TableRef, TableSpec } from '../../../../shared/core/ports.ts';
import { DuckDbWarehouse } from '../../../../shared/backends/local/duckdb-warehouse.ts';

type CommitJob = Extract<JobSpec, { kind: 'commit' }>;
type LoadJob = Extract<JobSpec, { kind: 'load' }>;

const top = mkdtempSync(join(tmpdir(), 'tidemark-commit-'));
after(() => rmSync(top, { recursive: true, force: true }));

/** Hourly ingestion-time partitioning, CSV. */
const EVENTS: TableSpec = {
  ref: { dataset: 'lake', table: 'events' },
  partitioning: { type: 'HOUR' },
  format: 'CSV',
  autodetect: false,
  csv: { skipLeadingRows: 1 },
  schema: [
    { name: 'id', type: 'INTEGER' },
    { name: 'v', type: 'STRING' },
  ],
};

/** Daily partitions of a TIMESTAMP column, NDJSON. */
const CLICKS: TableSpec = {
  ref: { dataset: 'lake', table: 'clicks' },
  partitioning: { type: 'DAY', field: 'ts', fieldType: 'TIMESTAMP' },
  format: 'NEWLINE_DELIMITED_JSON',
  autodetect: false,
  schema: [
    { name: 'id', type: 'INT64', mode: 'REQUIRED' },
    { name: 'ts', type: 'TIMESTAMP' },
    { name: 'v', type: 'STRING' },
  ],
};

/** A clock the test moves: partition modification times are exact. */
const T0 = Date.UTC(2026, 11, 1, 8, 0, 0);
let nowMs = T0;
const clock: Clock = { now: () => nowMs, sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

let n = 0;
let dir: string;
let wh: DuckDbWarehouse;
beforeEach(() => {
  nowMs = T0;
  dir = join(top, `t${++n}`);
  mkdirSync(dir, { recursive: true });
  wh = new DuckDbWarehouse({ file: join(dir, 'wh.duckdb'), holder: 'test', clock });
});
afterEach(() => wh.close());

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function csv(from: number, count: number, tag: string): string {
  let s = 'id,v\n';
  for (let i = from; i < from + count; i++) s += `${i},${tag}${i}\n`;
  return s;
}

function ndjson(rows: { id: number; ts: string; v?: string }[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
}

/** The stage beside `spec`'s table: partitioned like it, with an expiration. */
function stageOf(spec: TableSpec, table = `${spec.ref.table}__stage`): TableSpec {
  return { ...spec, ref: { dataset: spec.ref.dataset, table }, expiresAt: T0 + 86_400_000 };
}

let seq = 0;
function load(spec: TableSpec, destination: TableRef, partition: string, uris: string[]): LoadJob {
  return {
    kind: 'load',
    jobId: `load_${++seq}`,
    table: spec,
    destination,
    partition,
    sourceUris: uris,
    writeDisposition: 'WRITE_TRUNCATE',
    labels: { tidemark_kind: 'load' },
  };
}

function commit(spec: TableSpec, stage: TableRef, replace: string[], insert: string[]): CommitJob {
  return {
    kind: 'commit',
    jobId: `commit_${++seq}`,
    table: spec,
    stage,
    replace,
    insert,
    labels: { tidemark_kind: 'commit' },
  };
}

async function waitDone(jobId: string): Promise<JobStatus> {
  for (let i = 0; i < 1000; i++) {
    const s = await wh.getJob(jobId);
    if (s?.state === 'DONE') return s;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`job ${jobId} did not finish`);
}

async function run(spec: JobSpec): Promise<JobStatus> {
  const r = await wh.insertJob(spec);
  assert.equal(r.created, true);
  return waitDone(spec.jobId);
}

async function ok(spec: JobSpec): Promise<JobStatus> {
  const status = await run(spec);
  assert.equal(status.errorResult, undefined, JSON.stringify(status.errorResult));
  return status;
}

/** [partition id, rows, last modified] of a table, from metadata. */
async function partitions(ref: TableRef): Promise<[string, number, number | undefined][]> {
  return (await wh.listPartitions(ref)).map((p) => [p.partitionId, p.totalRows, p.lastModified]);
}

/** Every row of a table as `partition:id:v`, sorted. */
async function rows(table: string, partition: string): Promise<string[]> {
  const all = await wh.query(`SELECT ${partition} AS p, id, v FROM ${table} ORDER BY p, id`);
  return all.map((r) => `${String(r.p)}:${String(r.id)}:${String(r.v)}`);
}

describe('DuckDB commit job', () => {
  it('replaces and inserts ingestion-time partitions in one job: rows, _PARTITIONTIME, metadata, statistics', async () => {
    await wh.ensureTable(EVENTS);
    await ok(load(EVENTS, EVENTS.ref, '2024010110', [file('t10.csv', csv(1, 3, 'old'))]));
    await ok(load(EVENTS, EVENTS.ref, '2024010111', [file('t11.csv', csv(10, 2, 'old'))]));
    nowMs = T0 + 1_000;
    await ok(load(EVENTS, EVENTS.ref, '2024010112', [file('t12.csv', csv(20, 4, 'old'))]));

    const stage = stageOf(EVENTS);
    await wh.ensureTable(stage);
    await ok(load(EVENTS, stage.ref, '2024010111', [file('s11.csv', csv(100, 5, 'new'))]));
    await ok(load(EVENTS, stage.ref, '2024010113', [file('s13.csv', csv(200, 1, 'new'))]));
    // Staged but not in `insert`: never reaches the target.
    await ok(load(EVENTS, stage.ref, '2024010112', [file('s12.csv', csv(300, 2, 'new'))]));
    // A load into stage$P gives its rows _PARTITIONTIME = P, as a load into table$P does.
    const [times] = await wh.query(
      `SELECT count(*)::INTEGER AS n, min(_PARTITIONTIME)::VARCHAR AS t FROM lake.events__stage WHERE id >= 100 AND id < 105`,
    );
    assert.deepEqual(times, { n: 5, t: '2024-01-01 11:00:00+00' });

    nowMs = T0 + 60_000;
    const job = commit(EVENTS, stage.ref, ['2024010110', '2024010111'], ['2024010111', '2024010113']);
    const status = await ok(job);
    assert.equal(status.kind, 'commit');
    assert.equal(status.outputRows, 6);
    assert.equal(status.insertedRows, 6);
    assert.equal(status.deletedRows, 5);
    assert.ok(status.bytesBilled! > 0, `bytesBilled ${status.bytesBilled}`);

    assert.deepEqual(await partitions(EVENTS.ref), [
      ['2024010111', 5, T0 + 60_000],
      ['2024010112', 4, T0 + 1_000],
      ['2024010113', 1, T0 + 60_000],
    ]);
    const got = await rows('lake.events', `strftime(_PARTITIONTIME, '%Y%m%d%H')`);
    assert.deepEqual(got, [
      '2024010111:100:new100',
      '2024010111:101:new101',
      '2024010111:102:new102',
      '2024010111:103:new103',
      '2024010111:104:new104',
      '2024010112:20:old20',
      '2024010112:21:old21',
      '2024010112:22:old22',
      '2024010112:23:old23',
      '2024010113:200:new200',
    ]);
    const history = (await wh.jobHistory()).find((h) => h.jobId === job.jobId);
    assert.deepEqual(
      [history?.kind, history?.destination, history?.partition, history?.partitions],
      ['commit', 'lake.events', null, ['2024010110', '2024010111', '2024010113']],
    );
  });

  it('commits a column-partitioned table: whole days by the column, other days and staged rows left alone', async () => {
    await wh.ensureTable(CLICKS);
    const day = (d: string, ids: number[], v: string) =>
      ids.map((id) => ({ id, ts: `2024-03-${d}T0${id % 10}:30:00Z`, v }));
    await ok(load(CLICKS, CLICKS.ref, '20240301', [file('c01.json', ndjson(day('01', [1, 2], 'old')))]));
    await ok(load(CLICKS, CLICKS.ref, '20240302', [file('c02.json', ndjson(day('02', [3, 4, 5], 'old')))]));
    await ok(load(CLICKS, CLICKS.ref, '20240303', [file('c03.json', ndjson(day('03', [6], 'old')))]));
    const stage = stageOf(CLICKS);
    await wh.ensureTable(stage);
    await ok(load(CLICKS, stage.ref, '20240302', [file('s02.json', ndjson(day('02', [11], 'new')))]));
    await ok(load(CLICKS, stage.ref, '20240304', [file('s04.json', ndjson(day('04', [12, 13], 'new')))]));

    nowMs = T0 + 5_000;
    // 03 is emptied (replace only), 02 replaced, 04 new.
    const status = await ok(commit(CLICKS, stage.ref, ['20240302', '20240303'], ['20240302', '20240304']));
    assert.deepEqual([status.insertedRows, status.deletedRows, status.outputRows], [3, 4, 3]);
    assert.deepEqual(await partitions(CLICKS.ref), [
      ['20240301', 2, T0],
      ['20240302', 1, T0 + 5_000],
      ['20240304', 2, T0 + 5_000],
    ]);
    assert.deepEqual(await rows('lake.clicks', `strftime(ts, '%Y%m%d')`), [
      '20240301:1:old',
      '20240301:2:old',
      '20240302:11:new',
      '20240304:12:new',
      '20240304:13:new',
    ]);
  });

  it('a load into stage$P rejects a row outside P (column-partitioned) exactly as a load into table$P does', async () => {
    await wh.ensureTable(CLICKS);
    const stage = stageOf(CLICKS);
    await wh.ensureTable(stage);
    const bad = file(
      'bad.json',
      ndjson([
        { id: 1, ts: '2024-03-01T01:00:00Z' },
        { id: 2, ts: '2024-03-05T00:00:00Z' },
      ]),
    );
    const intoTable = await run(load(CLICKS, CLICKS.ref, '20240301', [bad]));
    const intoStage = await run(load(CLICKS, stage.ref, '20240301', [bad]));
    assert.equal(intoStage.errorResult?.location, bad);
    assert.match(
      intoStage.errorResult!.message,
      /1 row\(s\) fall outside partition lake\.clicks__stage\$20240301: ts puts them in partition 20240305/,
    );
    assert.deepEqual(
      intoStage.errors,
      intoTable.errors!.map((e) => ({ ...e, message: e.message.replace('lake.clicks$', 'lake.clicks__stage$') })),
    );
    const [row] = await wh.query(`SELECT count(*)::INTEGER AS n FROM lake.clicks__stage`);
    assert.equal(row!.n, 0);
  });

  it('all or nothing: a failing INSERT leaves the target, its partitions and its etag unchanged, and the job DONE with the error', async () => {
    await wh.ensureTable(EVENTS);
    await ok(load(EVENTS, EVENTS.ref, '2024010110', [file('t10.csv', csv(1, 3, 'old'))]));
    await ok(load(EVENTS, EVENTS.ref, '2024010111', [file('t11.csv', csv(10, 2, 'old'))]));
    // A stage whose id column is a STRING holding a value the target's INTEGER cannot take.
    const stage = stageOf({ ...EVENTS, schema: [{ name: 'id', type: 'STRING' }, ...EVENTS.schema!.slice(1)] });
    await wh.ensureTable(stage);
    await ok(load(stage, stage.ref, '2024010111', [file('s11.csv', 'id,v\n7,new7\nseven,new8\n')]));
    const before = {
      partitions: await partitions(EVENTS.ref),
      rows: await rows('lake.events', `strftime(_PARTITIONTIME, '%Y%m%d%H')`),
      etag: (await wh.getTableLabels(EVENTS.ref))!.etag,
    };

    nowMs = T0 + 60_000;
    const status = await run(commit(EVENTS, stage.ref, ['2024010110', '2024010111'], ['2024010111']));
    assert.equal(status.state, 'DONE');
    assert.equal(status.errorResult?.reason, 'invalid');
    assert.match(status.errorResult!.message, /commit into lake\.events: .*seven/i);
    assert.deepEqual(
      [status.outputRows, status.insertedRows, status.deletedRows, status.bytesBilled],
      [undefined, undefined, undefined, undefined],
    );
    assert.deepEqual(
      {
        partitions: await partitions(EVENTS.ref),
        rows: await rows('lake.events', `strftime(_PARTITIONTIME, '%Y%m%d%H')`),
        etag: (await wh.getTableLabels(EVENTS.ref))!.etag,
      },
      before,
    );
    assert.equal(before.rows.length, 5);
  });

  it('a job id applies once: inserted twice at once and again after it finished, the rows arrive once', async () => {
    await wh.ensureTable(EVENTS);
    const stage = stageOf(EVENTS);
    await wh.ensureTable(stage);
    await ok(load(EVENTS, stage.ref, '2024010110', [file('s10.csv', csv(1, 4, 'new'))]));
    // No `replace`: applied twice, the rows would be there twice.
    const job = commit(EVENTS, stage.ref, [], ['2024010110']);
    const [a, b] = await Promise.all([wh.insertJob(job), wh.insertJob(job)]);
    assert.deepEqual([a.created, b.created].sort(), [false, true]);
    const done = await waitDone(job.jobId);
    assert.equal(done.insertedRows, 4);
    const again = await wh.insertJob({ ...job, insert: ['2024010110', '2024010111'] });
    assert.equal(again.created, false);
    assert.deepEqual(again.status, done);
    await wh.close();
    wh = new DuckDbWarehouse({ file: join(dir, 'wh.duckdb'), holder: 'test', clock });
    assert.equal((await wh.insertJob(job)).created, false);
    assert.deepEqual(
      (await wh.listPartitions(EVENTS.ref)).map((p) => [p.partitionId, p.totalRows]),
      [['2024010110', 4]],
    );
  });

  it('with only partitions to empty, it needs no stage; with nothing to do, it only ends DONE', async () => {
    await wh.ensureTable(EVENTS);
    await ok(load(EVENTS, EVENTS.ref, '2024010110', [file('t10.csv', csv(1, 3, 'old'))]));
    await ok(load(EVENTS, EVENTS.ref, '2024010111', [file('t11.csv', csv(10, 2, 'old'))]));
    const missing = { dataset: 'lake', table: 'no_such_stage' };
    const emptied = await ok(commit(EVENTS, missing, ['2024010110'], []));
    assert.deepEqual([emptied.insertedRows, emptied.deletedRows], [0, 3]);
    assert.deepEqual(
      (await wh.listPartitions(EVENTS.ref)).map((p) => p.partitionId),
      ['2024010111'],
    );
    const etag = (await wh.getTableLabels(EVENTS.ref))!.etag;
    const nothing = await ok(commit(EVENTS, missing, [], []));
    assert.deepEqual([nothing.insertedRows, nothing.deletedRows, nothing.bytesBilled], [0, 0, 0]);
    assert.equal((await wh.getTableLabels(EVENTS.ref))!.etag, etag);
  });

  it('fails notFound for a missing stage (something to insert) or target, writing nothing', async () => {
    await wh.ensureTable(EVENTS);
    await ok(load(EVENTS, EVENTS.ref, '2024010110', [file('t10.csv', csv(1, 3, 'old'))]));
    const noStage = await run(commit(EVENTS, { dataset: 'lake', table: 'gone' }, ['2024010110'], ['2024010110']));
    assert.equal(noStage.errorResult?.reason, 'notFound');
    assert.match(noStage.errorResult!.message, /lake\.gone/);
    assert.equal((await wh.listPartitions(EVENTS.ref))[0]?.totalRows, 3);
    const other = { ...EVENTS, ref: { dataset: 'lake', table: 'never_made' } };
    const noTarget = await run(commit(other, EVENTS.ref, [], ['2024010110']));
    assert.equal(noTarget.errorResult?.reason, 'notFound');
    assert.match(noTarget.errorResult!.message, /lake\.never_made/);
  });

  it('refuses at insert, as BigQuery does, a commit without a schema or with a partition id that does not fit', async () => {
    const stage = stageOf(EVENTS).ref;
    await assert.rejects(
      wh.insertJob(commit({ ...EVENTS, schema: undefined, autodetect: true }, stage, [], ['2024010110'])),
      (err: unknown) => err instanceof LoadFailedError && /lake\.events/.test(err.message),
    );
    for (const bad of ['20240101', '2024013110x', "2024010110' OR true --", '2024023010']) {
      await assert.rejects(wh.insertJob(commit(EVENTS, stage, [bad], [])), UnsafeIdentifierError, bad);
      await assert.rejects(wh.insertJob(commit(EVENTS, stage, [], [bad])), UnsafeIdentifierError, bad);
    }
    await assert.rejects(
      wh.insertJob(commit(EVENTS, { dataset: 'lake', table: 'a.b' }, [], ['2024010110'])),
      UnsafeIdentifierError,
    );
    assert.deepEqual(await wh.jobHistory(), []);
  });
});
