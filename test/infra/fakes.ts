/**
 * In-memory stand-ins for the Google REST APIs infra talks to, mounted on a FakeApi:
 * Cloud Scheduler v1, BigQuery v2 (datasets with their access lists, tables), and the IAM side
 * (IAM service accounts, Resource Manager, Cloud Functions v2, Cloud Run v2, and the IAM
 * methods of Storage and Pub/Sub). Each answers like the real API: 404 for what is missing,
 * 409 for a second create, 409/412 for a write with a stale etag.
 */
import type { Policy } from '../../infra/iam-policy.ts';
import { apiError } from './fake-http.ts';
import type { Recorded, Reply } from './fake-http.ts';

/** Cloud Scheduler jobs by name, stored as the REST JSON the client sent. */
export class FakeScheduler {
  readonly jobs = new Map<string, Record<string, any>>();
  /** Answers a create with 409 once, as if another apply created the job meanwhile. */
  raceOnCreate = false;

  handle = (req: Recorded): Reply | undefined => {
    const m = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+)\/jobs(?:\/([^/]+))?$/.exec(req.path);
    if (!m) return undefined;
    const name = m[2] ? `${m[1]}/jobs/${m[2]}` : String(req.body?.name);
    if (req.method === 'GET') return this.jobs.has(name) ? { body: this.jobs.get(name) } : apiError(404, 'notFound', 'Job not found.', 'NOT_FOUND');
    if (req.method === 'POST') {
      if (this.raceOnCreate) {
        this.raceOnCreate = false;
        this.jobs.set(name, { name, schedule: '0 0 * * *', timeZone: 'UTC', state: 'ENABLED', pubsubTarget: { topicName: 'projects/x/topics/y' } });
      }
      if (this.jobs.has(name)) return apiError(409, 'alreadyExists', 'Job already exists.', 'ALREADY_EXISTS');
      this.jobs.set(name, { ...req.body, state: 'ENABLED', userUpdateTime: '2026-11-24T00:00:00Z' });
      return { body: this.jobs.get(name) };
    }
    if (req.method === 'PATCH') {
      const current = this.jobs.get(name);
      if (!current) return apiError(404, 'notFound', 'Job not found.', 'NOT_FOUND');
      const job = { ...current };
      for (const path of (req.query.get('updateMask') ?? '').split(',')) {
        const field = path.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
        job[field] = req.body[field];
      }
      this.jobs.set(name, job);
      return { body: job };
    }
    return undefined;
  };
}

/** BigQuery's legacy names for the predefined dataset roles, which the API answers with. */
const LEGACY: Record<string, string> = { 'roles/bigquery.dataEditor': 'WRITER', 'roles/bigquery.dataViewer': 'READER', 'roles/bigquery.dataOwner': 'OWNER' };

/** BigQuery datasets (with `access`) and tables of one project. */
export class FakeBigQuery {
  readonly datasets = new Map<string, Record<string, any>>();
  readonly tables = new Map<string, Record<string, any>>();
  private etags = 0;
  private readonly base: string;

  constructor(project: string) {
    this.base = `/bigquery/v2/projects/${project}`;
  }

