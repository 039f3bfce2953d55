/**
 * The alerts, as a pure description the infrastructure program turns into Cloud Monitoring
 * resources: log-based metrics over the exact JSON lines tidemark writes (shared/log.ts: one
 * line per entry, `severity` and `message` plus fields; Cloud Logging puts the fields under
 * `jsonPayload`), and alert policies on them when `alerts.notificationChannels` is configured.
 *
 * Each filter is built from `conditions` so the tests can check every condition against real
 * log lines the engine writes (test/shared/deploy/alerts.test.ts). Dead letters are the
 * exception: Pub/Sub dead-letters a message without any tidemark code running, so that alert
 * watches the dead-letter subscription's own metric.
 */
import type { Config } from '../config/types.ts';
import { AUDIT_CLASSES } from '../core/audit-classes.ts';
import type { AuditClass } from '../core/audit-classes.ts';

/** One clause of a Cloud Logging filter; clauses are ANDed. */
export type LogCondition =
  | { field: string; op: '='; value: string }
  | { field: string; op: '=~'; value: string }
  | { field: string; op: '>='; value: number }
  | { field: string; op: ':*' };

export interface LogMetric {
  kind: 'log';
  /** Metric id (logging.googleapis.com/user/<name>). */
  name: string;
  description: string;
  conditions: LogCondition[];
  /** The filter text, rendered from `conditions` (what the API takes). */
  filter: string;
  /** DELTA counter of matching lines, or a DISTRIBUTION of the extracted value. */
  metricKind: 'counter' | 'distribution';
  /** `EXTRACT(jsonPayload.x)` for distributions. */
  valueExtractor?: string;
  /** Label name -> extractor. */
  labels: Record<string, string>;
  unit: string;
}

/** A metric Google already keeps (no tidemark log line exists for the event). */
export interface BuiltinMetric {
  kind: 'builtin';
  name: string;
  description: string;
  /** Monitoring filter selecting the time series. */
  filter: string;
  unit: string;
}

export interface AlertPolicy {
  name: string;
  metric: string;
  /** The condition: the aligned value per label set `comparison` threshold for `durationSeconds`. */
  aligner: 'ALIGN_SUM' | 'ALIGN_MAX' | 'ALIGN_PERCENTILE_99';
  alignmentSeconds: number;
  comparison: 'COMPARISON_GT';
  threshold: number;
  durationSeconds: number;
  notificationChannels: string[];
  /** Markdown shown in the incident: what it means and what to do. */
  documentation: string;
}

export interface AlertsDescription {
  metrics: (LogMetric | BuiltinMetric)[];
  /** Empty unless the config names notification channels. */
  policies: AlertPolicy[];
}

const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** The filter text of a list of conditions (Cloud Logging query language). */
export function renderFilter(conditions: readonly LogCondition[]): string {
  return conditions
    .map((c) =>
      c.op === ':*' ? `${c.field}:*` : c.op === '>=' ? `${c.field}>=${c.value}` : `${c.field}${c.op}${q(c.value)}`,
    )
    .join(' AND ');
}

function logMetric(m: Omit<LogMetric, 'kind' | 'filter'>): LogMetric {
  return { kind: 'log', ...m, filter: renderFilter(m.conditions) };
}

/** Audit classes worth a metric (holes, and data the warehouse has without a source). */
export const HOLE_CLASSES: readonly AuditClass[] = AUDIT_CLASSES.filter((c) => c !== 'ok' && c !== 'waived');

export interface AlertOptions {
  /** Cloud Run service names of the functions (`<prefix>-loader`, ...). */
  services: { loader: string; auditor: string; backfill: string; committer?: string };
  /** Freshness lag that pages (default 6 h). */
  freshnessLagSeconds?: number;
}

const HOLE_DOCS: Record<string, string> = {
  missing:
    "Partitions have source files but were never loaded. The audit has published backfills; if this stays, check the backfill function's errors and `tidemark status` (budget waiting?).",
  stale:
    'Source files changed after the last load (or warehouse rows differ). Backfills were published; if this stays, look for repeated load failures in `tidemark status`.',
  failed:
    'The last load of these partitions failed for a reason no single file explains (schema mismatch, permissions). Read the error in the status page cell, fix the cause, then `tidemark reload`.',
  quarantined:
    'Some files were rejected by BigQuery and excluded. `tidemark quarantine` lists them with the error; replace the file (a new generation loads) or `tidemark reload --partition P` after fixing the schema.',
  'upstream-missing':
    "The table's cadence expects data and the source has none: the producer did not write. Ask upstream; if the gap is accepted, `tidemark waive`.",
  orphan:
    'Warehouse partitions with no source objects (tidemark never deletes them). Decide whether the source was deleted by mistake; drop the partition by hand if it should go.',
  'source-deleted':
    'Partitions still holding rows of source objects deleted since they were loaded (onSourceDelete: keep), some with rewritten files waiting. `tidemark audit` names the objects; `tidemark reload --partition P` applies the deletion on purpose.',
};

/**
 * Classes with a metric but no policy: `source-deleted` is a policy's steady state (a lake
 * retention rule makes it permanent), charted rather than paged.
 */
const UNPAGED: readonly AuditClass[] = ['quarantined', 'source-deleted'];

