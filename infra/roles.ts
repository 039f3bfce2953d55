/**
 * Identities and what they may do: the single statement of tidemark's permissions. The Pulumi
 * program (program.ts) expands these tables per bucket, dataset, table and topic; the cloudbuild
 * after-deploy step applies the rows whose target only exists after `gcloud functions deploy`;
 * the README's IAM table is rendered from them (a test keeps it equal). Pure: no cloud import.
 */
import type { TopicsConfig } from '../shared/config/types.ts';
import type { FunctionRole } from '../shared/deploy/functions.ts';

export type { FunctionRole };

/** Where a role is granted, before the config names the buckets, datasets, tables and topics. */
export type GrantScope =
  | { kind: 'project' }
  /** The lake bucket and every table's source bucket. */
  | { kind: 'lakeBuckets' }
  | { kind: 'stateBucket' }
  /** The state bucket, with a condition limiting it to objects under the state prefix. */
  | { kind: 'statePrefix' }
  /** Every dataset a table loads into. */
  | { kind: 'targetDatasets' }
  /** Every target table; a table the program does not create (no schema) falls back to its dataset. */
  | { kind: 'targetTables' }
  | { kind: 'topic'; topic: keyof TopicsConfig }
  /** The pull subscription the program declares on a topic (`<topic>-sub`: the dead letters people read). */
  | { kind: 'pullSubscription'; topic: 'backfillDlq' | 'auditResults' }
  /** Every stream's topic (`streams[].topic`), and no other topic. */
  | { kind: 'streamTopics' }
  /** Every subscription attached to the topic (Eventarc's, created at deploy: after-deploy step). */
  | { kind: 'topicSubscriptions'; topic: keyof TopicsConfig }
  /** The Cloud Run service of the function that runs as this account (after-deploy step). */
  | { kind: 'ownFunction' };

/** A custom role tidemark defines in the project: exactly these permissions. */
export interface CustomRole {
  /** Suffix of the role id `<prefix>_<key>` (role ids allow letters, digits, `_` and `.`). */
  key: string;
  title: string;
  permissions: readonly string[];
  why: string;
}

/** A role: predefined (`roles/...`) or one of CUSTOM_ROLES by key. */
export type RoleRef = { predefined: string } | { custom: string };

export interface RoleGrant {
  role: RoleRef;
  on: GrantScope;
  /** Why this role at this scope, and not a smaller one. */
  why: string;
}

export const CUSTOM_ROLES: readonly CustomRole[] = [
  {
    key: 'syncJobs',
    title: 'tidemark sync jobs',
    // jobs.create alone lets the creator get its own jobs; the other sync function's jobs need
    // jobs.get at project level (jobs have no IAM of their own). No jobs.list/listAll: nobody's
    // query text is listed.
    permissions: ['bigquery.jobs.create', 'bigquery.jobs.get'],
    why: 'run load, copy and DELETE jobs and the commit transaction (a query job), and read by id a job another sync function submitted (settle, fence, adopt a 409, finish a crashed commit)',
  },
  {
    key: 'queryJobs',
    title: 'tidemark query jobs',
    permissions: ['bigquery.jobs.create'],
    why: 'run the INFORMATION_SCHEMA.PARTITIONS metadata query (its own job only)',
  },
  {
    key: 'syncTables',
    title: 'tidemark sync tables',
    // dataEditor minus routines, models, dataset updates and table IAM: what replacing a
    // partition through a staging table in the same dataset touches.
    permissions: [
      'bigquery.tables.create',
      'bigquery.tables.delete',
      'bigquery.tables.get',
      'bigquery.tables.getData',
      'bigquery.tables.list',
      'bigquery.tables.update',
      'bigquery.tables.updateData',
    ],
    why: 'replace partitions, create and delete staging tables beside the target (dataset scope: tables.create cannot be granted on a table), read a staging table and change target partitions in a DML transaction (getData, updateData), advance the load label',
  },
  {
    key: 'labelPatcher',
    title: 'tidemark label patcher',
    // tables.update has no label-only form; no updateData, create or delete.
    permissions: ['bigquery.tables.get', 'bigquery.tables.update'],
    why: 'patch the watermark label of one table (etag-guarded PATCH)',
  },
];

