/**
 * The resolved, validated configuration the core works with. `loadConfig` (load.ts) produces it
 * from tidemark.config.yaml; nothing else reads the file or process.env.
 */
import type { Partitioning, SchemaField, SourceFormat, TableSpec } from '../core/ports.ts';

export interface SourceConfig {
  bucket: string;
  /** The pattern as written (`events/dt={yyyy}-{mm}-{dd}/hr={hh}/*.json.gz`), or undefined with `regex`. */
  pattern?: string;
  /** A regular expression with named groups yyyy, mm, dd and (for HOUR) hh. */
  regex?: string;
  /** IANA zone of the times in the path. */
  timeZone: string;
}

export interface TableConfig {
  /** Config name; letters, digits and `_`; used in labels, job ids and messages. */
  name: string;
  source: SourceConfig;
  format: SourceFormat;
  /** What the warehouse needs (ref, partitioning, schema inlined, csv options). */
  spec: TableSpec;
  partitioning: Partitioning;
  /** Load/copy/truncate jobs this table may use per UTC day, shared by every path. */
  jobBudget: number;
  /** Jobs that may run back to back before pacing starts (the token bucket's capacity). */
  jobBurst: number;
  /** Above this many source URIs a partition is loaded through a staging table. */
  maxUrisPerLoad: number;
  /** Expected data cadence for the auditor (`upstream-missing`); undefined: no expectation. */
  cadence?: 'HOUR' | 'DAY';
  /**
   * What a deleted source object does to the warehouse: `keep` (default) leaves its rows (the
   * audit reports the partition as `source-deleted`; `tidemark reload` applies it); `mirror`
   * removes them with the next load of the partition.
   */
  onSourceDelete: 'keep' | 'mirror';
  /** How changes reach the table (core/commit.ts). */
  commit: CommitConfig;
}

/**
 * `load`: one load job per changed partition (appending only new files when it can), paced by
 * the job budget. `dml`: every dirty partition of the table is staged and applied in one
 * multi-statement transaction, at most once per `intervalMs`, by one committer at a time.
 */
export interface CommitConfig {
  mode: 'load' | 'dml';
  intervalMs: number;
}

export interface AuditConfig {
  /** Unix cron for the Cloud Scheduler job and the local scheduler. */
  schedule: string;
  timeZone: string;
  lookbackMs: number;
  settleMs: number;
  /** How far back the first audit of a table looks. */
  auditFromMs: number;
  maxBackfillsPerAudit: number;
}

export interface StateConfig {
  /** Bucket holding per-partition state objects. */
  bucket: string;
  /** Prefix of state objects, ends with '/'. Objects under it are never routed to a table. */
  prefix: string;
}

export interface TopicsConfig {
  audit: string;
  backfill: string;
  backfillDlq: string;
  auditResults: string;
  /** The commit tick (Cloud Scheduler, every minute) that triggers the committer of commit-mode dml tables. */
  commit: string;
}

/** How the storage subscription cuts the stream into files (Pub/Sub `cloudStorageConfig`). */
export interface StreamFilesConfig {
  /** Object-name prefix (`filenamePrefix`), e.g. `streams/locations/`. */
  prefix: string;
  /** `filenameDatetimeFormat`: the UTC time a file is written, e.g. `YYYY-MM-DD/hh/mm_ssZ`. */
  datetimeFormat: string;
  /** `filenameSuffix`, e.g. `.ndjson`. */
  suffix: string;
  /** A new file at least this often (`maxDuration`; Pub/Sub allows 1-10 minutes). */
  maxDurationMs: number;
  /** ...or once a file holds this many bytes (`maxBytes`). */
  maxBytes: number;
  /** The local stand-in's maxDuration (`npm start`), short so a posted event is queryable in seconds. */
  localMaxDurationMs: number;
}

/** One realtime stream: `POST /v1/streams/<name>/events` lands in `table` through `topic`. */
export interface StreamConfig {
  /** URL segment: [a-z][a-z0-9_-]*. */
  name: string;
  /** The `tables[].name` the files load into (HOUR, ingestion time, NDJSON, UTC). */
  table: string;
  topic: string;
  /** Dead-letter topic of the storage subscription. */
  deadLetterTopic: string;
  /** The Pub/Sub Cloud Storage subscription's id. */
  subscription: string;
  files: StreamFilesConfig;
  /** Fields a record carries that the table's schema does not have: refuse the record, or drop them. */
  unknownFields: 'reject' | 'ignore';
  /** Request limits: the (decoded) body and the records in one request. */
  limits: { maxBodyBytes: number; maxRecords: number };
  /** Producers granted roles/run.invoker on the ingest service (`streams[].invokers`; [] when none). */
  invokers: string[];
  /** The table's schema, copied here so the ingest function needs nothing else. */
  schema: SchemaField[];
}

export interface Config {
  /** Absolute path of the file this came from (for messages). */
  file: string;
  project: string;
  location: string;
  lake: { bucket: string };
  state: StateConfig;
  tables: TableConfig[];
  audit: AuditConfig;
  topics: TopicsConfig;
  /** Realtime ingestion streams (`streams:`); [] when none. */
  streams: StreamConfig[];
  /** Cloud Monitoring channels the alert policies notify (shared/deploy/alerts.ts). */
  alerts?: { notificationChannels: string[] };
  /**
   * Callers allowed to act (reload, backfill) on the deployed status page, and who else may open
   * it read-only. Both are granted roles/run.invoker on the status service (after deploy).
   */
  statusPage?: { operators: string[]; invokers: string[] };
}
