/**
 * SQL text of the local warehouse: a partition matched by a range on its column (partitionRange)
 * selects exactly the rows whose partition id (partitionExpr) is the decorator's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DuckDBConnection } from '@duckdb/node-api';
import { partitionExpr, partitionRange, resolvePartition } from '../../../../shared/backends/local/duckdb-sql.ts';
import type { Column } from '../../../../shared/backends/local/duckdb-sql.ts';
import type { Partitioning } from '../../../../shared/core/ports.ts';

let db: DuckDBInstance;
let conn: DuckDBConnection;
before(async () => {
  db = await DuckDBInstance.create(':memory:');
  conn = await db.connect();
  await conn.run(`SET TimeZone = 'Asia/Seoul'`); // not UTC: ranges must not depend on the session zone
});
after(() => {
  conn.closeSync();
  db.closeSync();
});

describe('partitionRange', () => {
  // Values around the edges of 2024-03-01 and of its hour 10, and NULL.
  const instants = [
    '2024-02-29 23:59:59.999999',
    '2024-03-01 00:00:00',
    '2024-03-01 09:59:59.999999',
    '2024-03-01 10:00:00',
    '2024-03-01 10:59:59.999999',
    '2024-03-01 11:00:00',
    '2024-03-01 23:59:59.999999',
    '2024-03-02 00:00:00',
  ];
  const cases: [string, Partitioning, string, string[]][] = [
    [
      'TIMESTAMP (TIMESTAMPTZ) by day',
      { type: 'DAY', field: 't' },
      'TIMESTAMP WITH TIME ZONE',
      ['20240301', '20240229', '20240302'],
    ],
    [
      'TIMESTAMP (TIMESTAMPTZ) by hour',
      { type: 'HOUR', field: 't' },
      'TIMESTAMPTZ',
      ['2024030110', '2024030109', '2024030100', '2024030123'],
    ],
    ['DATETIME (TIMESTAMP) by day', { type: 'DAY', field: 't' }, 'TIMESTAMP', ['20240301', '20240302']],
    ['DATETIME (TIMESTAMP) by hour', { type: 'HOUR', field: 't' }, 'TIMESTAMP', ['2024030110', '2024030111']],
    ['DATE by day', { type: 'DAY', field: 't' }, 'DATE', ['20240301', '20240229', '20240302']],
    ['ingestion time by hour', { type: 'HOUR' }, 'TIMESTAMPTZ', ['2024030110', '2024030123']],
  ];
  for (const [name, partitioning, type, ids] of cases) {
    it(name, async () => {
      const column = partitioning.field ?? '_PARTITIONTIME';
      const columns: Column[] = [{ name: column, type, nullable: true }];
      const values = [
        ...instants.map((v) => `'${v}${type.includes('ZONE') || type === 'TIMESTAMPTZ' ? '+00' : ''}'::${type}`),
        `NULL::${type}`,
      ];
      await conn.run(
        `CREATE OR REPLACE TABLE v AS SELECT * FROM (VALUES ${values.map((v) => `(${v})`).join(', ')}) t("${column}")`,
      );
      for (const id of ids) {
        const target = resolvePartition(id, partitioning, 't');
        const expr = partitionExpr(partitioning, columns, 't');
        const range = partitionRange(partitioning, columns, target, 't');
        const rows = (
          await conn.runAndReadAll(
            `SELECT (${expr} = '${id}') AS by_id, coalesce(${range}, false) AS by_range, "${column}"::VARCHAR AS v FROM v`,
          )
        ).getRowObjectsJson();
        for (const r of rows) assert.equal(r.by_range, r.by_id, `${id} at ${String(r.v)}`);
        assert.ok(rows.some((r) => r.by_id === true) || id !== ids[0], `case ${name} selects some row`);
      }
    });
  }
});
