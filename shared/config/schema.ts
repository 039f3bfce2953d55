/**
 * The zod schema of tidemark.config.yaml: the shape of each key, identifier rules and defaults.
 * Objects are strict, so a misspelt key is an error rather than silently ignored. Rules that span
 * keys (schema files, tokens, time zones, overlaps) live in resolve.ts.
 */
import { CronPattern } from 'croner';
import ms from 'ms';
import { z } from 'zod';
import { datasetIdProblem, projectIdProblem, tableIdProblem } from '../core/bigquery-ids.ts';
import { isValidTimeZone } from '../routing/civil-time.ts';
import { TABLE_NAME } from './names.ts';

export { TABLE_NAME };

/** Defaults applied when a key is absent. */
export const DEFAULTS = {
  timeZone: 'UTC',
  statePrefix: '_tidemark/',
  jobBudget: 300,
  jobBurst: 20,
  maxUrisPerLoad: 10_000,
  onSourceDelete: 'keep',
  commit: { mode: 'load', interval: '60s' },
  audit: {
    schedule: '15 * * * *',
    timeZone: 'Etc/UTC',
    lookback: '48h',
    settle: '1h',
    auditFrom: '30d',
    maxBackfillsPerAudit: 500,
  },
  topics: {
    audit: 'tidemark-audit',
    backfill: 'tidemark-backfill',
    backfillDlq: 'tidemark-backfill-dlq',
    auditResults: 'tidemark-audit-results',
    commit: 'tidemark-commit',
  },
  stream: {
    datetimeFormat: 'YYYY-MM-DD/hh/mm_ssZ',
    suffix: '.ndjson',
    maxDuration: '5m',
    maxBytes: 100 * 1024 * 1024,
    localMaxDuration: '5s',
    unknownFields: 'reject',
    maxBodyBytes: 1024 * 1024,
    maxRecords: 1000,
  },
} as const;

/** Pub/Sub Cloud Storage subscriptions: a file at least every 1-10 minutes, 1 KB to 10 GiB. */
export const STREAM_FILE_LIMITS = {
  minDurationMs: 60_000,
  maxDurationMs: 600_000,
  minBytes: 1000,
  maxBytes: 10 * 1024 ** 3,
} as const;

/** Pub/Sub's limit on one message (a record, as one NDJSON line) and Cloud Run's on one request. */
export const STREAM_REQUEST_LIMITS = { maxBodyBytes: 32 * 1024 * 1024, maxRecords: 100_000 } as const;

/** Stream names: a URL segment and part of topic names. */
export const STREAM_NAME = /^[a-z][a-z0-9_-]{0,39}$/;

/** BigQuery's limit on source URIs in one load job. */
export const MAX_URIS_PER_LOAD_JOB = 10_000;

/** BigQuery's hard limit on load/copy jobs (table modifications) per table per day, failed ones included. */
export const MAX_JOBS_PER_TABLE_PER_DAY = 1500;

/**
 * A dataset no table may load into: the local warehouse keeps tidemark's own metadata in a schema
 * of this name (duckdb-sql.ts META), and it reads as tidemark's own in BigQuery too.
 */
export const RESERVED_DATASET = '_tidemark';

/** The default state bucket of a project: written only by tidemark's accounts, never by producers. */
export function defaultStateBucket(project: string): string {
  return `${project}-tidemark-state`;
}

// ---- identifiers ------------------------------------------------------------------------------

/** A zod string checked by one of the plain `...Problem` functions (shared with the runtime). */
const checked = (problem: (value: string) => string | null) =>
  z.string().superRefine((value, ctx) => {
    const reason = problem(value);
    if (reason) ctx.addIssue({ code: 'custom', message: reason });
  });

const projectId = checked(projectIdProblem);

/** Config table name: it goes into labels and job ids. */
const tableName = z.string().regex(TABLE_NAME, 'must be 1-40 lowercase letters, digits or _, starting with a letter');

const datasetId = checked(
  (id) =>
    datasetIdProblem(id) ??
    (id === RESERVED_DATASET ? `dataset ${RESERVED_DATASET} is reserved for tidemark's own metadata` : null),
);

const tableId = checked(tableIdProblem);

const columnName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,299}$/, 'must be a column name: letters, digits or _, not starting with a digit');