  handle = (req: Recorded): Reply | undefined => {
    if (!req.path.startsWith(this.base)) return undefined;
    const path = req.path.slice(this.base.length);
    let m: RegExpExecArray | null;
    if (path === '/datasets' && req.method === 'POST') {
      const id = req.body.datasetReference.datasetId;
      if (this.datasets.has(id)) return apiError(409, 'duplicate', `Already Exists: Dataset ${id}`);
      // Without `access` in the insert, BigQuery adds the default entries.
      this.datasets.set(id, { access: [{ role: 'OWNER', specialGroup: 'projectOwners' }, { role: 'READER', specialGroup: 'projectReaders' }], ...req.body, etag: this.etag() });
      return { body: this.datasets.get(id) };
    }
    if ((m = /^\/datasets\/([^/]+)$/.exec(path))) {
      const dataset = this.datasets.get(m[1]!);
      if (!dataset) return apiError(404, 'notFound', `Not found: Dataset ${m[1]}`);
      if (req.method === 'GET') return { body: dataset };
      if (req.method === 'PATCH') {
        if (req.headers['if-match'] !== dataset.etag) return apiError(412, 'conditionNotMet', 'Precondition check failed.');
        const access = req.body.access ? (req.body.access as Record<string, unknown>[]).map((e) => ({ ...e, role: LEGACY[String(e.role)] ?? e.role })) : dataset.access;
        this.datasets.set(m[1]!, { ...dataset, access, etag: this.etag() });
        return { body: this.datasets.get(m[1]!) };
      }
    }
    if ((m = /^\/datasets\/([^/]+)\/tables$/.exec(path)) && req.method === 'POST') {
      if (!this.datasets.has(m[1]!)) return apiError(404, 'notFound', `Not found: Dataset ${m[1]}`);
      const key = `${m[1]}.${req.body.tableReference.tableId}`;
      if (this.tables.has(key)) return apiError(409, 'duplicate', `Already Exists: Table ${key}`);
      this.tables.set(key, { ...req.body, etag: this.etag() });
      return { body: this.tables.get(key) };
    }
    if ((m = /^\/datasets\/([^/]+)\/tables\/([^/]+)$/.exec(path))) {
      const key = `${m[1]}.${m[2]}`;
      const table = this.tables.get(key);
      if (!table) return apiError(404, 'notFound', `Not found: Table ${key}`);
      if (req.method === 'GET') return { body: table };
      if (req.method === 'PATCH') {
        if (req.headers['if-match'] !== table.etag) return apiError(412, 'conditionNotMet', 'Precondition check failed.');
        const next = { ...table, labels: { ...table.labels, ...req.body.labels }, etag: this.etag() };
        this.tables.set(key, next);
        return { body: next };
      }
    }
    return undefined;
  };

  etag(): string {
    return `etag-${++this.etags}`;
  }
}

/**
 * IAM and the APIs around it, mounted under path prefixes (`/iam`, `/crm`, `/storage`, `/pubsub`,
 * `/functions`, `/run`: point GoogleRest's endpoints there).
 */
export class FakeIam {
  readonly serviceAccounts = new Map<string, Record<string, unknown>>();
  /** Policies by resource key (`project`, `bucket/b`, `topic/t`, `subscription/s`, `run/<service>`). */
  readonly policies = new Map<string, Policy>();
  readonly functions = new Set<string>();
  /** Topics and subscriptions live elsewhere (the emulator): answer their IAM as if they exist. */
  pubsubResourcesExist = false;
  /** setIamPolicy answers that many times with a stale etag (a concurrent writer). */
  conflicts = 0;
  /** setIamPolicy answers "does not exist" that many times (a just-created account propagating). */
  unknownMember = 0;
  private etags = 0;

  readonly project: string;
  readonly projectNumber: string;
  constructor(project: string, projectNumber: string) {
    this.project = project;
    this.projectNumber = projectNumber;
  }

