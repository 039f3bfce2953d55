/**
 * The one description of every deployable function. The build (scripts/build.ts), the
 * cloudbuild.yaml generator, the infrastructure program and the README's tables all read it,
 * resolved against the user's tidemark.config.yaml (`topics:`, `deploy:`), so a renamed topic
 * or account prefix reaches every consumer. A folder under functions/ without a row here fails
 * the build.
 */
import type { Config, TopicsConfig } from '../config/types.ts';
import type { DeploySettings } from '../../infra/deploy-config.ts';
import { BACKFILL_DELIVERY, budgetRequeueAfterMs } from '../../infra/delivery.ts';

/** The identity each function runs as; names the function and its service account `<prefix>-<role>`. */
export type FunctionRole = 'loader' | 'auditor' | 'backfill' | 'status' | 'ingest' | 'committer';

/** Whether some table commits in mode dml: only then is the committer (and its tick) deployed. */
export function commitsTables(config: Pick<Config, 'tables'>): boolean {
  return config.tables.some((t) => t.commit.mode === 'dml');
}

/** What starts a function, before the config names buckets and topics. */
export type TriggerKind =
  { kind: 'storage-finalized' } | { kind: 'topic'; topic: keyof TopicsConfig } | { kind: 'http' };

/** A row of the table: what is fixed in code for one functions/<folder>. */
export interface FunctionRow {
  /** Folder under functions/ (kebab-case): also the dist folder. */
  folder: string;
  /** The name registered with functions-framework (camelCase of the folder): --entry-point. */
  entryPoint: string;
  role: FunctionRole;
  trigger: TriggerKind;
  /** The storage trigger must run in the lake bucket's region; the rest in deploy.region. */
  runsIn: 'region' | 'lakeRegion';
  /** Redeliver failed events (transient errors are thrown for exactly this). */
  retry: boolean;
  /** Which `deploy:` section sizes it (memory, timeout, max instances). */
  settings: (d: DeploySettings) => { memory: string; timeoutSeconds: number; maxInstances: number };
  /** Environment beyond what every function gets. */
  env?: (d: DeploySettings) => Record<string, string>;
  /**
   * Deployed only for configs that need it (default: always). A function left out has no
   * account, grants or deploy command, and its topic and schedule are not declared either.
   */
  deployedWhen?: {
    needed: (config: Pick<Config, 'tables'>) => boolean;
    /** Why a config that does not need it goes without (the build prints it instead of deploying). */
    otherwise: string;
  };
  /** Why it is deployed this way. */
  why: string;
}

export const FUNCTION_TABLE: readonly FunctionRow[] = [
  {
    folder: 'load-on-finalize',
    entryPoint: 'loadOnFinalize',
    role: 'loader',
    trigger: { kind: 'storage-finalized' },
    runsIn: 'lakeRegion',
    retry: true,
    settings: (d) => ({
      memory: d.loader.memory,
      timeoutSeconds: d.loader.timeoutSeconds,
      maxInstances: d.loader.maxInstances,
    }),
    why: 'loads each arriving object; a transient failure is redelivered by Eventarc for up to 24 h',
  },
  {
    folder: 'audit-gaps',
    entryPoint: 'auditGaps',
    role: 'auditor',
    trigger: { kind: 'topic', topic: 'audit' },
    runsIn: 'region',
    // The next scheduled audit covers a failed one.
    retry: false,
    // One audit at a time: Scheduler never overlaps runs, and a redelivery must not either.
    settings: (d) => ({ memory: d.auditor.memory, timeoutSeconds: d.auditor.timeoutSeconds, maxInstances: 1 }),
    why: 'Cloud Scheduler publishes to the audit topic; one instance, no retry (the next run covers a failed one)',
  },
  {
    folder: 'backfill-partition',
    entryPoint: 'backfillPartition',
    role: 'backfill',
    trigger: { kind: 'topic', topic: 'backfill' },
    runsIn: 'region',
    retry: true,
    settings: (d) => ({
      memory: d.loader.memory,
      timeoutSeconds: d.loader.timeoutSeconds,
      maxInstances: d.backfill.maxInstances,
    }),
    // A budget wait is re-published before the dead-letter policy's last attempt (handlers/backfill.ts).
    env: (d) => ({
      TIDEMARK_BUDGET_REQUEUE_MS: String(
        budgetRequeueAfterMs(d.backfill.maxDeliveryAttempts, BACKFILL_DELIVERY.minBackoffSeconds),
      ),
    }),
    why: 'one message per partition; retried with backoff, dead-lettered after deploy.backfill.maxDeliveryAttempts',
  },
  {
    folder: 'commit-tables',
    entryPoint: 'commitTables',
    role: 'committer',
    trigger: { kind: 'topic', topic: 'commit' },
    runsIn: 'region',
    // The next tick (a minute later) covers a failed one; a redelivery would only queue behind it.
    retry: false,
    // A commit is loads into the staging table plus one transaction: the loader's timeout. Few
    // instances: the core's table lease already allows one committer per table, and one tick
    // commits every due table.
    settings: (d) => ({ memory: d.loader.memory, timeoutSeconds: d.loader.timeoutSeconds, maxInstances: 2 }),
    deployedWhen: { needed: commitsTables, otherwise: 'no table has commit.mode dml' },
    why: 'only with a `commit.mode: dml` table: the Cloud Scheduler job `<prefix>-commit-tick` publishes to the commit topic every minute; each dml table commits at most once per `commit.interval`; no retry (the next tick covers a failed one)',
  },
  {
    folder: 'ingest-events',
    entryPoint: 'ingestEvents',
    role: 'ingest',
    trigger: { kind: 'http' },
    // Beside the lake and the topics' storage region: messages never leave it before the load.
    runsIn: 'lakeRegion',
    // HTTP: the caller retries (a 503 says so); the platform has nothing to redeliver.
    retry: false,
    settings: (d) => ({ memory: d.loader.memory, timeoutSeconds: 60, maxInstances: d.loader.maxInstances }),
    why: 'POST /v1/streams/<stream>/events: validates records and publishes them to the stream topic; callers need run.invoker',
  },
  {
    folder: 'status-page',
    entryPoint: 'statusPage',
    // Role 'status': read-only grants (objectViewer on the state bucket, BigQuery metadataViewer
    // on the datasets, subscriber on the backfill dead-letter subscription) plus publisher on the
    // backfill topic for operators' reloads. No unauthenticated access: callers need run.invoker.
    role: 'status',
    trigger: { kind: 'http' },
    runsIn: 'region',
    retry: false,
    settings: (d) => ({ memory: d.auditor.memory, timeoutSeconds: 60, maxInstances: 2 }),
    why: 'the status page and its JSON API; HTTP without unauthenticated access (open it with `gcloud run services proxy`)',
  },
];

