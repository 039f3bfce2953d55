/**
 * BigQueryWarehouse at the HTTP boundary: the real @google-cloud/bigquery client talks to a local
 * server that records each request and answers like the BigQuery v2 REST API. Auth is an
 * in-memory client with a fixed token, so nothing leaves 127.0.0.1.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { BigQuery } from '@google-cloud/bigquery';
import type { BigQueryOptions } from '@google-cloud/bigquery';
import { BigQueryWarehouse, partitionPredicate } from '../../../../shared/backends/gcp/bigquery-warehouse.ts';
import {
  BackendUnavailableError,
  LoadFailedError,
  PreconditionFailedError,
  UnsafeIdentifierError,
} from '../../../../shared/core/errors.ts';
import type { JobSpec, Partitioning, TableSpec } from '../../../../shared/core/ports.ts';

const PROJECT = 'tidemark-test';
const BASE = `/bigquery/v2/projects/${PROJECT}`;

interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: any;
}

interface Reply {
  status?: number;
  body?: unknown;
}

/** A local stand-in for bigquery.googleapis.com: records requests, answers from `handle`. */
class FakeBigQuery {
  readonly requests: Recorded[] = [];
  handle: (req: Recorded) => Reply = () => ({ status: 500, body: { error: { code: 500, message: 'no handler' } } });
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const text = Buffer.concat(chunks).toString('utf8');
      const recorded: Recorded = {
        method: req.method ?? 'GET',
        path: decodeURIComponent(url.pathname),
        query: url.searchParams,
        headers: req.headers,
        body: text ? JSON.parse(text) : undefined,
      };
      this.requests.push(recorded);
      const reply = this.handle(recorded);
      res.writeHead(reply.status ?? 200, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  reset(): void {
    this.requests.length = 0;
  }

  /** Answers with `replies` in order, the last one repeating. */
  script(...replies: Reply[]): void {
    this.handle = () => (replies.length > 1 ? replies.shift()! : replies[0]!);
  }
}

/** The error body Google APIs send, which the client turns into an ApiError. */
function apiError(code: number, reason: string, message: string): Reply {
  return { status: code, body: { error: { code, message, errors: [{ domain: 'global', reason, message }] } } };
}

function jobResource(jobId: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: 'bigquery#job',
    id: `${PROJECT}:US.${jobId}`,
    jobReference: { projectId: PROJECT, jobId, location: 'US' },
    configuration: { labels: { tidemark_kind: 'load' } },
    status: { state: 'RUNNING' },
    ...overrides,
  };
}

/** Echoes a jobs.insert body back as the created job, like the API does. */
function echoJob(req: Recorded): Reply {
  return { body: { ...req.body, id: `${PROJECT}:US.${req.body.jobReference.jobId}`, status: { state: 'RUNNING' } } };
}

const hourly: Partitioning = { type: 'HOUR', field: 'event_time', fieldType: 'TIMESTAMP' };

function tableSpec(overrides: Partial<TableSpec> = {}): TableSpec {
  return {
    ref: { dataset: 'lake', table: 'events' },
    partitioning: hourly,
    format: 'CSV',
    schema: [
      { name: 'event_time', type: 'TIMESTAMP', mode: 'REQUIRED' },
      { name: 'user_id', type: 'STRING' },
    ],
    autodetect: false,
    ...overrides,
  };
}

const labels = { tidemark_kind: 'load', tidemark_table: 'events', tidemark_partition: '2024010113' };

function loadSpec(overrides: Partial<Extract<JobSpec, { kind: 'load' }>> = {}): Extract<JobSpec, { kind: 'load' }> {
  return {
    kind: 'load',
    jobId: 'tidemark_events_2024010113_a1b2c3',
    table: tableSpec(),
    destination: { dataset: 'lake', table: 'events' },
    partition: '2024010113',
    sourceUris: ['gs://lake/events/dt=2024-01-01/hr=13/a.csv', 'gs://lake/events/dt=2024-01-01/hr=13/b.csv'],
    writeDisposition: 'WRITE_TRUNCATE',
    labels,
    ...overrides,
  };
}

