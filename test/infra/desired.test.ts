/**
 * The desired state from config alone: exactly which roles each service account gets and where,
 * the service agents' grants, and the Pub/Sub, Scheduler and BigQuery resources. Table-driven.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { bindingKey, desiredBindings, desiredState, describeTarget, functionNames } from '../../infra/desired.ts';
import type { BindingResource, Resource } from '../../infra/desired.ts';
import { roleTable } from '../../infra/iam.ts';
import { PROJECT, testConfig, testDeploy } from './fixtures.ts';

const config = testConfig();
const deploy = testDeploy();
const member = (role: 'loader' | 'auditor' | 'backfill') => `serviceAccount:${functionNames(PROJECT, deploy, role).serviceAccountEmail}`;
const STATE = 'resource.name.startsWith("projects/_/buckets/lake-seoul/objects/_tidemark/")';

/** `role on target [if condition]` for every binding of one member. */
function grantsOf(bindings: BindingResource[], who: string): string[] {
  return bindings.filter((b) => b.member === who).map((b) => `${b.role} on ${describeTarget(b.target)}${b.condition ? ` if ${b.condition.expression}` : ''}`);
}

const SYNC = [
  'roles/storage.objectViewer on bucket lake-seoul',
  'roles/storage.objectViewer on bucket orders-seoul',
  `roles/storage.objectUser on bucket lake-seoul if ${STATE}`,
  `roles/bigquery.jobUser on project ${PROJECT}`,
  `roles/bigquery.resourceViewer on project ${PROJECT}`,
  'roles/bigquery.dataEditor on dataset lake_us',
  'roles/bigquery.dataEditor on dataset sessions_us',
];

const EXPECTED: { who: string; grants: string[] }[] = [
  {
    who: member('loader'),
    grants: [...SYNC, `roles/eventarc.eventReceiver on project ${PROJECT}`, 'roles/run.invoker on function tidemark-loader (asia-northeast3)'],
  },
  {
    who: member('auditor'),
    grants: [
      'roles/storage.objectViewer on bucket lake-seoul', // lake and state bucket are the same bucket: one grant
      'roles/storage.objectViewer on bucket orders-seoul',
      `roles/bigquery.jobUser on project ${PROJECT}`,
      'roles/bigquery.dataEditor on dataset lake_us',
      'roles/bigquery.dataEditor on dataset sessions_us',
      'roles/pubsub.publisher on topic tidemark-backfill',
      'roles/pubsub.publisher on topic tidemark-audit-results',
      'roles/run.invoker on function tidemark-auditor (asia-northeast3)',
    ],
  },
  {
    who: member('backfill'),
    grants: [...SYNC, 'roles/pubsub.publisher on topic tidemark-backfill', 'roles/run.invoker on function tidemark-backfill (asia-northeast3)'],
  },
  {
    who: 'serviceAccount:service-{projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com',
    grants: ['roles/pubsub.publisher on topic tidemark-backfill-dlq', 'roles/pubsub.subscriber on subscriptions of tidemark-backfill'],
  },
  {
    who: 'serviceAccount:service-{projectNumber}@gs-project-accounts.iam.gserviceaccount.com',
    grants: [`roles/pubsub.publisher on project ${PROJECT}`],
  },
];

