/**
 * unordered: a load may insert its rows in any order, on its own connection, for as long as the
 * load runs; every other query (and every later one on the same connection) keeps DuckDB's order.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DuckDBConnection } from '@duckdb/node-api';
import { unordered } from '../../../../shared/backends/local/duckdb-load.ts';

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
