/**
 * plainFiles: gzip files inflated once each, into the first folder with room; corrupt ones
 * named and left out.
 * unordered: a load may insert its rows in any order, on its own connection, for as long as the
 * load runs; every other query (and every later one on the same connection) keeps DuckDB's order.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DuckDBConnection } from '@duckdb/node-api';
import { plainFiles, unordered } from '../../../../shared/backends/local/duckdb-load.ts';
import type { SourceFile } from '../../../../shared/backends/local/duckdb-load.ts';

let db: DuckDBInstance;
let conn: DuckDBConnection;
let other: DuckDBConnection;
before(async () => {
  db = await DuckDBInstance.create(':memory:');
  conn = await db.connect();
  other = await db.connect();
  await conn.run('CREATE TABLE t (i INTEGER)');
});
after(() => {
  conn.closeSync();
  other.closeSync();
  db.closeSync();
});

const setting = async (c: DuckDBConnection) =>
  (await c.runAndReadAll(`SELECT current_setting('preserve_insertion_order') AS v`)).getRowObjectsJson()[0]!.v;

describe('unordered', () => {
  it('lifts the order for the work, on its connection only, and restores it', async () => {
    const seen = await unordered(conn, async () => [await setting(conn), await setting(other)]);
    assert.deepEqual(seen, [false, true]);
    assert.equal(await setting(conn), true);
  });

  it('restores the order when the work fails inside a transaction, and passes the failure on', async () => {
    await assert.rejects(
      unordered(conn, async () => {
        await conn.run('BEGIN TRANSACTION');
        try {
          await conn.run(`INSERT INTO t SELECT error('a row fails a check')`);
        } finally {
          await conn.run('ROLLBACK');
        }
      }),
      /a row fails a check/,
    );
    assert.equal(await setting(conn), true);
  });
});

describe('plainFiles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-plain-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const source = (name: string, body: Buffer, gzip = true): SourceFile => {
    const path = join(dir, name);
    writeFileSync(path, body);
    return { uri: `gs://lake/${name}`, path, gzip, size: body.length };
  };
  const rows = (from: number) => Buffer.from(`{"id":${from}}\n{"id":${from + 1}}\n`);

  it('inflates gzip files once each into the folder, keeps plain files, leaves out and names corrupt ones', async () => {
    const folder = join(dir, 'one');
    mkdirSync(folder);
    const sources = [
      source('a.json.gz', gzipSync(rows(0))),
      source('b.json', rows(2), false),
      source('c.json.gz', gzipSync(rows(4)).subarray(0, -4)),
      source('d.json.gz', gzipSync(rows(6))),
    ];
    const failed: string[] = [];
    const batch = await plainFiles(sources, 0, { files: 10, bytes: 1 << 20 }, [folder], (s, m) =>
      failed.push(`${s.uri}: ${m}`),
    );
    assert.deepEqual(
      batch.files.map((f) => [f.uri, f.path, f.gzip]),
      [
        ['gs://lake/a.json.gz', join(folder, 'z0'), false],
        ['gs://lake/b.json', sources[1]!.path, false],
        ['gs://lake/d.json.gz', join(folder, 'z3'), false],
      ],
    );
    assert.deepEqual(readFileSync(join(folder, 'z3')), rows(6));
    assert.equal(batch.next, 4);
    assert.equal(failed.length, 1);
    assert.match(failed[0]!, /^gs:\/\/lake\/c\.json\.gz: corrupt or truncated gzip stream/);
  });

  it('stops a batch at its bytes, and the next batch starts where it stopped', async () => {
    const folder = join(dir, 'bytes');
    mkdirSync(folder);
    // More files than are inflated at once: a batch checks its bytes before each file it starts.
    const sources = Array.from({ length: 12 }, (_, n) => source(`s${n}.json.gz`, gzipSync(rows(2 * n))));
    const first = await plainFiles(sources, 0, { files: 10, bytes: 1 }, [folder], () => assert.fail());
    assert.ok(first.files.length >= 1 && first.next < sources.length);
    const rest = await plainFiles(sources, first.next, { files: 10, bytes: 1 << 20 }, [folder], () => assert.fail());
    assert.equal(first.files.length + rest.files.length, 12);
    assert.equal(rest.next, 12);
  });

  it('moves on to the next folder when one has no room (ENOSPC), for this file and the rest', async () => {
    const full = join(dir, 'full');
    const disk = join(dir, 'disk');
    mkdirSync(full);
    mkdirSync(disk);
    // Every write to /dev/full fails with ENOSPC.
    for (const name of ['z0', 'z1']) symlinkSync('/dev/full', join(full, name));
    const folders = [full, disk];
    const sources = [source('x.json.gz', gzipSync(rows(0))), source('y.json.gz', gzipSync(rows(2)))];
    const batch = await plainFiles(sources, 0, { files: 10, bytes: 1 << 20 }, folders, () => assert.fail());
    assert.deepEqual(folders, [disk]);
    assert.deepEqual(
      batch.files.map((f) => f.path),
      [join(disk, 'z0'), join(disk, 'z1')],
    );
    assert.deepEqual(readFileSync(join(disk, 'z0')), rows(0));
  });

  it('puts a file too large to inflate in one call in the last folder (the disk), the rest in the first', async () => {
    const memory = join(dir, 'memory');
    const disk = join(dir, 'disk-large');
    mkdirSync(memory);
    mkdirSync(disk);
    const big = Buffer.alloc(40 << 20, '\n'); // 40 MiB of empty lines, inflated as a stream
    const sources = [source('small.json.gz', gzipSync(rows(0))), source('big.json.gz', gzipSync(big))];
    const batch = await plainFiles(sources, 0, { files: 10, bytes: 1 << 30 }, [memory, disk], () => assert.fail());
    assert.deepEqual(
      batch.files.map((f) => f.path),
      [join(memory, 'z0'), join(disk, 'z1')],
    );
  });

  it('fails on any other write error (the machine, not the file), naming no file', async () => {
    const failed: string[] = [];
    await assert.rejects(
      plainFiles(
        [source('e.json.gz', gzipSync(rows(0)))],
        0,
        { files: 10, bytes: 1 << 20 },
        [join(dir, 'missing')],
        (s) => failed.push(s.uri),
      ),
      /ENOENT/,
    );
    assert.deepEqual(failed, []);
  });
});
