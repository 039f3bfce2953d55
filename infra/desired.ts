/**
 * What a tidemark deployment needs to exist, derived from the config alone: topics, pull
 * subscriptions, the delivery policy on the backfill trigger's subscriptions, the audit schedule,
 * datasets and tables, one service account per function and every IAM binding. Pure: no client,
 * no network. `plan.ts` compares it with what is there.
 */
import type { Config } from '../shared/config/types.ts';
import type { TableSpec } from '../shared/core/ports.ts';
import type { DeploySettings } from './deploy-config.ts';
import { FUNCTION_ROLES, SERVICE_ACCOUNT_GRANTS, SERVICE_AGENT_GRANTS } from './iam.ts';
import type { FunctionRole, GrantScope } from './iam.ts';
import { PROJECT_NUMBER, describeTarget, targetKey } from './targets.ts';
import type { Condition, IamTarget } from './targets.ts';

export { PROJECT_NUMBER, describeTarget, targetKey };
export type { Condition, IamTarget };

export interface TopicResource {
  kind: 'topic';
  name: string;
}

/** A pull subscription tidemark owns. */
export interface SubscriptionResource {
  kind: 'subscription';
  name: string;
  topic: string;
  ackDeadlineSeconds: number;
  retentionSeconds: number;
  /** The default expiration deletes a subscription idle for 31 days; a quiet DLQ must not vanish. */
  neverExpire: true;
}

/**
 * Dead-letter and retry policy for the subscriptions attached to `topic` (Eventarc's push
 * subscriptions). `subscription` is filled in per subscription found at plan time.
 */
export interface DeliveryPolicyResource {
  kind: 'deliveryPolicy';
  topic: string;
  subscription?: string;
  deadLetterTopic: string;
  maxDeliveryAttempts: number;
  minBackoffSeconds: number;
  maxBackoffSeconds: number;
}

export interface SchedulerJobResource {
  kind: 'schedulerJob';
  name: string;
  region: string;
  description: string;
  schedule: string;
  timeZone: string;
  topic: string;
  /** Message body (UTF-8); sent base64-encoded. */
  data: string;
  retry: { retryCount: number; minBackoffSeconds: number; maxBackoffSeconds: number; maxDoublings: number };
}

export interface DatasetResource {
  kind: 'dataset';
  dataset: string;
  location: string;
}

export interface TableResource {
  kind: 'table';
  spec: TableSpec;
  /** The dataset's location (tables are created where their dataset is). */
  location: string;
}

export interface ServiceAccountResource {
  kind: 'serviceAccount';
  function: FunctionRole;
  accountId: string;
  email: string;
  displayName: string;
  description: string;
}

/** One member granted one role on one target. Additive: other members are never removed. */
export interface BindingResource {
  kind: 'binding';
  target: IamTarget;
  role: string;
  member: string;
  condition?: Condition;
  why: string;
}

export type Resource =
  | TopicResource
  | SubscriptionResource
  | DeliveryPolicyResource
  | SchedulerJobResource
  | DatasetResource
  | TableResource
  | ServiceAccountResource
  | BindingResource;

export type ResourceKind = Resource['kind'];

/** Names a deploy uses for one function: the function (and its Cloud Run service) and its identity. */
export interface FunctionNames {
  function: string;
  serviceAccountId: string;
  serviceAccountEmail: string;
}

/** `<prefix>-loader` etc.: each function is named like the service account it runs as. */
export function functionNames(project: string, deploy: Pick<DeploySettings, 'serviceAccountPrefix'>, role: FunctionRole): FunctionNames {
  const id = `${deploy.serviceAccountPrefix}-${role}`;
  return { function: id, serviceAccountId: id, serviceAccountEmail: `${id}@${project}.iam.gserviceaccount.com` };
}

/**
 * Where a function runs: the loader beside the lake bucket (its storage trigger must be in the
 * bucket's region), the others in the deploy region with the scheduler.
 */
export function functionRegion(deploy: Pick<DeploySettings, 'region' | 'lakeRegion'>, role: FunctionRole): string {
  return role === 'loader' ? deploy.lakeRegion : deploy.region;
}

const DAY_SECONDS = 86_400;

/** Everything the deployment needs, in the order it must be applied (identities and parents first). */
export function desiredState(config: Config, deploy: DeploySettings): Resource[] {
  const { project, topics } = config;
  const topic = (name: string) => `projects/${project}/topics/${name}`;
  const resources: Resource[] = [];

  for (const role of FUNCTION_ROLES) {
    const names = functionNames(project, deploy, role);
    resources.push({
      kind: 'serviceAccount',
      function: role,
      accountId: names.serviceAccountId,
      email: names.serviceAccountEmail,
      displayName: `tidemark ${role}`,
      description: `Runs the tidemark ${role} function (managed by tidemark infra)`,
    });
  }

  for (const name of [topics.audit, topics.backfill, topics.backfillDlq, topics.auditResults]) resources.push({ kind: 'topic', name });
  resources.push(
    // Dead letters wait a week for `tidemark dlq` or a human (the emulator refuses more than 7 days).
    { kind: 'subscription', name: `${topics.backfillDlq}-sub`, topic: topics.backfillDlq, ackDeadlineSeconds: 60, retentionSeconds: 7 * DAY_SECONDS, neverExpire: true },
    { kind: 'subscription', name: `${topics.auditResults}-sub`, topic: topics.auditResults, ackDeadlineSeconds: 60, retentionSeconds: 7 * DAY_SECONDS, neverExpire: true },
    {
      kind: 'deliveryPolicy',
      topic: topics.backfill,
      deadLetterTopic: topic(topics.backfillDlq),
      maxDeliveryAttempts: deploy.backfill.maxDeliveryAttempts,
      minBackoffSeconds: 10,
      maxBackoffSeconds: 600,
    },
    {
      kind: 'schedulerJob',
      name: `${deploy.serviceAccountPrefix}-audit`,
      region: deploy.region,
      description: 'tidemark gap audit (managed by tidemark infra)',
      schedule: config.audit.schedule,
      timeZone: config.audit.timeZone,
      topic: topic(topics.audit),
      data: '{}',
      retry: { retryCount: 3, minBackoffSeconds: 30, maxBackoffSeconds: 300, maxDoublings: 3 },
    },
  );

  for (const dataset of targetDatasets(config)) resources.push({ kind: 'dataset', dataset, location: config.location });
  for (const table of config.tables) resources.push({ kind: 'table', spec: table.spec, location: config.location });

  resources.push(...desiredBindings(config, deploy));
  return resources;
}

