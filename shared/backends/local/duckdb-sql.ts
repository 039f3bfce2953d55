/**
 * SQL text for the local warehouse: quoting of identifiers and literals, BigQuery types as DuckDB
 * types, table DDL, partition ids as BigQuery writes them, and the checks that keep job specs,
 * identifiers and labels safe before anything reaches SQL.
 */
import { datasetIdProblem, tableIdProblem } from '../../core/bigquery-ids.ts';
import { LoadFailedError, UnsafeIdentifierError } from '../../core/errors.ts';
import type { JobErrorItem, JobSpec, Partitioning, SchemaField, TableRef } from '../../core/ports.ts';

/** A table column as DuckDB describes it. */
export interface Column {
  name: string;
  type: string;
  nullable: boolean;
}

/** A partition decorator resolved against a table's partitioning. */
export interface PartitionTarget {
  id: string;
  /** UTC start as a TIMESTAMPTZ literal body: `2024-01-02 03:00:00+00`. */
  start: string;
}

/** A job that ends DONE with these errors (nothing written). */
export class JobFailure extends Error {
  readonly items: JobErrorItem[];
  constructor(items: JobErrorItem[]) {
    super(items[0]?.message ?? 'job failed');
    this.items = items;
  }
}

/** The schema holding job, table and partition metadata. */
export const META = '_tidemark';
/** The ingestion-time partitioning column, a real column here. */
export const PARTITIONTIME = '_PARTITIONTIME';
/** What BigQuery accepts as a job id. */
export const JOB_ID = /^[A-Za-z0-9_-]{1,1024}$/;
const LABEL_KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const LABEL_VALUE = /^[a-z0-9_-]{0,63}$/;
/** BigQuery's limit on labels per job or table. */
export const MAX_LABELS = 64;

// ---- validation (exported: config and CLI code may want the same rules) ----------------------

/**
 * Throws UnsafeIdentifierError unless `ref` names a dataset and table as BigQuery allows them
 * (`nyc-311`, `2021_orders`, `주문`: they reach SQL only through `id()` quoting). The project is
 * not part of a local name: every dataset lives in the one warehouse file.
 */
export function validateTableRef(ref: TableRef): void {
  for (const [what, value, problem] of [
    ['dataset', ref?.dataset, datasetIdProblem],
    ['table', ref?.table, tableIdProblem],
  ] as const) {
    const reason = problem(value);
    if (reason)
      throw new UnsafeIdentifierError(`invalid ${what} identifier ${JSON.stringify(value)}: ${reason}`, {
        [what]: value,
      });
  }
  if (ref.dataset === META)
    throw new UnsafeIdentifierError(`dataset ${META} is reserved for tidemark's metadata`, { dataset: ref.dataset });
}

/** Throws UnsafeIdentifierError unless every key and value follows BigQuery's label rules. */
export function validateLabels(labels: Record<string, string>): void {
  for (const [key, value] of Object.entries(labels ?? {})) {
    if (!LABEL_KEY.test(key)) {
      throw new UnsafeIdentifierError(`invalid label key ${JSON.stringify(key)}: must match ${LABEL_KEY}`, {
        label: key,
      });
    }
    if (typeof value !== 'string' || !LABEL_VALUE.test(value)) {
      throw new UnsafeIdentifierError(
        `invalid value ${JSON.stringify(value)} for label ${key}: must match ${LABEL_VALUE}`,
        { label: key, value },
      );
    }
  }
}

/** Rejects what BigQuery would reject at insert time (400), before anything reaches SQL. */
export function validateJobSpec(spec: JobSpec): void {
  if (typeof spec?.jobId !== 'string' || !JOB_ID.test(spec.jobId)) {
    throw new UnsafeIdentifierError(
      `invalid job id ${JSON.stringify(spec?.jobId)}: letters, digits, "_" and "-", at most 1024`,
      { jobId: spec?.jobId },
    );
  }
  validateLabels(spec.labels ?? {});
  if (Object.keys(spec.labels ?? {}).length > MAX_LABELS)
    throw new UnsafeIdentifierError(`job ${spec.jobId} has more than ${MAX_LABELS} labels`, { jobId: spec.jobId });
  switch (spec.kind) {
    case 'load':
      validateTableRef(spec.destination);
      validateTableRef(spec.table.ref);
      if (!Array.isArray(spec.sourceUris) || spec.sourceUris.length === 0) {
        throw new UnsafeIdentifierError(`load job ${spec.jobId} has no source URIs`, { jobId: spec.jobId });
      }
      break;
    case 'copy':
      validateTableRef(spec.source);
      validateTableRef(spec.destination);
      break;
    case 'truncate':
      validateTableRef(spec.table.ref);
      break;
    case 'commit':
      validateTableRef(spec.table.ref);
      validateTableRef(spec.stage);
      // As BigQuery refuses them at insert: a partition id that does not fit the partitioning, or no schema.
      for (const partition of [...(spec.replace ?? []), ...(spec.insert ?? [])]) {
        try {
          resolvePartition(partition, spec.table.partitioning, `${spec.table.ref.dataset}.${spec.table.ref.table}`);
        } catch (err) {
          throw new UnsafeIdentifierError((err as Error).message, { jobId: spec.jobId, partition });
        }
      }
      if (!spec.table.schema?.length) {
        throw new LoadFailedError(
          `commit into ${spec.table.ref.dataset}.${spec.table.ref.table} needs the table's schema (commit mode dml); it has none`,
          { jobId: spec.jobId },
        );
      }
      break;
    case 'noop':
      break;
    default:
      throw new UnsafeIdentifierError(`unknown job kind ${JSON.stringify((spec as { kind?: unknown }).kind)}`, {
        jobId: (spec as JobSpec).jobId,
      });
  }
}

