/**
 * IAM allow policies of the resources tidemark grants on, read and changed the same way whatever
 * the resource: read the policy, add the missing members, write it back with the etag read (a
 * concurrent writer makes the write fail, and the cycle starts over). Grants are additive:
 * members tidemark does not manage are never removed.
 *
 * Projects, buckets, topics, subscriptions and Cloud Run services have getIamPolicy /
 * setIamPolicy; a BigQuery dataset keeps its grants in the dataset's `access` list instead.
 */
import type { BigQuery } from '@google-cloud/bigquery';
import { httpStatusOf } from '../shared/backends/gcp/retry.ts';
import { errorMessage } from '../shared/core/errors.ts';
import { bigQueryRequest } from './bigquery.ts';
import type { Condition, IamTarget } from './targets.ts';
import { describeTarget } from './targets.ts';
import type { GoogleRest, RestApi, RestCall } from './rest.ts';

/** A target whose policy can be read directly (plan.ts resolves the others first). */
export type PolicyTarget = Extract<IamTarget, { type: 'project' | 'bucket' | 'dataset' | 'topic' | 'subscription' | 'runService' }>;

export interface Grant {
  role: string;
  member: string;
  condition?: Condition;
}

export interface PolicyBinding {
  role: string;
  members?: string[];
  condition?: Condition | null;
}

export interface Policy {
  version?: number;
  etag?: string;
  bindings?: PolicyBinding[];
  [other: string]: unknown;
}

/** BigQuery's legacy dataset roles, which the API returns in place of these predefined roles. */
const LEGACY_DATASET_ROLES: Record<string, string> = {
  OWNER: 'roles/bigquery.dataOwner',
  WRITER: 'roles/bigquery.dataEditor',
  READER: 'roles/bigquery.dataViewer',
};

interface AccessEntry {
  role?: string;
  userByEmail?: string;
  groupByEmail?: string;
  domain?: string;
  iamMember?: string;
  specialGroup?: string;
  [other: string]: unknown;
}

interface DatasetAccess {
  etag?: string;
  access?: AccessEntry[];
}

export interface PolicyStoreOptions {
  project: string;
  rest: GoogleRest;
  /** Needed for dataset targets only. */
  bigquery?: BigQuery;
  sleep?: (ms: number) => Promise<void>;
  /** How long a grant to a just-created service account keeps being retried (IAM propagation). */
  propagationMs?: number;
}

/** Reads and extends IAM policies on every kind of PolicyTarget. */
export class PolicyStore {
  private readonly project: string;
  private readonly rest: GoogleRest;
  private readonly bigquery: BigQuery | undefined;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly propagationMs: number;

  constructor(options: PolicyStoreOptions) {
    this.project = options.project;
    this.rest = options.rest;
    this.bigquery = options.bigquery;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.propagationMs = options.propagationMs ?? 90_000;
  }

  /** The grants in force on `target`, or null when the target does not exist. */
  async read(target: PolicyTarget): Promise<Grant[] | null> {
    if (target.type === 'dataset') {
      const dataset = await this.readDataset(target.dataset);
      return dataset ? (dataset.access ?? []).flatMap(accessToGrants) : null;
    }
    const policy = await this.readPolicy(target);
    return policy ? policyGrants(policy) : null;
  }

