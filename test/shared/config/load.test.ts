/**
 * Loading tidemark.config.yaml: the documented example loads into the expected Config, defaults
 * and overrides resolve, the file is found the documented way, and every kind of bad input is a
 * ConfigError naming the file, the key path and the reason, with all problems reported at once.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { loadConfig, parseConfig } from '../../../shared/config/load.ts';
import type { Config, TableConfig } from '../../../shared/config/types.ts';
import { ConfigError } from '../../../shared/core/errors.ts';
import { RESERVED_DATASET } from '../../../shared/config/schema.ts';
import { META } from '../../../shared/backends/local/duckdb-sql.ts';

const EXAMPLE = `
project: my-project            # project that runs BigQuery jobs
location: US                   # BigQuery location of the target datasets
lake:
  bucket: lake-seoul           # default source bucket (asia-northeast3)
tables:
  - name: events
    source:
      pattern: "events/dt={yyyy}-{mm}-{dd}/hr={hh}/*.json.gz"
      timeZone: Asia/Seoul     # zone of the times in the path; default UTC
    format: NEWLINE_DELIMITED_JSON   # CSV | NEWLINE_DELIMITED_JSON | PARQUET | AVRO | ORC
    schema: schemas/events.json      # a BigQuery JSON schema file, or \`autodetect: true\`
    target: { dataset: lake_us, table: events }
    partitioning: { type: HOUR }     # ingestion time; or { type: DAY, field: event_date } for a column
  - name: orders
    source: { bucket: other-lake, pattern: "orders/{yyyy}/{mm}/{dd}/*.csv" }
    format: CSV
    csv: { skipLeadingRows: 1 }
    autodetect: true
    target: { dataset: lake_us, table: orders }
    partitioning: { type: DAY }
`;

const EVENTS_SCHEMA = [
  { name: 'event_id', type: 'STRING', mode: 'REQUIRED' },
  { name: 'event_time', type: 'TIMESTAMP' },
  { name: 'event_date', type: 'date' },
  { name: 'payload', type: 'RECORD', fields: [{ name: 'k', type: 'STRING' }], policyTags: { names: [] } },
];

const FILE = '/cfg/tidemark.config.yaml';
const FILES: Record<string, string> = { '/cfg/schemas/events.json': JSON.stringify(EVENTS_SCHEMA) };

function readFrom(files: Record<string, string>) {
  return (path: string): string => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' });
    return text;
  };
}

/** The example as a plain object, to edit. */

type Doc = any;
const example = (): Doc => parse(EXAMPLE);

function load(text: string, files: Record<string, string> = FILES): Config {
  return parseConfig(text, FILE, readFrom(files));
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  assert.fail('expected a ConfigError');
}

describe('the documented example', () => {
  it('loads from disk with its schema file, relative to the config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-config-'));
    mkdirSync(join(dir, 'schemas'));
    writeFileSync(join(dir, 'schemas', 'events.json'), JSON.stringify({ fields: EVENTS_SCHEMA }));
    writeFileSync(join(dir, 'tidemark.config.yaml'), EXAMPLE);
    const config = loadConfig({ cwd: dir, env: {} });
    assert.equal(config.file, join(dir, 'tidemark.config.yaml'));
    assert.equal(config.tables[0]!.spec.schema?.length, 4);
  });

  it('resolves to the expected Config', () => {
    const config = load(EXAMPLE);
    const events: TableConfig = {
      name: 'events',
      source: { bucket: 'lake-seoul', pattern: 'events/dt={yyyy}-{mm}-{dd}/hr={hh}/*.json.gz', timeZone: 'Asia/Seoul' },
      format: 'NEWLINE_DELIMITED_JSON',
      spec: {
        ref: { dataset: 'lake_us', table: 'events' },
        partitioning: { type: 'HOUR' },
        format: 'NEWLINE_DELIMITED_JSON',
        schema: [
          { name: 'event_id', type: 'STRING', mode: 'REQUIRED' },
          { name: 'event_time', type: 'TIMESTAMP' },
          { name: 'event_date', type: 'DATE' },
          {
            name: 'payload',
            type: 'RECORD',
            fields: [{ name: 'k', type: 'STRING' }],
            policyTags: { names: [] },
          } as never,
        ],
        autodetect: false,
      },
      partitioning: { type: 'HOUR' },
      jobBudget: 300,
      jobBurst: 20,
      maxUrisPerLoad: 10_000,
      onSourceDelete: 'keep',
      commit: { mode: 'load', intervalMs: 60_000 },
    };
    const orders: TableConfig = {
      name: 'orders',
      source: { bucket: 'other-lake', pattern: 'orders/{yyyy}/{mm}/{dd}/*.csv', timeZone: 'UTC' },
      format: 'CSV',
      spec: {
        ref: { dataset: 'lake_us', table: 'orders' },
        partitioning: { type: 'DAY' },
        format: 'CSV',
        autodetect: true,
        csv: { skipLeadingRows: 1 },
      },
      partitioning: { type: 'DAY' },
      jobBudget: 300,
      jobBurst: 20,
      maxUrisPerLoad: 10_000,
      onSourceDelete: 'keep',
      commit: { mode: 'load', intervalMs: 60_000 },
    };
    assert.deepEqual(config, {
      file: FILE,
      project: 'my-project',
      location: 'US',
      lake: { bucket: 'lake-seoul' },
      // A bucket of its own by default: producers can write the lake bucket, never this one.
      state: { bucket: 'my-project-tidemark-state', prefix: '_tidemark/' },
      tables: [events, orders],
      audit: {
        schedule: '15 * * * *',
        timeZone: 'Etc/UTC',
        lookbackMs: 48 * 3_600_000,
        settleMs: 3_600_000,
        auditFromMs: 30 * 86_400_000,
        maxBackfillsPerAudit: 500,
      },
      topics: {
        audit: 'tidemark-audit',
        backfill: 'tidemark-backfill',
        backfillDlq: 'tidemark-backfill-dlq',
        auditResults: 'tidemark-audit-results',
        commit: 'tidemark-commit',
      },
      streams: [],
    } satisfies Config);
  });
});

