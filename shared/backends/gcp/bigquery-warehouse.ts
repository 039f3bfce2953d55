/**
 * The Warehouse port over the BigQuery v2 REST API, spoken through the injected Node client's
 * authenticated `request` so every body is visible here and sent exactly as written. Job ids
 * are chosen by the caller: a 409 on insert means the job exists, and that job is returned.
 * Retries happen in `withRetry` only (each request asks the client for `maxRetries: 0`).
 * The job bodies themselves are built in `bigquery-job-config.ts`.
 */
import type { BigQuery, JobMetadata, TableMetadata } from '@google-cloud/bigquery';
import { BackendUnavailableError, PreconditionFailedError, UnsafeIdentifierError } from '../../core/errors.ts';
import type {
  JobErrorItem,
  JobKind,
  JobSpec,
  JobStatus,
  PartitionInfo,
  TableLabels,
  TableRef,
  TableSpec,
  Warehouse,
} from '../../core/ports.ts';
import {
  checkJobId,
  checkTableRef,
  jobResource,
  show,
  sqlDatasetPath,
  tableReference,
  timePartitioning,
} from './bigquery-job-config.ts';
import { httpStatusOf, withRetry } from './retry.ts';

export { partitionPredicate } from './bigquery-job-config.ts';

export interface BigQueryWarehouseOptions {
  /** Created once per instance by the caller. */
  bigquery: BigQuery;
  project: string;
  /** Location of the datasets and jobs (`US`). */
  location: string;
  /** Backoff sleep; tests pass an instant one. */
  sleep?: (ms: number) => Promise<void>;
  /** Pause between polls of a metadata query that is not complete yet. */
  pollMs?: number;
}

type RequestOptions = Parameters<BigQuery['request']>[0];
type ErrorProto = NonNullable<NonNullable<JobMetadata['status']>['errorResult']>;

/** The parts of a jobs.query / jobs.getQueryResults response read here. */
interface QueryResponse {
  jobComplete?: boolean;
  jobReference?: { jobId?: string; location?: string };
  pageToken?: string;
  rows?: { f?: { v?: unknown }[] }[];
}

/** Loose on length (tests use short ids), strict on what may sit inside backquotes. */
const PROJECT_ID = /^(?:[a-z0-9.-]+:)?[a-z0-9][a-z0-9-]*$/;
const JOB_KINDS: ReadonlySet<string> = new Set<JobKind>(['load', 'copy', 'truncate', 'commit', 'noop']);
/** A metadata query that is still running after this many polls is reported as transient. */
const MAX_QUERY_POLLS = 120;

/** BigQuery behind the Warehouse port. */
export class BigQueryWarehouse implements Warehouse {
  private readonly bigquery: BigQuery;
  private readonly project: string;
  private readonly location: string;
  private readonly sleep: ((ms: number) => Promise<void>) | undefined;
  private readonly pollMs: number;

  constructor(options: BigQueryWarehouseOptions) {
    if (!PROJECT_ID.test(options.project)) {
      throw new UnsafeIdentifierError(`invalid BigQuery project id ${JSON.stringify(options.project)}`, {
        project: options.project,
      });
    }
    this.bigquery = options.bigquery;
    this.project = options.project;
    this.location = options.location;
    this.sleep = options.sleep;
    this.pollMs = options.pollMs ?? 1000;
  }

  async insertJob(spec: JobSpec): Promise<{ status: JobStatus; created: boolean }> {
    const body = jobResource(spec, { project: this.project, location: this.location });
    try {
      const job = await this.call<JobMetadata>(
        { method: 'POST', uri: '/jobs', json: body },
        `jobs.insert ${spec.jobId}`,
      );
      return { status: toJobStatus(job, spec.jobId), created: true };
    } catch (err) {
      // 409: a job with this id exists (ours from an earlier attempt, or a fence). Adopt it.
      if (httpStatusOf(err) !== 409) throw err;
      const existing = await this.getJob(spec.jobId);
      if (!existing) {
        throw new BackendUnavailableError(
          `jobs.insert ${spec.jobId} returned 409 but jobs.get finds no such job`,
          { jobId: spec.jobId },
          { cause: err },
        );
      }
      return { status: existing, created: false };
    }
  }

  async getJob(jobId: string): Promise<JobStatus | null> {
    checkJobId(jobId);
    try {
      const job = await this.call<JobMetadata>(
        { method: 'GET', uri: `/jobs/${encodeURIComponent(jobId)}`, qs: { location: this.location } },
        `jobs.get ${jobId}`,
      );
      return toJobStatus(job, jobId);
    } catch (err) {
      if (httpStatusOf(err) === 404) return null;
      throw err;
    }
  }

  async getTableLabels(ref: TableRef): Promise<TableLabels | null> {
    try {
      const table = await this.call<TableMetadata>(
        { method: 'GET', uri: tablePath(ref) },
        `tables.get ${show(ref)}`,
        this.projectOf(ref),
      );
      return { labels: table.labels ?? {}, etag: table.etag ?? '' };
    } catch (err) {
      if (httpStatusOf(err) === 404) return null;
      throw err;
    }
  }

