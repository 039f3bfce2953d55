/**
 * Datasets and tables at the HTTP boundary: the real @google-cloud/bigquery client talks to a
 * local server that keeps datasets and tables in memory and answers like the BigQuery v2 REST
 * API (404 when missing, 409 on a second insert, 412 on a stale If-Match).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { BigQuery } from '@google-cloud/bigquery';
import type { BigQueryOptions } from '@google-cloud/bigquery';
import { desiredState } from '../../infra/desired.ts';
import type { Resource } from '../../infra/desired.ts';
import { InfraConflictError } from '../../infra/errors.ts';
import { applyInfra, isConverged, planInfra } from '../../infra/plan.ts';
import type { Change } from '../../infra/plan.ts';
import { FakeApi, fixedTokenAuth } from './fake-http.ts';
import { FakeBigQuery } from './fakes.ts';
import { PROJECT, testConfig, testDeploy } from './fixtures.ts';

const BASE = `/bigquery/v2/projects/${PROJECT}`;

const BIGQUERY_KINDS = new Set(['dataset', 'table']);
const desiredFor = (config = testConfig()): Resource[] => desiredState(config, testDeploy()).filter((r) => BIGQUERY_KINDS.has(r.kind));
const lines = (changes: Change[]) => changes.map((c) => `${c.action} ${c.resource.kind === 'dataset' ? c.resource.dataset : c.resource.kind === 'table' ? `${c.resource.spec.ref.dataset}.${c.resource.spec.ref.table}` : c.resource.kind}${c.detail ? `: ${c.detail}` : ''}`);

describe('BigQuery datasets and tables over REST', () => {
  const api = new FakeApi();
  const fake = new FakeBigQuery(PROJECT);
  let bigquery: BigQuery;

  before(async () => {
    const apiEndpoint = await api.start();
    api.handlers.push(fake.handle);
    bigquery = new BigQuery({ projectId: PROJECT, apiEndpoint, authClient: fixedTokenAuth() as unknown as BigQueryOptions['authClient'] });
  });
  after(() => api.close());
  beforeEach(() => {
    api.requests.length = 0;
  });

  it('plans every dataset and every table with a schema as missing; a table without one is left to its first load', async () => {
    assert.deepEqual(lines(await planInfra(desiredFor(), { project: PROJECT, bigquery })), [
      'create lake_us: in US',
      'create sessions_us: in US',
      'create lake_us.events: HOUR on ts, 2 columns',
      'create lake_us.orders: DAY (ingestion time), 1 columns',
      'noop sessions_us.sessions: no schema in the config: the first load creates it',
    ]);
  });

  it('creates datasets in the config location and tables with their partitioning, schema and labels', async () => {
    await applyInfra(await planInfra(desiredFor(), { project: PROJECT, bigquery }), { project: PROJECT, bigquery });
    assert.deepEqual(
      api.writes(),
      [`POST ${BASE}/datasets`, `POST ${BASE}/datasets`, `POST ${BASE}/datasets/lake_us/tables`, `POST ${BASE}/datasets/lake_us/tables`],
    );
    assert.deepEqual(fake.datasets.get('lake_us')!.location, 'US');
    const events = fake.tables.get('lake_us.events')!;
    assert.deepEqual(events.timePartitioning, { type: 'HOUR', field: 'ts' });
    assert.deepEqual(events.labels, { team: 'data' });
    assert.equal(events.schema.fields.length, 2);
    assert.deepEqual(fake.tables.get('lake_us.orders')!.timePartitioning, { type: 'DAY' });
  });

  it('finds nothing to do once they exist', async () => {
    const plan = await planInfra(desiredFor(), { project: PROJECT, bigquery });
    assert.ok(isConverged(plan), lines(plan).join('\n'));
    await applyInfra(plan, { project: PROJECT, bigquery });
    assert.deepEqual(api.writes(), []);
  });

  it('patches config labels that drifted, etag-guarded, and leaves the runtime labels alone', async () => {
    const events = fake.tables.get('lake_us.events')!;
    fake.tables.set('lake_us.events', { ...events, labels: { team: 'ops', tidemark_last_load: '1764000000000' }, etag: 'etag-drifted' });
    const plan = await planInfra(desiredFor(), { project: PROJECT, bigquery });
    assert.deepEqual(lines(plan.filter((c) => c.action !== 'noop')), ['update lake_us.events: label team=data (was ops)']);
    await applyInfra(plan, { project: PROJECT, bigquery });
    const patch = api.requests.find((r) => r.method === 'PATCH')!;
    assert.equal(patch.headers['if-match'], 'etag-drifted');
    assert.deepEqual(patch.body.labels, { team: 'data' });
    assert.deepEqual(fake.tables.get('lake_us.events')!.labels, { team: 'data', tidemark_last_load: '1764000000000' });
    assert.ok(isConverged(await planInfra(desiredFor(), { project: PROJECT, bigquery })));
  });

  const conflicts: { name: string; setup: () => void; message: RegExp }[] = [
    {
      name: 'a table partitioned differently',
      setup: () => fake.tables.set('lake_us.orders', { ...fake.tables.get('lake_us.orders')!, timePartitioning: { type: 'DAY', field: 'placed_at' } }),
      message: /lake_us\.orders is partitioned DAY on placed_at, the config says DAY \(ingestion time\)/,
    },
    {
      name: 'a dataset in another location',
      setup: () => fake.datasets.set('sessions_us', { ...fake.datasets.get('sessions_us')!, location: 'asia-northeast3' }),
      message: /dataset sessions_us is in asia-northeast3, the config says US/,
    },
  ];
  for (const { name, setup, message } of conflicts) {
    it(`refuses ${name}: no update can fix it`, async () => {
      setup();
      await assert.rejects(planInfra(desiredFor(), { project: PROJECT, bigquery }), (err: unknown) => err instanceof InfraConflictError && message.test(err.message));
    });
  }
});