const lake: GrantScope = { kind: 'lakeBuckets' };
const project: GrantScope = { kind: 'project' };
const datasets: GrantScope = { kind: 'targetDatasets' };
const own: GrantScope = { kind: 'ownFunction' };
// Event-triggered functions only: the trigger invokes them as their own account. HTTP functions
// are invoked by people and producers (CALLER_GRANTS), never by their own account.
const invoker: RoleGrant = {
  role: { predefined: 'roles/run.invoker' },
  on: own,
  why: 'its trigger invokes the function; no unauthenticated access',
};

/** What every function syncing partitions needs (loader and backfill run the same engine). */
const SYNC_GRANTS: readonly RoleGrant[] = [
  {
    role: { predefined: 'roles/storage.objectViewer' },
    on: lake,
    why: 'list source objects; load jobs read them as this account',
  },
  {
    role: { predefined: 'roles/storage.objectUser' },
    on: { kind: 'statePrefix' },
    why: 'read, compare-and-swap and delete partition state and budget objects, only under the state prefix',
  },
  {
    role: { custom: 'syncJobs' },
    on: project,
    why: "jobs.create, and jobs.get on the other sync function's jobs: both only exist at project level",
  },
  {
    role: { custom: 'syncTables' },
    on: datasets,
    why: 'load into target tables and staging tables created beside them',
  },
];

/** Each function's service account: exactly these grants, nothing else. */
export const SERVICE_ACCOUNT_GRANTS: Record<FunctionRole, readonly RoleGrant[]> = {
  loader: [
    ...SYNC_GRANTS,
    {
      role: { predefined: 'roles/eventarc.eventReceiver' },
      on: project,
      why: 'identity of the Cloud Storage trigger (direct events need it; Pub/Sub triggers do not); exists only at project level',
    },
    invoker,
  ],
  auditor: [
    { role: { predefined: 'roles/storage.objectViewer' }, on: lake, why: 'list source objects' },
    {
      role: { predefined: 'roles/storage.objectViewer' },
      on: { kind: 'stateBucket' },
      why: 'list partition state summaries (one paged listing per table)',
    },
    {
      role: { custom: 'queryJobs' },
      on: project,
      why: 'run the INFORMATION_SCHEMA.PARTITIONS query; jobs.create exists only at project level',
    },
    {
      role: { predefined: 'roles/bigquery.metadataViewer' },
      on: datasets,
      why: 'INFORMATION_SCHEMA.PARTITIONS needs tables.list and tables.get on the dataset; no data read',
    },
    {
      role: { custom: 'labelPatcher' },
      on: { kind: 'targetTables' },
      why: 'patch the watermark label on each target table, and nothing else',
    },
    {
      role: { predefined: 'roles/pubsub.publisher' },
      on: { kind: 'topic', topic: 'backfill' },
      why: 'publish one backfill request per partition',
    },
    {
      role: { predefined: 'roles/pubsub.publisher' },
      on: { kind: 'topic', topic: 'auditResults' },
      why: 'publish the audit summary',
    },
    invoker,
  ],
  backfill: [
    ...SYNC_GRANTS,
    {
      role: { predefined: 'roles/pubsub.publisher' },
      on: { kind: 'topic', topic: 'backfill' },
      why: 're-publish a request that waits for job budget',
    },
    invoker,
  ],
  // Deployed only with a commit-mode dml table (the function table's deployedWhen): then these
  // grants, as the backfill account's for loads and state, and the DML transaction on top.
  committer: [
    {
      role: { predefined: 'roles/storage.objectViewer' },
      on: lake,
      why: "list the dirty partitions' source objects; the load jobs into the staging table read them as this account",
    },
    {
      role: { predefined: 'roles/storage.objectUser' },
      on: { kind: 'statePrefix' },
      why: 'read and delete dirty markers, hold the table lease and settle partition state, only under the state prefix',
    },
    {
      role: { custom: 'syncJobs' },
      on: project,
      why: 'jobs.create for the staging loads and the commit query job (the DML transaction), jobs.get to find and finish a commit a crashed tick submitted: both only exist at project level',
    },
    {
      role: { custom: 'syncTables' },
      on: datasets,
      why: 'create the staging table beside the target (tables.create: dataset scope only) and load it; the transaction reads it (tables.getData) and deletes and inserts partitions of the target (tables.updateData); advance the load label',
    },
    invoker,
  ],
  // ingestEvents validates records and publishes them: nothing to read, nothing else to write.
  // The same grants as describeStreams' ingestGrants (shared/deploy/streams.ts; a test keeps
  // them equal). Its callers get run.invoker (CALLER_GRANTS), not its own account.
  ingest: [
    {
      role: { predefined: 'roles/pubsub.publisher' },
      on: { kind: 'streamTopics' },
      why: "publish accepted records to its stream's topic; no other topic, no subscription, no bucket (the storage subscription writes the files)",
    },
  ],
  // Read-only but for the backfill topic. Its callers get run.invoker (CALLER_GRANTS).
  status: [
    {
      role: { predefined: 'roles/storage.objectViewer' },
      on: { kind: 'stateBucket' },
      why: 'read the audit snapshots, change markers, budgets and partition state the page shows',
    },
    {
      role: { predefined: 'roles/bigquery.metadataViewer' },
      on: datasets,
      why: "read the tables' load and watermark labels; no data read",
    },
    {
      role: { predefined: 'roles/pubsub.subscriber' },
      on: { kind: 'pullSubscription', topic: 'backfillDlq' },
      why: 'list the backfill dead letters on the page (pull without ack; the subscription only, not the topic)',
    },
    {
      role: { predefined: 'roles/pubsub.publisher' },
      on: { kind: 'topic', topic: 'backfill' },
      why: 'publish the reloads and backfills an operator asks for on the page',
    },
  ],
};