describe('BigQueryWarehouse over the REST API', () => {
  const fake = new FakeBigQuery();
  const sleeps: number[] = [];
  let warehouse: BigQueryWarehouse;

  before(async () => {
    const apiEndpoint = await fake.start();
    // A fixed token: google-auth-library never looks for credentials or the metadata server.
    const authClient = { getRequestHeaders: async () => new Headers({ authorization: 'Bearer test-token' }) };
    const bigquery = new BigQuery({
      projectId: PROJECT,
      apiEndpoint,
      authClient: authClient as unknown as BigQueryOptions['authClient'],
    });
    warehouse = new BigQueryWarehouse({
      bigquery,
      project: PROJECT,
      location: 'US',
      sleep: async (ms) => void sleeps.push(ms),
      pollMs: 5,
    });
  });
  after(() => fake.close());
  beforeEach(() => {
    fake.reset();
    sleeps.length = 0;
  });

  describe('insertJob', () => {
    it('sends a load job with the caller id, location, decorator, format options and labels', async () => {
      fake.handle = echoJob;
      const spec = loadSpec({
        table: tableSpec({
          csv: {
            skipLeadingRows: 1,
            fieldDelimiter: ';',
            quote: "'",
            allowJaggedRows: true,
            allowQuotedNewlines: true,
            encoding: 'ISO-8859-1',
            nullMarker: '\\N',
          },
        }),
      });
      const result = await warehouse.insertJob(spec);

      assert.equal(fake.requests.length, 1);
      const req = fake.requests[0]!;
      assert.equal(req.method, 'POST');
      assert.equal(req.path, `${BASE}/jobs`);
      assert.equal(req.headers.authorization, 'Bearer test-token');
      assert.deepEqual(req.body, {
        jobReference: { projectId: PROJECT, jobId: 'tidemark_events_2024010113_a1b2c3', location: 'US' },
        configuration: {
          labels,
          load: {
            sourceUris: spec.sourceUris,
            sourceFormat: 'CSV',
            destinationTable: { projectId: PROJECT, datasetId: 'lake', tableId: 'events$2024010113' },
            writeDisposition: 'WRITE_TRUNCATE',
            createDisposition: 'CREATE_IF_NEEDED',
            timePartitioning: { type: 'HOUR', field: 'event_time' },
            schema: { fields: spec.table.schema },
            skipLeadingRows: 1,
            fieldDelimiter: ';',
            quote: "'",
            allowJaggedRows: true,
            allowQuotedNewlines: true,
            encoding: 'ISO-8859-1',
            nullMarker: '\\N',
          },
        },
      });
      assert.equal(result.created, true);
      assert.equal(result.status.jobId, spec.jobId);
      assert.equal(result.status.state, 'RUNNING');
      assert.equal(result.status.kind, 'load');
      assert.deepEqual(result.status.labels, labels);
    });

    const formats: {
      name: string;
      spec: Extract<JobSpec, { kind: 'load' }>;
      expect: Record<string, unknown>;
      absent: string[];
    }[] = [
      {
        name: 'NEWLINE_DELIMITED_JSON with autodetect, daily ingestion-time',
        spec: loadSpec({
          table: tableSpec({
            format: 'NEWLINE_DELIMITED_JSON',
            schema: undefined,
            autodetect: true,
            partitioning: { type: 'DAY' },
          }),
          partition: '20240101',
          writeDisposition: 'WRITE_APPEND',
        }),
        expect: {
          sourceFormat: 'NEWLINE_DELIMITED_JSON',
          autodetect: true,
          timePartitioning: { type: 'DAY' },
          writeDisposition: 'WRITE_APPEND',
          destinationTable: { projectId: PROJECT, datasetId: 'lake', tableId: 'events$20240101' },
        },
        absent: ['schema', 'skipLeadingRows', 'useAvroLogicalTypes'],
      },
      {
        name: 'PARQUET into a staging table without decorator',
        spec: loadSpec({
          table: tableSpec({ format: 'PARQUET', schema: undefined, csv: { skipLeadingRows: 1 } }),
          destination: { dataset: 'lake', table: 'events__tidemark_stage_2024010113_ab-12' },
          partition: null,
        }),
        expect: {
          sourceFormat: 'PARQUET',
          destinationTable: {
            projectId: PROJECT,
            datasetId: 'lake',
            tableId: 'events__tidemark_stage_2024010113_ab-12',
          },
        },
        absent: ['schema', 'autodetect', 'skipLeadingRows', 'useAvroLogicalTypes'],
      },
      {
        name: 'AVRO uses logical types',
        spec: loadSpec({ table: tableSpec({ format: 'AVRO', schema: undefined }) }),
        expect: { sourceFormat: 'AVRO', useAvroLogicalTypes: true },
        absent: ['schema', 'autodetect'],
      },
      {
        name: 'ORC',
        spec: loadSpec({ table: tableSpec({ format: 'ORC' }) }),
        expect: { sourceFormat: 'ORC', schema: { fields: tableSpec().schema } },
        absent: ['useAvroLogicalTypes', 'autodetect'],
      },
    ];
    for (const f of formats) {
      it(`load: ${f.name}`, async () => {
        fake.handle = echoJob;
        await warehouse.insertJob(f.spec);
        const load = fake.requests[0]!.body.configuration.load;
        for (const [key, value] of Object.entries(f.expect)) assert.deepEqual(load[key], value, key);
        for (const key of f.absent) assert.equal(key in load, false, `${key} should be absent`);
      });
    }

    it('sends a copy job into the decorated destination partition', async () => {
      fake.handle = echoJob;
      await warehouse.insertJob({
        kind: 'copy',
        jobId: 'tidemark_events_copy_1',
        source: { dataset: 'lake', table: 'events__stage' },
        destination: { dataset: 'lake', table: 'events' },
        partition: '2024010113',
        writeDisposition: 'WRITE_TRUNCATE',
        labels: { tidemark_kind: 'copy' },
      });
      assert.deepEqual(fake.requests[0]!.body.configuration, {
        labels: { tidemark_kind: 'copy' },
        copy: {
          sourceTable: { projectId: PROJECT, datasetId: 'lake', tableId: 'events__stage' },
          destinationTable: { projectId: PROJECT, datasetId: 'lake', tableId: 'events$2024010113' },
          writeDisposition: 'WRITE_TRUNCATE',
        },
      });
    });

    it('sends a truncate as a standard-SQL DELETE of one partition', async () => {
      fake.handle = echoJob;
      await warehouse.insertJob({
        kind: 'truncate',
        jobId: 'tidemark_trunc_1',
        table: tableSpec(),
        partition: '2024010113',
        labels: { tidemark_kind: 'truncate' },
      });
      assert.deepEqual(fake.requests[0]!.body.configuration, {
        labels: { tidemark_kind: 'truncate' },
        query: {
          query:
            "DELETE FROM `tidemark-test`.`lake`.`events` WHERE TIMESTAMP_TRUNC(`event_time`, HOUR) = TIMESTAMP('2024-01-01 13:00:00')",
          useLegacySql: false,
        },
      });
    });

    // BigQuery names as BigQuery allows them: sent as they are in references, backquoted in SQL.
    const names: { ref: { project?: string; dataset: string; table: string }; sql: string }[] = [
      { ref: { dataset: 'lake', table: 'nyc-311' }, sql: '`tidemark-test`.`lake`.`nyc-311`' },
      { ref: { dataset: '2021_sales', table: '2021_orders' }, sql: '`tidemark-test`.`2021_sales`.`2021_orders`' },
      { ref: { dataset: 'lake', table: '주문' }, sql: '`tidemark-test`.`lake`.`주문`' },
      { ref: { dataset: 'lake', table: 'table 01' }, sql: '`tidemark-test`.`lake`.`table 01`' },
      {
        ref: { project: 'other-project', dataset: 'shared', table: 'events' },
        sql: '`other-project`.`shared`.`events`',
      },
    ];
    for (const { ref, sql } of names) {
      it(`loads and truncates ${ref.project ? `${ref.project}:` : ''}${ref.dataset}.${ref.table} with the right reference and quoted SQL`, async () => {
        fake.handle = echoJob;
        const table = tableSpec({ ref });
        await warehouse.insertJob(loadSpec({ table, destination: ref }));
        const load = fake.requests[0]!;
        assert.equal(load.path, `${BASE}/jobs`); // jobs always run in the configured project
        assert.deepEqual(load.body.jobReference.projectId, PROJECT);
        assert.deepEqual(load.body.configuration.load.destinationTable, {
          projectId: ref.project ?? PROJECT,
          datasetId: ref.dataset,
          tableId: `${ref.table}$2024010113`,
        });
        await warehouse.insertJob({ kind: 'truncate', jobId: 'j2', table, partition: '2024010113', labels: {} });
        assert.equal(
          fake.requests[1]!.body.configuration.query.query,
          `DELETE FROM ${sql} WHERE TIMESTAMP_TRUNC(\`event_time\`, HOUR) = TIMESTAMP('2024-01-01 13:00:00')`,
        );
      });
    }

    it('sends a noop as SELECT 1 carrying its labels', async () => {
      fake.handle = echoJob;
      const result = await warehouse.insertJob({
        kind: 'noop',
        jobId: 'tidemark_fence_1',
        labels: { tidemark_kind: 'noop' },
      });
      assert.deepEqual(fake.requests[0]!.body.configuration, {
        labels: { tidemark_kind: 'noop' },
        query: { query: 'SELECT 1', useLegacySql: false },
      });
      assert.equal(result.status.kind, 'noop');
    });

    const unsafe: { name: string; spec: JobSpec }[] = [
      {
        name: 'dataset with a dash in SQL',
        spec: {
          kind: 'truncate',
          jobId: 'j1',
          table: tableSpec({ ref: { dataset: 'la-ke', table: 'events' } }),
          partition: '2024010113',
          labels: {},
        },
      },
      {
        name: 'table with a dot',
        spec: {
          kind: 'truncate',
          jobId: 'j1',
          table: tableSpec({ ref: { dataset: 'lake', table: 'a.b' } }),
          partition: '2024010113',
          labels: {},
        },
      },
      {
        name: 'table with a backslash',
        spec: {
          kind: 'truncate',
          jobId: 'j1',
          table: tableSpec({ ref: { dataset: 'lake', table: 'a\\`b' } }),
          partition: '2024010113',
          labels: {},
        },
      },
      {
        name: 'load into a table with a $',
        spec: loadSpec({ destination: { dataset: 'lake', table: 'events$2024' } }),
      },
      {
        name: 'table with a backquote',
        spec: {
          kind: 'truncate',
          jobId: 'j1',
          table: tableSpec({ ref: { dataset: 'lake', table: 'e`; DROP TABLE x; --' } }),
          partition: '2024010113',
          labels: {},
        },
      },
      {
        name: 'partitioning field with a space',
        spec: {
          kind: 'truncate',
          jobId: 'j1',
          table: tableSpec({ partitioning: { type: 'HOUR', field: 'event time' } }),
          partition: '2024010113',
          labels: {},
        },
      },
      {
        name: 'daily partition for an hourly table',
        spec: { kind: 'truncate', jobId: 'j1', table: tableSpec(), partition: '20240101', labels: {} },
      },
      {
        name: 'partition that is not a date',
        spec: { kind: 'truncate', jobId: 'j1', table: tableSpec(), partition: '2024133113', labels: {} },
      },
      { name: 'decorator with SQL in it', spec: loadSpec({ partition: "2024' OR 1=1" }) },
      { name: 'daily decorator on an hourly load', spec: loadSpec({ partition: '20240101' }) },
      { name: 'job id with a slash', spec: loadSpec({ jobId: 'a/b' }) },
    ];
    for (const u of unsafe) {
      it(`refuses ${u.name} before any request`, async () => {
        fake.handle = echoJob;
        await assert.rejects(warehouse.insertJob(u.spec), UnsafeIdentifierError);
        assert.equal(fake.requests.length, 0);
      });
    }

    it('adopts the existing job on 409 (duplicate id) after a jobs.get, without throwing', async () => {
      const existing = jobResource('tidemark_fence_1', {
        configuration: { labels: { tidemark_kind: 'noop' }, query: { query: 'SELECT 1' } },
        status: { state: 'DONE' },
      });
      fake.handle = (req) =>
        req.method === 'POST'
          ? apiError(409, 'duplicate', `Already Exists: Job ${PROJECT}:US.tidemark_fence_1`)
          : { body: existing };
      const result = await warehouse.insertJob(loadSpec({ jobId: 'tidemark_fence_1' }));
      assert.equal(result.created, false);
      assert.equal(result.status.kind, 'noop');
      assert.equal(result.status.state, 'DONE');
      assert.deepEqual(
        fake.requests.map((r) => `${r.method} ${r.path}?location=${r.query.get('location')}`),
        [`POST ${BASE}/jobs?location=null`, `GET ${BASE}/jobs/tidemark_fence_1?location=US`],
      );
    });

    it('retries 429, 503 and 500 on insert, then succeeds (the client does not retry on its own)', async () => {
      const replies = [
        apiError(429, 'rateLimitExceeded', 'Too many requests'),
        apiError(503, 'backendError', 'Unavailable'),
        apiError(500, 'internalError', 'Internal'),
      ];
      fake.handle = (req) => replies.shift() ?? echoJob(req);
      const result = await warehouse.insertJob(loadSpec());
      assert.equal(result.created, true);
      assert.equal(fake.requests.length, 4);
      assert.equal(sleeps.length, 3);
      for (const r of fake.requests) assert.equal(r.body.jobReference.jobId, 'tidemark_events_2024010113_a1b2c3');
    });

    it('treats a 409 after a retried insert as our own job (created: false)', async () => {
      const replies = [apiError(503, 'backendError', 'Unavailable'), apiError(409, 'duplicate', 'Already Exists')];
      fake.handle = (req) => replies.shift() ?? { body: jobResource(req.path.split('/').pop()!) };
      const result = await warehouse.insertJob(loadSpec());
      assert.equal(result.created, false);
      assert.equal(result.status.kind, 'load');
      assert.deepEqual(
        fake.requests.map((r) => r.method),
        ['POST', 'POST', 'GET'],
      );
    });

    it('gives up with BackendUnavailableError after 6 attempts of 503', async () => {
      fake.script(apiError(503, 'backendError', 'Service Unavailable'));
      await assert.rejects(warehouse.insertJob(loadSpec()), (err: unknown) => {
        assert.ok(err instanceof BackendUnavailableError);
        assert.match(err.message, /jobs\.insert tidemark_events_2024010113_a1b2c3 failed after 6 attempts/);
        return true;
      });
      assert.equal(fake.requests.length, 6);
    });

    it('does not retry a 400 and hands the API error back', async () => {
      fake.script(apiError(400, 'invalid', 'Invalid value for sourceFormat'));
      await assert.rejects(warehouse.insertJob(loadSpec()), (err: unknown) => {
        assert.equal((err as { code?: number }).code, 400);
        assert.match((err as Error).message, /Invalid value for sourceFormat/);
        return true;
      });
      assert.equal(fake.requests.length, 1);
    });
  });

  describe('commit jobs', () => {
    type CommitJob = Extract<JobSpec, { kind: 'commit' }>;
    const STAGE = { dataset: 'lake', table: 'events__tidemark_commit_1' };
    const T = '`tidemark-test`.`lake`.`events`';
    const S = '`tidemark-test`.`lake`.`events__tidemark_commit_1`';
    function commitSpec(overrides: Partial<CommitJob> = {}): CommitJob {
      return {
        kind: 'commit',
        jobId: 'tidemark_events_commit_1',
        table: tableSpec(),
        stage: STAGE,
        replace: ['2024010113'],
        insert: ['2024010113'],
        labels: { tidemark_kind: 'commit', tidemark_table: 'events' },
        ...overrides,
      };
    }

    const scripts: { name: string; spec: CommitJob; sql: string[] }[] = [
      {
        name: 'HOUR ingestion-time: _PARTITIONTIME equalities, carried over from the stage',
        spec: commitSpec({
          table: tableSpec({ partitioning: { type: 'HOUR' } }),
          replace: ['2024010113', '2024010114', '2024010113'],
          insert: ['2024010114'],
        }),
        sql: [
          'BEGIN TRANSACTION;',
          `DELETE FROM ${T} WHERE (_PARTITIONTIME = TIMESTAMP('2024-01-01 13:00:00') OR _PARTITIONTIME = TIMESTAMP('2024-01-01 14:00:00'));`,
          `INSERT INTO ${T} (_PARTITIONTIME, \`event_time\`, \`user_id\`) SELECT _PARTITIONTIME, \`event_time\`, \`user_id\` FROM ${S} WHERE _PARTITIONTIME = TIMESTAMP('2024-01-01 14:00:00');`,
          'COMMIT TRANSACTION;',
        ],
      },
      {
        name: 'DAY DATE column: half-open date ranges, across a year end',
        spec: commitSpec({
          table: tableSpec({
            partitioning: { type: 'DAY', field: 'dt', fieldType: 'DATE' },
            schema: [
              { name: 'dt', type: 'DATE' },
              { name: 'n', type: 'INTEGER' },
            ],
          }),
          replace: ['20241231', '20250101'],
          insert: ['20250101'],
        }),
        sql: [
          'BEGIN TRANSACTION;',
          `DELETE FROM ${T} WHERE ((\`dt\` >= DATE '2024-12-31' AND \`dt\` < DATE '2025-01-01') OR (\`dt\` >= DATE '2025-01-01' AND \`dt\` < DATE '2025-01-02'));`,
          `INSERT INTO ${T} (\`dt\`, \`n\`) SELECT \`dt\`, \`n\` FROM ${S} WHERE (\`dt\` >= DATE '2025-01-01' AND \`dt\` < DATE '2025-01-02');`,
          'COMMIT TRANSACTION;',
        ],
      },
      {
        name: 'HOUR TIMESTAMP column: half-open hour ranges, the last hour of a leap day',
        spec: commitSpec({ replace: ['2024022923'], insert: ['2024022923', '2024030100'] }),
        sql: [
          'BEGIN TRANSACTION;',
          `DELETE FROM ${T} WHERE (\`event_time\` >= TIMESTAMP('2024-02-29 23:00:00') AND \`event_time\` < TIMESTAMP('2024-03-01 00:00:00'));`,
          `INSERT INTO ${T} (\`event_time\`, \`user_id\`) SELECT \`event_time\`, \`user_id\` FROM ${S} WHERE ((\`event_time\` >= TIMESTAMP('2024-02-29 23:00:00') AND \`event_time\` < TIMESTAMP('2024-03-01 00:00:00')) OR (\`event_time\` >= TIMESTAMP('2024-03-01 00:00:00') AND \`event_time\` < TIMESTAMP('2024-03-01 01:00:00')));`,
          'COMMIT TRANSACTION;',
        ],
      },
      {
        name: 'DAY DATETIME column in another project',
        spec: commitSpec({
          table: tableSpec({
            ref: { project: 'other-project', dataset: 'shared', table: 'events' },
            partitioning: { type: 'DAY', field: 'event_time', fieldType: 'DATETIME' },
          }),
          stage: { project: 'other-project', dataset: 'shared', table: 'events__stage' },
          replace: [],
          insert: ['20240101'],
        }),
        sql: [
          'BEGIN TRANSACTION;',
          "INSERT INTO `other-project`.`shared`.`events` (`event_time`, `user_id`) SELECT `event_time`, `user_id` FROM `other-project`.`shared`.`events__stage` WHERE (`event_time` >= DATETIME '2024-01-01 00:00:00' AND `event_time` < DATETIME '2024-01-02 00:00:00');",
          'COMMIT TRANSACTION;',
        ],
      },
      {
        name: 'empty insert: only the DELETE (partitions emptied)',
        spec: commitSpec({ insert: [] }),
        sql: [
          'BEGIN TRANSACTION;',
          `DELETE FROM ${T} WHERE (\`event_time\` >= TIMESTAMP('2024-01-01 13:00:00') AND \`event_time\` < TIMESTAMP('2024-01-01 14:00:00'));`,
          'COMMIT TRANSACTION;',
        ],
      },
      {
        name: 'empty replace: only the INSERT (new partitions)',
        spec: commitSpec({ replace: [] }),
        sql: [
          'BEGIN TRANSACTION;',
          `INSERT INTO ${T} (\`event_time\`, \`user_id\`) SELECT \`event_time\`, \`user_id\` FROM ${S} WHERE (\`event_time\` >= TIMESTAMP('2024-01-01 13:00:00') AND \`event_time\` < TIMESTAMP('2024-01-01 14:00:00'));`,
          'COMMIT TRANSACTION;',
        ],
      },
      {
        name: 'both empty: an empty transaction',
        spec: commitSpec({ replace: [], insert: [] }),
        sql: ['BEGIN TRANSACTION;', 'COMMIT TRANSACTION;'],
      },
    ];
    for (const c of scripts) {
      it(`sends a commit as one transaction: ${c.name}`, async () => {
        fake.handle = echoJob;
        const result = await warehouse.insertJob(c.spec);
        assert.equal(fake.requests.length, 1);
        const req = fake.requests[0]!;
        assert.equal(req.path, `${BASE}/jobs`);
        assert.deepEqual(req.body, {
          jobReference: { projectId: PROJECT, jobId: c.spec.jobId, location: 'US' },
          configuration: { labels: c.spec.labels, query: { query: c.sql.join('\n'), useLegacySql: false } },
        });
        assert.equal(result.status.kind, 'commit');
      });
    }

    const refused: { name: string; spec: CommitJob; error: typeof UnsafeIdentifierError | typeof LoadFailedError }[] = [
      {
        name: 'a column name with a backquote',
        spec: commitSpec({
          table: tableSpec({ schema: [{ name: 'a` FROM x; --', type: 'STRING' }] }),
        }),
        error: UnsafeIdentifierError,
      },
      {
        name: 'a stage table with a dot',
        spec: commitSpec({ stage: { dataset: 'lake', table: 'a.b' } }),
        error: UnsafeIdentifierError,
      },
      {
        name: 'a target dataset with a dash',
        spec: commitSpec({ table: tableSpec({ ref: { dataset: 'la-ke', table: 'events' } }) }),
        error: UnsafeIdentifierError,
      },
      {
        name: 'a replace partition with SQL in it',
        spec: commitSpec({ replace: ["2024010113' OR TRUE --"] }),
        error: UnsafeIdentifierError,
      },
      {
        name: 'a daily insert partition of an hourly table',
        spec: commitSpec({ insert: ['20240101'] }),
        error: UnsafeIdentifierError,
      },
      {
        name: 'an insert partition that is not a date',
        spec: commitSpec({ insert: ['2024023013'] }),
        error: UnsafeIdentifierError,
      },
      {
        name: 'a partitioning field with a space',
        spec: commitSpec({ table: tableSpec({ partitioning: { type: 'HOUR', field: 'event time' } }) }),
        error: UnsafeIdentifierError,
      },
      {
        name: 'an hourly DATE column',
        spec: commitSpec({ table: tableSpec({ partitioning: { type: 'HOUR', field: 'dt', fieldType: 'DATE' } }) }),
        error: LoadFailedError,
      },
      {
        name: 'a table without a schema',
        spec: commitSpec({ table: tableSpec({ schema: undefined }) }),
        error: LoadFailedError,
      },
      { name: 'an empty schema', spec: commitSpec({ table: tableSpec({ schema: [] }) }), error: LoadFailedError },
    ];
    for (const r of refused) {
      it(`refuses a commit with ${r.name} before any request`, async () => {
        fake.handle = echoJob;
        await assert.rejects(warehouse.insertJob(r.spec), r.error);
        assert.equal(fake.requests.length, 0);
      });
    }

    it('names the table when a commit has no schema', async () => {
      await assert.rejects(
        warehouse.insertJob(commitSpec({ table: tableSpec({ schema: undefined }) })),
        (err: unknown) =>
          err instanceof LoadFailedError && /lake\.events/.test(err.message) && /schema/.test(err.message),
      );
    });

    it('reads bytes billed, inserted and deleted rows and the kind of a finished commit', async () => {
      fake.script({
        body: jobResource('tidemark_events_commit_1', {
          configuration: { labels: { tidemark_kind: 'commit' }, query: { query: 'BEGIN TRANSACTION; …' } },
          status: { state: 'DONE' },
          statistics: {
            query: {
              statementType: 'SCRIPT',
              totalBytesBilled: '10485760',
              totalBytesProcessed: '4096',
              numDmlAffectedRows: '175',
              dmlStats: { insertedRowCount: '100', deletedRowCount: '75', updatedRowCount: '0' },
            },
          },
        }),
      });
      const status = await warehouse.getJob('tidemark_events_commit_1');
      assert.deepEqual(status, {
        jobId: 'tidemark_events_commit_1',
        state: 'DONE',
        kind: 'commit',
        labels: { tidemark_kind: 'commit' },
        outputRows: 100,
        bytesBilled: 10485760,
        insertedRows: 100,
        deletedRows: 75,
      });
    });

    it('leaves the statistics out while a commit runs, and reports a failed one with its error', async () => {
      fake.script({
        body: jobResource('c2', {
          configuration: { labels: { tidemark_kind: 'commit' } },
          status: {
            state: 'DONE',
            errorResult: { reason: 'invalidQuery', message: 'Query error: Transaction is aborted' },
            errors: [{ reason: 'invalidQuery', message: 'Query error: Transaction is aborted' }],
          },
          statistics: { query: { totalBytesBilled: '0' } },
        }),
      });
      const failed = await warehouse.getJob('c2');
      assert.equal(failed?.errorResult?.reason, 'invalidQuery');
      assert.equal(failed?.bytesBilled, 0);
      assert.equal(failed?.insertedRows, undefined);
      assert.equal(failed?.outputRows, undefined);
      fake.script({ body: jobResource('c3', { configuration: { labels: { tidemark_kind: 'commit' } } }) });
      const running = await warehouse.getJob('c3');
      assert.deepEqual(
        [running?.state, running?.bytesBilled, running?.insertedRows, running?.deletedRows],
        ['RUNNING', undefined, undefined, undefined],
      );
    });
  });

  describe('getJob', () => {
    it('maps a failed load: errorResult, errors with the bad file location, statistics, kind', async () => {
      fake.script({
        body: jobResource('j_failed', {
          configuration: { labels, load: {} },
          status: {
            state: 'DONE',
            errorResult: {
              reason: 'invalid',
              message: 'Error while reading data, error message: CSV table encountered too many errors',
            },
            errors: [
              {
                reason: 'invalid',
                location: 'gs://lake/x.csv',
                message: "Error while reading data, error message: Could not parse 'abc' as TIMESTAMP",
              },
              {
                reason: 'invalid',
                message: 'Error while reading data, error message: CSV table encountered too many errors',
              },
            ],
          },
          statistics: { load: { inputFiles: '2', inputFileBytes: '2048', outputRows: '0', outputBytes: '0' } },
        }),
      });
      const status = await warehouse.getJob('j_failed');
      assert.deepEqual(status, {
        jobId: 'j_failed',
        state: 'DONE',
        kind: 'load',
        labels,
        errorResult: {
          reason: 'invalid',
          message: 'Error while reading data, error message: CSV table encountered too many errors',
        },
        errors: [
          {
            reason: 'invalid',
            location: 'gs://lake/x.csv',
            message: "Error while reading data, error message: Could not parse 'abc' as TIMESTAMP",
          },
          {
            reason: 'invalid',
            message: 'Error while reading data, error message: CSV table encountered too many errors',
          },
        ],
        outputRows: 0,
        inputBytes: 2048,
      });
      assert.equal(fake.requests[0]!.path, `${BASE}/jobs/j_failed`);
      assert.equal(fake.requests[0]!.query.get('location'), 'US');
    });

    const stats: { name: string; job: Record<string, unknown>; rows: number | undefined; kind: string }[] = [
      {
        name: 'copy',
        job: { configuration: { labels: { tidemark_kind: 'copy' } }, statistics: { copy: { copiedRows: '77' } } },
        rows: 77,
        kind: 'copy',
      },
      {
        name: 'truncate',
        job: {
          configuration: { labels: { tidemark_kind: 'truncate' } },
          statistics: { query: { numDmlAffectedRows: '12' } },
        },
        rows: 12,
        kind: 'truncate',
      },
      { name: 'foreign job', job: { configuration: { query: {} } }, rows: undefined, kind: 'unknown' },
      {
        name: 'staging load',
        job: { configuration: { labels: { tidemark_kind: 'stage' } } },
        rows: undefined,
        kind: 'unknown',
      },
    ];
    for (const s of stats) {
      it(`reads rows and kind of a ${s.name} job`, async () => {
        fake.script({ body: jobResource('j', { status: { state: 'DONE' }, ...s.job }) });
        const status = await warehouse.getJob('j');
        assert.equal(status?.outputRows, s.rows);
        assert.equal(status?.kind, s.kind);
      });
    }

    it('returns null for 404', async () => {
      fake.script(apiError(404, 'notFound', `Not found: Job ${PROJECT}:US.nope`));
      assert.equal(await warehouse.getJob('nope'), null);
      assert.equal(fake.requests.length, 1);
    });
  });

  describe('table labels', () => {
    it('reads labels and etag; null when the table is missing', async () => {
      fake.script({
        body: { kind: 'bigquery#table', etag: 'etag-1', labels: { tidemark_sync: 'x' }, schema: { fields: [] } },
      });
      assert.deepEqual(await warehouse.getTableLabels({ dataset: 'lake', table: 'events' }), {
        labels: { tidemark_sync: 'x' },
        etag: 'etag-1',
      });
      assert.equal(fake.requests[0]!.path, `${BASE}/datasets/lake/tables/events`);

      fake.script({ body: { kind: 'bigquery#table', etag: 'etag-2' } });
      assert.deepEqual(await warehouse.getTableLabels({ dataset: 'lake', table: 'events' }), {
        labels: {},
        etag: 'etag-2',
      });

      fake.script(apiError(404, 'notFound', 'Not found: Table'));
      assert.equal(await warehouse.getTableLabels({ dataset: 'lake', table: 'gone' }), null);
    });

    it('patches with the etag in the body and If-Match', async () => {
      fake.script({ body: { etag: 'etag-2' } });
      await warehouse.patchTableLabels({ dataset: 'lake', table: 'events' }, { tidemark_sync: 'abc' }, 'etag-1');
      const req = fake.requests[0]!;
      assert.equal(req.method, 'PATCH');
      assert.equal(req.path, `${BASE}/datasets/lake/tables/events`);
      assert.equal(req.headers['if-match'], 'etag-1');
      assert.deepEqual(req.body, { labels: { tidemark_sync: 'abc' }, etag: 'etag-1' });
    });

    it('maps 412 to PreconditionFailedError without retrying', async () => {
      fake.script(apiError(412, 'conditionNotMet', 'Precondition check failed.'));
      await assert.rejects(
        warehouse.patchTableLabels({ dataset: 'lake', table: 'events' }, { a: 'b' }, 'stale'),
        (err: unknown) => err instanceof PreconditionFailedError && /lake\.events/.test(err.message),
      );
      assert.equal(fake.requests.length, 1);
    });

    it('retries "too many table update operations" (403 rateLimitExceeded) and 503', async () => {
      const replies = [
        apiError(403, 'rateLimitExceeded', 'Exceeded rate limits: too many table update operations for this table.'),
        apiError(503, 'backendError', 'Unavailable'),
      ];
      fake.handle = () => replies.shift() ?? { body: { etag: 'etag-2' } };
      await warehouse.patchTableLabels({ dataset: 'lake', table: 'events' }, { a: 'b' }, 'etag-1');
      assert.equal(fake.requests.length, 3);
      for (const r of fake.requests) assert.equal(r.headers['if-match'], 'etag-1');
    });
  });

  describe('listPartitions', () => {
    const ref = { dataset: 'lake', table: 'events' };
    const schema = {
      fields: [
        { name: 'partition_id', type: 'STRING' },
        { name: 'total_rows', type: 'INTEGER' },
        { name: 'last_modified', type: 'INTEGER' },
      ],
    };

    it('runs one parameterised INFORMATION_SCHEMA query in the location and maps the rows', async () => {
      fake.script({
        body: {
          kind: 'bigquery#queryResponse',
          jobComplete: true,
          schema,
          totalRows: '3',
          rows: [
            { f: [{ v: '2024010113' }, { v: '120' }, { v: '1704117600000' }] },
            { f: [{ v: '2024010114' }, { v: null }, { v: null }] },
            { f: [{ v: '__NULL__' }, { v: '3' }, { v: '1704117600001' }] },
          ],
        },
      });
      const partitions = await warehouse.listPartitions(ref);
      assert.deepEqual(partitions, [
        { partitionId: '2024010113', totalRows: 120, lastModified: 1704117600000 },
        { partitionId: '2024010114', totalRows: 0 },
        { partitionId: '__NULL__', totalRows: 3, lastModified: 1704117600001 },
      ]);
      assert.equal(fake.requests.length, 1);
      const req = fake.requests[0]!;
      assert.equal(req.method, 'POST');
      assert.equal(req.path, `${BASE}/queries`);
      assert.equal(
        req.body.query,
        'SELECT partition_id, total_rows, UNIX_MILLIS(last_modified_time) AS last_modified FROM `tidemark-test`.`lake`.INFORMATION_SCHEMA.PARTITIONS WHERE table_name = @table',
      );
      assert.equal(req.body.useLegacySql, false);
      assert.equal(req.body.location, 'US');
      assert.equal(req.body.parameterMode, 'NAMED');
      assert.deepEqual(req.body.queryParameters, [
        { name: 'table', parameterType: { type: 'STRING' }, parameterValue: { value: 'events' } },
      ]);
    });

    it('polls a query that is not complete, then reads every page', async () => {
      const jobReference = { projectId: PROJECT, jobId: 'job_q1', location: 'US' };
      fake.handle = (req) => {
        if (req.method === 'POST') return { body: { jobComplete: false, jobReference } };
        const page = req.query.get('pageToken');
        const polls = fake.requests.filter((r) => r.method === 'GET').length;
        if (polls === 1) return { body: { jobComplete: false, jobReference } };
        if (!page)
          return {
            body: {
              jobComplete: true,
              jobReference,
              schema,
              pageToken: 'p2',
              rows: [{ f: [{ v: '2024010100' }, { v: '1' }, { v: '1' }] }],
            },
          };
        return {
          body: {
            jobComplete: true,
            jobReference,
            schema,
            rows: [{ f: [{ v: '2024010101' }, { v: '2' }, { v: '2' }] }],
          },
        };
      };
      const partitions = await warehouse.listPartitions(ref);
      assert.deepEqual(
        partitions.map((p) => p.partitionId),
        ['2024010100', '2024010101'],
      );
      const gets = fake.requests.filter((r) => r.method === 'GET');
      assert.equal(gets.length, 3);
      for (const g of gets) {
        assert.equal(g.path, `${BASE}/queries/job_q1`);
        assert.equal(g.query.get('location'), 'US');
      }
      assert.equal(gets[2]!.query.get('pageToken'), 'p2');
      assert.deepEqual(sleeps, [5, 5]);
    });

    it('returns [] for a missing dataset (404) or a table with no partitions', async () => {
      fake.script(apiError(404, 'notFound', `Not found: Dataset ${PROJECT}:nope was not found in location US`));
      assert.deepEqual(await warehouse.listPartitions({ dataset: 'nope', table: 'events' }), []);
      fake.script({ body: { jobComplete: true, schema, totalRows: '0' } });
      assert.deepEqual(await warehouse.listPartitions(ref), []);
    });

    it('quotes a leading-digit dataset and another project, and passes a Unicode table id as a parameter', async () => {
      fake.script({ body: { jobComplete: true, schema, totalRows: '0' } });
      await warehouse.listPartitions({ project: 'other-project', dataset: '2021_sales', table: '주문 01' });
      const req = fake.requests[0]!;
      assert.equal(req.path, `${BASE}/queries`); // the query runs (and is billed) in this project
      assert.equal(
        req.body.query,
        'SELECT partition_id, total_rows, UNIX_MILLIS(last_modified_time) AS last_modified FROM `other-project`.`2021_sales`.INFORMATION_SCHEMA.PARTITIONS WHERE table_name = @table',
      );
      assert.deepEqual(req.body.queryParameters, [
        { name: 'table', parameterType: { type: 'STRING' }, parameterValue: { value: '주문 01' } },
      ]);
    });

    it('refuses a dataset that is not a plain identifier', async () => {
      await assert.rejects(warehouse.listPartitions({ dataset: 'a`b', table: 'events' }), UnsafeIdentifierError);
      assert.equal(fake.requests.length, 0);
    });
  });

  describe('ensureTable / deleteTable', () => {
    it('creates a missing dataset in the location and a missing partitioned table', async () => {
      fake.handle = (req) => (req.method === 'GET' ? apiError(404, 'notFound', 'Not found') : { body: req.body });
      await warehouse.ensureTable(tableSpec({ labels: { tidemark: 'stage' }, description: 'events' }));
      assert.deepEqual(
        fake.requests.map((r) => `${r.method} ${r.path}`),
        [
          `GET ${BASE}/datasets/lake`,
          `POST ${BASE}/datasets`,
          `GET ${BASE}/datasets/lake/tables/events`,
          `POST ${BASE}/datasets/lake/tables`,
        ],
      );
      assert.deepEqual(fake.requests[1]!.body, {
        datasetReference: { projectId: PROJECT, datasetId: 'lake' },
        location: 'US',
      });
      assert.deepEqual(fake.requests[3]!.body, {
        tableReference: { projectId: PROJECT, datasetId: 'lake', tableId: 'events' },
        schema: { fields: tableSpec().schema },
        timePartitioning: { type: 'HOUR', field: 'event_time' },
        labels: { tidemark: 'stage' },
        description: 'events',
      });
    });

    it('creates a dataset and table of another project there, with ids as BigQuery allows them', async () => {
      fake.handle = (req) => (req.method === 'GET' ? apiError(404, 'notFound', 'Not found') : { body: req.body });
      await warehouse.ensureTable(
        tableSpec({ ref: { project: 'other-project', dataset: '2021_sales', table: 'nyc-311 주문' } }),
      );
      const other = '/bigquery/v2/projects/other-project';
      assert.deepEqual(
        fake.requests.map((r) => `${r.method} ${r.path}`),
        [
          `GET ${other}/datasets/2021_sales`,
          `POST ${other}/datasets`,
          `GET ${other}/datasets/2021_sales/tables/nyc-311 주문`,
          `POST ${other}/datasets/2021_sales/tables`,
        ],
      );
      assert.deepEqual(fake.requests[1]!.body.datasetReference, {
        projectId: 'other-project',
        datasetId: '2021_sales',
      });
      assert.deepEqual(fake.requests[3]!.body.tableReference, {
        projectId: 'other-project',
        datasetId: '2021_sales',
        tableId: 'nyc-311 주문',
      });
    });

    it('reads and patches labels of a table in another project at its own path', async () => {
      fake.script({ body: { labels: { a: 'b' }, etag: 'e1' } }, { body: {} });
      await warehouse.getTableLabels({ project: 'other-project', dataset: 'lake', table: 'nyc-311' });
      await warehouse.patchTableLabels(
        { project: 'other-project', dataset: 'lake', table: 'nyc-311' },
        { a: 'c' },
        'e1',
      );
      assert.deepEqual(
        fake.requests.map((r) => `${r.method} ${r.path}`),
        [
          'GET /bigquery/v2/projects/other-project/datasets/lake/tables/nyc-311',
          'PATCH /bigquery/v2/projects/other-project/datasets/lake/tables/nyc-311',
        ],
      );
    });

    it('only looks when both exist, and takes 409 on create as "exists"', async () => {
      fake.script({ body: {} });
      await warehouse.ensureTable(tableSpec());
      assert.deepEqual(
        fake.requests.map((r) => r.method),
        ['GET', 'GET'],
      );

      fake.reset();
      fake.handle = (req) =>
        req.method === 'GET' ? apiError(404, 'notFound', 'Not found') : apiError(409, 'duplicate', 'Already Exists');
      await warehouse.ensureTable(tableSpec());
      assert.deepEqual(
        fake.requests.map((r) => r.method),
        ['GET', 'POST', 'GET', 'POST'],
      );
    });

    it('leaves a schema-less table to its first load', async () => {
      fake.script({ body: {} });
      await warehouse.ensureTable(tableSpec({ schema: undefined, autodetect: true }));
      assert.deepEqual(
        fake.requests.map((r) => `${r.method} ${r.path}`),
        [`GET ${BASE}/datasets/lake`],
      );
    });

    it('creates a table with an expiration (expirationTime), and sets it on one a load created', async () => {
      fake.handle = (req) =>
        req.method === 'GET' && req.path.endsWith('/tables/events__stage')
          ? apiError(404, 'notFound', 'Not found')
          : { body: req.body ?? {} };
      const expiresAt = Date.UTC(2026, 11, 2);
      await warehouse.ensureTable(tableSpec({ ref: { dataset: 'lake', table: 'events__stage' }, expiresAt }));
      assert.deepEqual(
        fake.requests.map((r) => r.method),
        ['GET', 'GET', 'POST'],
      );
      assert.equal((fake.requests[2]!.body as { expirationTime?: string }).expirationTime, String(expiresAt));

      fake.reset();
      fake.script({ body: {} });
      await warehouse.ensureTable(
        tableSpec({ ref: { dataset: 'lake', table: 'events__stage' }, schema: undefined, autodetect: true, expiresAt }),
      );
      assert.deepEqual(
        fake.requests.map((r) => `${r.method} ${r.path}`),
        [
          `GET ${BASE}/datasets/lake`,
          `GET ${BASE}/datasets/lake/tables/events__stage`,
          `PATCH ${BASE}/datasets/lake/tables/events__stage`,
        ],
      );
      assert.deepEqual(fake.requests[2]!.body, { expirationTime: String(expiresAt) });
    });

    it('deletes a table; a missing one is fine', async () => {
      fake.script({ status: 204 });
      await warehouse.deleteTable({ dataset: 'lake', table: 'events__stage' });
      assert.equal(fake.requests[0]!.method, 'DELETE');
      assert.equal(fake.requests[0]!.path, `${BASE}/datasets/lake/tables/events__stage`);
      fake.script(apiError(404, 'notFound', 'Not found'));
      await warehouse.deleteTable({ dataset: 'lake', table: 'gone' });
    });
  });
});