describe('BigQuery names as BigQuery allows them', () => {
  const cases: { dataset: string; table: string; project?: string }[] = [
    { dataset: 'lake_us', table: 'nyc-311' },
    { dataset: '2021_sales', table: '2021_orders' },
    { dataset: 'lake_us', table: '주문' },
    { dataset: 'lake_us', table: 'table 01' },
    { dataset: 'lake_us', table: 'étudiant-01' },
    { dataset: 'lake_us', table: 'ग्राहक' },
    { dataset: 'D'.repeat(1024), table: '주'.repeat(341) }, // 1,023 UTF-8 bytes
    { dataset: 'shared', table: 'events', project: 'other-project' },
  ];
  for (const c of cases) {
    it(`accepts ${c.project ? `${c.project}:` : ''}${c.dataset.slice(0, 20)}.${c.table.slice(0, 20)}`, () => {
      const doc = example();
      doc.tables[1].target = c.project
        ? { project: c.project, dataset: c.dataset, table: c.table }
        : { dataset: c.dataset, table: c.table };
      const config = load(stringify(doc));
      assert.deepEqual(
        config.tables[1]!.spec.ref,
        c.project ? { project: c.project, dataset: c.dataset, table: c.table } : { dataset: c.dataset, table: c.table },
      );
    });
  }
  it('a table in another project is not the same target as one in this project', () => {
    const doc = example();
    doc.tables[1].target = { project: 'other-project', dataset: 'lake_us', table: 'events' };
    assert.deepEqual(load(stringify(doc)).tables[1]!.spec.ref, {
      project: 'other-project',
      dataset: 'lake_us',
      table: 'events',
    });
  });
});

describe('the reserved dataset', () => {
  it("is the local warehouse's metadata schema, refused at config check rather than at the first load", () => {
    assert.equal(RESERVED_DATASET, META);
  });
});

describe('the state bucket', () => {
  it('defaults to <project>-tidemark-state, not the lake bucket every producer can write', () => {
    assert.deepEqual(load(EXAMPLE).state, { bucket: 'my-project-tidemark-state', prefix: '_tidemark/' });
  });
  it('may be set to the lake bucket explicitly', () => {
    const doc = example();
    doc.state = { bucket: 'lake-seoul' };
    assert.deepEqual(load(stringify(doc)).state, { bucket: 'lake-seoul', prefix: '_tidemark/' });
  });
});

describe('onSourceDelete and commit', () => {
  it('a table takes them from defaults, key by key, and may override each', () => {
    const doc = example();
    doc.defaults = { onSourceDelete: 'mirror', commit: { mode: 'dml', interval: '5m' } };
    doc.tables[1].commit = { mode: 'load' };
    doc.tables[0].onSourceDelete = 'keep';
    const [events, orders] = load(stringify(doc)).tables;
    assert.deepEqual(
      [events!.onSourceDelete, events!.commit, orders!.onSourceDelete, orders!.commit],
      ['keep', { mode: 'dml', intervalMs: 300_000 }, 'mirror', { mode: 'load', intervalMs: 300_000 }],
    );
  });
});

