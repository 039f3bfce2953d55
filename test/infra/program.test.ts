/**
 * The Pulumi program under Pulumi's mocks (no CLI, no provider plugin, no network): the whole
 * resource graph for a config, every name, policy, IAM member and scope; and the least-privilege
 * rule that no account holds a role the role table (infra/roles.ts) does not grant it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expandGrants } from '../../infra/grants.ts';
import { STREAM_AGENT_ROWS } from '../../infra/roles.ts';
import type { Config, StreamConfig } from '../../shared/config/types.ts';
import { describeStreams } from '../../shared/deploy/streams.ts';
import { table, testConfig, testDeploy } from './fixtures.ts';
import { PROJECT_NUMBER, graphOf, resourceGraph } from './pulumi-graph.ts';
import type { GraphResource } from './pulumi-graph.ts';

const STATE = 'tidemark-test-tidemark-state';
const BASE = testConfig();
/** A realtime stream into `locations` (hourly on ingestion time, in the lake bucket). */
const LOCATIONS: StreamConfig = {
  name: 'locations',
  table: 'locations',
  topic: 'tidemark-stream-locations',
  deadLetterTopic: 'tidemark-stream-locations-dlq',
  subscription: 'tidemark-stream-locations-gcs',
  files: {
    prefix: 'streams/locations/',
    datetimeFormat: 'YYYY-MM-DD/hh/mm_ssZ',
    suffix: '.ndjson',
    maxDurationMs: 120_000,
    maxBytes: 5_000_000,
    localMaxDurationMs: 2_000,
  },
  unknownFields: 'reject',
  limits: { maxBodyBytes: 1_000_000, maxRecords: 500 },
  invokers: ['serviceAccount:producer@apps.iam.gserviceaccount.com', 'group:devices@example.com'],
  schema: [
    { name: 'event_id', type: 'STRING', mode: 'REQUIRED' },
    { name: 'received_at', type: 'TIMESTAMP', mode: 'REQUIRED' },
  ],
};
const config = testConfig({
  state: { bucket: STATE, prefix: '_tidemark/' },
  tables: [
    ...BASE.tables,
    table('locations', 'lake-seoul', {
      ref: { dataset: 'lake_us', table: 'locations' },
      partitioning: { type: 'HOUR' },
      schema: LOCATIONS.schema,
    }),
    // A target in another project: its dataset, table and grants are made there.
    table('ledger', 'lake-seoul', {
      ref: { project: 'finance-dw', dataset: 'ledger_eu', table: 'ledger' },
      partitioning: { type: 'DAY' },
      schema: [{ name: 'amount', type: 'NUMERIC' }],
    }),
  ],
  streams: [LOCATIONS],
  alerts: { notificationChannels: ['projects/tidemark-test/notificationChannels/7'] },
  statusPage: { operators: ['user:alice@example.com'], invokers: ['domain:ops.example.com', 'user:alice@example.com'] },
});
const deploy = testDeploy();
const graph = await resourceGraph(config, deploy);

const SA = (role: string) => `serviceAccount:tidemark-${role}@tidemark-test.iam.gserviceaccount.com`;
const PUBSUB_AGENT = `serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com`;
const GCS_AGENT = `serviceAccount:service-${PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com`;
const custom = (key: string, project = 'tidemark-test') => `projects/${project}/roles/tidemark_${key}`;
const STATE_CONDITION = `resource.name.startsWith("projects/_/buckets/${STATE}/objects/_tidemark/")`;

