/**
 * The small interfaces the core works against. Every backend (gcp, local) implements these;
 * the core never imports a cloud client or DuckDB.
 */

/** One object in a bucket, as a listing returns it. Generations are decimal strings. */
export interface ObjectInfo {
  bucket: string;
  name: string;
  generation: string;
  size: number;
  /** RFC 3339 time of the last write, when the store knows it. */
  updated?: string;
  /** Custom metadata (GCS `metadata`). */
  metadata?: Record<string, string>;
}

export interface ListOptions {
  prefix?: string;
  /** Only names >= startOffset (GCS `startOffset`). */
  startOffset?: string;
  /** Only names < endOffset (GCS `endOffset`). */
  endOffset?: string;
  pageToken?: string;
  /** Page size; GCS returns at most 1,000 per page whatever is asked. */
  maxResults?: number;
}

export interface ListPage {
  objects: ObjectInfo[];
  nextPageToken?: string;
}

export interface WriteOptions {
  /** Compare-and-swap: '0' means "must not exist"; otherwise the generation that must be current. */
  ifGenerationMatch?: string;
  metadata?: Record<string, string>;
  contentType?: string;
}

/** A bucket-addressed object store (Cloud Storage, or a folder). */
export interface ObjectStore {
  /** One page of a listing, names in lexicographic order. */
  listPage(bucket: string, options: ListOptions): Promise<ListPage>;
  /** The object's bytes and generation, or null when it does not exist. */
  read(
    bucket: string,
    name: string,
  ): Promise<{ data: Buffer; generation: string; metadata?: Record<string, string> } | null>;
  /** Writes an object; throws PreconditionFailedError when ifGenerationMatch does not hold. */
  write(bucket: string, name: string, data: Buffer | string, options?: WriteOptions): Promise<{ generation: string }>;
  /** Deletes an object; missing objects are not an error. */
  remove(bucket: string, name: string): Promise<void>;
  /** The URI a warehouse load reads this object from (`gs://b/o`, or a local path). */
  uri(bucket: string, name: string): string;
}

/** dataset.table in the warehouse's project. */
export interface TableRef {
  /** The table's project when it is not the project that runs the jobs (`target.project`). */
  project?: string;
  dataset: string;
  table: string;
}

export type SourceFormat = 'CSV' | 'NEWLINE_DELIMITED_JSON' | 'PARQUET' | 'AVRO' | 'ORC';

/** A BigQuery schema field (the JSON schema file format). */
export interface SchemaField {
  name: string;
  type: string;
  mode?: 'NULLABLE' | 'REQUIRED' | 'REPEATED';
  fields?: SchemaField[];
  description?: string;
}

export interface Partitioning {
  type: 'HOUR' | 'DAY';
  /** Column partitioning field; absent means ingestion-time partitioning. */
  field?: string;
  /** Type of `field`: DATE, TIMESTAMP or DATETIME. */
  fieldType?: 'DATE' | 'TIMESTAMP' | 'DATETIME';
}

export interface CsvOptions {
  skipLeadingRows?: number;
  fieldDelimiter?: string;
  quote?: string;
  allowJaggedRows?: boolean;
  allowQuotedNewlines?: boolean;
  encoding?: 'UTF-8' | 'ISO-8859-1';
  nullMarker?: string;
}

/** Everything a warehouse needs to create or load a table. */
export interface TableSpec {
  ref: TableRef;
  partitioning: Partitioning;
  format: SourceFormat;
  schema?: SchemaField[];
  autodetect: boolean;
  csv?: CsvOptions;
  labels?: Record<string, string>;
  description?: string;
  /**
   * When the warehouse deletes the table by itself (epoch ms; BigQuery `expirationTime`). Set on
   * staging tables so none outlives a failed cleanup. `ensureTable` also sets it on a table that
   * exists already (one a load created), so call it again after such a load.
   */
  expiresAt?: number;
}

export type JobLabels = Record<string, string>;