describe('desiredState', () => {
  const bindings = desiredBindings(config, deploy);

  for (const { who, grants } of EXPECTED) {
    it(`grants ${who.replace('serviceAccount:', '')} exactly its roles`, () => {
      assert.deepEqual(grantsOf(bindings, who), grants);
    });
  }

  it('grants nobody else anything, and no binding twice', () => {
    const known = new Set(EXPECTED.map((e) => e.who));
    assert.deepEqual(bindings.filter((b) => !known.has(b.member)), []);
    assert.equal(new Set(bindings.map(bindingKey)).size, bindings.length);
    assert.ok(bindings.every((b) => b.why.length > 10), 'every grant says why');
  });

  it('never grants a function service account a project-level role beyond jobs, job reads and event receipt', () => {
    const projectRoles = new Set(bindings.filter((b) => b.target.type === 'project' && b.member.includes('tidemark-')).map((b) => b.role));
    assert.deepEqual([...projectRoles].sort(), ['roles/bigquery.jobUser', 'roles/bigquery.resourceViewer', 'roles/eventarc.eventReceiver']);
  });

  const stateCases: { name: string; state: { bucket: string; prefix: string }; auditor: string[]; loaderState: string }[] = [
    {
      name: 'a separate state bucket',
      state: { bucket: 'tidemark-state', prefix: 'state/' },
      auditor: ['bucket lake-seoul', 'bucket orders-seoul', 'bucket tidemark-state'],
      loaderState: 'roles/storage.objectUser on bucket tidemark-state if resource.name.startsWith("projects/_/buckets/tidemark-state/objects/state/")',
    },
    {
      name: 'a whole bucket for state (no prefix)',
      state: { bucket: 'tidemark-state', prefix: '' },
      auditor: ['bucket lake-seoul', 'bucket orders-seoul', 'bucket tidemark-state'],
      loaderState: 'roles/storage.objectUser on bucket tidemark-state',
    },
  ];
  for (const { name, state, auditor, loaderState } of stateCases) {
    it(`scopes state access for ${name}`, () => {
      const b = desiredBindings(testConfig({ state }), deploy);
      assert.deepEqual(b.filter((x) => x.member === member('auditor') && x.role === 'roles/storage.objectViewer').map((x) => describeTarget(x.target)), auditor);
      assert.ok(grantsOf(b, member('loader')).includes(loaderState), grantsOf(b, member('loader')).join('\n'));
    });
  }

  it('derives topics, pull subscriptions, the delivery policy, the schedule and BigQuery resources from the config', () => {
    const resources = desiredState(config, testDeploy({ backfill: { maxDeliveryAttempts: 20 } })).filter((r) => r.kind !== 'binding');
    const pick = (r: Resource) => {
      const { kind, ...rest } = r;
      return kind === 'table' ? `table ${r.spec.ref.dataset}.${r.spec.ref.table} ${r.location}` : `${kind} ${JSON.stringify(rest)}`;
    };
    assert.deepEqual(resources.map(pick), [
      'serviceAccount {"function":"loader","accountId":"tidemark-loader","email":"tidemark-loader@tidemark-test.iam.gserviceaccount.com","displayName":"tidemark loader","description":"Runs the tidemark loader function (managed by tidemark infra)"}',
      'serviceAccount {"function":"auditor","accountId":"tidemark-auditor","email":"tidemark-auditor@tidemark-test.iam.gserviceaccount.com","displayName":"tidemark auditor","description":"Runs the tidemark auditor function (managed by tidemark infra)"}',
      'serviceAccount {"function":"backfill","accountId":"tidemark-backfill","email":"tidemark-backfill@tidemark-test.iam.gserviceaccount.com","displayName":"tidemark backfill","description":"Runs the tidemark backfill function (managed by tidemark infra)"}',
      'topic {"name":"tidemark-audit"}',
      'topic {"name":"tidemark-backfill"}',
      'topic {"name":"tidemark-backfill-dlq"}',
      'topic {"name":"tidemark-audit-results"}',
      'subscription {"name":"tidemark-backfill-dlq-sub","topic":"tidemark-backfill-dlq","ackDeadlineSeconds":60,"retentionSeconds":604800,"neverExpire":true}',
      'subscription {"name":"tidemark-audit-results-sub","topic":"tidemark-audit-results","ackDeadlineSeconds":60,"retentionSeconds":604800,"neverExpire":true}',
      'deliveryPolicy {"topic":"tidemark-backfill","deadLetterTopic":"projects/tidemark-test/topics/tidemark-backfill-dlq","maxDeliveryAttempts":20,"minBackoffSeconds":10,"maxBackoffSeconds":600}',
      'schedulerJob {"name":"tidemark-audit","region":"asia-northeast3","description":"tidemark gap audit (managed by tidemark infra)","schedule":"*/5 * * * *","timeZone":"Asia/Seoul","topic":"projects/tidemark-test/topics/tidemark-audit","data":"{}","retry":{"retryCount":3,"minBackoffSeconds":30,"maxBackoffSeconds":300,"maxDoublings":3}}',
      'dataset {"dataset":"lake_us","location":"US"}',
      'dataset {"dataset":"sessions_us","location":"US"}',
      'table lake_us.events US',
      'table lake_us.orders US',
      'table sessions_us.sessions US',
    ]);
  });

  it('names accounts, functions and the job from serviceAccountPrefix; the loader runs in the lake region, the rest in the deploy region', () => {
    const resources = desiredState(config, testDeploy({ serviceAccountPrefix: 'tm-staging', region: 'us-central1' }));
    assert.deepEqual(resources.filter((r) => r.kind === 'serviceAccount').map((r) => r.email), [
      'tm-staging-loader@tidemark-test.iam.gserviceaccount.com',
      'tm-staging-auditor@tidemark-test.iam.gserviceaccount.com',
      'tm-staging-backfill@tidemark-test.iam.gserviceaccount.com',
    ]);
    const job = resources.find((r) => r.kind === 'schedulerJob');
    assert.equal(job?.kind === 'schedulerJob' && `${job.name} ${job.region}`, 'tm-staging-audit us-central1');
    const invokers = resources.filter((r): r is BindingResource => r.kind === 'binding' && r.role === 'roles/run.invoker').map((r) => describeTarget(r.target));
    assert.deepEqual(invokers, ['function tm-staging-loader (asia-northeast3)', 'function tm-staging-auditor (us-central1)', 'function tm-staging-backfill (us-central1)']);
  });

  it('infra/README.md carries the role table exactly as the code states it', () => {
    const readme = readFileSync(new URL('../../infra/README.md', import.meta.url), 'utf8');
    assert.ok(readme.includes(roleTable()), 'regenerate the table in infra/README.md from roleTable()');
  });
});