// ---- SQL text helpers ------------------------------------------------------------------------

/** A quoted SQL identifier. */
export function id(name: string): string {
  if (name.includes('\0')) throw new UnsafeIdentifierError(`identifier contains NUL: ${JSON.stringify(name)}`);
  return `"${name.replaceAll('"', '""')}"`;
}

/** A SQL string literal. */
export function lit(value: string): string {
  if (value.includes('\0')) throw new UnsafeIdentifierError(`string contains NUL: ${JSON.stringify(value)}`);
  return `'${value.replaceAll("'", "''")}'`;
}

/** The quoted `dataset.table` name. */
export function tableName(ref: TableRef): string {
  return `${id(ref.dataset)}.${id(ref.table)}`;
}

/** DuckDB type for a BigQuery schema field. */
export function duckDbType(field: SchemaField): string {
  let base: string;
  switch (field.type.toUpperCase()) {
    case 'STRING':
    case 'GEOGRAPHY':
      base = 'VARCHAR';
      break;
    case 'BYTES':
      base = 'BLOB';
      break;
    case 'INTEGER':
    case 'INT64':
      base = 'BIGINT';
      break;
    case 'FLOAT':
    case 'FLOAT64':
    case 'BIGNUMERIC':
    case 'BIGDECIMAL':
      base = 'DOUBLE';
      break;
    case 'NUMERIC':
    case 'DECIMAL':
      base = 'DECIMAL(38,9)';
      break;
    case 'BOOLEAN':
    case 'BOOL':
      base = 'BOOLEAN';
      break;
    case 'TIMESTAMP':
      base = 'TIMESTAMPTZ';
      break;
    case 'DATE':
      base = 'DATE';
      break;
    case 'DATETIME':
      base = 'TIMESTAMP';
      break;
    case 'TIME':
      base = 'TIME';
      break;
    case 'JSON':
      base = 'JSON';
      break;
    case 'INTERVAL':
      base = 'INTERVAL';
      break;
    case 'RECORD':
    case 'STRUCT':
      if (!field.fields?.length)
        throw new UnsafeIdentifierError(`RECORD field ${field.name} has no fields`, { field: field.name });
      validateFieldNames(field.fields, `${field.name}.`);
      base = `STRUCT(${field.fields.map((f) => `${id(f.name)} ${duckDbType(f)}`).join(', ')})`;
      break;
    default:
      throw new UnsafeIdentifierError(
        `unsupported BigQuery type ${JSON.stringify(field.type)} for field ${field.name}`,
        { field: field.name },
      );
  }
  return field.mode === 'REPEATED' ? `${base}[]` : base;
}

function validateFieldNames(fields: SchemaField[], path = ''): void {
  const seen = new Set<string>();
  for (const f of fields) {
    if (typeof f.name !== 'string' || f.name.length === 0 || f.name.length > 300 || f.name.includes('\0')) {
      throw new UnsafeIdentifierError(`invalid field name ${JSON.stringify(path + f.name)}`, { field: path + f.name });
    }
    if (!path && f.name.toUpperCase().startsWith('_PARTITION')) {
      throw new UnsafeIdentifierError(`field name ${f.name} is reserved (_PARTITION prefix)`, { field: f.name });
    }
    const key = f.name.toLowerCase();
    if (seen.has(key))
      throw new UnsafeIdentifierError(`duplicate field name ${JSON.stringify(path + f.name)}`, {
        field: path + f.name,
      });
    seen.add(key);
  }
}

/** The columns of a new table with this schema; throws UnsafeIdentifierError on a bad field. */
export function columnsFromSchema(schema: SchemaField[]): Column[] {
  validateFieldNames(schema);
  return schema.map((f) => ({ name: f.name, type: duckDbType(f), nullable: f.mode !== 'REQUIRED' }));
}

/** Partitioned by ingestion time (`_PARTITIONTIME`) rather than by a column. */
export function isIngestionTime(p: Partitioning): boolean {
  return !p.field;
}

