/**
 * The router over a config with every kind of table: which table and partition each object name
 * goes to (hive and plain folders, regexes, odd names, temp files, bad dates, zones and DST), and
 * that listing prefixes for a partition or a range always cover the objects routed there.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../shared/config/load.ts';
import type { Config } from '../../../shared/config/types.ts';
import { ConfigError, RouteError } from '../../../shared/core/errors.ts';
import { partitionStart, partitionEnd } from '../../../shared/routing/partition.ts';
import { createRouter, isIgnoredObjectName } from '../../../shared/routing/router.ts';

const YAML = String.raw`
project: test-project
location: US
lake: { bucket: lake }
tables:
  - name: events         # Seoul paths, UTC hours
    source: { pattern: "events/dt={yyyy}-{mm}-{dd}/hr={hh}/*.json.gz", timeZone: Asia/Seoul }
    format: NEWLINE_DELIMITED_JSON
    autodetect: true
    target: { dataset: lake_us, table: events }
    partitioning: { type: HOUR }
  - name: orders         # UTC day folders
    source: { pattern: "orders/{yyyy}/{mm}/{dd}/*.csv" }
    format: CSV
    autodetect: true
    target: { dataset: lake_us, table: orders }
    partitioning: { type: DAY }
  - name: visits         # Seoul days into a DATE column: no shift
    source: { pattern: "visits/{yyyy}{mm}{dd}/*.parquet", timeZone: Asia/Seoul }
    format: PARQUET
    autodetect: true
    target: { dataset: lake_us, table: visits }
    partitioning: { type: DAY, field: visit_date, fieldType: DATE }
  - name: ny             # New York hours, through DST
    source: { pattern: "ny/{yyyy}/{mm}/{dd}/{hh}/*.csv", timeZone: America/New_York }
    format: CSV
    autodetect: true
    target: { dataset: lake_us, table: ny }
    partitioning: { type: HOUR }
  - name: clicks         # Seoul hours into UTC days
    source: { pattern: "clicks/dt={yyyy}-{mm}-{dd}/hr={hh}/*", timeZone: Asia/Seoul }
    format: NEWLINE_DELIMITED_JSON
    autodetect: true
    target: { dataset: lake_us, table: clicks }
    partitioning: { type: DAY, field: ts, fieldType: TIMESTAMP }
  - name: exports        # a regex in another bucket
    source: { bucket: exports-bucket, regex: "^exports/(?<yyyy>\\d{4})(?<mm>\\d{2})(?<dd>\\d{2})/[^/]+\\.avro$" }
    format: AVRO
    autodetect: true
    target: { dataset: lake_us, table: exports }
    partitioning: { type: DAY }
  - name: intl           # unicode and spaces in the pattern
    source: { pattern: "데이터/{yyyy}-{mm}-{dd}/파일 *.csv" }
    format: CSV
    autodetect: true
    target: { dataset: lake_us, table: intl }
    partitioning: { type: DAY }
`;

const config: Config = parseConfig(YAML, '/virtual/tidemark.config.yaml');
const router = createRouter(config);

type Expect = { table: string; partition: string } | { ignored: RegExp } | { error: RegExp };

describe('route: paths', () => {
  const cases: [string, string, string, Expect][] = [
    // hive folders, zones
    [
      'Seoul hour 00 is the previous UTC day',
      'lake',
      'events/dt=2026-11-25/hr=00/part-0.json.gz',
      { table: 'events', partition: '2026112415' },
    ],
    [
      'Seoul hour 09 is UTC 00',
      'lake',
      'events/dt=2026-11-25/hr=09/part-0.json.gz',
      { table: 'events', partition: '2026112500' },
    ],
    ['Seoul new year', 'lake', 'events/dt=2027-01-01/hr=08/a.json.gz', { table: 'events', partition: '2026123123' }],
    [
      'spaces and unicode in the file name',
      'lake',
      'events/dt=2026-11-25/hr=00/my part ü 名.json.gz',
      { table: 'events', partition: '2026112415' },
    ],
    [
      'a %2F is not decoded',
      'lake',
      'events/dt=2026-11-25/hr=00/a%2Fb.json.gz',
      { table: 'events', partition: '2026112415' },
    ],
    [
      'deeper than the pattern',
      'lake',
      'events/dt=2026-11-25/hr=00/x/part-0.json.gz',
      { ignored: /no table pattern matches/ },
    ],
    ['wrong extension', 'lake', 'events/dt=2026-11-25/hr=00/part-0.json', { ignored: /no table pattern matches/ }],
    ['month 13', 'lake', 'events/dt=2026-13-01/hr=00/a.json.gz', { error: /2026-13-01 00h is not a real date/ }],
    ['hour 24', 'lake', 'events/dt=2026-11-25/hr=24/a.json.gz', { error: /not a real date\/hour/ }],
    ['February 30', 'lake', 'orders/2026/02/30/a.csv', { error: /2026-02-30 is not a real date/ }],
    ['before BigQuery partitions', 'lake', 'orders/1959/12/31/a.csv', { error: /partition range 1960-2159/ }],
    ['after BigQuery partitions, in UTC', 'lake', 'events/dt=2160-01-01/hr=09/a.json.gz', { error: /partition range/ }],
    [
      'Seoul was UTC+8:30 in 1960',
      'lake',
      'events/dt=1960-06-01/hr=00/a.json.gz',
      { error: /does not start on a whole UTC hour/ },
    ],
    // plain folders
    ['UTC day folder', 'lake', 'orders/2026/11/24/orders.csv', { table: 'orders', partition: '20261124' }],
    [
      'DATE column keeps the Seoul day',
      'lake',
      'visits/20261125/a.parquet',
      { table: 'visits', partition: '20261125' },
    ],
    [
      'Seoul hour 08 is the previous UTC day',
      'lake',
      'clicks/dt=2026-11-25/hr=08/x',
      { table: 'clicks', partition: '20261124' },
    ],
    [
      'Seoul hour 09 is the same UTC day',
      'lake',
      'clicks/dt=2026-11-25/hr=09/x',
      { table: 'clicks', partition: '20261125' },
    ],
    // DST in New York
    ['EST', 'lake', 'ny/2026/01/15/10/a.csv', { table: 'ny', partition: '2026011515' }],
    ['EDT', 'lake', 'ny/2026/07/15/10/a.csv', { table: 'ny', partition: '2026071514' }],
    ['before spring-forward', 'lake', 'ny/2026/03/08/01/a.csv', { table: 'ny', partition: '2026030806' }],
    ['the spring-forward gap', 'lake', 'ny/2026/03/08/02/a.csv', { error: /does not exist in America\/New_York/ }],
    ['after spring-forward', 'lake', 'ny/2026/03/08/03/a.csv', { table: 'ny', partition: '2026030807' }],
    [
      'the fall-back fold takes the first 01:00',
      'lake',
      'ny/2026/11/01/01/a.csv',
      { table: 'ny', partition: '2026110105' },
    ],
    ['after the fold', 'lake', 'ny/2026/11/01/02/a.csv', { table: 'ny', partition: '2026110107' }],
    // regex
    ['regex', 'exports-bucket', 'exports/20261124/x.avro', { table: 'exports', partition: '20261124' }],
    ['regex, bad date', 'exports-bucket', 'exports/20261324/x.avro', { error: /not a real date/ }],
    ['regex, no match', 'exports-bucket', 'exports/20261124/x.avro.bak', { ignored: /no table pattern matches/ }],
    [
      'regex table is in its own bucket only',
      'lake',
      'exports/20261124/x.avro',
      { ignored: /no table pattern matches/ },
    ],
    // unicode pattern
    ['unicode pattern', 'lake', '데이터/2026-11-24/파일 1.csv', { table: 'intl', partition: '20261124' }],
    ['unicode pattern, wrong literal', 'lake', '데이터/2026-11-24/파일1.csv', { ignored: /no table pattern matches/ }],
    // ignored
    ['unknown bucket', 'elsewhere', 'orders/2026/11/24/a.csv', { ignored: /no table reads bucket elsewhere/ }],
    ['_SUCCESS', 'lake', 'orders/2026/11/24/_SUCCESS', { ignored: /marker file/ }],
    ['folder placeholder', 'lake', 'orders/2026/11/24/', { ignored: /folder placeholder/ }],
    ['temp file', 'lake', 'orders/2026/11/24/a.csv.tmp', { ignored: /temporary file/ }],
    ['hadoop copying', 'lake', 'orders/2026/11/24/a.csv._COPYING_', { ignored: /temporary file/ }],
    ['spark _temporary', 'lake', 'orders/2026/11/24/_temporary/0/a.csv', { ignored: /_temporary/ }],
    ['hidden file', 'lake', 'orders/2026/11/24/.a.csv', { ignored: /hidden file/ }],
    ['.. segment', 'lake', 'orders/2026/11/../11/24/a.csv', { ignored: /relative segment/ }],
    ['state object', 'test-project-tidemark-state', '_tidemark/events/2026112415.json', { ignored: /state object/ }],
    [
      'state-like name in the lake bucket is just unmatched',
      'lake',
      '_tidemark/events/2026112415.json',
      { ignored: /no table pattern matches/ },
    ],
    ['empty name', 'lake', '', { ignored: /empty/ }],
    [
      '1,000+ characters',
      'lake',
      `orders/2026/11/24/${'x'.repeat(1200)}.csv`,
      { table: 'orders', partition: '20261124' },
    ],
    [
      '5,000-character near miss',
      'lake',
      `events/dt=2026-11-25/hr=00/${'a.json.gz'.repeat(560)}x`,
      { ignored: /no table pattern matches/ },
    ],
    ['5,000 slashes', 'lake', 'x/'.repeat(2500) + 'a.csv', { ignored: /no table pattern matches/ }],
  ];
  for (const [name, bucket, object, expected] of cases) {
    it(name, () => {
      if ('error' in expected) {
        assert.throws(
          () => router.route(bucket, object),
          (err: unknown) =>
            err instanceof RouteError &&
            err.message.includes(`gs://${bucket}/${object.slice(0, 50)}`) &&
            expected.error.test(err.message),
        );
        return;
      }
      const result = router.route(bucket, object);
      if ('ignored' in expected) {
        assert.equal(result.kind, 'ignored');
        assert.match(result.kind === 'ignored' ? result.reason : '', expected.ignored);
      } else {
        assert.equal(result.kind, 'routed', JSON.stringify(result));
        if (result.kind !== 'routed') return;
        assert.equal(result.table.name, expected.table);
        assert.equal(result.partition, expected.partition);
        // partitionOf agrees with route, and the partition's prefixes list the object.
        const route = router.table(expected.table)!;
        assert.equal(route.partitionOf(object), expected.partition);
        assert.ok(
          route.prefixesFor(expected.partition).some((p) => object.startsWith(p)),
          `prefixesFor(${expected.partition}) covers ${object}`,
        );
        const range = route.prefixesForRange(
          partitionStart(expected.partition) - 86_400_000,
          partitionEnd(expected.partition),
        );
        assert.ok(
          range.some((p) => object.startsWith(p)),
          `range prefixes ${JSON.stringify(range)} cover ${object}`,
        );
      }
    });
  }
});

describe('isIgnoredObjectName', () => {
  const cases: [string, RegExp | null][] = [
    ['a/b.csv', null],
    ['a/b_c.csv', null],
    ['a/_b/c.csv', null],
    ['', /empty/],
    ['a/', /folder placeholder/],
    ['a_$folder$', /folder placeholder/],
    ['a/_SUCCESS', /marker file \(_SUCCESS\)/],
    ['a/_committed_123', /marker file/],
    ['a/.b.csv', /hidden file/],
    ['a/.spark-staging/b.csv', /hidden folder/],
    ['./a.csv', /relative segment \(\.\)/],
    ['a/../b.csv', /relative segment \(\.\.\)/],
    ['a/_temporary/0/b.csv', /temporary folder/],
    ['a/b.csv.tmp', /temporary file \(\.tmp\)/],
    ['a/b.TEMP', /temporary file/],
    ['a/b.csv._COPYING_', /temporary file/],
    ['a/.b.csv.crc', /hidden file/],
    ['a/b.crc', /temporary file/],
    ['a/b.json.inprogress', /temporary file/],
  ];
  for (const [name, reason] of cases) {
    it(JSON.stringify(name), () => {
      const got = isIgnoredObjectName(name);
      if (reason === null) assert.equal(got, null);
      else assert.match(got ?? '', reason);
    });
  }
});

describe('prefixesFor', () => {
  const cases: [string, string, string[]][] = [
    ['events', '2026112415', ['events/dt=2026-11-25/hr=00/']],
    ['events', '2026112400', ['events/dt=2026-11-24/hr=09/']],
    ['orders', '20261124', ['orders/2026/11/24/']],
    ['visits', '20261125', ['visits/20261125/']],
    // A UTC day of Seoul hours: 09-23 of one local day and 00-08 of the next.
    ['clicks', '20261124', ['clicks/dt=2026-11-24/hr=', 'clicks/dt=2026-11-25/hr=']],
    ['ny', '2026030807', ['ny/2026/03/08/03/']],
    ['ny', '2026110106', ['ny/2026/11/01/01/']], // the second 01:00: same folder, nothing maps here
    ['exports', '20261124', ['exports/']],
  ];
  for (const [table, id, prefixes] of cases)
    it(`${table} ${id}`, () => assert.deepEqual(router.table(table)!.prefixesFor(id), prefixes));

  it('refuses an id of the wrong granularity or a malformed one', () => {
    assert.throws(() => router.table('events')!.prefixesFor('20261124'), RangeError);
    assert.throws(() => router.table('orders')!.prefixesFor('2026112400'), RangeError);
    assert.throws(() => router.table('orders')!.prefixesFor('2026-11-24'), RangeError);
  });
});

describe('prefixesForRange', () => {
  const D = 86_400_000;
  const cases: [string, number, number, string[]][] = [
    ['events', Date.UTC(2026, 10, 24, 15), Date.UTC(2026, 10, 24, 16), ['events/dt=2026-11-25/hr=00/']],
    ['events', Date.UTC(2026, 10, 24, 15, 30), Date.UTC(2026, 10, 24, 16), []],
    [
      'events',
      Date.UTC(2026, 10, 24),
      Date.UTC(2026, 10, 26),
      ['events/dt=2026-11-24/hr=', 'events/dt=2026-11-25/hr=', 'events/dt=2026-11-26/hr='],
    ],
    ['orders', Date.UTC(2026, 10, 1), Date.UTC(2026, 11, 1), ['orders/2026/11/']],
    ['orders', Date.UTC(2025, 0, 1), Date.UTC(2027, 0, 1), ['orders/2025/', 'orders/2026/']],
    ['exports', Date.UTC(2025, 0, 1), Date.UTC(2027, 0, 1), ['exports/']],
  ];
  for (const [table, from, to, prefixes] of cases) {
    it(`${table} ${new Date(from).toISOString()} .. ${new Date(to).toISOString()}`, () =>
      assert.deepEqual(router.table(table)!.prefixesForRange(from, to), prefixes));
  }

  it('a year of hours lists per month, and no range gives more than 40 prefixes', () => {
    const events = router.table('events')!;
    const year = events.prefixesForRange(Date.UTC(2025, 10, 24), Date.UTC(2026, 10, 24));
    assert.equal(year.length, 13);
    assert.equal(year[0], 'events/dt=2025-11-');
    for (const days of [1, 2, 5, 39, 40, 41, 100, 400, 2000, 20_000, 60_000]) {
      for (const route of router.tables) {
        const list = route.prefixesForRange(Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 1) + days * D);
        assert.ok(list.length >= 1 && list.length <= 40, `${route.table.name} over ${days} days: ${list.length}`);
      }
    }
  });

  it('covers every object of every partition in the range', () => {
    const from = Date.UTC(2026, 2, 6);
    const to = Date.UTC(2026, 2, 10);
    const ny = router.table('ny')!;
    const prefixes = ny.prefixesForRange(from, to);
    for (let t = from - 2 * D; t < to + 2 * D; t += 3_600_000) {
      const local = new Date(t);
      const name = `ny/${local.getUTCFullYear()}/${String(local.getUTCMonth() + 1).padStart(2, '0')}/${String(local.getUTCDate()).padStart(2, '0')}/${String(local.getUTCHours()).padStart(2, '0')}/a.csv`;
      let id: string | null = null;
      try {
        id = ny.partitionOf(name);
      } catch {
        continue; // the DST gap
      }
      if (id === null || partitionStart(id) < from || partitionStart(id) >= to) continue;
      assert.ok(
        prefixes.some((p) => name.startsWith(p)),
        `${name} (${id}) under ${JSON.stringify(prefixes)}`,
      );
      assert.ok(
        ny.prefixesFor(id).some((p) => name.startsWith(p)),
        `${name} under prefixesFor(${id})`,
      );
    }
  });
});

describe('createRouter', () => {
  it('names tables and describes them in one line', () => {
    assert.deepEqual(
      router.tables.map((t) => t.table.name),
      ['events', 'orders', 'visits', 'ny', 'clicks', 'exports', 'intl'],
    );
    assert.equal(router.table('nope'), undefined);
    assert.equal(router.table('events')!.granularity, 'HOUR');
    assert.equal(
      router.table('events')!.describe(),
      'events: gs://lake/events/dt={yyyy}-{mm}-{dd}/hr={hh}/*.json.gz [Asia/Seoul] -> lake_us.events$YYYYMMDDHH (HOUR on ingestion time, UTC hours)',
    );
    assert.match(router.table('visits')!.describe(), /DAY on DATE column visit_date, local \(Asia\/Seoul\) days/);
  });

  it('throws ConfigError for a config whose pattern does not compile', () => {
    const bad: Config = {
      ...config,
      tables: [{ ...config.tables[0]!, source: { ...config.tables[0]!.source, pattern: 'a/{x}' } }],
    };
    assert.throws(
      () => createRouter(bad),
      (err: unknown) => err instanceof ConfigError && /tables\[0\]\.source: unknown token/.test(err.message),
    );
  });
});
