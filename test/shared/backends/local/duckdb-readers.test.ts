/**
 * The NDJSON template record (templateValue, templateRecord): DuckDB's type detection reads each
 * column back as the column's own type, or as JSON where no JSON value would be detected as that
 * type; the strict reader then fails on keys that are not columns, and reads the rest as typed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DuckDBConnection } from '@duckdb/node-api';
import {
  CorruptGzipError,
  explicitReader,
  inflateGzip,
  strictJsonReader,
  templateRecord,
  templateValue,
  textType,
} from '../../../../shared/backends/local/duckdb-readers.ts';
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
  ['TIMESTAMP WITH TIME ZONE', 'a', 'VARCHAR'], // dates and times are read as text, then cast
  ['TIMESTAMP', 'a', 'VARCHAR'],
  ['DECIMAL(38,9)', null, 'JSON'],
  ['DATE', 'a', 'VARCHAR'],
  ['INTERVAL', null, 'JSON'],
  ['BLOB', null, 'JSON'],
  ['JSON', null, 'JSON'],
  ['VARCHAR[]', ['a'], 'VARCHAR[]'],
  ['TIMESTAMP[][]', [['a']], 'VARCHAR[][]'],
  ['DECIMAL(10,2)[][]', [[null]], 'JSON[][]'],
  ['STRUCT(country VARCHAR, lat DOUBLE)', { country: 'a', lat: 1.5 }, 'STRUCT(country VARCHAR, lat DOUBLE)'],
  [
    'STRUCT("my key" BIGINT, "a""b" STRUCT(t TIME, d DECIMAL(10,2))[])[]',
    [{ 'my key': 1, 'a"b': [{ t: 'a', d: null }] }],
    'STRUCT("my key" BIGINT, "a""b" STRUCT(t VARCHAR, d JSON)[])[]',
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
    const reader = strictJsonReader(template, [path], columns);
    return (await conn.runAndReadAll(`SELECT * FROM ${reader}`)).getRowObjectsJson();
  };

  it('reads typed rows, without the template row', async () => {
    assert.deepEqual(await read('{"id":"7","ts":"2024-03-01T01:00:00+09:00","geo":{"lat":2}}\n{"id":8}\n'), [
      { id: '7', ts: '2024-02-29 16:00:00+00', geo: { country: null, lat: 2 } },
      { id: '8', ts: null, geo: null },
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

describe('textType', () => {
  for (const [type, read] of [
    ['TIMESTAMP WITH TIME ZONE', 'VARCHAR'],
    ['date', 'VARCHAR'],
    ['BIGINT', 'BIGINT'],
    ['TIME[]', 'VARCHAR[]'],
    [
      'STRUCT("t s" TIMESTAMP, "a""b" STRUCT(d DATE, n DOUBLE)[])',
      'STRUCT("t s" VARCHAR, "a""b" STRUCT(d VARCHAR, n DOUBLE)[])',
    ],
    ['MAP(VARCHAR, TIMESTAMP)', 'MAP(VARCHAR, TIMESTAMP)'], // not understood: read as it is
  ] as [string, string][])
    it(`${type} is read as ${read}`, () => assert.equal(textType(type), read));
});

/**
 * The fast path (strictJsonReader) and the careful path (explicitReader) must read every value
 * alike: the same row, or both fail. Dates and times at the top level and nested, in the
 * spellings lakes write, and values that must fail.
 */
