/**
 * explainRoute as a table: routed names with the path's local time beside the UTC partition, and
 * for every other name the exact reason: ignored outright, or per table the segment or token that
 * failed, or the date that cannot be loaded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../shared/config/load.ts';
import { explainRoute } from '../../../shared/routing/explain.ts';
import type { RouteExplanation } from '../../../shared/routing/explain.ts';
import { createRouter } from '../../../shared/routing/router.ts';

const YAML = String.raw`
project: test-project
location: US
lake: { bucket: lake }
tables:
  - name: events
    source: { pattern: "events/dt={yyyy}-{mm}-{dd}/hr={hh}/*.json.gz", timeZone: Asia/Seoul }
    format: NEWLINE_DELIMITED_JSON
    autodetect: true
    target: { dataset: lake_us, table: events }
    partitioning: { type: HOUR }
  - name: spark
    source: { pattern: "spark/year={yyyy}/month={m}/day={d}/*.parquet" }
    format: PARQUET
    autodetect: true
    target: { project: other-project, dataset: "2021_sales", table: "nyc-311" }
    partitioning: { type: DAY }
  - name: exports
    source: { bucket: exports-bucket, regex: "^exports/(?<yyyy>\\d{4})(?<mm>\\d{2})(?<dd>\\d{2})/[^/]+\\.avro$" }
    format: AVRO
    autodetect: true
    target: { dataset: lake_us, table: exports }
    partitioning: { type: DAY }
`;

const config = parseConfig(YAML, '/virtual/tidemark.config.yaml');
const router = createRouter(config);

type Case = [string, string, string, RouteExplanation | { ignored: RegExp } | { reasons: Record<string, RegExp> }];

describe('explainRoute', () => {
  const cases: Case[] = [
    [
      'a Seoul hour, with its local time beside the UTC partition',
      'lake',
      'events/dt=2026-11-25/hr=00/a.json.gz',
      {
        kind: 'routed',
        table: 'events',
        partition: '2026112415',
        partitionStart: '2026-11-24T15:00:00.000Z',
        localTime: '2026-11-25 00h Asia/Seoul',
        target: 'test-project:lake_us.events$2026112415',
      },
    ],
    [
      'an unpadded Spark day into another project',
      'lake',
      'spark/year=2026/month=4/day=1/part-0.parquet',
      {
        kind: 'routed',
        table: 'spark',
        partition: '20260401',
        partitionStart: '2026-04-01T00:00:00.000Z',
        localTime: '2026-4-1 UTC',
        target: 'other-project:2021_sales.nyc-311$20260401',
      },
    ],
    ['a hidden file', 'lake', 'events/dt=2026-11-25/hr=00/.a.json.gz', { ignored: /^ignored: hidden file$/ }],
    ['_SUCCESS', 'lake', 'spark/year=2026/month=4/day=1/_SUCCESS', { ignored: /^ignored: marker file \(_SUCCESS\)$/ }],
    [
      'a temporary file',
      'lake',
      'spark/year=2026/month=4/day=1/a.parquet.tmp',
      { ignored: /^ignored: temporary file/ },
    ],
    [
      'a state object',
      'test-project-tidemark-state',
      '_tidemark/state/events/2026112415.json',
      { ignored: /^ignored: state prefix gs:\/\/test-project-tidemark-state\/_tidemark\// },
    ],
    [
      'a one-digit hour in a padded pattern',
      'lake',
      'events/dt=2026-11-25/hr=1/a.json.gz',
      {
        reasons: {
          events: /^segment 3 \("hr=\{hh\}"\): \{hh\} expects 2 digits in "hr=1"$/,
          spark: /^segment 1 \("spark"\): expected "spark" in "events"$/,
          exports: /^reads gs:\/\/exports-bucket, not gs:\/\/lake$/,
        },
      },
    ],
    [
      'a padded month in an unpadded pattern',
      'lake',
      'spark/year=2026/month=04/day=1/a.parquet',
      { reasons: { spark: /^segment 3 \("month=\{m\}"\): \{m\} expects 1-2 digits, no leading zero in "month=04"$/ } },
    ],
    [
      'a wrong extension',
      'lake',
      'events/dt=2026-11-25/hr=00/a.json',
      { reasons: { events: /^segment 4 \("\*\.json\.gz"\): expected "\.json\.gz" in "a\.json"$/ } },
    ],
    [
      'too few segments',
      'lake',
      'events/dt=2026-11-25/a.json.gz',
      { reasons: { events: /segment 3 .*: expected "hr=" in "a\.json\.gz"/ } },
    ],
    [
      'too many segments',
      'lake',
      'spark/year=2026/month=4/day=1/x/a.parquet',
      { reasons: { spark: /^segment 5 \("\*\.parquet"\): expected "\.parquet" in "x"$/ } },
    ],
    [
      'a month 13',
      'lake',
      'events/dt=2026-13-01/hr=00/a.json.gz',
      { reasons: { events: /^matches, but cannot be loaded: 2026-13-01 00h is not a real date\/hour$/ } },
    ],
    [
      'a regex miss',
      'exports-bucket',
      'exports/2026112/x.avro',
      { reasons: { exports: /^does not match regex \^exports\// } },
    ],
  ];
  for (const [what, bucket, name, expected] of cases) {
    it(what, () => {
      const got = explainRoute(config, router, bucket, name);
      if ('kind' in expected) return assert.deepEqual(got, expected);
      if ('ignored' in expected) {
        assert.equal(got.kind, 'ignored');
        return assert.match((got as { reason: string }).reason, expected.ignored);
      }
      assert.equal(got.kind, 'unrouted', JSON.stringify(got));
      const verdicts = new Map(
        (got as { tables: { table: string; reason: string }[] }).tables.map((t) => [t.table, t.reason]),
      );
      assert.equal(verdicts.size, 3, 'every table gives a verdict');
      for (const [table, reason] of Object.entries(expected.reasons))
        assert.match(verdicts.get(table) ?? '', reason, table);
    });
  }
});