/** Why `name` is not a valid Cloud Storage bucket name, or null. */
export function bucketNameProblem(name: string): string | null {
  if (name.length < 3 || name.length > 63) return 'must be 3-63 characters';
  if (!/^[a-z0-9._-]+$/.test(name)) return 'may contain only lowercase letters, digits, -, _ and .';
  if (!/^[a-z0-9]/.test(name) || !/[a-z0-9]$/.test(name)) return 'must start and end with a letter or digit';
  if (name.startsWith('goog')) return 'must not start with "goog"';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return 'must not look like an IP address';
  if (name.includes('..')) return 'must not contain ".."';
  return null;
}

const bucketName = checked((name) => {
  const problem = bucketNameProblem(name);
  return problem && `bucket name ${JSON.stringify(name)} ${problem}`;
});

/**
 * Why `prefix` is not a safe state prefix, or null. State object names are built from it, so it
 * must name a folder: relative, no `.`/`..` or empty segments (which would escape or alias it in
 * the local folder lake), no backslashes, and only characters safe in object names everywhere.
 */
export function statePrefixProblem(prefix: string): string | null {
  if (!prefix.endsWith('/')) return 'must end with "/"';
  if (prefix.startsWith('/')) return 'must not start with "/"';
  if (prefix.includes('\\')) return 'must not contain a backslash';
  const segments = prefix.slice(0, -1).split('/');
  if (segments.some((s) => s === '')) return 'must not contain an empty segment ("//")';
  if (segments.some((s) => s === '.' || s === '..')) return 'must not contain "." or ".." segments';
  if (!segments.every((s) => /^[A-Za-z0-9_.-]+$/.test(s)))
    return 'may contain only letters, digits, _, - and . between slashes';
  if (prefix.length > 512) return 'must be at most 512 characters';
  return null;
}

const timeZone = z.string().refine(isValidTimeZone, {
  error: (iss) => `unknown time zone ${JSON.stringify(iss.input)}; use an IANA name like Asia/Seoul or UTC`,
});

const topicName = z
  .string()
  .regex(
    /^(?!goog)[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/,
    'must be a Pub/Sub topic id: 3-255 letters, digits or -_.~+%, starting with a letter, not "goog"',
  );

// BigQuery labels: keys start with a lowercase letter; both use lowercase letters, digits, _ and -.
const labelKey = /^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u;
const labelValue = /^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u;

const labels = z.record(z.string(), z.string()).superRefine((map, ctx) => {
  const keys = Object.keys(map);
  if (keys.length > 64) ctx.addIssue({ code: 'custom', message: 'at most 64 labels' });
  for (const key of keys) {
    if (!labelKey.test(key)) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: 'label keys are 1-63 lowercase letters, digits, _ or -, starting with a letter',
      });
    } else if (key.startsWith('tidemark')) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: 'labels starting with "tidemark" are reserved for tidemark',
      });
    }
    if (!labelValue.test(map[key]!))
      ctx.addIssue({ code: 'custom', path: [key], message: 'label values are 0-63 lowercase letters, digits, _ or -' });
  }
});

// ---- numbers, durations, cron -----------------------------------------------------------------

const positiveInt = z.int({ error: 'must be a whole number' }).min(1, 'must be at least 1');

const jobBudget = positiveInt.max(
  MAX_JOBS_PER_TABLE_PER_DAY,
  `must be at most ${MAX_JOBS_PER_TABLE_PER_DAY} (BigQuery's hard limit on load jobs per table per day, failed ones included)`,
);

/** The shortest commit interval: BigQuery allows 25 DML statements per 10 s per table; a commit uses 2. */
export const MIN_COMMIT_INTERVAL_MS = 10_000;

const onSourceDelete = z.enum(['keep', 'mirror']);

const maxUris = positiveInt.max(
  MAX_URIS_PER_LOAD_JOB,
  `must be at most ${MAX_URIS_PER_LOAD_JOB} (BigQuery's limit per load job)`,
);