/** Who may call an HTTP function: principals the config lists, granted run.invoker on its service. */
export interface CallerGrant {
  /** The HTTP function's role. */
  function: FunctionRole;
  /** The config keys listing the principals (README's table). */
  from: string;
  why: string;
}

/**
 * The callers of the HTTP functions (after deploy: the service exists only then). Never
 * allUsers: the config refuses it, and a function with no callers listed is callable by nobody
 * but project owners.
 */
export const CALLER_GRANTS: readonly CallerGrant[] = [
  {
    function: 'status',
    from: '`statusPage.operators`, `statusPage.invokers`',
    why: 'open the status page (operators may also act on it; the page checks who)',
  },
  {
    function: 'ingest',
    from: '`streams[].invokers`',
    why: 'POST events to a stream (run.invoker is per service: a producer listed on one stream may post to every stream)',
  },
];

export interface ServiceAgentGrant extends RoleGrant {
  /** Which Google service agent: `service-<project number>@<agentDomain>`. */
  agent: string;
  agentDomain: string;
}

/** Google-managed service agents that tidemark's event flow depends on. */
export const SERVICE_AGENT_GRANTS: readonly ServiceAgentGrant[] = [
  {
    agent: 'Pub/Sub',
    agentDomain: 'gcp-sa-pubsub.iam.gserviceaccount.com',
    role: { predefined: 'roles/pubsub.publisher' },
    on: { kind: 'topic', topic: 'backfillDlq' },
    why: 'forward undeliverable backfill messages to the dead-letter topic',
  },
  {
    agent: 'Pub/Sub',
    agentDomain: 'gcp-sa-pubsub.iam.gserviceaccount.com',
    role: { predefined: 'roles/pubsub.subscriber' },
    on: { kind: 'topicSubscriptions', topic: 'backfill' },
    why: 'acknowledge the messages it dead-letters',
  },
  {
    agent: 'Cloud Storage',
    agentDomain: 'gs-project-accounts.iam.gserviceaccount.com',
    role: { predefined: 'roles/pubsub.publisher' },
    on: project,
    why: 'Cloud Storage triggers (Eventarc direct events) publish through it',
  },
];

