/**
 * Identities and what they may do. The role tables below are the single statement of tidemark's
 * permissions (infra/README.md renders them; desired.ts expands them per bucket, dataset and
 * topic). The rest plans and applies them: service accounts through the IAM REST API, bindings
 * through PolicyStore (iam-policy.ts).
 *
 * Service accounts and project-level bindings go over REST (google-auth-library's authorized
 * `request`), not through gcloud: the same plan/apply path as everything else, and testable at
 * the HTTP boundary.
 */
import type { BigQuery } from '@google-cloud/bigquery';
import type { PubSub, Subscription } from '@google-cloud/pubsub';
import { httpStatusOf } from '../shared/backends/gcp/retry.ts';
import type { TopicsConfig } from '../shared/config/types.ts';
import type { BindingResource, ServiceAccountResource } from './desired.ts';
import { PROJECT_NUMBER, describeTarget, targetKey } from './targets.ts';
import type { IamTarget } from './targets.ts';
import { InfraConflictError } from './errors.ts';
import { PolicyStore, hasGrant } from './iam-policy.ts';
import type { Grant, PolicyTarget } from './iam-policy.ts';
import type { Change } from './plan.ts';
import { grpcCode } from './pubsub.ts';
import type { GoogleRest } from './rest.ts';

export const FUNCTION_ROLES = ['loader', 'auditor', 'backfill'] as const;
/** The three functions, each with its own service account. */
export type FunctionRole = (typeof FUNCTION_ROLES)[number];

/** Where a role is granted, before the config names the buckets, datasets and topics. */
export type GrantScope =
  | { kind: 'project' }
  /** The lake bucket and every table's source bucket. */
  | { kind: 'lakeBuckets' }
  | { kind: 'stateBucket' }
  /** The state bucket, with a condition limiting it to objects under the state prefix. */
  | { kind: 'statePrefix' }
  /** Every dataset a table loads into. */
  | { kind: 'targetDatasets' }
  | { kind: 'topic'; topic: keyof TopicsConfig }
  /** Every subscription attached to the topic (Eventarc's, after deploy). */
  | { kind: 'topicSubscriptions'; topic: keyof TopicsConfig }
  /** The Cloud Run service of the function that runs as this account. */
  | { kind: 'ownFunction' };

export interface RoleGrant {
  role: string;
  on: GrantScope;
  /** Why this role and not a smaller one. */
  why: string;
}

const lake: GrantScope = { kind: 'lakeBuckets' };
const project: GrantScope = { kind: 'project' };
const datasets: GrantScope = { kind: 'targetDatasets' };
const own: GrantScope = { kind: 'ownFunction' };

/** The grants that every function syncing partitions needs (loader and backfill run the same engine). */
const SYNC_GRANTS: readonly RoleGrant[] = [
  { role: 'roles/storage.objectViewer', on: lake, why: 'list source objects; load jobs read them as this account' },
  { role: 'roles/storage.objectUser', on: { kind: 'statePrefix' }, why: 'read, compare-and-swap and delete partition state and budget objects, only under the state prefix' },
  { role: 'roles/bigquery.jobUser', on: project, why: 'run load, copy and DELETE jobs' },
  {
    role: 'roles/bigquery.resourceViewer',
    on: project,
    why: 'bigquery.jobs.get on jobs the other function submitted (settling, fencing and adopting a 409 read a job by id; jobUser only sees its own jobs)',
  },
  { role: 'roles/bigquery.dataEditor', on: datasets, why: 'replace partitions, create and delete staging tables, advance the load label' },
];

/** Each function's service account: exactly these roles, nothing at project level beyond them. */
export const SERVICE_ACCOUNT_GRANTS: Record<FunctionRole, readonly RoleGrant[]> = {
  loader: [
    ...SYNC_GRANTS,
    { role: 'roles/eventarc.eventReceiver', on: project, why: 'identity of the Cloud Storage trigger (direct events need it; Pub/Sub triggers do not)' },
    { role: 'roles/run.invoker', on: own, why: 'its trigger invokes the function; no unauthenticated access' },
  ],
  auditor: [
    { role: 'roles/storage.objectViewer', on: lake, why: 'list source objects' },
    { role: 'roles/storage.objectViewer', on: { kind: 'stateBucket' }, why: 'list partition state summaries (one paged listing per table)' },
    { role: 'roles/bigquery.jobUser', on: project, why: 'run the INFORMATION_SCHEMA.PARTITIONS metadata query' },
    {
      role: 'roles/bigquery.dataEditor',
      on: datasets,
      why: 'patch the watermark label: tables.update has no label-only form, and dataEditor is the smallest predefined role with it (metadataViewer and dataViewer lack it; dataEditor includes their metadata reads)',
    },
    { role: 'roles/pubsub.publisher', on: { kind: 'topic', topic: 'backfill' }, why: 'publish one backfill request per partition' },
    { role: 'roles/pubsub.publisher', on: { kind: 'topic', topic: 'auditResults' }, why: 'publish the audit summary' },
    { role: 'roles/run.invoker', on: own, why: 'its trigger invokes the function; no unauthenticated access' },
  ],
  backfill: [
    ...SYNC_GRANTS,
    { role: 'roles/pubsub.publisher', on: { kind: 'topic', topic: 'backfill' }, why: 're-publish a request that waits for job budget' },
    { role: 'roles/run.invoker', on: own, why: 'its trigger invokes the function; no unauthenticated access' },
  ],
};