/** "48h", "30d", "90 minutes" -> milliseconds (parsed with `ms`). */
const duration = z.string().transform((text, ctx) => {
  const value = /[a-z]/i.test(text) ? ms(text as ms.StringValue) : undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(text)} is not a positive duration like "48h", "30d" or "90m"`,
    });
    return z.NEVER;
  }
  return value;
});

/** `commit:` of a table or of `defaults` (keys absent in a table come from `defaults`). */
const commit = z.strictObject({
  mode: z.enum(['load', 'dml']).optional(),
  interval: duration
    .refine((v) => v >= MIN_COMMIT_INTERVAL_MS, 'must be at least 10s (BigQuery: 25 DML statements per 10 s per table)')
    .optional(),
});

/** Unix cron: five fields, checked by croner (which Cloud Scheduler's syntax is a subset of). */
const cron = z.string().superRefine((text, ctx) => {
  const fields = text.trim().split(/\s+/);
  if (fields.length !== 5) {
    ctx.addIssue({
      code: 'custom',
      message: `cron ${JSON.stringify(text)} has ${fields.length} fields; use 5 (minute hour day month weekday)`,
    });
    return;
  }
  try {
    new CronPattern(text);
  } catch (err) {
    ctx.addIssue({
      code: 'custom',
      message: `cron ${JSON.stringify(text)}: ${(err as Error).message.replace(/^CronPattern: /, '')}`,
    });
  }
});

// ---- sections ----------------------------------------------------------------------------------

const source = z
  .strictObject({
    bucket: bucketName.optional(),
    pattern: z.string().min(1, 'must not be empty').optional(),
    regex: z.string().min(1, 'must not be empty').optional(),
    timeZone: timeZone.optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.pattern === undefined) === (s.regex === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: 'give exactly one of pattern or regex' });
    }
  });

const csv = z.strictObject({
  skipLeadingRows: z.int({ error: 'must be a whole number' }).min(0).optional(),
  fieldDelimiter: z.string().min(1).optional(),
  quote: z.string().optional(),
  allowJaggedRows: z.boolean().optional(),
  allowQuotedNewlines: z.boolean().optional(),
  encoding: z.enum(['UTF-8', 'ISO-8859-1']).optional(),
  nullMarker: z.string().optional(),
});

const partitioning = z.strictObject({
  type: z.enum(['HOUR', 'DAY']),
  field: columnName.optional(),
  fieldType: z.enum(['DATE', 'TIMESTAMP', 'DATETIME']).optional(),
});

/** One entry of `tables`. */
export const tableSchema = z.strictObject({
  name: tableName,
  description: z.string().max(16_384).optional(),
  labels: labels.optional(),
  source,
  format: z.enum(['CSV', 'NEWLINE_DELIMITED_JSON', 'PARQUET', 'AVRO', 'ORC']),
  schema: z
    .union([z.string().min(1), z.array(z.unknown())], { error: 'must be a schema file path or a list of fields' })
    .optional(),
  autodetect: z.boolean().optional(),
  csv: csv.optional(),
  target: z.strictObject({ project: projectId.optional(), dataset: datasetId, table: tableId }),
  partitioning,
  jobBudget: jobBudget.optional(),
  jobBurst: positiveInt.optional(),
  maxUrisPerLoad: maxUris.optional(),
  cadence: z.enum(['HOUR', 'DAY']).optional(),
  onSourceDelete: onSourceDelete.optional(),
  commit: commit.optional(),
});

const audit = z.strictObject({
  schedule: cron.default(DEFAULTS.audit.schedule),
  timeZone: timeZone.default(DEFAULTS.audit.timeZone),
  lookback: duration.prefault(DEFAULTS.audit.lookback),
  settle: duration.prefault(DEFAULTS.audit.settle),
  auditFrom: duration.prefault(DEFAULTS.audit.auditFrom),
  maxBackfillsPerAudit: positiveInt.default(DEFAULTS.audit.maxBackfillsPerAudit),
});

const topics = z.strictObject({
  audit: topicName.default(DEFAULTS.topics.audit),
  backfill: topicName.default(DEFAULTS.topics.backfill),
  backfillDlq: topicName.default(DEFAULTS.topics.backfillDlq),
  auditResults: topicName.default(DEFAULTS.topics.auditResults),
  commit: topicName.default(DEFAULTS.topics.commit),
});

/**
 * A principal that may call a deployed HTTP function (granted roles/run.invoker on its service).
 * Never allUsers or allAuthenticatedUsers: tidemark's HTTP functions require authentication.
 */
const invokerMember = z
  .string()
  .regex(
    /^(user|serviceAccount|group):[^@\s]+@[^@\s]+$|^domain:[a-z0-9.-]+$/,
    'must be user:<email>, serviceAccount:<email>, group:<email> or domain:<domain> (never allUsers)',
  );

/** One entry of `streams`; cross-checks against its table live in stream-check.ts. */
export const streamSchema = z.strictObject({
  name: z.string().regex(STREAM_NAME, 'must be 1-40 lowercase letters, digits, _ or -, starting with a letter'),
  table: tableName,
  topic: topicName.optional(),
  deadLetterTopic: topicName.optional(),
  subscription: topicName.optional(),
  files: z
    .strictObject({
      prefix: z.string().optional(),
      datetimeFormat: z.string().min(1).default(DEFAULTS.stream.datetimeFormat),
      suffix: z.string().default(DEFAULTS.stream.suffix),
      maxDuration: duration
        .prefault(DEFAULTS.stream.maxDuration)
        .refine(
          (v) => v >= STREAM_FILE_LIMITS.minDurationMs && v <= STREAM_FILE_LIMITS.maxDurationMs,
          'must be 1-10 minutes (Pub/Sub Cloud Storage subscriptions)',
        ),
      maxBytes: z
        .int({ error: 'must be a whole number' })
        .min(STREAM_FILE_LIMITS.minBytes, 'must be at least 1000 bytes')
        .max(STREAM_FILE_LIMITS.maxBytes, 'must be at most 10 GiB')
        .default(DEFAULTS.stream.maxBytes),
      localMaxDuration: duration.prefault(DEFAULTS.stream.localMaxDuration),
    })
    .prefault({}),
  unknownFields: z.enum(['reject', 'ignore']).default(DEFAULTS.stream.unknownFields),
  /** Producers allowed to POST to this stream: granted roles/run.invoker on the ingest service (after deploy). */
  invokers: z.array(invokerMember).default([]),
  limits: z
    .strictObject({
      maxBodyBytes: positiveInt
        .max(STREAM_REQUEST_LIMITS.maxBodyBytes, "must be at most 32 MiB (Cloud Run's request limit)")
        .default(DEFAULTS.stream.maxBodyBytes),
      maxRecords: positiveInt.max(STREAM_REQUEST_LIMITS.maxRecords).default(DEFAULTS.stream.maxRecords),
    })
    .prefault({}),
});

/** The whole file. `tables` entries are checked one by one with tableSchema, so one bad table does not hide the others. */
export const configSchema = z.strictObject({
  project: projectId,
  location: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9-]{0,62}$/, 'must be a BigQuery location such as US, EU or asia-northeast3'),
  lake: z.strictObject({ bucket: bucketName }),
  state: z
    .strictObject({
      bucket: bucketName.optional(),
      prefix: checked(statePrefixProblem).default(DEFAULTS.statePrefix),
    })
    .prefault({}),
  defaults: z
    .strictObject({
      jobBudget: jobBudget.default(DEFAULTS.jobBudget),
      jobBurst: positiveInt.default(DEFAULTS.jobBurst),
      maxUrisPerLoad: maxUris.default(DEFAULTS.maxUrisPerLoad),
      onSourceDelete: onSourceDelete.default(DEFAULTS.onSourceDelete),
      commit: commit.prefault({}),
    })
    .prefault({}),
  tables: z.array(z.unknown()).min(1, 'list at least one table'),
  audit: audit.prefault({}),
  topics: topics.prefault({}),
  streams: z.array(z.unknown()).default([]),
  /** Alert policies notify these Cloud Monitoring channels (shared/deploy/alerts.ts); none: metrics only. */
  alerts: z
    .strictObject({
      notificationChannels: z
        .array(
          z
            .string()
            .regex(
              /^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/notificationChannels\/[0-9]+$/,
              'must be projects/<project>/notificationChannels/<id>',
            ),
        )
        .min(1, 'name at least one channel'),
    })
    .optional(),
  /** Who may run actions (reload, backfill) from the deployed status page; everyone else reads only. */
  statusPage: z
    .strictObject({
      operators: z
        .array(
          z
            .string()
            .regex(
              /^(user|serviceAccount):[^@\s]+@[^@\s]+$|^domain:[a-z0-9.-]+$/,
              'must be user:<email>, serviceAccount:<email> or domain:<domain>',
            ),
        )
        .default([]),
      /** Who may open the page read-only (run.invoker on its service); operators may always open it. */
      invokers: z.array(invokerMember).default([]),
    })
    .optional(),
  /** Deployment settings, read by infra/ (not part of Config). */
  deploy: z.record(z.string(), z.unknown()).optional(),
});

export type RawConfig = z.output<typeof configSchema>;
export type RawTable = z.output<typeof tableSchema>;
export type RawStream = z.output<typeof streamSchema>;
