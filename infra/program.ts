/**
 * The Pulumi program: everything a tidemark deployment needs, declared from the config alone.
 * Topics and subscriptions with their dead-letter and retry policies, the Pub/Sub service agent's
 * grants, the Cloud Scheduler jobs (the audit; the commit tick with a commit-mode dml table),
 * datasets and tables (in each table's own project), the state bucket, custom roles, one service
 * account per function and its grants (roles.ts, expanded by grants.ts; the committer's only with
 * a dml table), the realtime streams' topics and Cloud Storage subscriptions (streams.ts), and the
 * log-based metrics and alert policies (alerts.ts).
 *
 * What only exists after `gcloud functions deploy` (Eventarc's subscription on the backfill
 * topic, each function's Cloud Run service, so every run.invoker grant) is not declared here:
 * the cloudbuild after-deploy step applies those rows (deploy-commands.ts). Data never goes with `pulumi destroy`: datasets,
 * tables and the state bucket are retained.
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import type { Config } from '../shared/config/types.ts';
import { describeAlerts } from '../shared/deploy/alerts.ts';
import { commitsTables, describeFunctions, neededTopics } from '../shared/deploy/functions.ts';
import { declareAlerts } from './alerts.ts';
import { COMMIT_TICK, DLQ_RETENTION_SECONDS, SCHEDULER_RETRY } from './delivery.ts';
import type { DeploySettings } from './deploy-config.ts';
import {
  PROJECT_NUMBER,
  datasetKey,
  expandGrants,
  foreignProject,
  lakeBuckets,
  targetDatasets,
  targetKey,
  targetProject,
} from './grants.ts';
import type { ExpandedGrant } from './grants.ts';
import { CUSTOM_ROLES, customRoleId } from './roles.ts';
import { declareStreamSubscriptions, declareStreamTopics, describeStreams } from './streams.ts';

/** What the program exports (stack outputs). */
export interface TidemarkOutputs {
  serviceAccounts: Record<string, pulumi.Output<string>>;
  stateBucket: string;
  topics: Record<string, pulumi.Output<string>>;
}