export interface ServiceAgentGrant extends RoleGrant {
  /** Which Google service agent: `service-<project number>@<agentDomain>`. */
  agent: string;
  agentDomain: string;
}

/** Google-managed service agents that tidemark's event flow depends on. */
export const SERVICE_AGENT_GRANTS: readonly ServiceAgentGrant[] = [
  { agent: 'Pub/Sub', agentDomain: 'gcp-sa-pubsub.iam.gserviceaccount.com', role: 'roles/pubsub.publisher', on: { kind: 'topic', topic: 'backfillDlq' }, why: 'forward undeliverable backfill messages to the dead-letter topic' },
  { agent: 'Pub/Sub', agentDomain: 'gcp-sa-pubsub.iam.gserviceaccount.com', role: 'roles/pubsub.subscriber', on: { kind: 'topicSubscriptions', topic: 'backfill' }, why: 'acknowledge the messages it dead-letters' },
  { agent: 'Cloud Storage', agentDomain: 'gs-project-accounts.iam.gserviceaccount.com', role: 'roles/pubsub.publisher', on: project, why: 'Cloud Storage triggers (Eventarc direct events) publish through it' },
];

/** The role tables as Markdown (infra/README.md carries this; a test keeps them equal). */
export function roleTable(prefix = 'tidemark'): string {
  const rows: string[] = ['| Principal | Role | On | Why |', '|---|---|---|---|'];
  for (const role of FUNCTION_ROLES) {
    for (const g of SERVICE_ACCOUNT_GRANTS[role]) rows.push(`| \`${prefix}-${role}\` | \`${g.role}\` | ${scopeText(g.on)} | ${g.why} |`);
  }
  for (const g of SERVICE_AGENT_GRANTS) rows.push(`| ${g.agent} service agent | \`${g.role}\` | ${scopeText(g.on)} | ${g.why} |`);
  return rows.join('\n');
}

function scopeText(scope: GrantScope): string {
  switch (scope.kind) {
    case 'project':
      return 'project';
    case 'lakeBuckets':
      return 'lake bucket(s)';
    case 'stateBucket':
      return 'state bucket';
    case 'statePrefix':
      return 'state bucket, objects under the state prefix (IAM condition)';
    case 'targetDatasets':
      return 'target datasets';
    case 'topic':
      return `topic \`topics.${scope.topic}\``;
    case 'topicSubscriptions':
      return `subscriptions of topic \`topics.${scope.topic}\``;
    case 'ownFunction':
      return 'its own Cloud Run service';
  }
}

// ---- plan and apply ---------------------------------------------------------------------------

/** What IAM planning talks to. */
export interface IamContext {
  project: string;
  rest: GoogleRest;
  policies: PolicyStore;
  /** Lists the subscriptions of a topic (bindings on `topicSubscriptions`). */
  pubsub?: PubSub;
  bigquery?: BigQuery;
  /** The project number, looked up once (service-agent members). */
  projectNumber(): Promise<string>;
}

export async function planServiceAccount(r: ServiceAccountResource, rest: GoogleRest, project: string): Promise<Change> {
  try {
    const current = await rest.call<{ disabled?: boolean }>('iam', { method: 'GET', path: `/v1/projects/${project}/serviceAccounts/${r.email}` });
    return { resource: r, action: 'noop', detail: current.disabled ? `DISABLED: the ${r.function} function cannot run; enable it with \`gcloud iam service-accounts enable\`` : '' };
  } catch (err) {
    if (httpStatusOf(err) !== 404) throw err;
    return { resource: r, action: 'create', detail: '' };
  }
}

export async function applyServiceAccount(change: Change & { resource: ServiceAccountResource }, rest: GoogleRest, project: string): Promise<void> {
  if (change.action !== 'create') return;
  const r = change.resource;
  try {
    await rest.call('iam', {
      method: 'POST',
      path: `/v1/projects/${project}/serviceAccounts`,
      body: { accountId: r.accountId, serviceAccount: { displayName: r.displayName, description: r.description } },
    });
  } catch (err) {
    if (httpStatusOf(err) !== 409) throw err;
  }
}

/**
 * One change per binding (after placeholders and plan-time targets are resolved). Each target's
 * policy is read once. Targets that only exist after a deploy (Eventarc subscriptions, function
 * services) are reported as waiting, not as errors.
 */
