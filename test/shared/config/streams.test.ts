/**
 * `streams:` in the config: defaults, and every rule that ties a stream to its table, above all
 * that the table's pattern routes the names the storage subscription writes (generated the same
 * way) to the UTC hour they were written.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../shared/config/load.ts';
import { describeRoutes } from '../../../shared/config/describe.ts';
import { ConfigError } from '../../../shared/core/errors.ts';
import { createRouter } from '../../../shared/routing/router.ts';
import { LOCATIONS_TABLE_YAML, streamYaml } from '../../helpers/streams.ts';

const parse = (yaml: string) => parseConfig(yaml, '/tmp/tidemark.config.yaml');
const issuesOf = (yaml: string): string => {
  try {
    parse(yaml);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return '';
};

describe('config streams', () => {
  it('a stream resolves with its defaults and the table schema', () => {
    const [s] = parse(streamYaml()).streams;
    assert.ok(s);
    assert.equal(s.topic, 'tidemark-stream-locations');
    assert.equal(s.deadLetterTopic, 'tidemark-stream-locations-dlq');
    assert.equal(s.subscription, 'tidemark-stream-locations-gcs');
    assert.deepEqual(s.files, {
      prefix: 'streams/locations/',
      datetimeFormat: 'YYYY-MM-DD/hh/mm_ssZ',
      suffix: '.ndjson',
      maxDurationMs: 300_000,
      maxBytes: 100 * 1024 * 1024,
      localMaxDurationMs: 5000,
    });
    assert.deepEqual(s.limits, { maxBodyBytes: 1024 * 1024, maxRecords: 1000 });
    assert.equal(s.unknownFields, 'reject');
    assert.equal(s.schema.length, 9);
    assert.deepEqual(s.invokers, []);
  });

  it('reads streams[].invokers: the producers granted run.invoker on the ingest service', () => {
    const [s] = parse(
      streamYaml('    invokers: ["serviceAccount:app@p.iam.gserviceaccount.com", "group:devices@example.com"]\n'),
    ).streams;
    assert.deepEqual(s!.invokers, ['serviceAccount:app@p.iam.gserviceaccount.com', 'group:devices@example.com']);
  });

  it('no streams: []', () => {
    const yaml = streamYaml().replace(/streams:[\s\S]*$/, '');
    assert.deepEqual(parse(yaml).streams, []);
  });

  const table = (edit: (t: string) => string) => streamYaml('', edit(LOCATIONS_TABLE_YAML));
  const cases: [string, string, RegExp][] = [
    [
      'an unknown table',
      streamYaml().replace('    table: locations', '    table: nosuch'),
      /streams\[0\]\.table: no table named "nosuch"/,
    ],
    ['a DAY table', table((t) => t.replace('type: HOUR', 'type: DAY').replace('/{hh}/', '/')), /hourly/],
    [
      'a column-partitioned table',
      table((t) => t.replace('partitioning: { type: HOUR }', 'partitioning: { type: HOUR, field: event_time }')),
      /ingestion time/,
    ],
    ['a CSV table', table((t) => t.replace('NEWLINE_DELIMITED_JSON', 'CSV')), /NEWLINE_DELIMITED_JSON/],
    [
      'a table in commit mode dml',
      table((t) =>
        t.replace('partitioning: { type: HOUR }', 'partitioning: { type: HOUR }\n    commit: { mode: dml }'),
      ),
      /commit mode load .*duplicate events/,
    ],
    [
      'a table in Seoul time',
      table((t) => t.replace('timeZone: UTC', 'timeZone: Asia/Seoul')),
      /source\.timeZone: UTC/,
    ],
    [
      'no event_id column',
      table((t) => t.replace('{ name: event_id, type: STRING, mode: REQUIRED }', '{ name: eid, type: STRING }')),
      /column event_id STRING/,
    ],
    [
      'a column name with a dash',
      table((t) => t.replace('{ name: accuracy, type: FLOAT }', '{ name: acc-m, type: FLOAT }')),
      /plain column names .*"acc-m"/,
    ],
    [
      'received_at as a STRING',
      table((t) => t.replace('{ name: received_at, type: TIMESTAMP', '{ name: received_at, type: STRING')),
      /column received_at TIMESTAMP/,
    ],
    [
      'a pattern in another folder',
      table((t) => t.replace('streams/locations/', 'streams/loc/')),
      /streams\[0\]\.files: the subscription writes names like "streams\/locations\/2026-01-01\/00\/00_00Z_[0-9a-f-]{36}\.ndjson", which table locations's pattern .* does not match/,
    ],
    ['a pattern on another suffix', table((t) => t.replace('*.ndjson', '*.json')), /does not match/],
    [
      'a pattern reading the minutes as the hour',
      streamYaml('    files: { datetimeFormat: "YYYY-MM-DD/mm/hh_ssZ" }\n'),
      /from the year down/,
    ],
    [
      'a pattern that routes to the wrong hour',
      table((t) => t.replace('{yyyy}-{mm}-{dd}/{hh}/*', '{yyyy}-{mm}-{dd}/*/{hh}_*')),
      /routes to \d{10}, not to \d{10}|cannot route/,
    ],
    [
      'maxDuration of 30 s',
      streamYaml('    files: { maxDuration: 30s }\n'),
      /files\.maxDuration: must be 1-10 minutes/,
    ],
    ['maxBytes of 10', streamYaml('    files: { maxBytes: 10 }\n'), /files\.maxBytes: must be at least 1000/],
    [
      'a 64 MiB body limit',
      streamYaml('    limits: { maxBodyBytes: 67108864 }\n'),
      /limits\.maxBodyBytes: must be at most 32 MiB/,
    ],
    [
      'a stream name with a slash',
      streamYaml().replace('  - name: locations\n    table', '  - name: a/b\n    table'),
      /streams\[0\]\.name/,
    ],
    ['unknownFields: drop', streamYaml('    unknownFields: drop\n'), /streams\[0\]\.unknownFields/],
    ['a misspelt key', streamYaml('    maxRecords: 5\n'), /streams\[0\]\.maxRecords: unknown key/],
    [
      'allUsers as a producer (ingest is never public)',
      streamYaml('    invokers: [allUsers]\n'),
      /streams\[0\]\.invokers\[0\].*never allUsers/,
    ],
    ["a topic of tidemark's own", streamYaml('    topic: tidemark-backfill\n'), /one of tidemark's own topics/],
    [
      'a prefix starting with /',
      streamYaml('    files: { prefix: /streams/locations/ }\n'),
      /files\.prefix: must not start with/,
    ],
  ];
  for (const [what, yaml, message] of cases) {
    it(`refuses ${what}`, () => assert.match(issuesOf(yaml), message));
  }

  it('two streams on one table are refused', () => {
    const yaml = `${streamYaml()}  - name: places\n    table: locations\n    files: { prefix: streams/locations/ }\n`;
    assert.match(issuesOf(yaml), /streams\[1\]\.table: locations is also used by streams\[0\]/);
  });

  it('a custom prefix, format and suffix are accepted when the pattern reads them', () => {
    const yaml = streamYaml(
      '    files: { prefix: "rt/loc/dt=", datetimeFormat: "YYYY-MM-DDThh:mm:ssZ", suffix: ".json" }\n',
      LOCATIONS_TABLE_YAML.replace(
        '"streams/locations/{yyyy}-{mm}-{dd}/{hh}/*.ndjson"',
        '"rt/loc/dt={yyyy}-{mm}-{dd}T{hh}:*.json"',
      ),
    );
    assert.equal(parse(yaml).streams[0]!.files.prefix, 'rt/loc/dt=');
  });

  it('config check shows the stream: endpoint, topic and subscription, and a file name with its partition', () => {
    const config = parse(streamYaml());
    const text = describeRoutes(config, createRouter(config), Date.UTC(2026, 10, 24, 13, 5, 9));
    assert.match(text, /stream locations\n  endpoint    POST \/v1\/streams\/locations\/events/);
    assert.match(
      text,
      /example     streams\/locations\/2026-11-24\/13\/05_09Z_[0-9a-f-]{36}\.ndjson -> locations\$2026112413/,
    );
  });
});