/** Declares every resource for this config; returns the stack outputs. */
export function declareTidemark(config: Config, deploy: DeploySettings): TidemarkOutputs {
  const project = config.project;
  const provider = new gcp.Provider('gcp', { project, region: deploy.region });
  const opts: pulumi.CustomResourceOptions = { provider };
  // Data and state outlive the stack: `pulumi destroy` leaves them (delete them by hand if meant).
  const keep: pulumi.CustomResourceOptions = { provider, retainOnDelete: true };
  const projectNumber = gcp.organizations.getProjectOutput({ projectId: project }, { provider }).apply((p) => p.number);

  // ---- identities ---------------------------------------------------------------------------
  const functions = describeFunctions(config, deploy);
  const accounts: Record<string, gcp.serviceaccount.Account> = {};
  for (const fn of functions) {
    accounts[fn.role] = new gcp.serviceaccount.Account(
      `sa-${fn.role}`,
      {
        project,
        accountId: fn.serviceAccountId,
        displayName: `tidemark ${fn.role}`,
        description: `Runs the tidemark ${fn.role} function (managed by the tidemark Pulumi program)`,
      },
      opts,
    );
  }
  const grants = expandGrants(config, deploy).filter((g) => !g.afterDeploy);
  const roles: Record<string, gcp.projects.IAMCustomRole> = {};
  // Every custom role in the config's project; in a table's `target.project`, those granted
  // there (a custom role can only be granted in the project that defines it).
  const roleProjects = [
    project,
    ...new Set(grants.map((g) => targetProject(g.target)).filter((p): p is string => p !== undefined)),
  ];
  for (const where of roleProjects) {
    for (const r of CUSTOM_ROLES) {
      const full = `projects/${where}/roles/${customRoleId(deploy.serviceAccountPrefix, r.key)}`;
      if (where !== project && !grants.some((g) => g.role === full)) continue;
      roles[full] = new gcp.projects.IAMCustomRole(
        where === project ? `role-${r.key}` : `role-${r.key}@${where}`,
        {
          project: where,
          roleId: customRoleId(deploy.serviceAccountPrefix, r.key),
          title: r.title,
          description: r.why,
          permissions: [...r.permissions],
          stage: 'GA',
        },
        opts,
      );
    }
  }

  // ---- Pub/Sub ------------------------------------------------------------------------------
  const { topics } = config;
  const topic: Record<string, gcp.pubsub.Topic> = {};
  // The commit topic only with a commit-mode dml table (its committer is deployed only then).
  for (const key of neededTopics(config)) {
    const name = topics[key];
    topic[name] = new gcp.pubsub.Topic(`topic-${key}`, { project, name }, opts);
  }
  // Pull subscriptions for people and `tidemark dlq`: a week of retention, never expire (the
  // default deletes a subscription idle for 31 days, and a quiet DLQ must not vanish).
  const subscription: Record<string, gcp.pubsub.Subscription> = {};
  for (const [key, name] of [
    ['backfillDlq', topics.backfillDlq],
    ['auditResults', topics.auditResults],
  ] as const) {
    subscription[`${name}-sub`] = new gcp.pubsub.Subscription(
      `sub-${key}`,
      {
        project,
        name: `${name}-sub`,
        topic: topic[name]!.id,
        ackDeadlineSeconds: 60,
        messageRetentionDuration: `${DLQ_RETENTION_SECONDS}s`,
        expirationPolicy: { ttl: '' },
      },
      opts,
    );
  }

  // ---- schedule -----------------------------------------------------------------------------
  new gcp.cloudscheduler.Job(
    'audit-schedule',
    {
      project,
      region: deploy.region,
      name: `${deploy.serviceAccountPrefix}-audit`,
      description: 'tidemark gap audit (managed by the tidemark Pulumi program)',
      schedule: config.audit.schedule,
      timeZone: config.audit.timeZone,
      pubsubTarget: { topicName: topic[topics.audit]!.id, data: Buffer.from('{}').toString('base64') },
      retryConfig: {
        retryCount: SCHEDULER_RETRY.retryCount,
        minBackoffDuration: `${SCHEDULER_RETRY.minBackoffSeconds}s`,
        maxBackoffDuration: `${SCHEDULER_RETRY.maxBackoffSeconds}s`,
        maxDoublings: SCHEDULER_RETRY.maxDoublings,
      },
    },
    opts,
  );
  // The committer's tick, only when some table commits in mode dml: every minute (Scheduler's
  // finest); commitTables skips a table that committed less than its interval ago.
  if (commitsTables(config)) {
    new gcp.cloudscheduler.Job(
      'commit-tick',
      {
        project,
        region: deploy.region,
        name: `${deploy.serviceAccountPrefix}-commit-tick`,
        description: 'tidemark commit tick for commit-mode dml tables (managed by the tidemark Pulumi program)',
        schedule: COMMIT_TICK.schedule,
        timeZone: COMMIT_TICK.timeZone,
        pubsubTarget: { topicName: topic[topics.commit]!.id, data: Buffer.from('{}').toString('base64') },
        retryConfig: { retryCount: COMMIT_TICK.retryCount },
      },
      opts,
    );
  }

  // ---- BigQuery -----------------------------------------------------------------------------
  // Each in its table's project (`target.project`), keyed by project and dataset. Resources in the
  // config's project keep their plain names, so existing stacks see no rename (a renamed,
  // retained dataset would be re-created over the old one and fail).
  const dataset: Record<string, gcp.bigquery.Dataset> = {};
  for (const d of targetDatasets(config)) {
    const key = datasetKey(d);
    dataset[key] = new gcp.bigquery.Dataset(
      `dataset-${key}`,
      { project: d.project ?? project, datasetId: d.dataset, location: config.location },
      keep,
    );
  }
  const table: Record<string, gcp.bigquery.Table> = {};
  for (const t of config.tables) {
    const { ref, partitioning, schema, labels, description } = t.spec;
    // Without a schema the first load creates the table (autodetect).
    if (!schema) continue;
    const where = { dataset: ref.dataset, ...foreignProject(config, ref) };
    const key = `${datasetKey(where)}.${ref.table}`;
    table[key] = new gcp.bigquery.Table(
      `table-${key}`,
      {
        project: where.project ?? project,
        datasetId: dataset[datasetKey(where)]!.datasetId,
        tableId: ref.table,
        schema: JSON.stringify(schema),
        timePartitioning: { type: partitioning.type, ...(partitioning.field ? { field: partitioning.field } : {}) },
        // Non-authoritative in the provider: the loader's and auditor's own labels are left alone.
        ...(labels ? { labels } : {}),
        ...(description ? { description } : {}),
        deletionProtection: true,
      },
      keep,
    );
  }

  // ---- state bucket -------------------------------------------------------------------------
  const ownsStateBucket = !lakeBuckets(config).includes(config.state.bucket);
  let stateBucket: gcp.storage.Bucket | undefined;
  if (ownsStateBucket) {
    stateBucket = new gcp.storage.Bucket(
      'state-bucket',
      {
        project,
        name: config.state.bucket,
        location: deploy.lakeRegion.toUpperCase(),
        uniformBucketLevelAccess: true,
        publicAccessPrevention: 'enforced',
        versioning: { enabled: false },
        forceDestroy: false,
      },
      keep,
    );
    // Authoritative: tidemark's accounts and nobody else on the bucket (the default policy's
    // legacy projectEditor/projectOwner bindings would let any editor write state).
    const onState = grants.filter((g) => g.target.type === 'bucket' && g.target.bucket === config.state.bucket);
    const policy = pulumi.all(onState.map((g) => member(g, projectNumber))).apply((members) =>
      gcp.organizations.getIAMPolicy(
        {
          bindings: onState.map((g, i) => ({
            role: g.role,
            members: [members[i]!],
            ...(g.condition ? { condition: g.condition } : {}),
          })),
        },
        { provider },
      ),
    );
    new gcp.storage.BucketIAMPolicy(
      'state-bucket-policy',
      { bucket: stateBucket.name, policyData: policy.policyData },
      { provider, dependsOn: Object.values(accounts) },
    );
  }

  // ---- streams ------------------------------------------------------------------------------
  const ingest = functions.find((f) => f.role === 'ingest')!;
  const streams = describeStreams(config, {
    lakeRegion: deploy.lakeRegion,
    ingestAccountEmail: ingest.serviceAccountEmail,
  }).streams;
  Object.assign(topic, declareStreamTopics(streams, { project, opts }));

  // ---- grants -------------------------------------------------------------------------------
  // Subscriptions come last: a storage subscription needs the agent's grants when it is created.
  const ctx = (g: ExpandedGrant): GrantContext => ({
    project,
    provider,
    member: member(g, projectNumber),
    accounts: Object.values(accounts),
    roles,
    topic,
    subscription,
    dataset,
    table,
  });
  const streamSubscriptions = new Set(
    streams.flatMap((s) => s.subscriptions.map((sub) => sub.name.slice(sub.name.lastIndexOf('/') + 1))),
  );
  const declared: pulumi.Resource[] = [];
  for (const g of grants) {
    if (stateBucket && g.target.type === 'bucket' && g.target.bucket === config.state.bucket) continue; // in the policy above
    if (g.target.type === 'subscription' && streamSubscriptions.has(g.target.subscription)) continue; // below, once it exists
    declared.push(declareGrant(g, ctx(g)));
  }
  Object.assign(subscription, declareStreamSubscriptions(streams, { project, opts, topics: topic, grants: declared }));
  for (const g of grants) {
    if (g.target.type === 'subscription' && streamSubscriptions.has(g.target.subscription)) declareGrant(g, ctx(g));
  }

  // ---- alerts -------------------------------------------------------------------------------
  const service = (role: string) => functions.find((f) => f.role === role)!.name;
  declareAlerts(
    describeAlerts(config, {
      services: {
        loader: service('loader'),
        auditor: service('auditor'),
        backfill: service('backfill'),
        // Deployed only with a commit-mode dml table.
        ...(functions.some((f) => f.role === 'committer') ? { committer: service('committer') } : {}),
      },
    }),
    { project, opts },
  );

  return {
    serviceAccounts: Object.fromEntries(Object.entries(accounts).map(([role, a]) => [role, a.email])),
    stateBucket: config.state.bucket,
    topics: Object.fromEntries(Object.entries(topic).map(([name, t]) => [name, t.id])),
  };
}

