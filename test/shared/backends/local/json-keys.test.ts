/**
 * NDJSON keys as BigQuery matches them: any case, at any depth; unknown keys and two keys for
 * one field fail; respelled copies keep every value's text.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Column } from '../../../../shared/backends/local/duckdb-sql.ts';
import { checkKeys, fieldsOf, respell } from '../../../../shared/backends/local/json-keys.ts';

const dir = mkdtempSync(join(tmpdir(), 'tidemark-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const COLUMNS: Column[] = [
  { name: 'id', type: 'BIGINT', nullable: false },
  { name: 'Geo', type: 'STRUCT(country VARCHAR, "Lat Long" DOUBLE)', nullable: true },
  { name: 'hits', type: 'STRUCT(url VARCHAR, at TIMESTAMP)[]', nullable: true },
  { name: 'payload', type: 'JSON', nullable: true },
  { name: 'grid', type: 'STRUCT(v BIGINT)[][]', nullable: true },
];
const fields = fieldsOf(COLUMNS);
let n = 0;
const ndjson = (text: string) => {
  const path = join(dir, `f${++n}.json`);
  writeFileSync(path, text);
  return path;
};

describe('checkKeys', () => {
  const CASES: [string, string, string | null, boolean][] = [
    ['exact keys', '{"id":1,"Geo":{"country":"KR"},"hits":[{"url":"u"}]}', null, false],
    ['keys in another case, top and nested', '{"ID":1,"geo":{"COUNTRY":"KR","lat long":2}}', null, true],
    [
      'a nested key in a list of records',
      '{"id":1,"hits":[{"url":"u"},{"url":"v","ref":"x"}]}',
      'No such field: hits.ref (in 1 row(s)); t has no field of that name',
      false,
    ],
    [
      'a key in a list of lists of records',
      '{"id":1,"grid":[[{"v":1}],[{"w":2}]]}',
      'No such field: grid.w (in 1 row(s)); t has no field of that name',
      false,
    ],
    ['any key inside a JSON column', '{"id":1,"payload":{"anything":{"goes":true}}}', null, false],
    [
      'a top-level key (the first by name, with its rows)',
      '{"id":1,"zeta":1,"alpha":2}\n{"id":2,"alpha":3}',
      'No such field: alpha (in 2 row(s)); t has no column of that name',
      false,
    ],
    [
      'two keys for one column',
      '{"id":1,"ID":2}',
      'Duplicate field id: the keys "id" and "ID" name the same field of t',
      true,
    ],
    ['a scalar where a record is due (the reader says why)', '{"id":1,"Geo":"KR","hits":3}', null, false],
    [
      'blank lines, lines that are not JSON or not objects (the reader says why)',
      '\n  \n{"id":1\n[1,2]\n{"id":2}',
      null,
      false,
    ],
  ];
  for (const [what, text, problem, respelled] of CASES)
    it(what, async () => {
      assert.deepEqual(await checkKeys(ndjson(text), fields, 't'), { problem, respell: respelled });
    });
});

describe('respell', () => {
  it('spells every key as its column or field, keeping every value byte for byte', async () => {
    const lines = [
      '{"ID":12345678901234567890,"geo":{"COUNTRY":"KR","lat long":1.10},"HITS":[{"URL":"u","At":"2024-03-01"}]}',
      '{"id":1e2,"payload":{"ID":-0.0,"deep":{"Geo":1}},"grid":[[{"V":100000000000000000001}]]}',
      'not json {',
      '{"id":3,"extra":{"Keep":"as is"}}',
    ];
    const out = join(dir, 'out.json');
    await respell(ndjson(lines.join('\n') + '\n'), fields, out);
    assert.deepEqual(readFileSync(out, 'utf8').split('\n'), [
      '{"id":12345678901234567890,"Geo":{"country":"KR","Lat Long":1.10},"hits":[{"url":"u","at":"2024-03-01"}]}',
      '{"id":1e2,"payload":{"ID":-0.0,"deep":{"Geo":1}},"grid":[[{"v":100000000000000000001}]]}',
      'not json {',
      '{"id":3,"extra":{"Keep":"as is"}}',
      '',
    ]);
  });
});
