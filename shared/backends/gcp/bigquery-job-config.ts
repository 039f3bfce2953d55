/**
 * The BigQuery REST bodies of tidemark's jobs: the jobs.insert resource of a load, copy,
 * partition truncation or no-op, and the predicate selecting one partition. Every identifier and
 * partition id is checked before it reaches a body or SQL text: a bad one would be a 400 from
 * BigQuery on every retry, so it is refused here as permanent.
 */
import type { JobMetadata } from '@google-cloud/bigquery';
import { datasetIdProblem, quotedPath, tableIdProblem } from '../../core/bigquery-ids.ts';
import { LoadFailedError, UnsafeIdentifierError } from '../../core/errors.ts';
import type { JobSpec, Partitioning, TableRef, TableSpec } from '../../core/ports.ts';

/** Where jobs run: the project and location of every job reference. */
export interface JobTarget {
  project: string;
  location: string;
}

type JobConfiguration = NonNullable<JobMetadata['configuration']>;
type LoadConfiguration = NonNullable<JobConfiguration['load']>;

const SQL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const JOB_ID = /^[A-Za-z0-9_-]{1,1024}$/;
const PARTITION_ID = /^(\d{4})(\d{2})(\d{2})(\d{2})?$/;

/** The jobs.insert body: caller's id and location in the reference, labels on every kind. */
export function jobResource(spec: JobSpec, target: JobTarget): JobMetadata {
  checkJobId(spec.jobId);
  return {
    jobReference: { projectId: target.project, jobId: spec.jobId, location: target.location },
    configuration: { ...jobConfiguration(spec, target.project), labels: spec.labels },
  };
}

function jobConfiguration(spec: JobSpec, project: string): JobConfiguration {
  switch (spec.kind) {
    case 'load':
      return { load: loadConfiguration(spec, project) };
    case 'copy':
      if (spec.dedupe) {
        // A copy cannot filter: the same effect as a query job writing table$P (WRITE_TRUNCATE).
        return {
          query: {
            query: dedupeSql(spec.source, spec.dedupe, project),
            useLegacySql: false,
            destinationTable: tableReference(spec.destination, spec.partition, project),
            writeDisposition: spec.writeDisposition,
            createDisposition: 'CREATE_NEVER',
          },
        };
      }
      return {
        copy: {
          sourceTable: tableReference(spec.source, null, project),
          destinationTable: tableReference(spec.destination, spec.partition, project),
          writeDisposition: spec.writeDisposition,
        },
      };
    case 'truncate':
      return { query: { query: truncateSql(spec.table, spec.partition, project), useLegacySql: false } };
    case 'noop':
      return { query: { query: 'SELECT 1', useLegacySql: false } };
  }
}

function loadConfiguration(spec: Extract<JobSpec, { kind: 'load' }>, project: string): LoadConfiguration {
  const table = spec.table;
  if (spec.partition !== null) parsePartition(table.partitioning, spec.partition, show(spec.destination));
  const load: LoadConfiguration = {
    sourceUris: spec.sourceUris,
    sourceFormat: table.format,
    destinationTable: tableReference(spec.destination, spec.partition, project),
    writeDisposition: spec.writeDisposition,
    createDisposition: 'CREATE_IF_NEEDED',
    // Needed when this load creates the table; must match the table's when it exists.
    timePartitioning: timePartitioning(table.partitioning),
  };
  if (table.schema) load.schema = { fields: table.schema };
  else if (table.autodetect) load.autodetect = true;
  if (table.format === 'CSV' && table.csv) {
    const csv = table.csv;
    if (csv.skipLeadingRows !== undefined) load.skipLeadingRows = csv.skipLeadingRows;
    if (csv.fieldDelimiter !== undefined) load.fieldDelimiter = csv.fieldDelimiter;
    if (csv.quote !== undefined) load.quote = csv.quote;
    if (csv.allowJaggedRows !== undefined) load.allowJaggedRows = csv.allowJaggedRows;
    if (csv.allowQuotedNewlines !== undefined) load.allowQuotedNewlines = csv.allowQuotedNewlines;
    if (csv.encoding !== undefined) load.encoding = csv.encoding;
    if (csv.nullMarker !== undefined) load.nullMarker = csv.nullMarker;
  }
  if (table.format === 'AVRO') load.useAvroLogicalTypes = true;
  return load;
}

/**
 * The REST reference of a table, in its own project when the config names one. Ids go into the
 * body as they are (dashes, spaces, Unicode): checked against BigQuery's rules, never rewritten.
 */
export function tableReference(
  ref: TableRef,
  partition: string | null,
  project: string,
): { projectId: string; datasetId: string; tableId: string } {
  checkTableRef(ref);
  if (partition !== null && !PARTITION_ID.test(partition)) {
    throw new UnsafeIdentifierError(`invalid partition decorator ${JSON.stringify(partition)} for ${show(ref)}`, {
      table: show(ref),
      partition,
    });
  }
  return {
    projectId: ref.project ?? project,
    datasetId: ref.dataset,
    tableId: partition === null ? ref.table : `${ref.table}$${partition}`,
  };
}

/** Throws UnsafeIdentifierError unless the dataset and table ids follow BigQuery's naming rules. */
export function checkTableRef(ref: TableRef): void {
  const problem = datasetIdProblem(ref?.dataset) ?? tableIdProblem(ref?.table);
  if (problem)
    throw new UnsafeIdentifierError(`invalid table reference ${JSON.stringify(ref)}: ${problem}`, {
      dataset: ref?.dataset,
      table: ref?.table,
    });
}