  async patchTableLabels(ref: TableRef, labels: Record<string, string>, etag: string): Promise<void> {
    // The client's Table adds If-Match itself when a PATCH body carries `etag`; this goes through
    // the service-level request, so the header is set here, and the etag stays in the body too.
    const request: RequestOptions = {
      method: 'PATCH',
      uri: tablePath(ref),
      json: { labels, etag },
      headers: { 'If-Match': etag },
    };
    try {
      await this.call(request, `tables.patch ${show(ref)}`, this.projectOf(ref));
    } catch (err) {
      if (httpStatusOf(err) === 412) {
        throw new PreconditionFailedError(
          `labels of ${show(ref)} changed since etag ${etag}`,
          { table: show(ref), etag },
          { cause: err },
        );
      }
      throw err;
    }
  }

  async listPartitions(ref: TableRef): Promise<PartitionInfo[]> {
    checkTableRef(ref);
    // Each part backquoted on its own (dashes in the project, a leading digit in the dataset); the
    // table id, which may hold spaces and Unicode, goes in as a query parameter, never as text.
    const query =
      'SELECT partition_id, total_rows, UNIX_MILLIS(last_modified_time) AS last_modified ' +
      `FROM ${sqlDatasetPath(ref, this.project)}.INFORMATION_SCHEMA.PARTITIONS WHERE table_name = @table`;
    let response: QueryResponse;
    try {
      response = await this.call<QueryResponse>(
        {
          method: 'POST',
          uri: '/queries',
          json: {
            query,
            useLegacySql: false,
            parameterMode: 'NAMED',
            queryParameters: [
              { name: 'table', parameterType: { type: 'STRING' }, parameterValue: { value: ref.table } },
            ],
            location: this.location,
            timeoutMs: 10_000,
            labels: { tidemark_kind: 'list_partitions' },
          },
        },
        `jobs.query partitions of ${show(ref)}`,
      );
    } catch (err) {
      if (httpStatusOf(err) === 404) return []; // no such dataset
      throw err;
    }
    // jobs.query waits up to timeoutMs; a slower query is polled, then its pages are read.
    for (let polls = 1; response.jobComplete === false; polls++) {
      if (polls > MAX_QUERY_POLLS)
        throw new BackendUnavailableError(`partitions query of ${show(ref)} did not finish`, { table: show(ref) });
      await (this.sleep ?? defaultSleep)(this.pollMs);
      response = await this.queryResults(response, undefined);
    }
    const partitions = (response.rows ?? []).map(toPartitionInfo);
    while (response.pageToken) {
      response = await this.queryResults(response, response.pageToken);
      partitions.push(...(response.rows ?? []).map(toPartitionInfo));
    }
    return partitions;
  }

  /** jobs.getQueryResults for the job behind an earlier response. */
  private async queryResults(previous: QueryResponse, pageToken: string | undefined): Promise<QueryResponse> {
    const jobId = previous.jobReference?.jobId;
    if (!jobId) throw new BackendUnavailableError('a query response to continue from carries no job reference', {});
    const qs: Record<string, string | number> = {
      location: previous.jobReference?.location ?? this.location,
      timeoutMs: 10_000,
    };
    if (pageToken) qs.pageToken = pageToken;
    return this.call<QueryResponse>(
      { method: 'GET', uri: `/queries/${encodeURIComponent(jobId)}`, qs },
      `jobs.getQueryResults ${jobId}`,
    );
  }

  async ensureTable(spec: TableSpec): Promise<void> {
    const reference = tableReference(spec.ref, null, this.project);
    const { projectId, datasetId: dataset } = reference;
    if (!(await this.exists(`/datasets/${encodeURIComponent(dataset)}`, `datasets.get ${dataset}`, projectId))) {
      await this.createIgnoringConflict(
        {
          method: 'POST',
          uri: '/datasets',
          json: { datasetReference: { projectId, datasetId: dataset }, location: this.location },
        },
        `datasets.insert ${dataset}`,
        projectId,
      );
    }
    // Without a schema the table is left to the first load (CREATE_IF_NEEDED with the same
    // partitioning): a column-partitioned table cannot be created before its column exists.
    const exists =
      spec.schema || spec.expiresAt !== undefined
        ? await this.exists(tablePath(spec.ref), `tables.get ${show(spec.ref)}`, projectId)
        : false;
    if (exists && spec.expiresAt !== undefined) {
      // A table a load created (no schema to create it first) gets its expiration now.
      await this.call(
        { method: 'PATCH', uri: tablePath(spec.ref), json: { expirationTime: String(spec.expiresAt) } },
        `tables.patch ${show(spec.ref)}`,
        projectId,
      );
      return;
    }
    if (!spec.schema || exists) return;
    const table: TableMetadata = {
      tableReference: reference,
      schema: { fields: spec.schema },
      timePartitioning: timePartitioning(spec.partitioning),
      ...(spec.labels ? { labels: spec.labels } : {}),
      ...(spec.description ? { description: spec.description } : {}),
      ...(spec.expiresAt !== undefined ? { expirationTime: String(spec.expiresAt) } : {}),
    };
    await this.createIgnoringConflict(
      { method: 'POST', uri: `/datasets/${encodeURIComponent(dataset)}/tables`, json: table },
      `tables.insert ${show(spec.ref)}`,
      projectId,
    );
  }