/**
 * Per stream, the Pub/Sub service agent's grants (describeStream in shared/deploy/streams.ts
 * declares them with the stream's resources; here for the README's table only).
 */
export const STREAM_AGENT_ROWS: readonly { role: string; on: string; why: string }[] = [
  {
    role: 'roles/storage.objectCreator',
    on: "each stream table's source bucket",
    why: "the Cloud Storage subscription writes the stream's files",
  },
  {
    role: 'roles/storage.legacyBucketReader',
    on: "each stream table's source bucket",
    why: "the Cloud Storage subscription reads the bucket's metadata",
  },
  {
    role: 'roles/pubsub.publisher',
    on: 'each `streams[].deadLetterTopic`',
    why: 'forward messages it cannot write to the dead-letter topic',
  },
  {
    role: 'roles/pubsub.subscriber',
    on: 'each `streams[].subscription`',
    why: 'acknowledge the messages it dead-letters',
  },
];

/** Scopes whose target exists only after `gcloud functions deploy`: the cloudbuild after-deploy step grants them. */
export function isAfterDeploy(scope: GrantScope): boolean {
  return scope.kind === 'ownFunction' || scope.kind === 'topicSubscriptions';
}

/** `<prefix>_<key>`: a custom role's id (role ids have no `-`). */
export function customRoleId(prefix: string, key: string): string {
  return `${prefix.replace(/-/g, '_')}_${key}`;
}

/** The role as IAM names it: `roles/x` or `projects/<project>/roles/<prefix>_<key>`. */
export function roleName(role: RoleRef, project: string, prefix: string): string {
  if ('predefined' in role) return role.predefined;
  if (!CUSTOM_ROLES.some((r) => r.key === role.custom))
    throw new Error(`unknown custom role ${role.custom}: add it to CUSTOM_ROLES in infra/roles.ts`);
  return `projects/${project}/roles/${customRoleId(prefix, role.custom)}`;
}

/** The role tables as Markdown (README.md and infra/README.md carry them; a test keeps them equal). */
export function roleTable(prefix = 'tidemark'): string {
  const show = (role: RoleRef) =>
    'predefined' in role ? `\`${role.predefined}\`` : `\`${customRoleId(prefix, role.custom)}\` (custom)`;
  const rows: string[] = ['| Principal | Role | On | Why |', '|---|---|---|---|'];
  for (const fn of ['loader', 'auditor', 'backfill', 'committer', 'status', 'ingest'] as const) {
    for (const g of SERVICE_ACCOUNT_GRANTS[fn])
      rows.push(`| \`${prefix}-${fn}\` | ${show(g.role)} | ${scopeText(g.on)} | ${g.why} |`);
  }
  for (const c of CALLER_GRANTS)
    rows.push(
      `| ${c.from} | \`roles/run.invoker\` | the \`${prefix}-${c.function}\` Cloud Run service (after deploy) | ${c.why} |`,
    );
  for (const g of SERVICE_AGENT_GRANTS)
    rows.push(`| ${g.agent} service agent | ${show(g.role)} | ${scopeText(g.on)} | ${g.why} |`);
  for (const g of STREAM_AGENT_ROWS) rows.push(`| Pub/Sub service agent | \`${g.role}\` | ${g.on} | ${g.why} |`);
  rows.push('', '| Custom role | Permissions | Why |', '|---|---|---|');
  for (const r of CUSTOM_ROLES)
    rows.push(`| \`${customRoleId(prefix, r.key)}\` | ${r.permissions.map((p) => `\`${p}\``).join(', ')} | ${r.why} |`);
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
    case 'targetTables':
      return 'each target table (its dataset while the first load has not created it)';
    case 'topic':
      return `topic \`topics.${scope.topic}\``;
    case 'pullSubscription':
      return `subscription \`topics.${scope.topic}\`-sub`;
    case 'streamTopics':
      return 'each `streams[].topic`';
    case 'topicSubscriptions':
      return `subscriptions of topic \`topics.${scope.topic}\` (after deploy)`;
    case 'ownFunction':
      return 'its own Cloud Run service (after deploy)';
  }
}