/** The IAM bindings alone: each function's grants, then the Google service agents'. */
export function desiredBindings(config: Config, deploy: DeploySettings): BindingResource[] {
  const bindings: BindingResource[] = [];
  const seen = new Set<string>();
  const add = (binding: BindingResource) => {
    const key = bindingKey(binding);
    if (seen.has(key)) return; // the state bucket is often the lake bucket
    seen.add(key);
    bindings.push(binding);
  };
  for (const role of FUNCTION_ROLES) {
    const names = functionNames(config.project, deploy, role);
    for (const grant of SERVICE_ACCOUNT_GRANTS[role]) {
      for (const target of resolveScope(grant.on, config, { ...names, region: functionRegion(deploy, role) })) {
        add({ kind: 'binding', target: target.target, role: grant.role, member: `serviceAccount:${names.serviceAccountEmail}`, ...(target.condition ? { condition: target.condition } : {}), why: grant.why });
      }
    }
  }
  for (const grant of SERVICE_AGENT_GRANTS) {
    for (const target of resolveScope(grant.on, config, undefined)) {
      add({ kind: 'binding', target: target.target, role: grant.role, member: `serviceAccount:service-${PROJECT_NUMBER}@${grant.agentDomain}`, why: grant.why });
    }
  }
  return bindings;
}

/** Buckets the functions read sources from: the lake bucket and any table's own source bucket. */
export function lakeBuckets(config: Config): string[] {
  return [...new Set([config.lake.bucket, ...config.tables.map((t) => t.source.bucket)])];
}

export function targetDatasets(config: Config): string[] {
  return [...new Set(config.tables.map((t) => t.spec.ref.dataset))];
}

/** The condition that limits a state-bucket grant to objects under the state prefix. */
export function statePrefixCondition(bucket: string, prefix: string): Condition {
  return {
    title: 'tidemark state prefix',
    description: `Only objects under gs://${bucket}/${prefix}`,
    expression: `resource.name.startsWith("projects/_/buckets/${bucket}/objects/${prefix}")`,
  };
}

function resolveScope(scope: GrantScope, config: Config, fn: (FunctionNames & { region: string }) | undefined): { target: IamTarget; condition?: Condition }[] {
  switch (scope.kind) {
    case 'project':
      return [{ target: { type: 'project', project: config.project } }];
    case 'lakeBuckets':
      return lakeBuckets(config).map((bucket) => ({ target: { type: 'bucket', bucket } }));
    case 'stateBucket':
      return [{ target: { type: 'bucket', bucket: config.state.bucket } }];
    case 'statePrefix':
      return [
        {
          target: { type: 'bucket', bucket: config.state.bucket },
          ...(config.state.prefix ? { condition: statePrefixCondition(config.state.bucket, config.state.prefix) } : {}),
        },
      ];
    case 'targetDatasets':
      return targetDatasets(config).map((dataset) => ({ target: { type: 'dataset', dataset } }));
    case 'topic':
      return [{ target: { type: 'topic', topic: config.topics[scope.topic] } }];
    case 'topicSubscriptions':
      return [{ target: { type: 'topicSubscriptions', topic: config.topics[scope.topic] } }];
    case 'ownFunction':
      if (!fn) throw new Error('ownFunction is only meaningful for a function service account');
      return [{ target: { type: 'function', function: fn.function, region: fn.region } }];
  }
}

/** Identity of a binding: target, role, member and condition. */
export function bindingKey(b: Pick<BindingResource, 'target' | 'role' | 'member' | 'condition'>): string {
  return `${targetKey(b.target)}|${b.role}|${b.member}|${b.condition?.expression ?? ''}`;
}

/** A plan line's subject: `topic tidemark-backfill`, `binding roles/x for serviceAccount:... on bucket b`. */
export function describeResource(r: Resource): string {
  switch (r.kind) {
    case 'topic':
      return `topic ${r.name}`;
    case 'subscription':
      return `subscription ${r.name}`;
    case 'deliveryPolicy':
      return r.subscription ? `subscription ${r.subscription}` : `delivery policy on subscriptions of ${r.topic}`;
    case 'schedulerJob':
      return `scheduler job ${r.name} (${r.region})`;
    case 'dataset':
      return `dataset ${r.dataset}`;
    case 'table':
      return `table ${r.spec.ref.dataset}.${r.spec.ref.table}`;
    case 'serviceAccount':
      return `service account ${r.email}`;
    case 'binding':
      return `binding ${r.role} for ${r.member} on ${describeTarget(r.target)}${r.condition ? ` if ${r.condition.title}` : ''}`;
  }
}
