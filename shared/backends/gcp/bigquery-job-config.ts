/**
 * The BigQuery REST bodies of tidemark's jobs: the jobs.insert resource of a load, copy,
 * partition truncation, commit transaction or no-op, and the predicates selecting partitions. Every identifier and
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
    case 'commit':
      return { query: { query: commitSql(spec, project), useLegacySql: false } };
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

/**
 * The script of a commit job: one multi-statement transaction that empties the `replace`
 * partitions of the target and inserts the stage's rows of the `insert` partitions. Both
 * filters cover whole partitions (partitionsPredicate), so the DELETE is metadata-only and the
 * INSERT reads only the stage partitions it needs. An empty list drops its statement. Columns
 * are named from the schema (the stage may order them differently); ingestion-time rows carry
 * their `_PARTITIONTIME` over, which is the stage partition they were loaded into.
 */
export function commitSql(spec: Extract<JobSpec, { kind: 'commit' }>, project: string): string {
  const table = spec.table;
  const name = show(table.ref);
  if (!table.schema?.length) {
    throw new LoadFailedError(`commit into ${name} needs the table's schema (commit mode dml); it has none`, {
      table: name,
    });
  }
  const target = sqlTablePath(table.ref, project);
  const stage = sqlTablePath(spec.stage, project);
  const fields = table.schema.map((f) => `\`${sqlIdentifier(f.name, 'column')}\``);
  const columns = (table.partitioning.field ? fields : ['_PARTITIONTIME', ...fields]).join(', ');
  const statements = ['BEGIN TRANSACTION;'];
  if (spec.replace.length > 0)
    statements.push(`DELETE FROM ${target} WHERE ${partitionsPredicate(table.partitioning, spec.replace, name)};`);
  if (spec.insert.length > 0) {
    const where = partitionsPredicate(table.partitioning, spec.insert, name);
    statements.push(`INSERT INTO ${target} (${columns}) SELECT ${columns} FROM ${stage} WHERE ${where};`);
  }
  statements.push('COMMIT TRANSACTION;');
  return statements.join('\n');
}

/**
 * The WHERE clause selecting exactly these whole partitions: `_PARTITIONTIME` equalities for
 * ingestion time, else half-open ranges on the partitioning column (`field >= start AND field <
 * next start`), OR'ed. BigQuery prunes to these partitions and bills a DELETE with such a filter
 * no bytes. Duplicate ids are dropped; every id is checked against the partitioning.
 */
export function partitionsPredicate(partitioning: Partitioning, partitions: string[], table = 'table'): string {
  if (partitions.length === 0) throw new LoadFailedError(`no partitions to select in ${table}`, { table });
  const terms = [...new Set(partitions)].map((partition) => {
    if (!partitioning.field) return partitionPredicate(partitioning, partition, table);
    const { from, to } = parsePartition(partitioning, partition, table);
    const field = `\`${sqlIdentifier(partitioning.field, 'partitioning field')}\``;
    return `(${field} >= ${partitionLiteral(partitioning, from, table)} AND ${field} < ${partitionLiteral(partitioning, to, table)})`;
  });
  return terms.length === 1 ? terms[0]! : `(${terms.join(' OR ')})`;
}

/** The WHERE clause selecting one partition of a table with this partitioning. */
export function partitionPredicate(partitioning: Partitioning, partition: string, table = 'table'): string {
  const { from } = parsePartition(partitioning, partition, table);
  if (!partitioning.field) return `_PARTITIONTIME = ${partitionLiteral(partitioning, from, table)}`;
  const field = `\`${sqlIdentifier(partitioning.field, 'partitioning field')}\``;
  const literal = partitionLiteral(partitioning, from, table);
  switch (partitioning.fieldType ?? 'TIMESTAMP') {
    case 'DATE':
      return `${field} = ${literal}`;
    case 'DATETIME':
      return `DATETIME_TRUNC(${field}, ${partitioning.type}) = ${literal}`;
    case 'TIMESTAMP':
      return `TIMESTAMP_TRUNC(${field}, ${partitioning.type}) = ${literal}`;
  }
}

/**
 * A partition boundary as a literal of the partitioning column's type (`_PARTITIONTIME` is a
 * TIMESTAMP). A DATE column cannot be partitioned by HOUR: a permanent config error.
 */
function partitionLiteral(partitioning: Partitioning, at: PartitionBoundary, table: string): string {
  const hourly = partitioning.type === 'HOUR';
  switch (partitioning.field ? (partitioning.fieldType ?? 'TIMESTAMP') : 'TIMESTAMP') {
    case 'DATE':
      if (hourly)
        throw new LoadFailedError(`DATE column ${partitioning.field} of ${table} cannot be partitioned by HOUR`, {
          table,
        });
      return `DATE '${at.date}'`;
    case 'DATETIME':
      return `DATETIME '${hourly ? at.start : `${at.date} 00:00:00`}'`;
    default:
      return `TIMESTAMP('${at.start}')`;
  }
}

/** A partition's start as `YYYY-MM-DD` and as its start (`YYYY-MM-DD HH:00:00` for HOUR, else the date). */
interface PartitionBoundary {
  date: string;
  start: string;
}

/**
 * Checks a partition id against the table's partitioning (10 digits for HOUR, 8 for DAY, a real
 * date) and returns the partition's start and the next partition's start (its exclusive end).
 * A mismatch would be a 400 from BigQuery on every retry, so it is refused here as permanent.
 */
function parsePartition(
  partitioning: Partitioning,
  partition: string,
  table: string,
): { from: PartitionBoundary; to: PartitionBoundary } {
  const m = PARTITION_ID.exec(partition);
  const hourly = partitioning.type === 'HOUR';
  if (!m || hourly !== (m[4] !== undefined) || !validDate(m)) {
    throw new UnsafeIdentifierError(
      `partition ${JSON.stringify(partition)} is not a ${partitioning.type} partition id of ${table}`,
      { table, partition },
    );
  }
  const startMs = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), m[4] === undefined ? 0 : Number(m[4]));
  const boundary = (ms: number): PartitionBoundary => {
    const iso = new Date(ms).toISOString();
    const date = iso.slice(0, 10);
    return { date, start: hourly ? `${date} ${iso.slice(11, 13)}:00:00` : date };
  };
  return { from: boundary(startMs), to: boundary(startMs + (hourly ? 3_600_000 : 86_400_000)) };
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
