/**
 * The role tables (roles.ts) expanded against a config: one entry per member, role and concrete
 * target. Pure, so the Pulumi program, the cloudbuild after-deploy step and the tests read the
 * same list.
 */
import type { Config } from '../shared/config/types.ts';
import { describeFunctions } from '../shared/deploy/functions.ts';
import { describeStreams } from '../shared/deploy/streams.ts';
import type { DeploySettings } from './deploy-config.ts';
import { CALLER_GRANTS, SERVICE_ACCOUNT_GRANTS, SERVICE_AGENT_GRANTS, isAfterDeploy, roleName } from './roles.ts';
import type { GrantScope } from './roles.ts';

/** An IAM condition (CEL), as policies carry it. */
export interface Condition {
  title: string;
  description: string;
  expression: string;
}

/** Where a grant lives, concretely. */
export type GrantTarget =
  | { type: 'project' }
  | { type: 'bucket'; bucket: string }
  /** `project` only when the dataset lives outside `config.project` (a table's `target.project`). */
  | { type: 'dataset'; dataset: string; project?: string }
  | { type: 'table'; dataset: string; table: string; project?: string }
  | { type: 'topic'; topic: string }
  | { type: 'subscription'; subscription: string }
  /** The subscription Eventarc creates for the function's topic trigger (after deploy). */
  | { type: 'triggerSubscription'; function: string; region: string }
  /** The function's Cloud Run service (after deploy). */
  | { type: 'function'; function: string; region: string };

export interface ExpandedGrant {
  /** `serviceAccount:...`; service agents carry `{projectNumber}` until the program resolves it. */
  member: string;
  /** Full role name (`roles/...` or `projects/P/roles/...`). */
  role: string;
  target: GrantTarget;
  condition?: Condition;
  why: string;
  /** Applied by the cloudbuild after-deploy step, not by the Pulumi program. */
  afterDeploy: boolean;
}

/** Stands for the project number in service-agent members. */
export const PROJECT_NUMBER = '{projectNumber}';

/** Buckets the functions read sources from: the lake bucket and any table's own source bucket. */
export function lakeBuckets(config: Pick<Config, 'lake' | 'tables'>): string[] {
  return [...new Set([config.lake.bucket, ...config.tables.map((t) => t.source.bucket)])];
}

/** A dataset tidemark loads into; `project` only when it is not `config.project`. */
export interface DatasetRef {
  dataset: string;
  project?: string;
}

/** The project a table's dataset lives in, when it is not the config's own. */
export function foreignProject(config: Pick<Config, 'project'>, ref: { project?: string }): { project?: string } {
  return ref.project && ref.project !== config.project ? { project: ref.project } : {};
}

/** Every dataset a table loads into, once per project and dataset (in config order). */
export function targetDatasets(config: Pick<Config, 'project' | 'tables'>): DatasetRef[] {
  const out = new Map<string, DatasetRef>();
  for (const t of config.tables) {
    const d: DatasetRef = { dataset: t.spec.ref.dataset, ...foreignProject(config, t.spec.ref) };
    out.set(datasetKey(d), d);
  }
  return [...out.values()];
}

/** `dataset` in the config's project, `project:dataset` elsewhere (keys resources and grants). */
export function datasetKey(d: DatasetRef): string {
  return d.project ? `${d.project}:${d.dataset}` : d.dataset;
}

/** The condition that limits a state-bucket grant to objects under the state prefix. */
export function statePrefixCondition(bucket: string, prefix: string): Condition {
  return {
    title: 'tidemark state prefix',
    description: `Only objects under gs://${bucket}/${prefix}`,
    expression: `resource.name.startsWith("projects/_/buckets/${bucket}/objects/${prefix}")`,
  };
}