/** Every IAM grant in a graph as `member | role | scope [| condition]`, whatever resource holds it. */
function iamTuples(resources: GraphResource[]): string[] {
  const out: string[] = [];
  const add = (member: string, role: string, scope: string, condition?: { expression: string }) =>
    out.push([member, role, scope, ...(condition ? [condition.expression] : [])].join(' | '));
  for (const r of resources) {
    const i = r.inputs;
    switch (r.type) {
      case 'gcp:projects/iAMMember:IAMMember':
        add(i.member, i.role, `project ${i.project}`, i.condition);
        break;
      case 'gcp:storage/bucketIAMMember:BucketIAMMember':
        add(i.member, i.role, `bucket ${i.bucket}`, i.condition);
        break;
      case 'gcp:storage/bucketIAMPolicy:BucketIAMPolicy':
        for (const b of JSON.parse(i.policyData).bindings as {
          role: string;
          members: string[];
          condition?: { expression: string };
        }[]) {
          for (const m of b.members) add(m, b.role, `bucket ${i.bucket}`, b.condition);
        }
        break;
      case 'gcp:bigquery/datasetIamMember:DatasetIamMember':
        add(i.member, i.role, `dataset ${i.project}:${i.datasetId}`);
        break;
      case 'gcp:bigquery/iamMember:IamMember':
        add(i.member, i.role, `table ${i.project}:${i.datasetId}.${i.tableId}`);
        break;
      case 'gcp:pubsub/topicIAMMember:TopicIAMMember':
        add(i.member, i.role, `topic ${i.topic}`);
        break;
      case 'gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember':
        add(i.member, i.role, `subscription ${i.subscription}`);
        break;
      default:
        if (/iam/i.test(r.type) && r.type !== 'gcp:projects/iAMCustomRole:IAMCustomRole')
          assert.fail(`${r.type} is an IAM resource this test does not read: teach iamTuples about it`);
    }
  }
  return out.sort();
}

/** The grants of the role table, expanded the same way (project number as the mocks return it). */
function tableTuples(cfg: Config = config): string[] {
  return expandGrants(cfg, deploy)
    .filter((g) => !g.afterDeploy)
    .map((g) => {
      const t = g.target;
      const scope =
        t.type === 'project'
          ? 'project tidemark-test'
          : t.type === 'bucket'
            ? `bucket ${t.bucket}`
            : t.type === 'dataset'
              ? `dataset ${t.project ?? 'tidemark-test'}:${t.dataset}`
              : t.type === 'table'
                ? `table ${t.project ?? 'tidemark-test'}:${t.dataset}.${t.table}`
                : t.type === 'topic'
                  ? `topic ${t.topic}`
                  : t.type === 'subscription'
                    ? `subscription ${t.subscription}`
                    : `after deploy ${t.type}`;
      return [
        g.member.replace('{projectNumber}', PROJECT_NUMBER),
        g.role,
        scope,
        ...(g.condition ? [g.condition.expression] : []),
      ].join(' | ');
    })
    .sort();
}

const byName = (name: string) => {
  const found = graph.filter((r) => r.name === name);
  assert.equal(found.length, 1, `one resource named ${name}`);
  return found[0]!;
};

