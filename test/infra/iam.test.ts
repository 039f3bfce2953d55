/**
 * Service accounts and IAM bindings at their HTTP boundary: GoogleRest (google-auth-library's
 * `request` with a fixed token) and the BigQuery client talk to one local server that answers
 * like IAM, Resource Manager, Cloud Functions v2, Cloud Run v2, and the IAM methods of Storage
 * and Pub/Sub (etags, 409/412 on a stale write, 404 for what does not exist) and keeps BigQuery
 * dataset `access` lists. Topic subscriptions are listed through a stub Pub/Sub client (the
 * emulator test covers that call for real).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { BigQuery } from '@google-cloud/bigquery';
import type { BigQueryOptions } from '@google-cloud/bigquery';
import type { PubSub } from '@google-cloud/pubsub';
import { describeResource, desiredState, functionNames } from '../../infra/desired.ts';
import type { Resource } from '../../infra/desired.ts';
import { InfraConflictError } from '../../infra/errors.ts';
import type { Policy } from '../../infra/iam-policy.ts';
import { applyInfra, isConverged, planInfra } from '../../infra/plan.ts';
import type { Change, InfraClients } from '../../infra/plan.ts';
import { GoogleRest } from '../../infra/rest.ts';
import { FakeApi, fixedTokenAuth } from './fake-http.ts';
import { FakeBigQuery, FakeIam } from './fakes.ts';
import { PROJECT, testConfig, testDeploy } from './fixtures.ts';

const NUMBER = '123456789012';
const REGION = 'asia-northeast3';
const sa = (role: 'loader' | 'auditor' | 'backfill') => functionNames(PROJECT, testDeploy(), role).serviceAccountEmail;
const EVENTARC_SUB = 'eventarc-asia-northeast3-tidemark-backfill-000000-sub-001';

/** Resources that exist before tidemark runs, each with grants someone else manages. */
function seed(iam: FakeIam, bigquery: FakeBigQuery): void {
  iam.policies.set('project', { version: 1, etag: iam.etag(), bindings: [{ role: 'roles/owner', members: ['user:admin@example.com'] }, { role: 'roles/bigquery.jobUser', members: ['user:analyst@example.com'] }] });
  for (const bucket of ['lake-seoul', 'orders-seoul']) iam.policies.set(`bucket/${bucket}`, { version: 1, etag: iam.etag(), bindings: [{ role: 'roles/storage.legacyBucketOwner', members: [`projectOwner:${PROJECT}`] }] });
  for (const topic of ['tidemark-audit', 'tidemark-backfill', 'tidemark-backfill-dlq', 'tidemark-audit-results']) iam.policies.set(`topic/${topic}`, { etag: iam.etag() });
  bigquery.datasets.set('lake_us', { datasetReference: { datasetId: 'lake_us' }, location: 'US', etag: bigquery.etag(), access: [{ role: 'OWNER', specialGroup: 'projectOwners' }, { role: 'READER', specialGroup: 'projectReaders' }] });
  // The auditor already holds WRITER on sessions_us: the legacy name of dataEditor.
  bigquery.datasets.set('sessions_us', { datasetReference: { datasetId: 'sessions_us' }, location: 'US', etag: bigquery.etag(), access: [{ role: 'OWNER', specialGroup: 'projectOwners' }, { role: 'WRITER', userByEmail: sa('auditor') }] });
}

/** Lists a topic's subscriptions from a fixed list (the only Pub/Sub call IAM planning makes). */
function stubPubSub(subscriptions: () => string[]): PubSub {
  return {
    topic: () => ({ getSubscriptions: async () => [subscriptions().map((s) => ({ name: `projects/${PROJECT}/subscriptions/${s}` }))] }),
  } as unknown as PubSub;
}

const IAM_KINDS = new Set(['serviceAccount', 'binding']);
const desired: Resource[] = desiredState(testConfig(), testDeploy()).filter((r) => IAM_KINDS.has(r.kind));
const lines = (changes: Change[], action?: Change['action']) =>
  changes.filter((c) => !action || c.action === action).map((c) => `${c.action} ${describeResource(c.resource)}${c.detail ? ` (${c.detail})` : ''}`);
const members = (policy: Policy | undefined, role: string, expression?: string) =>
  (policy?.bindings ?? []).filter((b) => b.role === role && (b.condition?.expression ?? undefined) === expression).flatMap((b) => b.members ?? []).sort();