/** Every metric and (with channels configured) every policy. Pure. */
export function describeAlerts(config: Pick<Config, 'topics' | 'alerts'>, opts: AlertOptions): AlertsDescription {
  const service = (s: string): LogCondition[] => [
    { field: 'resource.type', op: '=', value: 'cloud_run_revision' },
    { field: 'resource.labels.service_name', op: '=', value: s },
  ];
  const engineServices: LogCondition = {
    field: 'resource.labels.service_name',
    op: '=~',
    // Every function that loads: a dml table's files are quarantined by the committer.
    value: `^(${[opts.services.loader, opts.services.backfill, ...(opts.services.committer ? [opts.services.committer] : [])].map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`,
  };
  const metrics: (LogMetric | BuiltinMetric)[] = [
    logMetric({
      name: 'tidemark_quarantined_files',
      description: 'Source files BigQuery rejected and tidemark quarantined (excluded from loads).',
      conditions: [
        { field: 'resource.type', op: '=', value: 'cloud_run_revision' },
        engineServices,
        { field: 'severity', op: '=', value: 'WARNING' },
        { field: 'jsonPayload.message', op: '=', value: 'file quarantined' },
      ],
      metricKind: 'counter',
      labels: { table: 'EXTRACT(jsonPayload.table)' },
      unit: '1',
    }),
    {
      kind: 'builtin',
      name: 'pubsub.googleapis.com/subscription/num_undelivered_messages',
      description:
        'Backfill messages in the dead-letter subscription (Pub/Sub dead-letters without running tidemark code, so no log line exists).',
      filter: `metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages" AND resource.type="pubsub_subscription" AND resource.labels.subscription_id=${q(`${config.topics.backfillDlq}-sub`)}`,
      unit: '1',
    },
    ...HOLE_CLASSES.map((cls) =>
      logMetric({
        name: `tidemark_audit_${cls.replace(/-/g, '_')}`,
        description: `Partitions the last audit classified ${cls}, per table.`,
        conditions: [
          ...service(opts.services.auditor),
          { field: 'jsonPayload.message', op: '=~', value: '^audit [^ ]+: ' },
          { field: `jsonPayload.counts.${cls.includes('-') ? `"${cls}"` : cls}`, op: '>=', value: 0 },
        ],
        metricKind: 'distribution',
        valueExtractor: `EXTRACT(jsonPayload.counts.${cls.includes('-') ? `"${cls}"` : cls})`,
        labels: { table: 'EXTRACT(jsonPayload.table)' },
        unit: '1',
      }),
    ),
    logMetric({
      name: 'tidemark_freshness_lag_seconds',
      description: 'Per table, at each audit: now minus the end of the newest fully loaded partition.',
      conditions: [
        ...service(opts.services.auditor),
        { field: 'jsonPayload.message', op: '=~', value: '^audit [^ ]+: ' },
        { field: 'jsonPayload.freshnessLagSeconds', op: '>=', value: 0 },
      ],
      metricKind: 'distribution',
      valueExtractor: 'EXTRACT(jsonPayload.freshnessLagSeconds)',
      labels: { table: 'EXTRACT(jsonPayload.table)' },
      unit: 's',
    }),
  ];
  const channels = config.alerts?.notificationChannels ?? [];
  if (!channels.length) return { metrics, policies: [] };
  const lag = opts.freshnessLagSeconds ?? 6 * 3600;
  const policies: AlertPolicy[] = [
    {
      name: 'tidemark: files quarantined',
      metric: 'logging.googleapis.com/user/tidemark_quarantined_files',
      aligner: 'ALIGN_SUM',
      alignmentSeconds: 300,
      comparison: 'COMPARISON_GT',
      threshold: 0,
      durationSeconds: 0,
      notificationChannels: channels,
      documentation: HOLE_DOCS.quarantined!,
    },
    {
      name: 'tidemark: backfill dead letters',
      metric: 'pubsub.googleapis.com/subscription/num_undelivered_messages',
      aligner: 'ALIGN_MAX',
      alignmentSeconds: 300,
      comparison: 'COMPARISON_GT',
      threshold: 0,
      durationSeconds: 600,
      notificationChannels: channels,
      documentation:
        "Backfill messages failed every delivery attempt. `tidemark dlq --backend gcp` lists them with the partitions; fix the cause (the status page shows each partition's last error), then `tidemark dlq --replay`.",
    },
    // Quarantined files page through their own log metric (above).
    ...HOLE_CLASSES.filter((c) => !UNPAGED.includes(c)).map((cls): AlertPolicy => ({
      name: `tidemark: ${cls} partitions`,
      metric: `logging.googleapis.com/user/tidemark_audit_${cls.replace(/-/g, '_')}`,
      // A distribution: Cloud Monitoring refuses ALIGN_MAX on one; p99 is its max in practice.
      aligner: 'ALIGN_PERCENTILE_99',
      alignmentSeconds: 3600,
      comparison: 'COMPARISON_GT',
      threshold: 0,
      // A backfill fixes missing/stale within an audit or two; the rest need a person at once.
      durationSeconds: cls === 'missing' || cls === 'stale' ? 3 * 3600 : 0,
      notificationChannels: channels,
      documentation: HOLE_DOCS[cls]!,
    })),
    {
      name: 'tidemark: table not fresh',
      metric: 'logging.googleapis.com/user/tidemark_freshness_lag_seconds',
      aligner: 'ALIGN_PERCENTILE_99',
      alignmentSeconds: 3600,
      comparison: 'COMPARISON_GT',
      threshold: lag,
      durationSeconds: 1800,
      notificationChannels: channels,
      documentation: `No partition newer than ${lag / 3600} h is fully loaded. Open the status page: a budget gauge at its limit means loads wait for tomorrow's budget; red cells mean loads fail; no new source files means the producer stopped.`,
    },
  ];
  return { metrics, policies };
}