  async deleteTable(ref: TableRef): Promise<void> {
    try {
      await this.call({ method: 'DELETE', uri: tablePath(ref) }, `tables.delete ${show(ref)}`, this.projectOf(ref));
    } catch (err) {
      if (httpStatusOf(err) !== 404) throw err;
    }
  }

  private async exists(uri: string, describe: string, project: string): Promise<boolean> {
    try {
      await this.call({ method: 'GET', uri }, describe, project);
      return true;
    } catch (err) {
      if (httpStatusOf(err) === 404) return false;
      throw err;
    }
  }

  private async createIgnoringConflict(request: RequestOptions, describe: string, project: string): Promise<void> {
    try {
      await this.call(request, describe, project);
    } catch (err) {
      if (httpStatusOf(err) !== 409) throw err; // 409: created meanwhile by someone else
    }
  }

  /** The project a table lives in: its own (`target.project`), else the one that runs the jobs. */
  private projectOf(ref: TableRef): string {
    return tableReference(ref, null, this.project).projectId;
  }

  /**
   * One REST call, retried by withRetry alone. `project` is the project in the path: this one
   * (jobs always run here) unless a table or dataset of another project is addressed.
   */
  private call<T = unknown>(request: RequestOptions, describe: string, project: string = this.project): Promise<T> {
    if (project !== this.project && !PROJECT_ID.test(project)) {
      throw new UnsafeIdentifierError(`invalid BigQuery project id ${JSON.stringify(project)}`, { project });
    }
    const options: RequestOptions = { ...request, projectId: project, maxRetries: 0 };
    return withRetry(
      () =>
        new Promise<T>((resolve, reject) => {
          this.bigquery.request(options, (err, body) => (err ? reject(err) : resolve(body as T)));
        }),
      { describe, ...(this.sleep ? { sleep: this.sleep } : {}) },
    );
  }
}

/** Maps a BigQuery Job resource to the port's JobStatus. */
export function toJobStatus(job: JobMetadata, jobId: string): JobStatus {
  const labels = job.configuration?.labels ?? {};
  const kindLabel = labels.tidemark_kind;
  const stats = job.statistics;
  const status: JobStatus = {
    jobId: job.jobReference?.jobId ?? jobId,
    state: (job.status?.state as JobStatus['state'] | undefined) ?? 'PENDING',
    kind: kindLabel !== undefined && JOB_KINDS.has(kindLabel) ? (kindLabel as JobKind) : 'unknown',
    labels,
  };
  if (job.status?.errorResult) status.errorResult = toErrorItem(job.status.errorResult);
  if (job.status?.errors?.length) status.errors = job.status.errors.map(toErrorItem);
  // A commit's numDmlAffectedRows adds its deletions to its insertions: its rows written are the insertions.
  const dmlRows =
    status.kind === 'commit' ? stats?.query?.dmlStats?.insertedRowCount : stats?.query?.numDmlAffectedRows;
  const rows = stats?.load?.outputRows ?? stats?.copy?.copiedRows ?? dmlRows;
  if (rows !== undefined && rows !== null) status.outputRows = Number(rows);
  if (stats?.load?.inputFileBytes !== undefined) status.inputBytes = Number(stats.load.inputFileBytes);
  // Query jobs (a commit's transaction): int64 counts arrive as decimal strings.
  const query = stats?.query;
  if (query?.totalBytesBilled != null) status.bytesBilled = Number(query.totalBytesBilled);
  if (query?.dmlStats?.insertedRowCount != null) status.insertedRows = Number(query.dmlStats.insertedRowCount);
  if (query?.dmlStats?.deletedRowCount != null) status.deletedRows = Number(query.dmlStats.deletedRowCount);
  return status;
}

function toErrorItem(e: ErrorProto): JobErrorItem {
  return {
    message: e.message ?? '',
    ...(e.reason ? { reason: e.reason } : {}),
    ...(e.location ? { location: e.location } : {}),
  };
}

function toPartitionInfo(row: { f?: { v?: unknown }[] }): PartitionInfo {
  const [id, rows, modified] = (row.f ?? []).map((cell) => cell.v);
  // A table without partitions reports a NULL partition id; say so the way the local backend does.
  const info: PartitionInfo = {
    partitionId: id == null ? '__UNPARTITIONED__' : String(id),
    totalRows: rows == null ? 0 : Number(rows),
  };
  if (modified != null) info.lastModified = Number(modified);
  return info;
}

/** The REST path of a table under its project; ids checked, then percent-encoded (spaces, Unicode). */
function tablePath(ref: TableRef): string {
  checkTableRef(ref);
  return `/datasets/${encodeURIComponent(ref.dataset)}/tables/${encodeURIComponent(ref.table)}`;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