describe('the two NDJSON readers agree', () => {
  const columns: Column[] = [
    { name: 'ts', type: 'TIMESTAMP WITH TIME ZONE', nullable: true },
    { name: 'dt', type: 'TIMESTAMP', nullable: true },
    { name: 'd', type: 'DATE', nullable: true },
    { name: 't', type: 'TIME', nullable: true },
    { name: 'n', type: 'STRUCT(seen TIMESTAMP WITH TIME ZONE, days DATE[])', nullable: true },
  ];
  const template = join(dir, 'agree-template.json');
  before(() => writeFileSync(template, templateRecord(columns)));
  const VALUES: [string, unknown][] = [
    ['ts', '2024-03-01T01:00:00+09:00'],
    ['ts', '2024-03-01 01:00:00.123456Z'],
    ['ts', '2024-03-01 01:00:00 UTC'],
    ['ts', '2024-03-01 01:00:00 Asia/Seoul'],
    ['ts', '2024-03-01'],
    ['ts', 'infinity'],
    ['ts', '2024-02-30 00:00:00'],
    ['ts', 1709251200],
    ['ts', 'yesterday'],
    ['dt', '2024-03-01T01:00:00'],
    ['dt', '2024-03-01 01:00:00+09:00'],
    ['dt', '01:00'],
    ['d', '2024-03-01'],
    ['d', '2024-3-1'],
    ['d', '2024-03-01 05:00:00'],
    ['d', true],
    ['t', '01:02:03.5'],
    ['t', '25:00:00'],
    ['n', { seen: '2024-03-01 01:00:00 America/New_York', days: ['2024-03-01', null] }],
    ['n', { seen: '2024-03-01T01:00:00-02:30', days: [] }],
    ['n', { seen: 'soon' }],
    ['n', { days: ['2024-13-01'] }],
  ];
  const read = async (sql: string): Promise<string> => {
    try {
      return JSON.stringify((await conn.runAndReadAll(sql)).getRowObjectsJson());
    } catch {
      return 'fails';
    }
  };
  for (const [column, value] of VALUES)
    it(`${column}: ${JSON.stringify(value)}`, async () => {
      const path = join(dir, 'agree.json');
      writeFileSync(path, JSON.stringify({ [column]: value }) + '\n');
      const fast = await read(`SELECT * FROM ${strictJsonReader(template, [path], columns)}`);
      const careful = await read(
        `SELECT * FROM ${explicitReader('NEWLINE_DELIMITED_JSON', [path], columns, undefined)}`,
      );
      assert.equal(fast, careful);
    });

  it('reads a zone name as the SQL cast (and BigQuery) does, at any depth', async () => {
    const path = join(dir, 'zone.json');
    writeFileSync(path, '{"ts":"2024-03-01 09:00:00 Asia/Seoul","n":{"seen":"2024-03-01 09:00:00 Asia/Seoul"}}\n');
    assert.deepEqual(
      JSON.parse(
        await read(
          `SELECT ts, n.seen AS seen FROM ${explicitReader('NEWLINE_DELIMITED_JSON', [path], columns, undefined)}`,
        ),
      ),
      [{ ts: '2024-03-01 00:00:00+00', seen: '2024-03-01 00:00:00+00' }],
    );
  });
});

describe('inflateGzip', () => {
  const inflate = async (name: string, gz: Buffer) => {
    const path = join(dir, `${name}.gz`);
    writeFileSync(path, gz);
    const out = join(dir, `${name}.out`);
    const { bytes, path: written } = await inflateGzip(path, gz.length, out, `${out}.large`);
    return { bytes, text: readFileSync(written), written };
  };
  const text = Buffer.from('{"id":1}\n'.repeat(1000));
  const big = Buffer.alloc(40 << 20, 'a'); // inflates past the one-call limit: read as a stream

  it('inflates a whole file, and returns its bytes and where', async () => {
    const { bytes, text: out, written } = await inflate('whole', gzipSync(text));
    assert.equal(written, join(dir, 'whole.out'));
    assert.equal(bytes, text.length);
    assert.ok(out.equals(text));
  });

  it('inflates every member of a multi-member file (its trailer claims only the last)', async () => {
    const { text: out } = await inflate('members', Buffer.concat([gzipSync(text), gzipSync('tail\n')]));
    assert.equal(out.toString(), `${text.toString()}tail\n`);
  });

  it('inflates a file whose output is too large for one call, as a stream, into the large file', async () => {
    const { bytes, written } = await inflate('big', gzipSync(big));
    assert.equal(bytes, big.length);
    assert.equal(written, join(dir, 'big.out.large'));
  });

  for (const [what, gz] of [
    ['a missing trailer', () => gzipSync(text).subarray(0, -4)],
    ['a stream cut in the middle', () => gzipSync(text).subarray(0, 40)],
    ['a wrong CRC', () => Buffer.from(gzipSync(text).map((b, i, all) => (i === all.length - 6 ? b ^ 0xff : b)))],
    ['not gzip at all', () => Buffer.from('{"id":1}\n')],
    ['a large stream cut in the middle', () => gzipSync(big).subarray(0, 20_000)],
  ] as [string, () => Buffer][])
    it(`fails ${what} with CorruptGzipError`, async () => {
      await assert.rejects(inflate(what.replace(/\W/g, '_'), gz()), (err: unknown) => {
        assert.ok(err instanceof CorruptGzipError, String(err));
        assert.match(err.message, /^corrupt or truncated gzip stream: /);
        return true;
      });
    });

  it('throws a failure to write as it is: the machine, not the file', async () => {
    const path = join(dir, 'fine.gz');
    writeFileSync(path, gzipSync(text));
    await assert.rejects(inflateGzip(path, 10, join(dir, 'no-such-folder', 'out')), (err: unknown) => {
      assert.ok(!(err instanceof CorruptGzipError));
      assert.equal((err as { code?: string }).code, 'ENOENT');
      return true;
    });
  });
});