/** A job the warehouse runs. `jobId` is chosen by the caller, which makes submission idempotent. */
export type JobSpec =
  | {
      kind: 'load';
      jobId: string;
      table: TableSpec;
      /** Destination table; usually `table.ref`, a staging table for very large partitions. */
      destination: TableRef;
      /** Partition decorator (`YYYYMMDDHH` / `YYYYMMDD`), or null to address the whole destination. */
      partition: string | null;
      sourceUris: string[];
      writeDisposition: 'WRITE_TRUNCATE' | 'WRITE_APPEND';
      labels: JobLabels;
    }
  | {
      kind: 'copy';
      jobId: string;
      source: TableRef;
      destination: TableRef;
      partition: string | null;
      writeDisposition: 'WRITE_TRUNCATE' | 'WRITE_APPEND';
      labels: JobLabels;
      /** Copy one row per key only (stream tables): a query job in BigQuery. See CopyDedupe. */
      dedupe?: CopyDedupe;
    }
  | {
      /** Empties one partition (source objects all deleted). */
      kind: 'truncate';
      jobId: string;
      table: TableSpec;
      partition: string;
      labels: JobLabels;
    }
  | {
      /**
       * Applies a table's staged changes in one multi-statement transaction (commit mode dml,
       * core/commit.ts): empties the `replace` partitions, then inserts the rows `stage` holds for
       * the `insert` partitions, all or nothing. Readers see all of it or none. Rows reach `stage`
       * through loads into `stage$P`, which reject rows outside P exactly as a load into
       * `table$P` does, so no row can land in another partition.
       */
      kind: 'commit';
      jobId: string;
      table: TableSpec;
      /** Staging table beside the target (same dataset), partitioned like it, created with an expiration. */
      stage: TableRef;
      /** Partition ids emptied first (replaced or emptied partitions). */
      replace: string[];
      /** Partition ids whose staged rows are inserted. */
      insert: string[];
      labels: JobLabels;
    }
  | {
      /** A job that does nothing; inserted to claim ("burn") a job id so nobody else can use it. */
      kind: 'noop';
      jobId: string;
      labels: JobLabels;
    };

/**
 * Keeps one row per `key` (the earliest by `order`, ties broken by the whole row) and drops every
 * row whose key also appears in `exclude` (rows an earlier partition holds).
 */
export interface CopyDedupe {
  key: string;
  order: string;
  /** The table's columns, in order: what the copy selects (no pseudo-columns). */
  columns: string[];
  exclude?: TableRef;
}

export type JobKind = JobSpec['kind'];

/** One error of a job, as BigQuery reports it (`status.errors[]`). */
export interface JobErrorItem {
  reason?: string;
  message: string;
  /** Often the URI of the file that failed. */
  location?: string;
}

export interface JobStatus {
  jobId: string;
  state: 'PENDING' | 'RUNNING' | 'DONE';
  /** The kind this job was created as, read from its labels (`tidemark_kind`); unknown for foreign jobs. */
  kind?: JobKind | 'unknown';
  /** Set when a DONE job failed. */
  errorResult?: JobErrorItem;
  errors?: JobErrorItem[];
  /** Rows written (loads, copies). */
  outputRows?: number;
  /** Bytes read from the sources (loads). */
  inputBytes?: number;
  /** Bytes billed (query jobs: a commit's transaction). */
  bytesBilled?: number;
  /** Rows a commit's transaction inserted and deleted. */
  insertedRows?: number;
  deletedRows?: number;
  labels?: JobLabels;
}

export interface PartitionInfo {
  /** As BigQuery writes it: YYYYMMDDHH, YYYYMMDD, or __NULL__ / __UNPARTITIONED__. */
  partitionId: string;
  totalRows: number;
  /** Epoch milliseconds, when known. */
  lastModified?: number;
}

export interface TableLabels {
  labels: Record<string, string>;
  etag: string;
}

/** The warehouse (BigQuery, or DuckDB locally). */
export interface Warehouse {
  /** Inserts a job. A job id that exists already is not an error: that job is returned with created=false. */
  insertJob(spec: JobSpec): Promise<{ status: JobStatus; created: boolean }>;
  /** The job, or null when no job has that id. */
  getJob(jobId: string): Promise<JobStatus | null>;
  /** Labels and etag of a table, or null when the table does not exist. */
  getTableLabels(ref: TableRef): Promise<TableLabels | null>;
  /** Sets the given labels (others unchanged) if the table's etag is still `etag`; else PreconditionFailedError. */
  patchTableLabels(ref: TableRef, labels: Record<string, string>, etag: string): Promise<void>;
  /** The table's partitions from metadata (never a scan of table data); [] when the table does not exist. */
  listPartitions(ref: TableRef): Promise<PartitionInfo[]>;
  /** Creates the dataset and table if missing (idempotent); sets `spec.expiresAt` on the table when given. */
  ensureTable(spec: TableSpec): Promise<void>;
  /** Deletes a table if it exists (staging tables). */
  deleteTable(ref: TableRef): Promise<void>;
}

/** A message bus with topics (Pub/Sub, or in-process). */
export interface Bus {
  /** Publishes JSON messages to a topic; returns message ids. */
  publish(topic: string, messages: unknown[], attributes?: Record<string, string>): Promise<string[]>;
  /**
   * Publishes messages that are delivered no earlier than `notBefore` (epoch ms), as first
   * deliveries. Only a bus that can hold a message has it (the local bus); Pub/Sub cannot.
   */
  publishAt?(
    topic: string,
    messages: unknown[],
    notBefore: number,
    attributes?: Record<string, string>,
  ): Promise<string[]>;
}

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};