  handle = (req: Recorded): Reply | undefined => {
    let m: RegExpExecArray | null;
    if ((m = /^\/iam\/v1\/projects\/([^/]+)\/serviceAccounts\/(.+)$/.exec(req.path)) && req.method === 'GET') {
      const found = this.serviceAccounts.get(m[2]!);
      return found ? { body: found } : apiError(404, 'notFound', 'Unknown service account', 'NOT_FOUND');
    }
    if ((m = /^\/iam\/v1\/projects\/([^/]+)\/serviceAccounts$/.exec(req.path)) && req.method === 'POST') {
      const email = `${req.body.accountId}@${m[1]}.iam.gserviceaccount.com`;
      if (this.serviceAccounts.has(email)) return apiError(409, 'alreadyExists', `Service account ${req.body.accountId} already exists within project`, 'ALREADY_EXISTS');
      const account = { name: `projects/${m[1]}/serviceAccounts/${email}`, email, ...req.body.serviceAccount };
      this.serviceAccounts.set(email, account);
      return { body: account };
    }
    if (req.path === `/crm/v1/projects/${this.project}` && req.method === 'GET') return { body: { projectId: this.project, projectNumber: this.projectNumber } };
    if ((m = /^\/crm\/v1\/projects\/([^/:]+):(get|set)IamPolicy$/.exec(req.path)) && req.method === 'POST') {
      return m[2] === 'get' ? this.getPolicy('project') : this.setPolicy('project', req.body.policy, 409);
    }
    if ((m = /^\/storage\/storage\/v1\/b\/([^/]+)\/iam$/.exec(req.path))) {
      if (req.method === 'GET') return this.getPolicy(`bucket/${m[1]}`);
      if (req.method === 'PUT') return this.setPolicy(`bucket/${m[1]}`, req.body, 412);
    }
    if ((m = /^\/pubsub\/v1\/projects\/[^/]+\/(topics|subscriptions)\/([^/:]+):(get|set)IamPolicy$/.exec(req.path))) {
      const key = `${m[1] === 'topics' ? 'topic' : 'subscription'}/${m[2]}`;
      if (this.pubsubResourcesExist && !this.policies.has(key)) this.policies.set(key, { etag: this.etag() });
      return m[3] === 'get' ? this.getPolicy(key) : this.setPolicy(key, req.body.policy, 409);
    }
    if ((m = /^\/functions\/v2\/projects\/([^/]+)\/locations\/([^/]+)\/functions\/([^/]+)$/.exec(req.path))) {
      if (!this.functions.has(`${m[2]}/${m[3]}`)) return apiError(404, 'notFound', `Resource '${m[3]}' was not found`, 'NOT_FOUND');
      return { body: { name: req.path.slice('/functions/v2/'.length), serviceConfig: { service: `projects/${m[1]}/locations/${m[2]}/services/${m[3]}` } } };
    }
    if ((m = /^\/run\/v2\/(projects\/.+\/services\/[^/:]+):(get|set)IamPolicy$/.exec(req.path))) {
      return m[2] === 'get' ? this.getPolicy(`run/${m[1]}`) : this.setPolicy(`run/${m[1]}`, req.body.policy, 409);
    }
    return undefined;
  };

  /** What `gcloud functions deploy` leaves: a function with its Cloud Run service. */
  deployFunction(region: string, name: string): void {
    this.functions.add(`${region}/${name}`);
    this.policies.set(`run/projects/${this.project}/locations/${region}/services/${name}`, { etag: this.etag() });
  }

  etag(): string {
    return `BwY${++this.etags}`;
  }

  private getPolicy(key: string): Reply {
    const policy = this.policies.get(key);
    return policy ? { body: policy } : apiError(404, 'notFound', `Resource not found (resource=${key}).`, 'NOT_FOUND');
  }

  private setPolicy(key: string, policy: Policy, staleStatus: number): Reply {
    const current = this.policies.get(key);
    if (!current) return apiError(404, 'notFound', `Resource not found (resource=${key}).`, 'NOT_FOUND');
    if (this.conflicts > 0) {
      this.conflicts--;
      current.etag = this.etag(); // someone else wrote meanwhile
    }
    if (policy.etag !== current.etag) return apiError(staleStatus, 'aborted', 'There were concurrent policy changes.', 'ABORTED');
    if (this.unknownMember > 0) {
      this.unknownMember--;
      const member = policy.bindings?.flatMap((b) => b.members ?? []).find((x) => x.startsWith('serviceAccount:')) ?? 'serviceAccount:?';
      return apiError(400, 'badRequest', `Service account ${member.slice('serviceAccount:'.length)} does not exist.`, 'INVALID_ARGUMENT');
    }
    if ((policy.bindings ?? []).some((b) => b.condition) && policy.version !== 3) return apiError(400, 'badRequest', 'Conditional bindings need policy version 3', 'INVALID_ARGUMENT');
    const next = { ...policy, etag: this.etag() };
    this.policies.set(key, next);
    return { body: next };
  }
}
