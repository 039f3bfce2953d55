/**
 * Tables and their metadata in schema `_tidemark` (spec, labels and etag per table, when each
 * partition was last modified), as the local warehouse and its jobs both read and write them.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Partitioning, TableRef, TableSpec } from '../../core/ports.ts';
import { columnsDdl, META, PARTITIONTIME, tableName } from './duckdb-sql.ts';
import type { Column } from './duckdb-sql.ts';
import { readRows, transaction } from './duckdb-session.ts';

/** A table as the warehouse knows it. */
export interface TableInfo {
  ref: TableRef;
  columns: Column[];
  /** The spec the table was created from; null for a table created by hand. */
  spec: TableSpec | null;
}

/** The table's columns and spec, or null when it does not exist. Adopts a table with no metadata row. */
export async function describeTable(
  conn: DuckDBConnection,
  ref: TableRef,
  fallback?: TableSpec,
): Promise<TableInfo | null> {
  const columns = await columnsOf(conn, null, ref.dataset, ref.table);
  if (columns.length === 0) return null;
  const [meta] = await readRows(conn, `SELECT spec FROM ${META}.tables WHERE dataset = ? AND table_name = ?`, [
    ref.dataset,
    ref.table,
  ]);
  if (!meta) {
    const spec = fallback ? { ...fallback, ref } : null;
    await insertTableMeta(conn, ref, spec);
    return { ref, columns, spec };
  }
  return { ref, columns, spec: meta.spec === null ? null : (JSON.parse(String(meta.spec)) as TableSpec) };
}

/** The columns of a table (`database` null: the file's own database), in order; none when it does not exist. */
export async function columnsOf(
  conn: DuckDBConnection,
  database: string | null,
  schema: string,
  table: string,
): Promise<Column[]> {
  const rows = await readRows(
    conn,
    `SELECT column_name, data_type, is_nullable FROM duckdb_columns()
     WHERE database_name = ${database === null ? 'current_database()' : '?'} AND schema_name = ? AND table_name = ?
     ORDER BY column_index`,
    database === null ? [schema, table] : [database, schema, table],
  );
  return rows.map((r) => ({
    name: String(r.column_name),
    type: String(r.data_type),
    nullable: r.is_nullable !== false,
  }));
}

/** The table's partitioning; for a hand-made table without a spec, a `_PARTITIONTIME` column means daily ingestion time. */
export function partitioningOf(table: TableInfo): Partitioning | null {
  if (table.spec) return table.spec.partitioning;
  return table.columns.some((c) => c.name === PARTITIONTIME) ? { type: 'DAY' } : null;
}

/** Creates the table (if missing) and records its spec. */
export async function createTable(
  conn: DuckDBConnection,
  ref: TableRef,
  columns: Column[],
  spec: TableSpec,
): Promise<void> {
  await conn.run(`CREATE TABLE IF NOT EXISTS ${tableName(ref)} (${columnsDdl(columns, spec.partitioning)})`);
  await insertTableMeta(conn, ref, { ...spec, ref });
}

/** Records a table's spec and labels with a new etag, replacing any earlier record. */
export async function insertTableMeta(conn: DuckDBConnection, ref: TableRef, spec: TableSpec | null): Promise<void> {
  await conn.run(`DELETE FROM ${META}.tables WHERE dataset = ? AND table_name = ?`, [ref.dataset, ref.table]);
  await conn.run(`INSERT INTO ${META}.tables VALUES (?, ?, ?::JSON, nextval('${META}.etag_seq')::VARCHAR, ?::JSON)`, [
    ref.dataset,
    ref.table,
    JSON.stringify(spec?.labels ?? {}),
    spec ? JSON.stringify(spec) : null,
  ]);
}

/** Gives the table a new etag: its data or labels changed. */
export async function bumpEtag(conn: DuckDBConnection, ref: TableRef): Promise<void> {
  await conn.run(
    `UPDATE ${META}.tables SET etag = nextval('${META}.etag_seq')::VARCHAR WHERE dataset = ? AND table_name = ?`,
    [ref.dataset, ref.table],
  );
}

/** Drops partition metadata: one partition, or all of the table's. */
export async function forgetPartitions(conn: DuckDBConnection, ref: TableRef, partitionId?: string): Promise<void> {
  if (partitionId === undefined) {
    await conn.run(`DELETE FROM ${META}.partitions WHERE dataset = ? AND table_name = ?`, [ref.dataset, ref.table]);
  } else {
    await conn.run(`DELETE FROM ${META}.partitions WHERE dataset = ? AND table_name = ? AND partition_id = ?`, [
      ref.dataset,
      ref.table,
      partitionId,
    ]);
  }
}

/** Records that these partitions were modified at `now` (epoch ms). */
export async function touchPartitions(
  conn: DuckDBConnection,
  ref: TableRef,
  ids: string[],
  now: number,
): Promise<void> {
  for (const pid of ids) {
    await forgetPartitions(conn, ref, pid);
    await conn.run(`INSERT INTO ${META}.partitions VALUES (?, ?, ?, epoch_ms(?::BIGINT)::TIMESTAMPTZ)`, [
      ref.dataset,
      ref.table,
      pid,
      now,
    ]);
  }
}

/** Drops a table and its metadata (no error when it does not exist). Run inside a transaction. */
export async function dropTable(conn: DuckDBConnection, ref: TableRef): Promise<void> {
  await conn.run(`DROP TABLE IF EXISTS ${tableName(ref)}`);
  await conn.run(`DELETE FROM ${META}.tables WHERE dataset = ? AND table_name = ?`, [ref.dataset, ref.table]);
  await conn.run(`DELETE FROM ${META}.partitions WHERE dataset = ? AND table_name = ?`, [ref.dataset, ref.table]);
}

/** Records when an existing table expires (its spec's `expiresAt`), as BigQuery's `expirationTime`. */
export async function setTableExpiry(conn: DuckDBConnection, ref: TableRef, expiresAt: number): Promise<void> {
  await conn.run(
    `UPDATE ${META}.tables SET spec = json_merge_patch(spec, ?::JSON) WHERE dataset = ? AND table_name = ? AND spec IS NOT NULL`,
    [JSON.stringify({ expiresAt }), ref.dataset, ref.table],
  );
}

/** Drops every table whose recorded expiration has passed: BigQuery deletes expired tables by itself. Not inside a transaction. */
export async function dropExpiredTables(conn: DuckDBConnection, now: number): Promise<void> {
  const expired = await readRows(
    conn,
    `SELECT dataset, table_name FROM ${META}.tables WHERE TRY_CAST(json_extract_string(spec, '$.expiresAt') AS BIGINT) <= ?`,
    [now],
  );
  for (const row of expired)
    await transaction(conn, () => dropTable(conn, { dataset: String(row.dataset), table: String(row.table_name) }));
}
