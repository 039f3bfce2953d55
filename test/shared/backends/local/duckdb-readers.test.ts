/**
 * The NDJSON template record (templateValue, templateRecord): DuckDB's type detection reads each
 * column back as the column's own type, or as JSON where no JSON value would be detected as that
 * type; the strict reader then fails on keys that are not columns, and reads the rest as typed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DuckDBConnection } from '@duckdb/node-api';
import { strictJsonReader, templateRecord, templateValue } from '../../../../shared/backends/local/duckdb-readers.ts';
import type { Column } from '../../../../shared/backends/local/duckdb-sql.ts';

const dir = mkdtempSync(join(tmpdir(), 'tidemark-readers-'));
let db: DuckDBInstance;
let conn: DuckDBConnection;
before(async () => {
  db = await DuckDBInstance.create(':memory:');
  conn = await db.connect();
  await conn.run(`SET TimeZone = 'UTC'`);
});
after(() => {
  conn.closeSync();
  db.closeSync();
  rmSync(dir, { recursive: true, force: true });
});

// [column type as DuckDB spells it, template value, type DuckDB detects from that value]
const CASES: [string, unknown, string][] = [
  ['BIGINT', 1, 'BIGINT'],
  ['DOUBLE', 1.5, 'DOUBLE'],
  ['BOOLEAN', true, 'BOOLEAN'],
  ['VARCHAR', 'a', 'VARCHAR'],
  ['TIMESTAMP WITH TIME ZONE', null, 'JSON'],
  ['DECIMAL(38,9)', null, 'JSON'],
  ['DATE', null, 'JSON'],
  ['BLOB', null, 'JSON'],
  ['JSON', null, 'JSON'],
  ['VARCHAR[]', ['a'], 'VARCHAR[]'],
  ['TIMESTAMP[][]', [[null]], 'JSON[][]'],
  ['STRUCT(country VARCHAR, lat DOUBLE)', { country: 'a', lat: 1.5 }, 'STRUCT(country VARCHAR, lat DOUBLE)'],
  [
    'STRUCT("my key" BIGINT, "a""b" STRUCT(t TIME, d DECIMAL(10,2))[])[]',
    [{ 'my key': 1, 'a"b': [{ t: null, d: null }] }],
    'STRUCT("my key" BIGINT, "a""b" STRUCT(t JSON, d JSON)[])[]',
  ],
  ['MAP(VARCHAR, BIGINT)', null, 'JSON'],
  ['STRUCT(x)', null, 'JSON'], // a spelling not understood: read as JSON
];

describe('templateValue', () => {
  for (const [type, value, detected] of CASES) {
    it(`${type}: ${JSON.stringify(value)}, which DuckDB detects as ${detected}`, async () => {
      assert.deepEqual(templateValue(type), value);
      const path = join(dir, `t${CASES.findIndex((c) => c[0] === type)}.json`);
      writeFileSync(path, templateRecord([{ name: 'c', type, nullable: true }]));
      const reader = await conn.runAndReadAll(
        `DESCRIBE SELECT * FROM read_json('${path}', format='newline_delimited', records=true, auto_detect=true, sample_size=1, maximum_sample_files=1, map_inference_threshold=-1)`,
      );
      assert.equal(reader.getRowObjectsJson()[0]!.column_type, detected);
    });
  }
});

describe('strictJsonReader', () => {
  const columns: Column[] = [
    { name: 'id', type: 'BIGINT', nullable: false },
    { name: 'ts', type: 'TIMESTAMP WITH TIME ZONE', nullable: true },
    { name: 'geo', type: 'STRUCT(country VARCHAR, lat DOUBLE)', nullable: true },
  ];
  const template = join(dir, 'template.json');
  before(() => writeFileSync(template, templateRecord(columns)));
  const read = async (content: string) => {
    const path = join(dir, 'data.json');
    writeFileSync(path, content);
    const reader = strictJsonReader(template, [path], columns, false, 'i');
    return (await conn.runAndReadAll(`SELECT * FROM ${reader} WHERE i > 0`)).getRowObjectsJson();
  };

  it('reads typed rows, the template row apart (file 0)', async () => {
    assert.deepEqual(await read('{"id":"7","ts":"2024-03-01T01:00:00+09:00","geo":{"lat":2}}\n{"id":8}\n'), [
      { id: '7', ts: '2024-02-29 16:00:00+00', geo: { country: null, lat: 2 }, i: '1' },
      { id: '8', ts: null, geo: null, i: '1' },
    ]);
  });

  for (const [what, line] of [
    ['a top-level key that is not a column', '{"id":1,"colour":"red"}'],
    ['a nested key that is not a field', '{"id":1,"geo":{"country":"KR","alt":3}}'],
    ['a key that differs from a column in case only', '{"ID":1}'],
    ['a value that does not cast', '{"id":1,"ts":"yesterday"}'],
  ])
    it(`fails ${what}`, async () => {
      await assert.rejects(read(`{"id":1}\n${line}\n`));
    });
});