/** `` `project`.`dataset`.`table` `` for SQL, every part checked; the table's own project if it has one. */
export function sqlTablePath(ref: TableRef, project: string): string {
  return quotedPath(
    ref.project ?? project,
    ref.dataset,
    ref.table,
    (reason) => new UnsafeIdentifierError(`unsafe table reference ${show(ref)}: ${reason}`, { table: show(ref) }),
  );
}

/** `` `project`.`dataset` ``, for INFORMATION_SCHEMA views. */
export function sqlDatasetPath(ref: TableRef, project: string): string {
  return quotedPath(
    ref.project ?? project,
    ref.dataset,
    null,
    (reason) => new UnsafeIdentifierError(`unsafe dataset reference ${show(ref)}: ${reason}`, { table: show(ref) }),
  );
}

/**
 * The rows of `source` a stream partition keeps: one per key (the earliest by `order`, ties by
 * the row's JSON so the choice never depends on scan order), none whose key `exclude` holds.
 * An anti-join, not NOT IN: a NULL key in `exclude` would empty the result.
 */
export function dedupeSql(
  source: TableRef,
  d: NonNullable<Extract<JobSpec, { kind: 'copy' }>['dedupe']>,
  project: string,
): string {
  const key = sqlIdentifier(d.key, 'column');
  const order = sqlIdentifier(d.order, 'column');
  const columns = d.columns.map((c) => `t.${sqlIdentifier(c, 'column')}`).join(', ');
  const exclude = d.exclude
    ? `\nWHERE NOT EXISTS (SELECT 1 FROM ${sqlTablePath(d.exclude, project)} AS e WHERE e.${key} = t.${key})`
    : '';
  return `SELECT ${columns} FROM ${sqlTablePath(source, project)} AS t${exclude}\nQUALIFY ROW_NUMBER() OVER (PARTITION BY t.${key} ORDER BY t.${order}, TO_JSON_STRING(t)) = 1`;
}

/** `DELETE FROM` one partition; every identifier validated, the partition parsed into a literal. */
function truncateSql(table: TableSpec, partition: string, project: string): string {
  return `DELETE FROM ${sqlTablePath(table.ref, project)} WHERE ${partitionPredicate(table.partitioning, partition, show(table.ref))}`;
}

/** The WHERE clause selecting one partition of a table with this partitioning. */
export function partitionPredicate(partitioning: Partitioning, partition: string, table = 'table'): string {
  const { date, start } = parsePartition(partitioning, partition, table);
  const hourly = partitioning.type === 'HOUR';
  if (!partitioning.field) return `_PARTITIONTIME = TIMESTAMP('${start}')`;
  const field = `\`${sqlIdentifier(partitioning.field, 'partitioning field')}\``;
  switch (partitioning.fieldType ?? 'TIMESTAMP') {
    case 'DATE':
      if (hourly)
        throw new LoadFailedError(`DATE column ${partitioning.field} of ${table} cannot be partitioned by HOUR`, {
          table,
        });
      return `${field} = DATE '${date}'`;
    case 'DATETIME':
      return `DATETIME_TRUNC(${field}, ${partitioning.type}) = DATETIME '${hourly ? start : `${date} 00:00:00`}'`;
    case 'TIMESTAMP':
      return `TIMESTAMP_TRUNC(${field}, ${partitioning.type}) = TIMESTAMP('${start}')`;
  }
}

/**
 * Checks a partition id against the table's partitioning (10 digits for HOUR, 8 for DAY, a real
 * date) and returns it as `YYYY-MM-DD` and the partition's start. A mismatch would be a 400
 * from BigQuery on every retry, so it is refused here as permanent.
 */
function parsePartition(partitioning: Partitioning, partition: string, table: string): { date: string; start: string } {
  const m = PARTITION_ID.exec(partition);
  const hourly = partitioning.type === 'HOUR';
  if (!m || hourly !== (m[4] !== undefined) || !validDate(m)) {
    throw new UnsafeIdentifierError(
      `partition ${JSON.stringify(partition)} is not a ${partitioning.type} partition id of ${table}`,
      { table, partition },
    );
  }
  const date = `${m[1]}-${m[2]}-${m[3]}`;
  return { date, start: hourly ? `${date} ${m[4]}:00:00` : date };
}

function validDate(m: RegExpExecArray): boolean {
  const [year, month, day, hour] = [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 0 : Number(m[4])];
  const d = new Date(Date.UTC(year, month - 1, day, hour));
  return (
    d.getUTCFullYear() === year && d.getUTCMonth() === month - 1 && d.getUTCDate() === day && d.getUTCHours() === hour
  );
}

/** The `timePartitioning` of a table or load with this partitioning. */
export function timePartitioning(p: Partitioning): { type: string; field?: string } {
  return p.field ? { type: p.type, field: p.field } : { type: p.type };
}

/** Returns `value` if it is a plain SQL identifier; else throws UnsafeIdentifierError naming `what`. */
export function sqlIdentifier(value: string, what: string): string {
  if (!SQL_IDENTIFIER.test(value)) {
    throw new UnsafeIdentifierError(`${what} ${JSON.stringify(value)} is not a plain identifier (letters, digits, _)`, {
      [what]: value,
    });
  }
  return value;
}

/** Throws UnsafeIdentifierError unless `jobId` is a valid BigQuery job id. */
export function checkJobId(jobId: string): void {
  if (!JOB_ID.test(jobId)) throw new UnsafeIdentifierError(`invalid job id ${JSON.stringify(jobId)}`, { jobId });
}

/** `dataset.table` (or `project:dataset.table`), for messages. */
export function show(ref: TableRef): string {
  return `${ref.project ? `${ref.project}:` : ''}${ref.dataset}.${ref.table}`;
}