describe('partitionPredicate', () => {
  const cases: { name: string; p: Partitioning; partition: string; sql: string }[] = [
    {
      name: 'ingestion-time hourly',
      p: { type: 'HOUR' },
      partition: '2024010113',
      sql: "_PARTITIONTIME = TIMESTAMP('2024-01-01 13:00:00')",
    },
    {
      name: 'ingestion-time daily',
      p: { type: 'DAY' },
      partition: '20240229',
      sql: "_PARTITIONTIME = TIMESTAMP('2024-02-29')",
    },
    {
      name: 'TIMESTAMP column hourly',
      p: { type: 'HOUR', field: 'ts', fieldType: 'TIMESTAMP' },
      partition: '2024010100',
      sql: "TIMESTAMP_TRUNC(`ts`, HOUR) = TIMESTAMP('2024-01-01 00:00:00')",
    },
    {
      name: 'TIMESTAMP column daily',
      p: { type: 'DAY', field: 'ts' },
      partition: '20240101',
      sql: "TIMESTAMP_TRUNC(`ts`, DAY) = TIMESTAMP('2024-01-01')",
    },
    {
      name: 'DATE column daily',
      p: { type: 'DAY', field: 'dt', fieldType: 'DATE' },
      partition: '20241231',
      sql: "`dt` = DATE '2024-12-31'",
    },
    {
      name: 'DATETIME column hourly',
      p: { type: 'HOUR', field: 'dt', fieldType: 'DATETIME' },
      partition: '2024010123',
      sql: "DATETIME_TRUNC(`dt`, HOUR) = DATETIME '2024-01-01 23:00:00'",
    },
    {
      name: 'DATETIME column daily',
      p: { type: 'DAY', field: 'dt', fieldType: 'DATETIME' },
      partition: '20240101',
      sql: "DATETIME_TRUNC(`dt`, DAY) = DATETIME '2024-01-01 00:00:00'",
    },
  ];
  for (const c of cases) it(c.name, () => assert.equal(partitionPredicate(c.p, c.partition), c.sql));

  const bad: { name: string; p: Partitioning; partition: string }[] = [
    { name: 'hour 24', p: { type: 'HOUR' }, partition: '2024010124' },
    { name: 'February 30', p: { type: 'DAY' }, partition: '20240230' },
    { name: 'hourly id for a daily table', p: { type: 'DAY' }, partition: '2024010100' },
    { name: '__NULL__', p: { type: 'DAY' }, partition: '__NULL__' },
  ];
  for (const b of bad)
    it(`rejects ${b.name}`, () => assert.throws(() => partitionPredicate(b.p, b.partition), UnsafeIdentifierError));

  it('rejects an hourly DATE column as a permanent config error', () => {
    assert.throws(
      () => partitionPredicate({ type: 'HOUR', field: 'dt', fieldType: 'DATE' }, '2024010100'),
      LoadFailedError,
    );
  });
});