/** The rows a config deploys (a row's `deployedWhen` decides; absent, always). */
export function deployedRows(config: Pick<Config, 'tables'>): FunctionRow[] {
  return FUNCTION_TABLE.filter((row) => row.deployedWhen?.needed(config) ?? true);
}

/**
 * The `topics:` a config declares: every one but the trigger topics of functions it does not
 * deploy (the commit topic without a dml table), in the config's order.
 */
export function neededTopics(config: Pick<Config, 'topics' | 'tables'>): (keyof TopicsConfig)[] {
  const deployed = deployedRows(config);
  const idle = FUNCTION_TABLE.filter((r) => !deployed.includes(r)).flatMap((r) =>
    r.trigger.kind === 'topic' ? [r.trigger.topic] : [],
  );
  return (Object.keys(config.topics) as (keyof TopicsConfig)[]).filter((k) => !idle.includes(k));
}

/** A function as deployed with a given config: every name resolved. */
export interface FunctionSpec {
  folder: string;
  entryPoint: string;
  role: FunctionRole;
  /** Function (and Cloud Run service) name, `<prefix>-<role>`. */
  name: string;
  serviceAccountId: string;
  serviceAccountEmail: string;
  region: string;
  trigger: { kind: 'storage-finalized'; bucket: string } | { kind: 'topic'; topic: string } | { kind: 'http' };
  retry: boolean;
  memory: string;
  timeoutSeconds: number;
  maxInstances: number;
  /** Environment of the deployed function. */
  env: Record<string, string>;
}

/**
 * Resolves the table against a config: what every consumer deploys, names included. Rows the
 * config does not need (deployedWhen) are left out.
 */
export function describeFunctions(
  config: Pick<Config, 'project' | 'lake' | 'topics' | 'tables'>,
  deploy: DeploySettings,
): FunctionSpec[] {
  return deployedRows(config).map((row) => {
    const id = `${deploy.serviceAccountPrefix}-${row.role}`;
    const trigger: FunctionSpec['trigger'] =
      row.trigger.kind === 'storage-finalized'
        ? { kind: 'storage-finalized', bucket: config.lake.bucket }
        : row.trigger.kind === 'topic'
          ? { kind: 'topic', topic: config.topics[row.trigger.topic] }
          : { kind: 'http' };
    return {
      folder: row.folder,
      entryPoint: row.entryPoint,
      role: row.role,
      name: id,
      serviceAccountId: id,
      serviceAccountEmail: `${id}@${config.project}.iam.gserviceaccount.com`,
      region: row.runsIn === 'lakeRegion' ? deploy.lakeRegion : deploy.region,
      trigger,
      retry: row.retry,
      ...row.settings(deploy),
      env: { TIDEMARK_LOG_LEVEL: 'info', ...row.env?.(deploy) },
    };
  });
}

/** The row for a functions/ folder; throws naming the folder and this file when there is none. */
export function functionRow(folder: string): FunctionRow {
  const row = FUNCTION_TABLE.find((r) => r.folder === folder);
  if (!row)
    throw new Error(
      `functions/${folder} has no entry in the function table: add a row to FUNCTION_TABLE in shared/deploy/functions.ts`,
    );
  return row;
}
