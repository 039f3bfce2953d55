/**
 * `tidemark infra plan` and `apply`: compare the desired resources with what exists, through
 * injected clients, and make the difference. Idempotent: applying a plan twice, or planning
 * after an apply, finds nothing to do. Runs before the deploy (topics, tables, identities) and
 * again after it (Eventarc's subscriptions and the functions' services exist only then).
 */
import type { BigQuery } from '@google-cloud/bigquery';
import type { PubSub } from '@google-cloud/pubsub';
import type { CloudSchedulerClient } from '@google-cloud/scheduler';
import { applyBigQuery, planBigQuery } from './bigquery.ts';
import type { BigQueryResource } from './bigquery.ts';
import type { BindingResource, Resource } from './desired.ts';
import { InfraConflictError, MissingClientError } from './errors.ts';
import { applyBindings, applyServiceAccount, planBindings, planServiceAccount } from './iam.ts';
import type { IamContext } from './iam.ts';
import { PolicyStore } from './iam-policy.ts';
import { applyPubSub, planPubSub } from './pubsub.ts';
import type { PubSubResource } from './pubsub.ts';
import type { GoogleRest } from './rest.ts';
import { applySchedulerJob, planSchedulerJob } from './scheduler.ts';
import { targetKey } from './targets.ts';

export type Action = 'create' | 'update' | 'noop';

/** One line of a plan. `detail` says what differs, or why a noop is only waiting. */
export interface Change {
  resource: Resource;
  action: Action;
  detail: string;
}

/** The clients a plan talks to; only those its resources need must be given. */
export interface InfraClients {
  project: string;
  pubsub?: PubSub;
  scheduler?: CloudSchedulerClient;
  bigquery?: BigQuery;
  /** IAM, Resource Manager, Cloud Functions, Cloud Run, and Storage/Pub/Sub IAM methods. */
  rest?: GoogleRest;
  /** Skips the Resource Manager lookup (service-agent members need it). */
  projectNumber?: string;
  /** Backoff sleep of IAM retries; tests pass an instant one. */
  sleep?: (ms: number) => Promise<void>;
}

export interface ApplyOptions {
  /** Called after each change is made (the CLI prints progress). */
  onApplied?: (change: Change) => void;
}

/** The changes that bring the project to `desired`, in apply order. Reads only. */
export async function planInfra(desired: Resource[], clients: InfraClients): Promise<Change[]> {
  const { project } = clients;
  const others = desired.filter((r) => r.kind !== 'binding');
  const bindings = desired.filter((r): r is BindingResource => r.kind === 'binding');
  const planned = await settleAll(
    others.map(async (r): Promise<Change[]> => {
      switch (r.kind) {
        case 'topic':
        case 'subscription':
        case 'deliveryPolicy':
          return planPubSub(r, need(clients.pubsub, 'pubsub', r), project);
        case 'schedulerJob':
          return [await planSchedulerJob(r, need(clients.scheduler, 'scheduler', r), project)];
        case 'dataset':
        case 'table':
          return [await planBigQuery(r, need(clients.bigquery, 'bigquery', r), project)];
        case 'serviceAccount':
          return [await planServiceAccount(r, need(clients.rest, 'rest', r), project)];
      }
    }),
  );
  const changes = planned.flat();
  if (bindings.length) {
    // Bindings on a topic or dataset this apply creates are planned against the new resource.
    const willCreate = new Set<string>();
    for (const c of changes) {
      if (c.action !== 'create') continue;
      if (c.resource.kind === 'topic') willCreate.add(targetKey({ type: 'topic', topic: c.resource.name }));
      if (c.resource.kind === 'dataset') willCreate.add(targetKey({ type: 'dataset', dataset: c.resource.dataset }));
    }
    changes.push(...(await planBindings(bindings, iamContext(clients), willCreate)));
  }
  return changes;
}

/**
 * Makes the changes: everything but bindings in plan order (identities, topics, datasets before
 * what refers to them), then the bindings, one policy write per target.
 */
export async function applyInfra(changes: Change[], clients: InfraClients, options: ApplyOptions = {}): Promise<void> {
  const { project } = clients;
  for (const change of changes) {
    if (change.action === 'noop' || change.resource.kind === 'binding') continue;
    const r = change.resource;
    switch (r.kind) {
      case 'topic':
      case 'subscription':
      case 'deliveryPolicy':
        await applyPubSub(change as Change & { resource: PubSubResource }, need(clients.pubsub, 'pubsub', r));
        break;
      case 'schedulerJob':
        await applySchedulerJob({ ...change, resource: r }, need(clients.scheduler, 'scheduler', r), project);
        break;
      case 'dataset':
      case 'table':
        await applyBigQuery(change as Change & { resource: BigQueryResource }, need(clients.bigquery, 'bigquery', r), project);
        break;
      case 'serviceAccount':
        await applyServiceAccount({ ...change, resource: r }, need(clients.rest, 'rest', r), project);
        break;
    }
    options.onApplied?.(change);
  }
  const bindings = changes.filter((c) => c.action === 'create' && c.resource.kind === 'binding');
  if (bindings.length) {
    await applyBindings(bindings, iamContext(clients));
    for (const change of bindings) options.onApplied?.(change);
  }
}

/** True when applying would change nothing. */
export function isConverged(changes: Change[]): boolean {
  return changes.every((c) => c.action === 'noop');
}

/**
 * Like Promise.all, but waits for every promise before failing, so nothing is still talking to
 * an API when the plan has already failed. Several conflicts are reported together.
 */
async function settleAll<T>(promises: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  if (errors.length > 1 && errors.every((e) => e instanceof InfraConflictError)) {
    throw new InfraConflictError(errors.map((e) => (e as Error).message).join('\n'), { conflicts: errors.length });
  }
  if (errors.length) throw errors[0];
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

function iamContext(clients: InfraClients): IamContext {
  const rest = need(clients.rest, 'rest', 'IAM bindings');
  let projectNumber: Promise<string> | undefined = clients.projectNumber ? Promise.resolve(clients.projectNumber) : undefined;
  return {
    project: clients.project,
    rest,
    policies: new PolicyStore({ project: clients.project, rest, ...(clients.bigquery ? { bigquery: clients.bigquery } : {}), ...(clients.sleep ? { sleep: clients.sleep } : {}) }),
    ...(clients.pubsub ? { pubsub: clients.pubsub } : {}),
    ...(clients.bigquery ? { bigquery: clients.bigquery } : {}),
    projectNumber: () =>
      (projectNumber ??= rest.call<{ projectNumber?: string }>('cloudresourcemanager', { method: 'GET', path: `/v1/projects/${clients.project}` }).then((p) => {
        if (!p.projectNumber) throw new Error(`Resource Manager returned no projectNumber for ${clients.project}`);
        return p.projectNumber;
      })),
  };
}

function need<T>(client: T | undefined, name: keyof InfraClients, what: Resource | string): T {
  if (client === undefined) {
    const subject = typeof what === 'string' ? what : what.kind;
    throw new MissingClientError(`planning ${subject} needs the ${name} client`, { client: name });
  }
  return client;
}