describe('service accounts and IAM bindings over REST', () => {
  const api = new FakeApi();
  const fake = new FakeIam(PROJECT, NUMBER);
  const datasets = new FakeBigQuery(PROJECT);
  let eventarcSubscriptions: string[] = [];
  let clients: InfraClients;

  before(async () => {
    const base = await api.start();
    api.handlers.push(fake.handle, datasets.handle);
    seed(fake, datasets);
    const rest = new GoogleRest({
      auth: fixedTokenAuth(),
      endpoints: { iam: `${base}/iam`, cloudresourcemanager: `${base}/crm`, cloudfunctions: `${base}/functions`, run: `${base}/run`, storage: `${base}/storage`, pubsub: `${base}/pubsub` },
      sleep: async () => {},
    });
    const bigquery = new BigQuery({ projectId: PROJECT, apiEndpoint: base, authClient: fixedTokenAuth() as unknown as BigQueryOptions['authClient'] });
    clients = { project: PROJECT, rest, bigquery, pubsub: stubPubSub(() => eventarcSubscriptions), sleep: async () => {} };
  });
  after(() => api.close());
  beforeEach(() => {
    api.requests.length = 0;
  });

  it('before the first deploy: creates the three accounts and every grant; invoker and DLQ subscriber grants wait for the deploy', async () => {
    const plan = await planInfra(desired, clients);
    assert.deepEqual(lines(plan).slice(0, 3), [
      `create service account ${sa('loader')}`,
      `create service account ${sa('auditor')}`,
      `create service account ${sa('backfill')}`,
    ]);
    assert.deepEqual(lines(plan).filter((l) => l.includes('waiting')), [
      `noop binding roles/run.invoker for serviceAccount:${sa('loader')} on function tidemark-loader (${REGION}) (waiting: function tidemark-loader is not deployed yet: run infra apply again after deploying)`,
      `noop binding roles/run.invoker for serviceAccount:${sa('auditor')} on function tidemark-auditor (${REGION}) (waiting: function tidemark-auditor is not deployed yet: run infra apply again after deploying)`,
      `noop binding roles/run.invoker for serviceAccount:${sa('backfill')} on function tidemark-backfill (${REGION}) (waiting: function tidemark-backfill is not deployed yet: run infra apply again after deploying)`,
      `noop binding roles/pubsub.subscriber for serviceAccount:service-${NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com on subscriptions of tidemark-backfill (waiting: no subscription on tidemark-backfill yet: run infra apply again after deploying)`,
    ]);
    // The auditor's WRITER on sessions_us is its dataEditor grant under BigQuery's legacy name.
    assert.deepEqual(lines(plan, 'noop').filter((l) => !l.includes('waiting')), [`noop binding roles/bigquery.dataEditor for serviceAccount:${sa('auditor')} on dataset sessions_us`]);
    assert.equal(lines(plan, 'create').length, 3 + 24); // accounts + 8 loader, 6 auditor, 8 backfill, 2 service-agent grants
  });

  it('applies with one policy write per resource, keeping the bindings it does not manage', async () => {
    fake.conflicts = 1; // a concurrent writer: the first write is stale and is redone
    fake.unknownMember = 2; // the new accounts are not visible to IAM at once
    await applyInfra(await planInfra(desired, clients), clients);

    assert.deepEqual(api.writes(), [
      `POST /iam/v1/projects/${PROJECT}/serviceAccounts`,
      `POST /iam/v1/projects/${PROJECT}/serviceAccounts`,
      `POST /iam/v1/projects/${PROJECT}/serviceAccounts`,
      'PUT /storage/storage/v1/b/lake-seoul/iam', // 412: stale, read again
      'PUT /storage/storage/v1/b/lake-seoul/iam', // 400: account unknown yet
      'PUT /storage/storage/v1/b/lake-seoul/iam', // 400: account unknown yet
      'PUT /storage/storage/v1/b/lake-seoul/iam',
      'PUT /storage/storage/v1/b/orders-seoul/iam',
      `POST /crm/v1/projects/${PROJECT}:setIamPolicy`,
      `PATCH /bigquery/v2/projects/${PROJECT}/datasets/lake_us`,
      `PATCH /bigquery/v2/projects/${PROJECT}/datasets/sessions_us`,
      `POST /pubsub/v1/projects/${PROJECT}/topics/tidemark-backfill:setIamPolicy`,
      `POST /pubsub/v1/projects/${PROJECT}/topics/tidemark-audit-results:setIamPolicy`,
      `POST /pubsub/v1/projects/${PROJECT}/topics/tidemark-backfill-dlq:setIamPolicy`,
    ]);
    assert.deepEqual(api.requests.find((r) => r.method === 'POST' && r.path.endsWith('/serviceAccounts'))!.body, {
      accountId: 'tidemark-loader',
      serviceAccount: { displayName: 'tidemark loader', description: 'Runs the tidemark loader function (managed by tidemark infra)' },
    });
    assert.equal(api.requests[0]!.headers.authorization, 'Bearer test-token');

    const project = fake.policies.get('project');
    assert.deepEqual(members(project, 'roles/owner'), ['user:admin@example.com']);
    assert.deepEqual(members(project, 'roles/bigquery.jobUser'), [...['auditor', 'backfill', 'loader'].map((r) => `serviceAccount:${sa(r as 'loader')}`), 'user:analyst@example.com']);
    assert.deepEqual(members(project, 'roles/bigquery.resourceViewer'), [`serviceAccount:${sa('backfill')}`, `serviceAccount:${sa('loader')}`]);
    assert.deepEqual(members(project, 'roles/eventarc.eventReceiver'), [`serviceAccount:${sa('loader')}`]);
    assert.deepEqual(members(project, 'roles/pubsub.publisher'), [`serviceAccount:service-${NUMBER}@gs-project-accounts.iam.gserviceaccount.com`]);

    const lake = fake.policies.get('bucket/lake-seoul');
    assert.equal(lake?.version, 3, 'a conditional binding needs version 3');
    assert.deepEqual(members(lake, 'roles/storage.objectViewer'), ['auditor', 'backfill', 'loader'].map((r) => `serviceAccount:${sa(r as 'loader')}`));
    assert.deepEqual(members(lake, 'roles/storage.objectUser'), []);
    assert.deepEqual(members(lake, 'roles/storage.objectUser', 'resource.name.startsWith("projects/_/buckets/lake-seoul/objects/_tidemark/")'), [`serviceAccount:${sa('backfill')}`, `serviceAccount:${sa('loader')}`]);
    assert.deepEqual(members(lake, 'roles/storage.legacyBucketOwner'), [`projectOwner:${PROJECT}`]);

    assert.deepEqual(datasets.datasets.get('lake_us')!.access, [
      { role: 'OWNER', specialGroup: 'projectOwners' },
      { role: 'READER', specialGroup: 'projectReaders' },
      { role: 'WRITER', userByEmail: sa('loader') },
      { role: 'WRITER', userByEmail: sa('auditor') },
      { role: 'WRITER', userByEmail: sa('backfill') },
    ]);
    assert.deepEqual(members(fake.policies.get('topic/tidemark-backfill'), 'roles/pubsub.publisher'), [`serviceAccount:${sa('auditor')}`, `serviceAccount:${sa('backfill')}`]);
    assert.deepEqual(members(fake.policies.get('topic/tidemark-backfill-dlq'), 'roles/pubsub.publisher'), [`serviceAccount:service-${NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com`]);
  });

  it('finds nothing to do afterwards but what waits for the deploy', async () => {
    const plan = await planInfra(desired, clients);
    assert.deepEqual(lines(plan).filter((l) => !l.startsWith('noop')), []);
    assert.equal(lines(plan).filter((l) => l.includes('waiting')).length, 4);
  });

  it('after the deploy: grants each account run.invoker on its own service and the Pub/Sub agent subscriber on the trigger subscription', async () => {
    for (const role of ['loader', 'auditor', 'backfill'] as const) fake.deployFunction(REGION, functionNames(PROJECT, testDeploy(), role).function);
    fake.policies.set(`subscription/${EVENTARC_SUB}`, { etag: fake.etag() });
    eventarcSubscriptions = [EVENTARC_SUB];
    const plan = await planInfra(desired, clients);
    assert.deepEqual(lines(plan, 'create'), [
      `create binding roles/run.invoker for serviceAccount:${sa('loader')} on service tidemark-loader`,
      `create binding roles/run.invoker for serviceAccount:${sa('auditor')} on service tidemark-auditor`,
      `create binding roles/run.invoker for serviceAccount:${sa('backfill')} on service tidemark-backfill`,
      `create binding roles/pubsub.subscriber for serviceAccount:service-${NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com on subscription ${EVENTARC_SUB}`,
    ]);
    await applyInfra(plan, clients);
    assert.deepEqual(members(fake.policies.get(`run/projects/${PROJECT}/locations/${REGION}/services/tidemark-auditor`), 'roles/run.invoker'), [`serviceAccount:${sa('auditor')}`]);
    assert.deepEqual(members(fake.policies.get(`subscription/${EVENTARC_SUB}`), 'roles/pubsub.subscriber'), [`serviceAccount:service-${NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com`]);
    assert.ok(isConverged(await planInfra(desired, clients)));
  });

  it('an account someone disabled is reported, not recreated', async () => {
    fake.serviceAccounts.set(sa('auditor'), { ...fake.serviceAccounts.get(sa('auditor')), disabled: true });
    const [, auditor] = await planInfra(desired.filter((r) => r.kind === 'serviceAccount'), clients);
    assert.equal(auditor!.action, 'noop');
    assert.match(auditor!.detail, /^DISABLED: the auditor function cannot run/);
  });

  it('refuses to grant on a lake bucket that does not exist (tidemark does not create buckets)', async () => {
    const config = testConfig({ lake: { bucket: 'no-such-bucket' } });
    const bindings = desiredState(config, testDeploy()).filter((r) => r.kind === 'binding');
    await assert.rejects(planInfra(bindings, clients), (err: unknown) => err instanceof InfraConflictError && /bucket no-such-bucket: it does not exist/.test(err.message));
  });
});