export async function planBindings(bindings: BindingResource[], ctx: IamContext, willCreate: ReadonlySet<string>): Promise<Change[]> {
  const changes: Change[] = [];
  const resolved: BindingResource[] = [];
  const resolver = new TargetResolver(ctx);
  for (const binding of bindings) {
    const member = binding.member.includes(PROJECT_NUMBER) ? binding.member.replace(PROJECT_NUMBER, await ctx.projectNumber()) : binding.member;
    const { targets, waiting } = await resolver.resolve(binding.target);
    if (waiting) changes.push({ resource: { ...binding, member }, action: 'noop', detail: `waiting: ${waiting}` });
    for (const target of targets) resolved.push({ ...binding, member, target });
  }
  const policies = await readAll(ctx.policies, resolved.map((b) => b.target as PolicyTarget));
  for (const binding of resolved) {
    const target = binding.target as PolicyTarget;
    const key = targetKey(target);
    const grants = policies.get(key)!;
    if (grants === null) {
      if (!willCreate.has(key)) {
        throw new InfraConflictError(`cannot grant ${binding.role} on ${describeTarget(target)}: it does not exist, and tidemark does not create it`, { target: key });
      }
      changes.push({ resource: binding, action: 'create', detail: `after ${describeTarget(target)} is created` });
    } else if (hasGrant(grants, binding)) {
      changes.push({ resource: binding, action: 'noop', detail: '' });
    } else {
      changes.push({ resource: binding, action: 'create', detail: '' });
    }
  }
  return changes;
}

/** Each distinct target's grants, read in parallel; fails only after every read has finished. */
async function readAll(store: PolicyStore, targets: PolicyTarget[]): Promise<Map<string, Grant[] | null>> {
  const unique = new Map(targets.map((t) => [targetKey(t), t]));
  const keys = [...unique.keys()];
  const results = await Promise.allSettled(keys.map((key) => store.read(unique.get(key)!)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return new Map(keys.map((key, i) => [key, (results[i] as PromiseFulfilledResult<Grant[] | null>).value]));
}

/** Applies binding creations: one read-modify-write per target. */
export async function applyBindings(changes: Change[], ctx: IamContext): Promise<void> {
  const byTarget = new Map<string, { target: PolicyTarget; grants: Grant[] }>();
  for (const change of changes) {
    if (change.action !== 'create' || change.resource.kind !== 'binding') continue;
    const b = change.resource;
    const key = targetKey(b.target);
    const entry = byTarget.get(key) ?? { target: b.target as PolicyTarget, grants: [] };
    entry.grants.push({ role: b.role, member: b.member, ...(b.condition ? { condition: b.condition } : {}) });
    byTarget.set(key, entry);
  }
  for (const { target, grants } of byTarget.values()) await ctx.policies.add(target, grants);
}

/** Turns plan-time targets into policy targets: a topic's subscriptions, a function's service. */
class TargetResolver {
  private readonly cache = new Map<string, Promise<{ targets: IamTarget[]; waiting?: string }>>();
  private readonly ctx: IamContext;
  constructor(ctx: IamContext) {
    this.ctx = ctx;
  }

  resolve(target: IamTarget): Promise<{ targets: IamTarget[]; waiting?: string }> {
    const key = targetKey(target);
    let result = this.cache.get(key);
    if (!result) {
      result = this.lookup(target);
      this.cache.set(key, result);
    }
    return result;
  }

  private async lookup(target: IamTarget): Promise<{ targets: IamTarget[]; waiting?: string }> {
    if (target.type === 'topicSubscriptions') {
      if (!this.ctx.pubsub) throw new Error('a Pub/Sub client is needed to find the subscriptions of a topic');
      let subs: Subscription[] = [];
      try {
        [subs] = await this.ctx.pubsub.topic(target.topic).getSubscriptions();
      } catch (err) {
        if (grpcCode(err) !== 5) throw err;
      }
      if (subs.length === 0) return { targets: [], waiting: `no subscription on ${target.topic} yet: run infra apply again after deploying` };
      return { targets: subs.map((s) => ({ type: 'subscription', subscription: s.name.slice(s.name.lastIndexOf('/') + 1) })) };
    }
    if (target.type === 'function') {
      try {
        const fn = await this.ctx.rest.call<{ serviceConfig?: { service?: string } }>('cloudfunctions', {
          method: 'GET',
          path: `/v2/projects/${this.ctx.project}/locations/${target.region}/functions/${target.function}`,
        });
        const service = fn.serviceConfig?.service;
        if (!service) return { targets: [], waiting: `function ${target.function} has no Cloud Run service yet (deploy in progress?)` };
        return { targets: [{ type: 'runService', service }] };
      } catch (err) {
        if (httpStatusOf(err) !== 404) throw err;
        return { targets: [], waiting: `function ${target.function} is not deployed yet: run infra apply again after deploying` };
      }
    }
    return { targets: [target] };
  }
}