function member(g: ExpandedGrant, projectNumber: pulumi.Output<string>): pulumi.Output<string> {
  return g.member.includes(PROJECT_NUMBER)
    ? projectNumber.apply((n) => g.member.replace(PROJECT_NUMBER, n))
    : pulumi.output(g.member);
}

interface GrantContext {
  project: string;
  provider: gcp.Provider;
  member: pulumi.Output<string>;
  accounts: gcp.serviceaccount.Account[];
  roles: Record<string, gcp.projects.IAMCustomRole>;
  topic: Record<string, gcp.pubsub.Topic>;
  subscription: Record<string, gcp.pubsub.Subscription>;
  dataset: Record<string, gcp.bigquery.Dataset>;
  table: Record<string, gcp.bigquery.Table>;
}

/** One additive IAM member resource; its name says who gets what where. */
function declareGrant(g: ExpandedGrant, ctx: GrantContext): pulumi.Resource {
  const name = `iam ${g.role.split('/').pop()} ${g.member.split(':')[1]!.split('@')[0]} ${targetKey(g.target)}`;
  const customRole = ctx.roles[g.role];
  const opts: pulumi.CustomResourceOptions = {
    provider: ctx.provider,
    dependsOn: [...ctx.accounts, ...(customRole ? [customRole] : [])],
  };
  const condition = g.condition ? { condition: g.condition } : {};
  const t = g.target;
  switch (t.type) {
    case 'project':
      return new gcp.projects.IAMMember(
        name,
        { project: ctx.project, role: g.role, member: ctx.member, ...condition },
        opts,
      );
    case 'bucket':
      return new gcp.storage.BucketIAMMember(
        name,
        { bucket: t.bucket, role: g.role, member: ctx.member, ...condition },
        opts,
      );
    case 'dataset':
      return new gcp.bigquery.DatasetIamMember(
        name,
        {
          project: t.project ?? ctx.project,
          datasetId: ctx.dataset[datasetKey(t)]!.datasetId,
          role: g.role,
          member: ctx.member,
        },
        opts,
      );
    case 'table':
      return new gcp.bigquery.IamMember(
        name,
        {
          project: t.project ?? ctx.project,
          datasetId: t.dataset,
          tableId: ctx.table[`${datasetKey(t)}.${t.table}`]!.tableId,
          role: g.role,
          member: ctx.member,
        },
        opts,
      );
    case 'topic':
      return new gcp.pubsub.TopicIAMMember(
        name,
        { project: ctx.project, topic: ctx.topic[t.topic]!.name, role: g.role, member: ctx.member },
        opts,
      );
    case 'subscription':
      return new gcp.pubsub.SubscriptionIAMMember(
        name,
        {
          project: ctx.project,
          subscription: ctx.subscription[t.subscription]!.name,
          role: g.role,
          member: ctx.member,
        },
        opts,
      );
    case 'triggerSubscription':
    case 'function':
      throw new Error(`${name} targets what only exists after deploy: the after-deploy step grants it`);
  }
}