describe('the Pulumi program', () => {
  it('declares exactly these resources (IAM members apart)', () => {
    const nonIam = graph
      .filter((r) => !/iam(member|policy)/i.test(r.type))
      .map((r) => `${r.type.split(':').pop()} ${r.name}`);
    assert.deepEqual(
      nonIam.sort(),
      [
        'Account sa-auditor',
        'Account sa-backfill',
        'Account sa-ingest',
        'Account sa-loader',
        'Account sa-status',
        // alerts.notificationChannels is set: one policy per description
        'AlertPolicy alert-backfill-dead-letters',
        'AlertPolicy alert-failed-partitions',
        'AlertPolicy alert-files-quarantined',
        'AlertPolicy alert-missing-partitions',
        'AlertPolicy alert-orphan-partitions',
        'AlertPolicy alert-stale-partitions',
        'AlertPolicy alert-table-not-fresh',
        'AlertPolicy alert-upstream-missing-partitions',
        'Bucket state-bucket',
        // target.project: the dataset and table are made in that project
        'Dataset dataset-finance-dw:ledger_eu',
        'Dataset dataset-lake_us',
        'Dataset dataset-sessions_us',
        'IAMCustomRole role-labelPatcher',
        // finance-dw's copies of the custom roles granted there (a custom role stays in its project)
        'IAMCustomRole role-labelPatcher@finance-dw',
        'IAMCustomRole role-queryJobs',
        'IAMCustomRole role-syncJobs',
        'IAMCustomRole role-syncTables',
        'IAMCustomRole role-syncTables@finance-dw',
        'Job audit-schedule',
        // log-based metrics (the dead-letter backlog is Pub/Sub's own metric: no resource)
        'Metric metric-tidemark_audit_failed',
        'Metric metric-tidemark_audit_missing',
        'Metric metric-tidemark_audit_orphan',
        'Metric metric-tidemark_audit_quarantined',
        'Metric metric-tidemark_audit_source_deleted',
        'Metric metric-tidemark_audit_stale',
        'Metric metric-tidemark_audit_upstream_missing',
        'Metric metric-tidemark_freshness_lag_seconds',
        'Metric metric-tidemark_quarantined_files',
        // the locations stream
        'Subscription stream-sub-tidemark-stream-locations-dlq-sub',
        'Subscription stream-sub-tidemark-stream-locations-gcs',
        'Subscription sub-auditResults',
        'Subscription sub-backfillDlq',
        'Table table-finance-dw:ledger_eu.ledger',
        'Table table-lake_us.events',
        'Table table-lake_us.locations',
        'Table table-lake_us.orders',
        'Topic stream-topic-tidemark-stream-locations',
        'Topic stream-topic-tidemark-stream-locations-dlq',
        'Topic topic-audit',
        'Topic topic-auditResults',
        'Topic topic-backfill',
        'Topic topic-backfillDlq',
      ].sort(),
    );
  });

  it('grants exactly these members these roles at these scopes', () => {
    const L = SA('loader'),
      A = SA('auditor'),
      B = SA('backfill'),
      S = SA('status'),
      I = SA('ingest');
    const expected = [
      // loader
      `${L} | roles/storage.objectViewer | bucket lake-seoul`,
      `${L} | roles/storage.objectViewer | bucket orders-seoul`,
      `${L} | roles/storage.objectUser | bucket ${STATE} | ${STATE_CONDITION}`,
      `${L} | ${custom('syncJobs')} | project tidemark-test`,
      `${L} | ${custom('syncTables')} | dataset tidemark-test:lake_us`,
      `${L} | ${custom('syncTables')} | dataset tidemark-test:sessions_us`,
      // ledger's dataset is in finance-dw: granted there, with finance-dw's copy of the custom role
      `${L} | ${custom('syncTables', 'finance-dw')} | dataset finance-dw:ledger_eu`,
      `${L} | roles/eventarc.eventReceiver | project tidemark-test`,
      // auditor
      `${A} | roles/storage.objectViewer | bucket lake-seoul`,
      `${A} | roles/storage.objectViewer | bucket orders-seoul`,
      `${A} | roles/storage.objectViewer | bucket ${STATE}`,
      `${A} | ${custom('queryJobs')} | project tidemark-test`,
      `${A} | roles/bigquery.metadataViewer | dataset tidemark-test:lake_us`,
      `${A} | roles/bigquery.metadataViewer | dataset tidemark-test:sessions_us`,
      `${A} | roles/bigquery.metadataViewer | dataset finance-dw:ledger_eu`,
      `${A} | ${custom('labelPatcher')} | table tidemark-test:lake_us.events`,
      `${A} | ${custom('labelPatcher')} | table tidemark-test:lake_us.orders`,
      `${A} | ${custom('labelPatcher')} | table tidemark-test:lake_us.locations`,
      `${A} | ${custom('labelPatcher', 'finance-dw')} | table finance-dw:ledger_eu.ledger`,
      // sessions has no schema: its first load creates it, so the grant waits on the dataset
      `${A} | ${custom('labelPatcher')} | dataset tidemark-test:sessions_us`,
      `${A} | roles/pubsub.publisher | topic tidemark-backfill`,
      `${A} | roles/pubsub.publisher | topic tidemark-audit-results`,
      // backfill
      `${B} | roles/storage.objectViewer | bucket lake-seoul`,
      `${B} | roles/storage.objectViewer | bucket orders-seoul`,
      `${B} | roles/storage.objectUser | bucket ${STATE} | ${STATE_CONDITION}`,
      `${B} | ${custom('syncJobs')} | project tidemark-test`,
      `${B} | ${custom('syncTables')} | dataset tidemark-test:lake_us`,
      `${B} | ${custom('syncTables')} | dataset tidemark-test:sessions_us`,
      `${B} | ${custom('syncTables', 'finance-dw')} | dataset finance-dw:ledger_eu`,
      `${B} | roles/pubsub.publisher | topic tidemark-backfill`,
      // status: read state and table metadata, list dead letters, publish operators' reloads
      `${S} | roles/storage.objectViewer | bucket ${STATE}`,
      `${S} | roles/bigquery.metadataViewer | dataset tidemark-test:lake_us`,
      `${S} | roles/bigquery.metadataViewer | dataset tidemark-test:sessions_us`,
      `${S} | roles/bigquery.metadataViewer | dataset finance-dw:ledger_eu`,
      `${S} | roles/pubsub.subscriber | subscription tidemark-backfill-dlq-sub`,
      `${S} | roles/pubsub.publisher | topic tidemark-backfill`,
      // ingest: its stream topics, nothing else
      `${I} | roles/pubsub.publisher | topic tidemark-stream-locations`,
      // service agents
      `${PUBSUB_AGENT} | roles/pubsub.publisher | topic tidemark-backfill-dlq`,
      // ... and for the locations stream: write its files, dead-letter what it cannot write
      `${PUBSUB_AGENT} | roles/storage.objectCreator | bucket lake-seoul`,
      `${PUBSUB_AGENT} | roles/storage.legacyBucketReader | bucket lake-seoul`,
      `${PUBSUB_AGENT} | roles/pubsub.publisher | topic tidemark-stream-locations-dlq`,
      `${PUBSUB_AGENT} | roles/pubsub.subscriber | subscription tidemark-stream-locations-gcs`,
      `${GCS_AGENT} | roles/pubsub.publisher | project tidemark-test`,
    ].sort();
    assert.deepEqual(iamTuples(graph), expected);
  });

  it('grants nothing the role table does not (a role added outside infra/roles.ts fails here)', () => {
    assert.deepEqual(iamTuples(graph), tableTuples());
    // The check sees a stray grant wherever it is declared.
    const stray: GraphResource = {
      type: 'gcp:projects/iAMMember:IAMMember',
      name: 'stray',
      inputs: { project: 'tidemark-test', role: 'roles/bigquery.resourceViewer', member: SA('loader') },
    };
    const extra = iamTuples([...graph, stray]).filter((t) => !tableTuples().includes(t));
    assert.deepEqual(extra, [`${SA('loader')} | roles/bigquery.resourceViewer | project tidemark-test`]);
    // ... for the HTTP functions' accounts too: ingest publishing to a fixed topic, status acking
    // (subscriber on the topic's other subscription) are not in the table.
    const strays: GraphResource[] = [
      {
        type: 'gcp:pubsub/topicIAMMember:TopicIAMMember',
        name: 'stray-ingest',
        inputs: { topic: 'tidemark-backfill', role: 'roles/pubsub.publisher', member: SA('ingest') },
      },
      {
        type: 'gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember',
        name: 'stray-status',
        inputs: { subscription: 'tidemark-audit-results-sub', role: 'roles/pubsub.subscriber', member: SA('status') },
      },
    ];
    assert.deepEqual(
      iamTuples([...graph, ...strays]).filter((t) => !tableTuples().includes(t)),
      [
        `${SA('ingest')} | roles/pubsub.publisher | topic tidemark-backfill`,
        `${SA('status')} | roles/pubsub.subscriber | subscription tidemark-audit-results-sub`,
      ],
    );
  });

  it("the README rows for the streams' agent grants name the roles describeStreams grants", () => {
    const [s] = describeStreams(config, { lakeRegion: 'asia-northeast3', ingestAccountEmail: SA('ingest') }).streams;
    assert.deepEqual(
      STREAM_AGENT_ROWS.map((r) => r.role),
      s!.grants.filter((g) => g.member.kind === 'pubsub-service-agent').map((g) => g.role),
    );
  });

  it('gives the ingest account exactly the publisher grants describeStreams states', () => {
    const described = describeStreams(config, {
      lakeRegion: 'asia-northeast3',
      ingestAccountEmail: 'tidemark-ingest@tidemark-test.iam.gserviceaccount.com',
    }).ingestGrants;
    const fromTable = iamTuples(graph).filter((t) => t.startsWith(SA('ingest')));
    assert.deepEqual(
      fromTable,
      described
        .map(
          (g) =>
            `serviceAccount:${g.member.kind === 'service-account' ? g.member.email : '?'} | ${g.role} | ${g.resource.kind} ${g.resource.name}`,
        )
        .sort(),
    );
  });

  it('gives no function account a broad BigQuery role, and nothing at project level beyond jobs and the trigger identity', () => {
    const tuples = iamTuples(graph).filter((t) => /tidemark-(loader|auditor|backfill|status|ingest)@/.test(t));
    for (const t of tuples) {
      assert.doesNotMatch(t, /roles\/bigquery\.(resourceViewer|dataEditor|dataOwner|admin|user|jobUser|dataViewer)/, t);
      if (t.includes('| project '))
        assert.match(t, /tidemark_(syncJobs|queryJobs) \| project|roles\/eventarc\.eventReceiver \| project/, t);
    }
  });

  it('defines custom roles with only the permissions each call needs', () => {
    const perms = (name: string) => byName(name).inputs.permissions as string[];
    assert.deepEqual(perms('role-syncJobs'), ['bigquery.jobs.create', 'bigquery.jobs.get']);
    assert.deepEqual(perms('role-queryJobs'), ['bigquery.jobs.create']);
    assert.deepEqual(perms('role-labelPatcher'), ['bigquery.tables.get', 'bigquery.tables.update']);
    assert.ok(!perms('role-syncTables').some((p) => /jobs\.|setIamPolicy|datasets\.|routines\.|models\./.test(p)));
    assert.equal(byName('role-syncJobs').inputs.roleId, 'tidemark_syncJobs');
  });

  it('creates the state bucket in the lake region, uniform access, no public access, with a policy of tidemark accounts only', () => {
    const b = byName('state-bucket').inputs;
    assert.deepEqual(
      { name: b.name, location: b.location, ubla: b.uniformBucketLevelAccess, pap: b.publicAccessPrevention },
      { name: STATE, location: 'ASIA-NORTHEAST3', ubla: true, pap: 'enforced' },
    );
    const policy = byName('state-bucket-policy').inputs;
    assert.equal(policy.bucket, STATE);
    const members = new Set(
      (JSON.parse(policy.policyData).bindings as { members: string[] }[]).flatMap((x) => x.members),
    );
    assert.deepEqual([...members].sort(), [SA('auditor'), SA('backfill'), SA('loader'), SA('status')]);
    assert.ok(
      !graph.some((r) => r.type === 'gcp:storage/bucketIAMMember:BucketIAMMember' && r.inputs.bucket === STATE),
      'no additive member beside the authoritative policy',
    );
  });

  it('declares the topics, the pull subscriptions that never expire, and the audit schedule from audit:', () => {
    assert.deepEqual(
      graph
        .filter((r) => r.type === 'gcp:pubsub/topic:Topic')
        .map((r) => r.inputs.name)
        .sort(),
      [
        'tidemark-audit',
        'tidemark-audit-results',
        'tidemark-backfill',
        'tidemark-backfill-dlq',
        'tidemark-stream-locations',
        'tidemark-stream-locations-dlq',
      ],
    );
    for (const [name, sub, topic] of [
      ['sub-backfillDlq', 'tidemark-backfill-dlq-sub', 'tidemark-backfill-dlq'],
      ['sub-auditResults', 'tidemark-audit-results-sub', 'tidemark-audit-results'],
    ] as const) {
      assert.deepEqual(byName(name).inputs, {
        project: 'tidemark-test',
        name: sub,
        topic: `projects/tidemark-test/topics/${topic}`,
        ackDeadlineSeconds: 60,
        messageRetentionDuration: '604800s',
        expirationPolicy: { ttl: '' },
      });
    }
    const job = byName('audit-schedule').inputs;
    assert.deepEqual(
      {
        name: job.name,
        region: job.region,
        schedule: job.schedule,
        timeZone: job.timeZone,
        topic: job.pubsubTarget.topicName,
        data: Buffer.from(job.pubsubTarget.data, 'base64').toString(),
      },
      {
        name: 'tidemark-audit',
        region: 'asia-northeast3',
        schedule: '*/5 * * * *',
        timeZone: 'Asia/Seoul',
        topic: 'projects/tidemark-test/topics/tidemark-audit',
        data: '{}',
      },
    );
    assert.deepEqual(job.retryConfig, {
      retryCount: 3,
      minBackoffDuration: '30s',
      maxBackoffDuration: '300s',
      maxDoublings: 3,
    });
  });

  it('declares datasets in the config location and tables with schema, partitioning and labels; a table without schema is left to its first load', () => {
    for (const d of ['lake_us', 'sessions_us'])
      assert.deepEqual(byName(`dataset-${d}`).inputs, { project: 'tidemark-test', datasetId: d, location: 'US' });
    const events = byName('table-lake_us.events').inputs;
    assert.deepEqual(JSON.parse(events.schema), [
      { name: 'event_id', type: 'STRING', mode: 'REQUIRED' },
      { name: 'ts', type: 'TIMESTAMP' },
    ]);
    assert.deepEqual(events.timePartitioning, { type: 'HOUR', field: 'ts' });
    assert.deepEqual(events.labels, { team: 'data' });
    assert.equal(events.deletionProtection, true);
    assert.deepEqual(byName('table-lake_us.orders').inputs.timePartitioning, { type: 'DAY' });
    assert.ok(!graph.some((r) => r.name.includes('sessions_us.sessions')));
  });

  it('declares one service account per function, named <prefix>-<role>', () => {
    const ids = graph
      .filter((r) => r.type === 'gcp:serviceaccount/account:Account')
      .map((r) => r.inputs.accountId)
      .sort();
    assert.deepEqual(ids, [
      'tidemark-auditor',
      'tidemark-backfill',
      'tidemark-ingest',
      'tidemark-loader',
      'tidemark-status',
    ]);
  });

  it('declares each stream: topics stored in the lake region, the Cloud Storage subscription writing text files into the lake, its dead-letter topic and subscription', () => {
    const labels = { tidemark: 'stream', tidemark_stream: 'locations' };
    for (const name of ['tidemark-stream-locations', 'tidemark-stream-locations-dlq']) {
      assert.deepEqual(byName(`stream-topic-${name}`).inputs, {
        project: 'tidemark-test',
        name,
        messageStoragePolicy: { allowedPersistenceRegions: ['asia-northeast3'] },
        labels,
      });
    }
    assert.deepEqual(byName('stream-sub-tidemark-stream-locations-gcs').inputs, {
      project: 'tidemark-test',
      name: 'tidemark-stream-locations-gcs',
      topic: 'projects/tidemark-test/topics/tidemark-stream-locations',
      ackDeadlineSeconds: 300,
      cloudStorageConfig: {
        bucket: 'lake-seoul',
        filenamePrefix: 'streams/locations/',
        filenameSuffix: '.ndjson',
        filenameDatetimeFormat: 'YYYY-MM-DD/hh/mm_ssZ',
        maxDuration: '120s',
        maxBytes: 5_000_000,
        textConfig: {},
      },
      deadLetterPolicy: {
        deadLetterTopic: 'projects/tidemark-test/topics/tidemark-stream-locations-dlq',
        maxDeliveryAttempts: 10,
      },
      retryPolicy: { minimumBackoff: '10s', maximumBackoff: '600s' },
      messageRetentionDuration: '604800s',
      expirationPolicy: { ttl: '' },
      labels,
    });
    assert.deepEqual(byName('stream-sub-tidemark-stream-locations-dlq-sub').inputs, {
      project: 'tidemark-test',
      name: 'tidemark-stream-locations-dlq-sub',
      topic: 'projects/tidemark-test/topics/tidemark-stream-locations-dlq',
      ackDeadlineSeconds: 60,
      messageRetentionDuration: '604800s',
      expirationPolicy: { ttl: '' },
      labels,
    });
  });

  it('declares the log-based metrics and, with notification channels, alert policies on them', () => {
    const counter = byName('metric-tidemark_quarantined_files').inputs;
    assert.deepEqual(
      {
        name: counter.name,
        descriptor: counter.metricDescriptor,
        labels: counter.labelExtractors,
        value: counter.valueExtractor,
      },
      {
        name: 'tidemark_quarantined_files',
        descriptor: {
          metricKind: 'DELTA',
          valueType: 'INT64',
          unit: '1',
          labels: [{ key: 'table', valueType: 'STRING' }],
        },
        labels: { table: 'EXTRACT(jsonPayload.table)' },
        value: undefined,
      },
    );
    assert.match(counter.filter, /resource\.labels\.service_name=~"\^\(tidemark-loader\|tidemark-backfill\)\$"/);
    const lag = byName('metric-tidemark_freshness_lag_seconds').inputs;
    assert.deepEqual(
      [lag.metricDescriptor.valueType, lag.valueExtractor, lag.metricDescriptor.unit],
      ['DISTRIBUTION', 'EXTRACT(jsonPayload.freshnessLagSeconds)', 's'],
    );
    // Percentiles interpolate inside a bucket: 10%-wide buckets keep a 6 h threshold from firing at 5 h.
    assert.deepEqual(lag.bucketOptions, { exponentialBuckets: { numFiniteBuckets: 150, growthFactor: 1.1, scale: 1 } });
    const dlq = byName('alert-backfill-dead-letters').inputs;
    assert.deepEqual(dlq.notificationChannels, ['projects/tidemark-test/notificationChannels/7']);
    assert.deepEqual(dlq.conditions[0].conditionThreshold, {
      filter:
        'metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages" AND resource.type="pubsub_subscription" AND resource.labels.subscription_id="tidemark-backfill-dlq-sub"',
      aggregations: [{ alignmentPeriod: '300s', perSeriesAligner: 'ALIGN_MAX' }],
      comparison: 'COMPARISON_GT',
      thresholdValue: 0,
      duration: '600s',
    });
    assert.equal(
      byName('alert-table-not-fresh').inputs.conditions[0].conditionThreshold.filter,
      'metric.type="logging.googleapis.com/user/tidemark_freshness_lag_seconds" AND resource.type="cloud_run_revision"',
    );
    assert.equal(byName('alert-files-quarantined').inputs.documentation.mimeType, 'text/markdown');
  });

  it("aligns each policy's series as Cloud Monitoring allows for its value type (a distribution has no ALIGN_MAX)", () => {
    const valueType = new Map(
      graph
        .filter((r) => r.type === 'gcp:logging/metric:Metric')
        .map((r) => [`logging.googleapis.com/user/${r.inputs.name}`, r.inputs.metricDescriptor.valueType as string]),
    );
    const policies = graph.filter((r) => r.type === 'gcp:monitoring/alertPolicy:AlertPolicy');
    assert.equal(policies.length, 8);
    for (const p of policies) {
      const t = p.inputs.conditions[0].conditionThreshold;
      const metric = /metric\.type="([^"]+)"/.exec(t.filter)![1]!;
      const aligner = t.aggregations[0].perSeriesAligner as string;
      // Builtin num_undelivered_messages is an INT64 gauge.
      const type = valueType.get(metric) ?? 'INT64';
      if (type === 'DISTRIBUTION')
        assert.match(aligner, /^ALIGN_(PERCENTILE_\d+|DELTA)$/, `${p.name}: ${aligner} on a distribution`);
      else assert.match(aligner, /^ALIGN_(MAX|MIN|SUM|MEAN|COUNT|DELTA)$/, `${p.name}: ${aligner} on ${type}`);
    }
  });

  it('without notification channels, declares the metrics and no alert policy', async () => {
    const { alerts: _none, ...rest } = config;
    const g = await resourceGraph(rest, deploy);
    // One per audit class worth a metric (source-deleted included, though it pages nobody) and two more.
    assert.equal(g.filter((r) => r.type === 'gcp:logging/metric:Metric').length, 9);
    assert.ok(!g.some((r) => r.type === 'gcp:monitoring/alertPolicy:AlertPolicy'));
  });

  it('creates a dataset and table of another project (target.project) in that project, its custom roles there too', () => {
    assert.deepEqual(byName('dataset-finance-dw:ledger_eu').inputs, {
      project: 'finance-dw',
      datasetId: 'ledger_eu',
      location: 'US',
    });
    const ledger = byName('table-finance-dw:ledger_eu.ledger').inputs;
    assert.deepEqual([ledger.project, ledger.datasetId, ledger.tableId], ['finance-dw', 'ledger_eu', 'ledger']);
    assert.deepEqual(
      [byName('role-syncTables@finance-dw').inputs.project, byName('role-syncTables@finance-dw').inputs.roleId],
      ['finance-dw', 'tidemark_syncTables'],
    );
  });

  it('when the state bucket is a lake bucket, creates no bucket and adds members instead of replacing its policy', async () => {
    const shared = testConfig(); // state bucket = lake-seoul
    const g = await resourceGraph(shared, deploy);
    assert.ok(
      !g.some(
        (r) => r.type === 'gcp:storage/bucket:Bucket' || r.type === 'gcp:storage/bucketIAMPolicy:BucketIAMPolicy',
      ),
    );
    assert.ok(
      iamTuples(g).includes(
        `${SA('loader')} | roles/storage.objectUser | bucket lake-seoul | resource.name.startsWith("projects/_/buckets/lake-seoul/objects/_tidemark/")`,
      ),
    );
  });

  describe('with a table in commit mode dml', async () => {
    // events commits by DML: the committer, its topic, its tick and its grants join the graph.
    const dml: Config = {
      ...config,
      tables: config.tables.map((t) =>
        t.name === 'events' ? { ...t, commit: { mode: 'dml', intervalMs: 60_000 } } : t,
      ),
    };
    const g = await resourceGraph(dml, deploy);
    const names = (resources: GraphResource[]) =>
      resources.filter((r) => !/iam(member|policy)/i.test(r.type)).map((r) => `${r.type.split(':').pop()} ${r.name}`);
    const C = SA('committer');

    it('adds exactly the committer account, the commit topic and the commit tick; none of them exist without one', () => {
      assert.deepEqual(
        names(g)
          .filter((n) => !names(graph).includes(n))
          .sort(),
        ['Account sa-committer', 'Job commit-tick', 'Topic topic-commit'],
      );
      assert.deepEqual(
        names(graph).filter((n) => !names(g).includes(n)),
        [],
      );
      assert.ok(!graph.some((r) => /commit/.test(r.name)), 'no commit resource without a dml table');
      assert.ok(!iamTuples(graph).some((t) => t.includes(C)), 'no committer grant without a dml table');
    });

    it('ticks every minute on the commit topic, in deploy.region, without retry', () => {
      const job = g.find((r) => r.name === 'commit-tick')!.inputs;
      assert.deepEqual(
        {
          name: job.name,
          region: job.region,
          schedule: job.schedule,
          topic: job.pubsubTarget.topicName,
          data: Buffer.from(job.pubsubTarget.data, 'base64').toString(),
          retry: job.retryConfig,
        },
        {
          name: 'tidemark-commit-tick',
          region: 'asia-northeast3',
          schedule: '* * * * *',
          topic: 'projects/tidemark-test/topics/tidemark-commit',
          data: '{}',
          retry: { retryCount: 0 },
        },
      );
      assert.equal(g.find((r) => r.name === 'topic-commit')!.inputs.name, 'tidemark-commit');
    });

    it("grants the committer the backfill account's loads and state, the DML transaction's tables and jobs, and nothing else", () => {
      assert.deepEqual(
        iamTuples(g).filter((t) => !iamTuples(graph).includes(t)),
        [
          `${C} | roles/storage.objectViewer | bucket lake-seoul`,
          `${C} | roles/storage.objectViewer | bucket orders-seoul`,
          `${C} | roles/storage.objectUser | bucket ${STATE} | ${STATE_CONDITION}`,
          `${C} | ${custom('syncJobs')} | project tidemark-test`,
          `${C} | ${custom('syncTables')} | dataset tidemark-test:lake_us`,
          `${C} | ${custom('syncTables')} | dataset tidemark-test:sessions_us`,
          `${C} | ${custom('syncTables', 'finance-dw')} | dataset finance-dw:ledger_eu`,
        ].sort(),
      );
      assert.deepEqual(iamTuples(g), tableTuples(dml), 'no grant outside the role table');
      // The DML transaction's permissions are in the custom roles it holds.
      const perms = (name: string) => g.find((r) => r.name === name)!.inputs.permissions as string[];
      for (const p of ['bigquery.tables.updateData', 'bigquery.tables.getData', 'bigquery.tables.create'])
        assert.ok(perms('role-syncTables').includes(p), p);
      assert.ok(perms('role-syncJobs').includes('bigquery.jobs.create'));
      // ... and run.invoker on its own service, after deploy.
      assert.ok(
        expandGrants(dml, deploy).some(
          (x) =>
            x.member === C &&
            x.role === 'roles/run.invoker' &&
            x.afterDeploy &&
            x.target.type === 'function' &&
            x.target.function === 'tidemark-committer',
        ),
      );
    });
  });

  it('the entry point (infra/index.ts) reads the config named by TIDEMARK_CONFIG, relative to the repository root', async () => {
    const saved = process.env.TIDEMARK_CONFIG;
    process.env.TIDEMARK_CONFIG = 'examples/tidemark.config.yaml';
    try {
      const g = await graphOf(() => import('../../infra/index.ts'));
      const topics = g
        .filter((r) => r.type === 'gcp:pubsub/topic:Topic')
        .map((r) => r.inputs.project + '/' + r.inputs.name);
      assert.deepEqual(topics.sort(), [
        'my-project/tidemark-audit',
        'my-project/tidemark-audit-results',
        'my-project/tidemark-backfill',
        'my-project/tidemark-backfill-dlq',
      ]);
      // examples: events has a schema (schemas/events.json), orders is autodetected
      assert.deepEqual(
        g.filter((r) => r.type === 'gcp:bigquery/table:Table').map((r) => r.name),
        ['table-lake_us.events'],
      );
      assert.equal(g.find((r) => r.type === 'gcp:cloudscheduler/job:Job')?.inputs.timeZone, 'Asia/Seoul');
    } finally {
      if (saved === undefined) delete process.env.TIDEMARK_CONFIG;
      else process.env.TIDEMARK_CONFIG = saved;
    }
  });
});