  /**
   * Adds the grants missing from `target` in one read-modify-write. Retries when another writer
   * changed the policy meanwhile, and while a just-created member is not yet known to IAM.
   */
  async add(target: PolicyTarget, grants: Grant[]): Promise<void> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        if (target.type === 'dataset') await this.addToDataset(target.dataset, grants);
        else await this.addToPolicy(target, grants);
        return;
      } catch (err) {
        const conflict = isConcurrentChange(err) && attempt < 5;
        const propagating = isUnknownMember(err) && Date.now() - started < this.propagationMs;
        if (!conflict && !propagating) throw err;
        await this.sleep(Math.min(10_000, 1_000 * 2 ** (attempt - 1)));
      }
    }
  }

  private async addToPolicy(target: Exclude<PolicyTarget, { type: 'dataset' }>, grants: Grant[]): Promise<void> {
    const policy = await this.readPolicy(target);
    if (!policy) throw new Error(`cannot grant on ${describeTarget(target)}: it does not exist`);
    const next = withGrants(policy, grants);
    if (next === policy) return;
    await this.rest.call(...this.setPolicyCall(target, next));
  }

  private async addToDataset(dataset: string, grants: Grant[]): Promise<void> {
    const current = await this.readDataset(dataset);
    if (!current) throw new Error(`cannot grant on dataset ${dataset}: it does not exist`);
    const have = (current.access ?? []).flatMap(accessToGrants);
    const missing = grants.filter((g) => !hasGrant(have, g));
    if (missing.length === 0) return;
    // PATCH replaces `access` whole: send every entry there plus ours, guarded by the etag.
    const access = [...(current.access ?? []), ...missing.map(grantToAccess)];
    await bigQueryRequest(
      this.requireBigQuery(),
      this.project,
      { method: 'PATCH', uri: `/datasets/${encodeURIComponent(dataset)}`, json: { access, etag: current.etag }, ...(current.etag ? { headers: { 'If-Match': current.etag } } : {}) },
      `datasets.patch ${dataset} access`,
    );
  }

  private async readDataset(dataset: string): Promise<DatasetAccess | null> {
    try {
      return await bigQueryRequest<DatasetAccess>(this.requireBigQuery(), this.project, { method: 'GET', uri: `/datasets/${encodeURIComponent(dataset)}` }, `datasets.get ${dataset}`);
    } catch (err) {
      if (httpStatusOf(err) === 404) return null;
      throw err;
    }
  }

  private async readPolicy(target: Exclude<PolicyTarget, { type: 'dataset' }>): Promise<Policy | null> {
    try {
      return await this.rest.call<Policy>(...this.getPolicyCall(target));
    } catch (err) {
      if (httpStatusOf(err) === 404) return null;
      throw err;
    }
  }

  /** getIamPolicy, asking for version 3 so conditional bindings come back intact. */
  private getPolicyCall(target: Exclude<PolicyTarget, { type: 'dataset' }>): [RestApi, RestCall] {
    const v3 = { 'options.requestedPolicyVersion': 3 };
    switch (target.type) {
      case 'project':
        return ['cloudresourcemanager', { method: 'POST', path: `/v1/projects/${target.project}:getIamPolicy`, body: { options: { requestedPolicyVersion: 3 } } }];
      case 'bucket':
        return ['storage', { method: 'GET', path: `/storage/v1/b/${encodeURIComponent(target.bucket)}/iam`, query: { optionsRequestedPolicyVersion: 3 } }];
      case 'topic':
        return ['pubsub', { method: 'GET', path: `/v1/projects/${this.project}/topics/${target.topic}:getIamPolicy`, query: v3 }];
      case 'subscription':
        return ['pubsub', { method: 'GET', path: `/v1/projects/${this.project}/subscriptions/${target.subscription}:getIamPolicy`, query: v3 }];
      case 'runService':
        return ['run', { method: 'GET', path: `/v2/${target.service}:getIamPolicy`, query: v3 }];
    }
  }

  private setPolicyCall(target: Exclude<PolicyTarget, { type: 'dataset' }>, policy: Policy): [RestApi, RestCall] {
    switch (target.type) {
      case 'project':
        return ['cloudresourcemanager', { method: 'POST', path: `/v1/projects/${target.project}:setIamPolicy`, body: { policy } }];
      case 'bucket':
        return ['storage', { method: 'PUT', path: `/storage/v1/b/${encodeURIComponent(target.bucket)}/iam`, body: policy }];
      case 'topic':
        return ['pubsub', { method: 'POST', path: `/v1/projects/${this.project}/topics/${target.topic}:setIamPolicy`, body: { policy } }];
      case 'subscription':
        return ['pubsub', { method: 'POST', path: `/v1/projects/${this.project}/subscriptions/${target.subscription}:setIamPolicy`, body: { policy } }];
      case 'runService':
        return ['run', { method: 'POST', path: `/v2/${target.service}:setIamPolicy`, body: { policy } }];
    }
  }

  private requireBigQuery(): BigQuery {
    if (!this.bigquery) throw new Error('a BigQuery client is needed for dataset grants');
    return this.bigquery;
  }
}