describe('overrides', () => {
  it('state, defaults, audit, topics, per-table budgets, labels, regex sources, partition columns and deploy', () => {
    const doc = example();
    doc.state = { bucket: 'state-bucket', prefix: 'meta/tidemark/' };
    doc.defaults = { jobBudget: 100, jobBurst: 5, maxUrisPerLoad: 500 };
    doc.audit = {
      schedule: '*/30 * * * *',
      timeZone: 'Asia/Seoul',
      lookback: '3d',
      settle: '90m',
      auditFrom: '1 year',
      maxBackfillsPerAudit: 50,
    };
    doc.topics = { audit: 'a-audit', backfillDlq: 'a-dlq', commit: 'a-commit' };
    doc.deploy = { region: 'asia-northeast3', anything: { nested: [1, 2] } };
    Object.assign(doc.tables[0], {
      jobBudget: 1000,
      jobBurst: 50,
      cadence: 'HOUR',
      description: 'clickstream',
      labels: { team: 'data', 'cost-center': '42' },
    });
    doc.tables[0].partitioning = { type: 'HOUR', field: 'event_time' };
    doc.tables[1].source = {
      bucket: 'other-lake',
      regex: '^orders/(?<yyyy>\\d{4})/(?<mm>\\d{2})/(?<dd>\\d{2})/[^/]+\\.csv$',
    };
    doc.tables.push({
      name: 'visits',
      source: { pattern: 'visits/{yyyy}{mm}{dd}/*.parquet', timeZone: 'Asia/Kolkata' },
      format: 'PARQUET',
      autodetect: true,
      target: { dataset: 'lake_us', table: 'visits' },
      partitioning: { type: 'DAY', field: 'visit_date', fieldType: 'DATE' },
    });
    const config = load(stringify(doc));
    assert.deepEqual(config.state, { bucket: 'state-bucket', prefix: 'meta/tidemark/' });
    assert.deepEqual(config.audit, {
      schedule: '*/30 * * * *',
      timeZone: 'Asia/Seoul',
      lookbackMs: 72 * 3_600_000,
      settleMs: 90 * 60_000,
      auditFromMs: 31_557_600_000,
      maxBackfillsPerAudit: 50,
    });
    assert.deepEqual(config.topics, {
      audit: 'a-audit',
      backfill: 'tidemark-backfill',
      backfillDlq: 'a-dlq',
      auditResults: 'tidemark-audit-results',
      commit: 'a-commit',
    });
    const [events, orders, visits] = config.tables;
    assert.deepEqual(
      [events!.jobBudget, events!.jobBurst, events!.maxUrisPerLoad, events!.cadence],
      [1000, 50, 500, 'HOUR'],
    );
    assert.deepEqual([orders!.jobBudget, orders!.jobBurst], [100, 5]);
    assert.deepEqual([events!.onSourceDelete, events!.commit], ['keep', { mode: 'load', intervalMs: 60_000 }]);
    assert.deepEqual(events!.partitioning, { type: 'HOUR', field: 'event_time', fieldType: 'TIMESTAMP' });
    assert.deepEqual(events!.spec.partitioning, events!.partitioning);
    assert.deepEqual(events!.spec.labels, { team: 'data', 'cost-center': '42' });
    assert.equal(events!.spec.description, 'clickstream');
    assert.equal(orders!.source.regex, '^orders/(?<yyyy>\\d{4})/(?<mm>\\d{2})/(?<dd>\\d{2})/[^/]+\\.csv$');
    assert.equal(orders!.source.pattern, undefined);
    assert.deepEqual(visits!.partitioning, { type: 'DAY', field: 'visit_date', fieldType: 'DATE' });
    assert.equal(visits!.source.bucket, 'lake-seoul');
    assert.equal('deploy' in config, false);
  });

  it('an inline schema and a DATE column from the schema', () => {
    const doc = example();
    doc.tables[0].schema = [
      { name: 'd', type: 'DATE' },
      { name: 'v', type: 'STRING' },
    ];
    doc.tables[0].partitioning = { type: 'DAY', field: 'd' };
    const config = load(stringify(doc), {});
    assert.deepEqual(config.tables[0]!.partitioning, { type: 'DAY', field: 'd', fieldType: 'DATE' });
    assert.deepEqual(config.tables[0]!.spec.schema, [
      { name: 'd', type: 'DATE' },
      { name: 'v', type: 'STRING' },
    ]);
  });
});

describe('loadConfig finds the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-find-'));
  mkdirSync(join(dir, 'schemas'));
  writeFileSync(join(dir, 'schemas', 'events.json'), JSON.stringify(EVENTS_SCHEMA));
  for (const name of ['tidemark.config.yaml', 'other.yaml']) writeFileSync(join(dir, name), EXAMPLE);
  const cases: [string, Parameters<typeof loadConfig>[0], string][] = [
    ['default name in cwd', { cwd: dir }, join(dir, 'tidemark.config.yaml')],
    ['TIDEMARK_CONFIG', { cwd: dir, env: { TIDEMARK_CONFIG: 'other.yaml' } }, join(dir, 'other.yaml')],
    [
      'file wins over TIDEMARK_CONFIG',
      { cwd: '/', file: join(dir, 'other.yaml'), env: { TIDEMARK_CONFIG: 'nope.yaml' } },
      join(dir, 'other.yaml'),
    ],
    [
      'absolute TIDEMARK_CONFIG',
      { cwd: '/', env: { TIDEMARK_CONFIG: join(dir, 'other.yaml') } },
      join(dir, 'other.yaml'),
    ],
  ];
  for (const [name, options, file] of cases) it(name, () => assert.equal(loadConfig(options).file, file));

  it('a missing file is a ConfigError naming it', () => {
    const err = configError(() => loadConfig({ cwd: dir, file: 'missing.yaml' }));
    assert.equal(err.file, join(dir, 'missing.yaml'));
    assert.match(err.message, /missing\.yaml[\s\S]*cannot read the config file: ENOENT/);
  });
});