/** Columns DDL for a new table: the schema, plus `_PARTITIONTIME` for ingestion-time partitioning. */
export function columnsDdl(columns: Column[], partitioning: Partitioning): string {
  const defs = columns.map((c) => `${id(c.name)} ${c.type}${c.nullable ? '' : ' NOT NULL'}`);
  if (isIngestionTime(partitioning) && !columns.some((c) => c.name === PARTITIONTIME))
    defs.push(`${id(PARTITIONTIME)} TIMESTAMPTZ`);
  return defs.join(', ');
}

/**
 * The SQL expression giving a row's partition id, exactly as BigQuery writes it: the UTC hour
 * (YYYYMMDDHH) or day (YYYYMMDD) of `_PARTITIONTIME` or of the partitioning column; `__NULL__`
 * for a NULL column value.
 */
export function partitionExpr(partitioning: Partitioning, columns: Column[], table: string): string {
  const fmt = partitioning.type === 'HOUR' ? '%Y%m%d%H' : '%Y%m%d';
  const field = partitioning.field ?? PARTITIONTIME;
  const column = columns.find((c) => c.name.toLowerCase() === field.toLowerCase());
  if (!column)
    throw new JobFailure([{ reason: 'invalid', message: `partitioning field ${field} is not a column of ${table}` }]);
  const type = column.type.toUpperCase();
  let time: string;
  if (type === 'DATE') time = id(column.name);
  else if (type === 'TIMESTAMP WITH TIME ZONE' || type === 'TIMESTAMPTZ') time = `timezone('UTC', ${id(column.name)})`;
  else if (type === 'TIMESTAMP') time = id(column.name);
  else
    throw new JobFailure([
      {
        reason: 'invalid',
        message: `partitioning field ${field} of ${table} has type ${column.type}, not DATE, TIMESTAMP or DATETIME`,
      },
    ]);
  return `coalesce(strftime(${time}, '${fmt}'), '__NULL__')`;
}

/**
 * A SQL condition true exactly for the rows whose partition id (partitionExpr) is `target`'s, as
 * a range on the column rather than a formatted string per row: DuckDB answers it from the
 * values (and zone maps) without formatting every row. NULL values are in no partition here.
 */
export function partitionRange(
  partitioning: Partitioning,
  columns: Column[],
  target: PartitionTarget,
  table: string,
): string {
  partitionExpr(partitioning, columns, table); // the same checks of the column and its type
  const field = partitioning.field ?? PARTITIONTIME;
  const column = columns.find((c) => c.name.toLowerCase() === field.toLowerCase())!;
  const type = column.type.toUpperCase();
  const startMs = Date.parse(target.start.replace(' ', 'T').replace('+00', 'Z'));
  const endMs = startMs + (partitioning.type === 'HOUR' ? 3_600_000 : 86_400_000);
  const text = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
  const col = id(column.name);
  if (type === 'DATE') {
    // A DATE is midnight: only a day (or the hour 00) partition can hold it.
    return new Date(startMs).getUTCHours() === 0 ? `(${col} = DATE '${text(startMs).slice(0, 10)}')` : 'false';
  }
  const literal = type === 'TIMESTAMP' ? 'TIMESTAMP' : 'TIMESTAMPTZ';
  const suffix = type === 'TIMESTAMP' ? '' : '+00';
  return `(${col} >= ${literal} '${text(startMs)}${suffix}' AND ${col} < ${literal} '${text(endMs)}${suffix}')`;
}

/** Checks a decorator against the partitioning and gives its UTC start. */
export function resolvePartition(decorator: string, partitioning: Partitioning, table: string): PartitionTarget {
  const hourly = partitioning.type === 'HOUR';
  const shape = hourly ? /^(\d{4})(\d{2})(\d{2})(\d{2})$/ : /^(\d{4})(\d{2})(\d{2})$/;
  const m = shape.exec(decorator);
  const [y, mo, d, h] = (m?.slice(1) ?? []).map(Number) as [number, number, number, number?];
  const date = m ? new Date(Date.UTC(y, mo - 1, d, h ?? 0)) : null;
  if (
    !date ||
    date.getUTCFullYear() !== y ||
    date.getUTCMonth() !== mo - 1 ||
    date.getUTCDate() !== d ||
    date.getUTCHours() !== (h ?? 0)
  ) {
    throw new JobFailure([
      {
        reason: 'invalid',
        message: `invalid partition decorator ${table}$${decorator}: the table is partitioned by ${partitioning.type}, expected ${hourly ? 'YYYYMMDDHH' : 'YYYYMMDD'}`,
      },
    ]);
  }
  return { id: decorator, start: date.toISOString().replace('T', ' ').replace('.000Z', '+00') };
}

/** The partition an ingestion-time row written at `ms` goes to. */
export function partitionAt(ms: number, partitioning: Partitioning): PartitionTarget {
  const iso = new Date(ms).toISOString();
  const decorator =
    iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + (partitioning.type === 'HOUR' ? iso.slice(11, 13) : '');
  return resolvePartition(decorator, partitioning, '');
}