/** Every (role, member, condition) a policy grants. */
export function policyGrants(policy: Policy): Grant[] {
  return (policy.bindings ?? []).flatMap((b) => (b.members ?? []).map((member) => ({ role: b.role, member, ...(b.condition ? { condition: b.condition } : {}) })));
}

export function hasGrant(grants: Grant[], want: Grant): boolean {
  return grants.some((g) => g.role === want.role && g.member === want.member && (g.condition?.expression ?? '') === (want.condition?.expression ?? ''));
}

/**
 * The policy with `grants` added (members joined to a binding of the same role and condition,
 * or a new binding). Returns the same object when nothing is missing. A conditional binding
 * needs policy version 3.
 */
export function withGrants(policy: Policy, grants: Grant[]): Policy {
  const have = policyGrants(policy);
  const missing = grants.filter((g) => !hasGrant(have, g));
  if (missing.length === 0) return policy;
  const bindings = (policy.bindings ?? []).map((b) => ({ ...b, members: [...(b.members ?? [])] }));
  for (const grant of missing) {
    const same = bindings.find((b) => b.role === grant.role && (b.condition?.expression ?? '') === (grant.condition?.expression ?? ''));
    if (same) same.members.push(grant.member);
    else bindings.push({ role: grant.role, members: [grant.member], ...(grant.condition ? { condition: grant.condition } : {}) });
  }
  const conditional = bindings.some((b) => b.condition);
  return { ...policy, bindings, version: conditional ? 3 : (policy.version ?? 1) };
}

/** Dataset access entries as grants (legacy roles mapped to the predefined ones). */
export function accessToGrants(entry: AccessEntry): Grant[] {
  if (!entry.role) return [];
  const role = LEGACY_DATASET_ROLES[entry.role] ?? entry.role;
  let member: string | undefined;
  if (entry.userByEmail) member = `${entry.userByEmail.endsWith('.gserviceaccount.com') ? 'serviceAccount' : 'user'}:${entry.userByEmail}`;
  else if (entry.groupByEmail) member = `group:${entry.groupByEmail}`;
  else if (entry.domain) member = `domain:${entry.domain}`;
  else if (entry.iamMember) member = entry.iamMember;
  return member ? [{ role, member }] : [];
}

function grantToAccess(grant: Grant): AccessEntry {
  const [type, id = ''] = splitMember(grant.member);
  if (type === 'serviceAccount' || type === 'user') return { role: grant.role, userByEmail: id };
  if (type === 'group') return { role: grant.role, groupByEmail: id };
  if (type === 'domain') return { role: grant.role, domain: id };
  return { role: grant.role, iamMember: grant.member };
}

function splitMember(member: string): [string, string] {
  const i = member.indexOf(':');
  return i < 0 ? [member, ''] : [member.slice(0, i), member.slice(i + 1)];
}

/** The policy changed since it was read: 409 ABORTED (IAM) or 412 (Storage, BigQuery). */
function isConcurrentChange(err: unknown): boolean {
  const status = httpStatusOf(err);
  return status === 409 || status === 412;
}

/** A 400 naming a member IAM does not know yet: a service account created seconds ago. */
function isUnknownMember(err: unknown): boolean {
  return httpStatusOf(err) === 400 && /does not exist/i.test(errorMessage(err) + ' ' + JSON.stringify((err as { response?: { data?: unknown } })?.response?.data ?? ''));
}