describe('invalid configs', () => {
  const cases: {
    name: string;
    edit?: (doc: Doc) => void;
    text?: string;
    files?: Record<string, string>;
    path: string;
    reason: RegExp;
  }[] = [
    // syntax and shape
    {
      name: 'YAML syntax',
      text: 'project: my-project\ntables: [a, b\nlocation: US\n',
      path: 'line 3, column 1',
      reason: /Flow sequence|indented|end with a \]/,
    },
    {
      name: 'duplicate YAML key',
      text: EXAMPLE + 'project: again\n',
      path: 'line 22, column 1',
      reason: /Map keys must be unique/,
    },
    { name: 'empty file', text: '', path: '', reason: /expected a mapping/ },
    { name: 'unknown top-level key', edit: (d) => (d.projcet = 'x'), path: 'projcet', reason: /unknown key/ },
    {
      name: 'unknown table key',
      edit: (d) => (d.tables[0].partition = { type: 'DAY' }),
      path: 'tables[0].partition',
      reason: /unknown key/,
    },
    {
      name: 'unknown nested key',
      edit: (d) => (d.tables[1].source.timezone = 'UTC'),
      path: 'tables[1].source.timezone',
      reason: /unknown key/,
    },
    { name: 'missing project', edit: (d) => delete d.project, path: 'project', reason: /required/ },
    { name: 'wrong type', edit: (d) => (d.location = 5), path: 'location', reason: /expected string, received number/ },
    {
      name: 'fractional budget',
      edit: (d) => (d.tables[0].jobBudget = 1.5),
      path: 'tables[0].jobBudget',
      reason: /whole number/,
    },
    {
      name: 'zero budget',
      edit: (d) => (d.defaults = { jobBudget: 0 }),
      path: 'defaults.jobBudget',
      reason: /at least 1/,
    },
    {
      name: 'burst above budget',
      edit: (d) => Object.assign(d.tables[0], { jobBudget: 10, jobBurst: 11 }),
      path: 'tables[0].jobBurst',
      reason: /jobBurst \(11\) is more than jobBudget \(10\)/,
    },
    {
      name: 'too many URIs',
      edit: (d) => (d.tables[0].maxUrisPerLoad = 20_000),
      path: 'tables[0].maxUrisPerLoad',
      reason: /at most 10000/,
    },
    {
      name: 'bad onSourceDelete',
      edit: (d) => (d.tables[0].onSourceDelete = 'drop'),
      path: 'tables[0].onSourceDelete',
      reason: /expected one of/,
    },
    {
      name: 'bad commit mode',
      edit: (d) => (d.defaults = { commit: { mode: 'merge' } }),
      path: 'defaults.commit.mode',
      reason: /expected one of/,
    },
    {
      name: 'commit interval below 10s',
      edit: (d) => (d.tables[0].commit = { mode: 'dml', interval: '5s' }),
      path: 'tables[0].commit.interval',
      reason: /at least 10s/,
    },
    {
      name: 'an unknown commit key',
      edit: (d) => (d.tables[0].commit = { mode: 'dml', every: '1m' }),
      path: 'tables[0].commit.every',
      reason: /unknown key/,
    },
    {
      name: 'dml without a schema',
      edit: (d) => (d.tables[1].commit = { mode: 'dml' }),
      path: 'tables[1].commit.mode',
      reason: /dml needs a schema/,
    },
    {
      name: 'bad format',
      edit: (d) => (d.tables[0].format = 'JSON'),
      path: 'tables[0].format',
      reason: /expected one of/,
    },
    {
      name: 'bad cadence',
      edit: (d) => (d.tables[0].cadence = 'WEEK'),
      path: 'tables[0].cadence',
      reason: /expected one of/,
    },
    { name: 'no tables', edit: (d) => (d.tables = []), path: 'tables', reason: /at least one table/ },
    {
      name: "jobBudget above BigQuery's limit",
      edit: (d) => (d.defaults = { jobBudget: 1501 }),
      path: 'defaults.jobBudget',
      reason: /at most 1500 \(BigQuery's hard limit/,
    },
    {
      name: "table jobBudget above BigQuery's limit",
      edit: (d) => (d.tables[0].jobBudget = 2000),
      path: 'tables[0].jobBudget',
      reason: /at most 1500/,
    },
    {
      name: 'jobBurst above jobBudget',
      edit: (d) => Object.assign(d.tables[0], { jobBudget: 10, jobBurst: 11 }),
      path: 'tables[0].jobBurst',
      reason: /jobBurst \(11\) is more than jobBudget \(10\)/,
    },
    // identifiers
    {
      name: 'bad project id',
      edit: (d) => (d.project = 'My_Project'),
      path: 'project',
      reason: /must be a project id/,
    },
    { name: 'short project id', edit: (d) => (d.project = 'abc'), path: 'project', reason: /must be a project id/ },
    {
      name: 'bad table name',
      edit: (d) => (d.tables[0].name = 'Events'),
      path: 'tables[0].name',
      reason: /lowercase letters/,
    },
    {
      name: 'long table name',
      edit: (d) => (d.tables[0].name = 'e'.repeat(41)),
      path: 'tables[0].name',
      reason: /1-40/,
    },
    {
      name: 'bad dataset',
      edit: (d) => (d.tables[0].target.dataset = 'lake-us'),
      path: 'tables[0].target.dataset',
      reason: /must be a dataset id/,
    },
    {
      name: 'table id with a dot',
      edit: (d) => (d.tables[0].target.table = 'events.x'),
      path: 'tables[0].target.table',
      reason: /must be a table id/,
    },
    {
      name: 'table id with a backquote',
      edit: (d) => (d.tables[0].target.table = 'e`; DROP TABLE x; --'),
      path: 'tables[0].target.table',
      reason: /must be a table id/,
    },
    {
      name: 'table id with a $',
      edit: (d) => (d.tables[0].target.table = 'events$2026'),
      path: 'tables[0].target.table',
      reason: /must be a table id/,
    },
    {
      name: 'table id over 1,024 UTF-8 bytes',
      edit: (d) => (d.tables[0].target.table = '주'.repeat(342)),
      path: 'tables[0].target.table',
      reason: /1,024 UTF-8 bytes/,
    },
    {
      name: 'empty table id',
      edit: (d) => (d.tables[0].target.table = ''),
      path: 'tables[0].target.table',
      reason: /must be a table id/,
    },
    {
      name: 'dataset id with unicode',
      edit: (d) => (d.tables[0].target.dataset = '주문'),
      path: 'tables[0].target.dataset',
      reason: /must be a dataset id/,
    },
    {
      name: 'dataset id over 1,024',
      edit: (d) => (d.tables[0].target.dataset = 'd'.repeat(1025)),
      path: 'tables[0].target.dataset',
      reason: /must be a dataset id/,
    },
    {
      name: "tidemark's reserved dataset",
      edit: (d) => (d.tables[0].target.dataset = '_tidemark'),
      path: 'tables[0].target.dataset',
      reason: /reserved for tidemark's own metadata/,
    },
    {
      name: 'bad target project',
      edit: (d) => (d.tables[0].target.project = 'Other_Project'),
      path: 'tables[0].target.project',
      reason: /must be a project id/,
    },
    {
      name: 'bucket with capitals',
      edit: (d) => (d.lake.bucket = 'Lake_Seoul'),
      path: 'lake.bucket',
      reason: /only lowercase letters/,
    },
    {
      name: 'bucket too short',
      edit: (d) => (d.tables[1].source.bucket = 'ab'),
      path: 'tables[1].source.bucket',
      reason: /3-63 characters/,
    },
    {
      name: 'bucket ending in -',
      edit: (d) => (d.tables[1].source.bucket = 'abc-'),
      path: 'tables[1].source.bucket',
      reason: /start and end/,
    },
    {
      name: 'default state bucket not a bucket name',
      edit: (d) => (d.project = 'google-lake'),
      path: 'state.bucket',
      reason: /default state bucket "google-lake-tidemark-state" must not start with "goog"; set state.bucket/,
    },
    { name: 'goog bucket', edit: (d) => (d.state = { bucket: 'google-x' }), path: 'state.bucket', reason: /goog/ },
    {
      name: 'bad topic',
      edit: (d) => (d.topics = { audit: 'goog-audit' }),
      path: 'topics.audit',
      reason: /Pub\/Sub topic id/,
    },
    {
      name: 'bad label key',
      edit: (d) => (d.tables[0].labels = { Team: 'x' }),
      path: 'tables[0].labels.Team',
      reason: /label keys/,
    },
    {
      name: 'bad label value',
      edit: (d) => (d.tables[0].labels = { team: 'Data Eng' }),
      path: 'tables[0].labels.team',
      reason: /label values/,
    },
    {
      name: 'reserved label',
      edit: (d) => (d.tables[0].labels = { tidemark_x: 'y' }),
      path: 'tables[0].labels.tidemark_x',
      reason: /reserved/,
    },
    {
      name: 'duplicate table names',
      edit: (d) => (d.tables[1].name = 'events'),
      path: 'tables[1].name',
      reason: /duplicate table name "events" \(also tables\[0\]\)/,
    },
    {
      name: 'same target',
      edit: (d) => (d.tables[1].target.table = 'events'),
      path: 'tables[1].target',
      reason: /"events" and "orders" both load lake_us\.events/,
    },
    // sources and tokens
    {
      name: 'pattern and regex',
      edit: (d) => (d.tables[1].source.regex = '^x'),
      path: 'tables[1].source.pattern',
      reason: /exactly one of pattern or regex/,
    },
    {
      name: 'neither pattern nor regex',
      edit: (d) => delete d.tables[1].source.pattern,
      path: 'tables[1].source.pattern',
      reason: /exactly one of pattern or regex/,
    },
    {
      name: 'missing {dd}',
      edit: (d) => (d.tables[1].source.pattern = 'orders/{yyyy}/{mm}/*.csv'),
      path: 'tables[1].source.pattern',
      reason: /missing \{dd\}: DAY partitions need \{yyyy\}, \{mm\}, \{dd\}/,
    },
    {
      name: 'HOUR without {hh}',
      edit: (d) => (d.tables[0].source.pattern = 'events/dt={yyyy}-{mm}-{dd}/*.json.gz'),
      path: 'tables[0].source.pattern',
      reason: /missing \{hh\}: HOUR partitions need/,
    },
    {
      name: 'regex without a group',
      edit: (d) => (d.tables[1].source = { bucket: 'other-lake', regex: '^orders/(?<yyyy>\\d{4})/(?<mm>\\d{2})/' }),
      path: 'tables[1].source.regex',
      reason: /missing \(\?<dd>\.\.\.\)/,
    },
    {
      name: 'regex month group of any width',
      edit: (d) => (d.tables[1].source = { regex: '^orders/(?<yyyy>\\d{4})/(?<mm>\\d+)/(?<dd>\\d{2})/' }),
      path: 'tables[1].source.regex',
      reason: /\(\?<mm>\\d\+\) can catch "123", but mm must be 1 or 2 digits; write \(\?<mm>\\d\{1,2\}\)/,
    },
    {
      name: 'regex day group catching anything',
      edit: (d) => (d.tables[1].source = { regex: '^orders/(?<yyyy>\\d{4})/(?<mm>\\d{2})/(?<dd>[^/]+)/' }),
      path: 'tables[1].source.regex',
      reason: /\(\?<dd>\[\^\/\]\+\) can catch "123"/,
    },
    {
      name: 'regex year of 2 digits',
      edit: (d) => (d.tables[1].source = { regex: '^orders/(?<yyyy>\\d{2,4})/(?<mm>\\d{2})/(?<dd>\\d{2})/' }),
      path: 'tables[1].source.regex',
      reason: /yyyy must be 4 digits/,
    },
    {
      name: 'regex that does not compile',
      edit: (d) => (d.tables[1].source = { regex: '^orders/(?<yyyy>\\d{4}' }),
      path: 'tables[1].source.regex',
      reason: /does not compile/,
    },
    {
      name: 'unsupported glob',
      edit: (d) => (d.tables[1].source.pattern = 'orders/{yyyy}/{mm}/{dd}/*.{csv,tsv}'),
      path: 'tables[1].source.pattern',
      reason: /unknown token at column 27/,
    },
    {
      name: 'overlapping tables',
      edit: (d) =>
        d.tables.push({
          name: 'everything',
          source: { pattern: 'events/dt={yyyy}-{mm}-{dd}/**' },
          format: 'CSV',
          autodetect: true,
          target: { dataset: 'lake_us', table: 'everything' },
          partitioning: { type: 'DAY' },
        }),
      path: 'tables[2].source',
      reason: /tables "events" and "everything" both claim objects of gs:\/\/lake-seoul, e\.g\. "events\/dt=/,
    },
    {
      name: 'state prefix claimed by a table',
      edit: (d) => (
        (d.state = { bucket: 'lake-seoul' }),
        (d.tables[0].source.pattern = '*/dt={yyyy}-{mm}-{dd}/hr={hh}/*.json.gz')
      ),
      path: 'state.prefix',
      reason: /table "events" claims objects under the state prefix gs:\/\/lake-seoul\/_tidemark\//,
    },
    {
      name: 'state prefix without a slash',
      edit: (d) => (d.state = { prefix: '_tidemark' }),
      path: 'state.prefix',
      reason: /must end with "\/"/,
    },
    {
      name: 'state prefix climbing out',
      edit: (d) => (d.state = { prefix: '../../x/' }),
      path: 'state.prefix',
      reason: /"\." or "\.\." segments/,
    },
    {
      name: 'state prefix with .. inside',
      edit: (d) => (d.state = { prefix: 'a/../b/' }),
      path: 'state.prefix',
      reason: /"\." or "\.\." segments/,
    },
    {
      name: 'state prefix with a . segment',
      edit: (d) => (d.state = { prefix: './state/' }),
      path: 'state.prefix',
      reason: /"\." or "\.\." segments/,
    },
    {
      name: 'state prefix from the root',
      edit: (d) => (d.state = { prefix: '/state/' }),
      path: 'state.prefix',
      reason: /must not start with "\/"/,
    },
    {
      name: 'state prefix with a backslash',
      edit: (d) => (d.state = { prefix: 'a\\b/' }),
      path: 'state.prefix',
      reason: /backslash/,
    },
    {
      name: 'state prefix with //',
      edit: (d) => (d.state = { prefix: 'a//b/' }),
      path: 'state.prefix',
      reason: /empty segment/,
    },
    {
      name: 'state prefix with unsafe characters',
      edit: (d) => (d.state = { prefix: 'st#ate?/' }),
      path: 'state.prefix',
      reason: /only letters, digits/,
    },
    {
      name: 'state prefix with a newline',
      edit: (d) => (d.state = { prefix: 'st\nate/' }),
      path: 'state.prefix',
      reason: /only letters, digits/,
    },
    // time zones
    {
      name: 'unknown zone',
      edit: (d) => (d.tables[0].source.timeZone = 'Asia/Seol'),
      path: 'tables[0].source.timeZone',
      reason: /unknown time zone "Asia\/Seol"/,
    },
    {
      name: 'offset instead of a zone',
      edit: (d) => (d.tables[0].source.timeZone = '+09:00'),
      path: 'tables[0].source.timeZone',
      reason: /unknown time zone/,
    },
    {
      name: 'Kolkata with HOUR',
      edit: (d) => (d.tables[0].source.timeZone = 'Asia/Kolkata'),
      path: 'tables[0].source.timeZone',
      reason: /UTC\+05:30, not a whole number of hours/,
    },
    {
      name: 'Adelaide with HOUR',
      edit: (d) => (d.tables[0].source.timeZone = 'Australia/Adelaide'),
      path: 'tables[0].source.timeZone',
      reason: /not a whole number of hours/,
    },
    {
      name: 'DAY on ingestion time, Seoul, no {hh}',
      edit: (d) => (d.tables[1].source.timeZone = 'Asia/Seoul'),
      path: 'tables[1].source.timeZone',
      reason:
        /a local day spans two UTC day partitions; add \{hh\} to the pattern, use a DATE column, or set timeZone: UTC/,
    },
    {
      name: 'DAY on a TIMESTAMP column, Seoul, no {hh}',
      edit: (d) =>
        Object.assign(d.tables[0], {
          source: { pattern: 'events/dt={yyyy}-{mm}-{dd}/*.json.gz', timeZone: 'Asia/Seoul' },
          partitioning: { type: 'DAY', field: 'event_time' },
        }),
      path: 'tables[0].source.timeZone',
      reason: /spans two UTC day partitions/,
    },
    {
      name: 'audit zone',
      edit: (d) => (d.audit = { timeZone: 'Nowhere/City' }),
      path: 'audit.timeZone',
      reason: /unknown time zone/,
    },
    // schema and partitioning
    {
      name: 'missing schema file',
      files: {},
      path: 'tables[0].schema',
      reason: /schemas\/events\.json \(\/cfg\/schemas\/events\.json\) cannot be read: ENOENT/,
    },
    {
      name: 'schema file not JSON',
      files: { '/cfg/schemas/events.json': '[{name: x}]' },
      path: 'tables[0].schema',
      reason: /is not JSON/,
    },
    {
      name: 'schema file not a field list',
      files: { '/cfg/schemas/events.json': '{"columns": []}' },
      path: 'tables[0].schema',
      reason: /expected a JSON array of fields/,
    },
    {
      name: 'schema file with a bad type',
      files: { '/cfg/schemas/events.json': '[{"name":"a","type":"STRING"},{"name":"b","type":"TEXT"}]' },
      path: 'tables[0].schema',
      reason: /schemas\/events\.json at \[1\]\.type: unknown type "TEXT"/,
    },
    {
      name: 'schema file with a RECORD without fields',
      files: { '/cfg/schemas/events.json': '[{"name":"a","type":"RECORD"}]' },
      path: 'tables[0].schema',
      reason: /a RECORD needs fields/,
    },
    {
      name: 'schema file with duplicate columns',
      files: { '/cfg/schemas/events.json': '[{"name":"a","type":"STRING"},{"name":"A","type":"STRING"}]' },
      path: 'tables[0].schema',
      reason: /duplicate column "A"/,
    },
    {
      name: 'inline schema field without a type',
      edit: (d) => (d.tables[0].schema = [{ name: 'id' }]),
      path: 'tables[0].schema[0].type',
      reason: /required|unknown type/,
    },
    {
      name: 'schema and autodetect',
      edit: (d) => (d.tables[0].autodetect = true),
      path: 'tables[0].autodetect',
      reason: /either schema or autodetect: true, not both/,
    },
    {
      name: 'neither schema nor autodetect',
      edit: (d) => delete d.tables[1].autodetect,
      path: 'tables[1].schema',
      reason: /give a schema .* or autodetect: true/,
    },
    {
      name: 'autodetect false and no schema',
      edit: (d) => (d.tables[1].autodetect = false),
      path: 'tables[1].schema',
      reason: /give a schema/,
    },
    {
      name: 'partition column not in the schema',
      edit: (d) => (d.tables[0].partitioning = { type: 'DAY', field: 'nope' }),
      path: 'tables[0].partitioning.field',
      reason: /no top-level column "nope"/,
    },
    {
      name: 'partition column of the wrong type',
      edit: (d) => (d.tables[0].partitioning = { type: 'HOUR', field: 'event_id' }),
      path: 'tables[0].partitioning.field',
      reason: /event_id is STRING; partition columns are DATE, TIMESTAMP or DATETIME/,
    },
    {
      name: 'HOUR on a DATE column',
      edit: (d) => (d.tables[0].partitioning = { type: 'HOUR', field: 'event_date' }),
      path: 'tables[0].partitioning.type',
      reason: /HOUR partitions need a TIMESTAMP or DATETIME column; event_date is DATE/,
    },
    {
      name: 'fieldType disagreeing with the schema',
      edit: (d) => (d.tables[0].partitioning = { type: 'HOUR', field: 'event_time', fieldType: 'DATETIME' }),
      path: 'tables[0].partitioning.fieldType',
      reason: /the schema says event_time is TIMESTAMP/,
    },
    {
      name: 'autodetect and a field without fieldType',
      edit: (d) => (d.tables[1].partitioning = { type: 'DAY', field: 'order_date' }),
      path: 'tables[1].partitioning.fieldType',
      reason: /with autodetect, say what order_date is/,
    },
    {
      name: 'fieldType without field',
      edit: (d) => (d.tables[1].partitioning = { type: 'DAY', fieldType: 'DATE' }),
      path: 'tables[1].partitioning.fieldType',
      reason: /fieldType needs field/,
    },
    {
      name: 'csv options on PARQUET',
      edit: (d) => (d.tables[1].format = 'PARQUET'),
      path: 'tables[1].csv',
      reason: /csv options apply only to format: CSV, not PARQUET/,
    },
    {
      name: 'unknown csv option',
      edit: (d) => (d.tables[1].csv.delimiter = ';'),
      path: 'tables[1].csv.delimiter',
      reason: /unknown key/,
    },
    // audit
    {
      name: 'cron with 4 fields',
      edit: (d) => (d.audit = { schedule: '15 * * *' }),
      path: 'audit.schedule',
      reason: /has 4 fields; use 5/,
    },
    {
      name: 'cron with seconds',
      edit: (d) => (d.audit = { schedule: '0 15 * * * *' }),
      path: 'audit.schedule',
      reason: /has 6 fields/,
    },
    {
      name: 'cron out of range',
      edit: (d) => (d.audit = { schedule: '61 * * * *' }),
      path: 'audit.schedule',
      reason: /minute: 61/,
    },
    {
      name: 'bad duration',
      edit: (d) => (d.audit = { lookback: 'soon' }),
      path: 'audit.lookback',
      reason: /"soon" is not a positive duration/,
    },
    {
      name: 'duration without a unit',
      edit: (d) => (d.audit = { settle: '3600' }),
      path: 'audit.settle',
      reason: /not a positive duration/,
    },
    {
      name: 'negative duration',
      edit: (d) => (d.audit = { auditFrom: '-1d' }),
      path: 'audit.auditFrom',
      reason: /not a positive duration/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const text = c.text ?? (c.edit ? (() => ((d) => (c.edit!(d), stringify(d)))(example()))() : EXAMPLE);
      const err = configError(() => load(text, c.files ?? FILES));
      assert.equal(err.file, FILE);
      const issue = err.issues.find((i) => i.path === c.path);
      assert.ok(issue, `an issue at ${JSON.stringify(c.path)} in ${JSON.stringify(err.issues)}`);
      assert.match(issue.message, c.reason);
      // The message names the file, the key path and the reason.
      assert.ok(err.message.includes(FILE));
      assert.ok(err.message.includes(`${c.path || '(root)'}: ${issue.message}`));
    });
  }

  it('collects every problem, not just the first, with line numbers', () => {
    const doc = example();
    doc.projcet = 'x';
    doc.tables[0].source.timeZone = 'Asia/Seol';
    doc.tables[1].source.pattern = 'orders/{yyyy}/*.csv';
    doc.tables[1].format = 'AVRO';
    const err = configError(() => load(stringify(doc)));
    assert.deepEqual(err.issues.map((i) => i.path).sort(), [
      'projcet',
      'tables[0].source.timeZone',
      'tables[1].csv',
      'tables[1].source.pattern',
    ]);
    assert.ok(
      err.issues.every((i) => /\(line \d+\)$/.test(i.message)),
      JSON.stringify(err.issues),
    );
  });

  it('points at the line of the offending key', () => {
    const err = configError(() => load(EXAMPLE.replace('format: CSV', 'format: TSV')));
    assert.deepEqual(err.issues, [
      {
        path: 'tables[1].format',
        message: 'Invalid option: expected one of "CSV"|"NEWLINE_DELIMITED_JSON"|"PARQUET"|"AVRO"|"ORC" (line 17)',
      },
    ]);
  });
});