/** Every grant of every function account and service agent, deduplicated. */
export function expandGrants(config: Config, deploy: DeploySettings): ExpandedGrant[] {
  const out: ExpandedGrant[] = [];
  const seen = new Set<string>();
  const add = (g: ExpandedGrant) => {
    const key = grantKey(g);
    if (seen.has(key)) return; // the state bucket may be a lake bucket
    seen.add(key);
    out.push(g);
  };
  for (const fn of describeFunctions(config, deploy)) {
    for (const grant of SERVICE_ACCOUNT_GRANTS[fn.role]) {
      for (const t of resolveScope(grant.on, config, { function: fn.name, region: fn.region })) {
        add({
          member: `serviceAccount:${fn.serviceAccountEmail}`,
          // A project's custom role can only be granted inside that project: a dataset in a
          // table's `target.project` gets that project's copy (program.ts defines it there).
          role: roleName(grant.role, targetProject(t.target) ?? config.project, deploy.serviceAccountPrefix),
          target: t.target,
          ...(t.condition ? { condition: t.condition } : {}),
          why: grant.why,
          afterDeploy: isAfterDeploy(grant.on),
        });
      }
    }
  }
  for (const c of CALLER_GRANTS) {
    const fn = describeFunctions(config, deploy).find((f) => f.role === c.function)!;
    for (const m of callers(config, c.function)) {
      add({
        member: m,
        role: 'roles/run.invoker',
        target: { type: 'function', function: fn.name, region: fn.region },
        why: c.why,
        afterDeploy: true,
      });
    }
  }
  // Each stream's Pub/Sub service agent grants, as describeStream states them.
  const ingest = describeFunctions(config, deploy).find((f) => f.role === 'ingest')!;
  for (const s of describeStreams(config, {
    lakeRegion: deploy.lakeRegion,
    ingestAccountEmail: ingest.serviceAccountEmail,
  }).streams) {
    for (const g of s.grants) {
      const member =
        g.member.kind === 'pubsub-service-agent'
          ? `serviceAccount:service-${PROJECT_NUMBER}@gcp-sa-pubsub.iam.gserviceaccount.com`
          : `serviceAccount:${g.member.email}`;
      const r = g.resource;
      const target: GrantTarget =
        r.kind === 'bucket'
          ? { type: 'bucket', bucket: r.name }
          : r.kind === 'topic'
            ? { type: 'topic', topic: r.name }
            : { type: 'subscription', subscription: r.name };
      add({ member, role: g.role, target, why: g.why, afterDeploy: false });
    }
  }
  for (const grant of SERVICE_AGENT_GRANTS) {
    // A topic's subscriptions are those of the function it triggers.
    const topic = grant.on.kind === 'topicSubscriptions' ? config.topics[grant.on.topic] : undefined;
    const fn = describeFunctions(config, deploy).find((f) => f.trigger.kind === 'topic' && f.trigger.topic === topic);
    for (const t of resolveScope(grant.on, config, fn ? { function: fn.name, region: fn.region } : undefined)) {
      add({
        member: `serviceAccount:service-${PROJECT_NUMBER}@${grant.agentDomain}`,
        role: roleName(grant.role, config.project, deploy.serviceAccountPrefix),
        target: t.target,
        why: grant.why,
        afterDeploy: isAfterDeploy(grant.on),
      });
    }
  }
  return out;
}

/** The principals the config lists as callers of an HTTP function (CALLER_GRANTS), deduplicated. */
export function callers(config: Pick<Config, 'statusPage' | 'streams'>, role: 'status' | 'ingest' | string): string[] {
  if (role === 'status')
    return [...new Set([...(config.statusPage?.operators ?? []), ...(config.statusPage?.invokers ?? [])])];
  if (role === 'ingest') return [...new Set(config.streams.flatMap((s) => s.invokers ?? []))];
  return [];
}

/** The project of a dataset or table target outside the config's project. */
export function targetProject(t: GrantTarget): string | undefined {
  return t.type === 'dataset' || t.type === 'table' ? t.project : undefined;
}

/** Identity of a grant: target, role, member and condition. */
export function grantKey(g: Pick<ExpandedGrant, 'target' | 'role' | 'member' | 'condition'>): string {
  return `${targetKey(g.target)}|${g.role}|${g.member}|${g.condition?.expression ?? ''}`;
}

export function targetKey(t: GrantTarget): string {
  switch (t.type) {
    case 'project':
      return 'project';
    case 'bucket':
      return `bucket:${t.bucket}`;
    case 'dataset':
      return `dataset:${datasetKey(t)}`;
    case 'table':
      return `table:${datasetKey(t)}.${t.table}`;
    case 'topic':
      return `topic:${t.topic}`;
    case 'subscription':
      return `subscription:${t.subscription}`;
    case 'triggerSubscription':
      return `triggerSubscription:${t.region}/${t.function}`;
    case 'function':
      return `function:${t.region}/${t.function}`;
  }
}

function resolveScope(
  scope: GrantScope,
  config: Config,
  fn: { function: string; region: string } | undefined,
): { target: GrantTarget; condition?: Condition }[] {
  switch (scope.kind) {
    case 'project':
      return [{ target: { type: 'project' } }];
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
      return targetDatasets(config).map((d) => ({ target: { type: 'dataset', ...d } }));
    case 'targetTables':
      // A table without a schema is created by its first load, after this runs: grant on its dataset.
      return config.tables.map((t) => {
        const where = { dataset: t.spec.ref.dataset, ...foreignProject(config, t.spec.ref) };
        return t.spec.schema
          ? { target: { type: 'table', ...where, table: t.spec.ref.table } }
          : { target: { type: 'dataset', ...where } };
      });
    case 'topic':
      return [{ target: { type: 'topic', topic: config.topics[scope.topic] } }];
    case 'pullSubscription':
      return [{ target: { type: 'subscription', subscription: `${config.topics[scope.topic]}-sub` } }];
    case 'streamTopics':
      return config.streams.map((s) => ({ target: { type: 'topic', topic: s.topic } }));
    case 'topicSubscriptions': {
      if (!fn) throw new Error(`no function is triggered by topics.${scope.topic}`);
      return [{ target: { type: 'triggerSubscription', function: fn.function, region: fn.region } }];
    }
    case 'ownFunction':
      if (!fn) throw new Error('ownFunction is only meaningful for a function service account');
      return [{ target: { type: 'function', function: fn.function, region: fn.region } }];
  }
}
