/**
 * The role tables (roles.ts) expanded against a config: one entry per member, role and concrete
 * target. Pure, so the Pulumi program, the cloudbuild after-deploy step and the tests read the
 * same list.
 */
import type { Config } from '../shared/config/types.ts';
import { describeFunctions } from '../shared/deploy/functions.ts';
import type { DeploySettings } from './deploy-config.ts';
import { SERVICE_ACCOUNT_GRANTS, SERVICE_AGENT_GRANTS, isAfterDeploy, roleName } from './roles.ts';
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
  | { type: 'dataset'; dataset: string }
  | { type: 'table'; dataset: string; table: string }
  | { type: 'topic'; topic: string }
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

export function targetDatasets(config: Pick<Config, 'tables'>): string[] {
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
          role: roleName(grant.role, config.project, deploy.serviceAccountPrefix),
          target: t.target,
          ...(t.condition ? { condition: t.condition } : {}),
          why: grant.why,
          afterDeploy: isAfterDeploy(grant.on),
        });
      }
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
      return `dataset:${t.dataset}`;
    case 'table':
      return `table:${t.dataset}.${t.table}`;
    case 'topic':
      return `topic:${t.topic}`;
    case 'triggerSubscription':
      return `triggerSubscription:${t.region}/${t.function}`;
    case 'function':
      return `function:${t.region}/${t.function}`;
  }
}

function resolveScope(scope: GrantScope, config: Config, fn: { function: string; region: string } | undefined): { target: GrantTarget; condition?: Condition }[] {
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
      return targetDatasets(config).map((dataset) => ({ target: { type: 'dataset', dataset } }));
    case 'targetTables':
      // A table without a schema is created by its first load, after this runs: grant on its dataset.
      return config.tables.map((t) =>
        t.spec.schema ? { target: { type: 'table', dataset: t.spec.ref.dataset, table: t.spec.ref.table } } : { target: { type: 'dataset', dataset: t.spec.ref.dataset } },
      );
    case 'topic':
      return [{ target: { type: 'topic', topic: config.topics[scope.topic] } }];
    case 'topicSubscriptions': {
      if (!fn) throw new Error(`no function is triggered by topics.${scope.topic}`);
      return [{ target: { type: 'triggerSubscription', function: fn.function, region: fn.region } }];
    }
    case 'ownFunction':
      if (!fn) throw new Error('ownFunction is only meaningful for a function service account');
      return [{ target: { type: 'function', function: fn.function, region: fn.region } }];
  }
}
