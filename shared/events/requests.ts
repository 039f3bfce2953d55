/**
 * Schemas of the JSON messages tidemark accepts on its topics: backfill requests and audit
 * requests. Strict: unknown fields, wrong types and unsafe identifiers are InvalidMessageError
 * naming the field, before anything reaches an API or SQL.
 */
import { z } from 'zod';
import { TABLE_NAME } from '../config/schema.ts';
import type { Config } from '../config/types.ts';
import type { AuditRequest } from '../core/audit.ts';
import { InvalidMessageError } from '../core/errors.ts';
import { normalizePartition, partitionEnd, partitionStart } from '../routing/partition.ts';

const tableName = z.string().regex(TABLE_NAME, 'must be a table name from the config (lowercase letters, digits, _)');

const backfillSchema = z.strictObject({
  table: tableName,
  partition: z.string().min(8).max(40),
  force: z.boolean().optional(),
  reason: z.string().max(100).regex(/^[A-Za-z0-9 _.:-]*$/, 'letters, digits, space and _.:- only').optional(),
});

const auditSchema = z.strictObject({
  tables: z.array(tableName).max(1000).optional(),
  from: z.string().max(40).optional(),
  to: z.string().max(40).optional(),
});

export interface BackfillRequest {
  table: string;
  partition: string;
  force: boolean;
  reason: string;
}

function issues(label: string, err: z.ZodError): string {
  return err.issues.map((i) => `${label}${i.path.length ? '.' + i.path.join('.') : ''}: ${i.message}`).join('; ');
}

/** Validates a backfill message and normalises its partition to the table's granularity. */
export function parseBackfillRequest(config: Config, payload: unknown, messageId: string): BackfillRequest {
  const r = backfillSchema.safeParse(payload);
  if (!r.success) throw new InvalidMessageError(`backfill message ${messageId} is invalid: ${issues('message', r.error)}`, { messageId });
  const table = config.tables.find((t) => t.name === r.data.table);
  if (!table) throw new InvalidMessageError(`backfill message ${messageId}: unknown table "${r.data.table}"`, { messageId, table: r.data.table });
  let partition: string;
  try {
    partition = normalizePartition(r.data.partition, table.partitioning.type);
  } catch (err) {
    throw new InvalidMessageError(`backfill message ${messageId}: ${err instanceof Error ? err.message : String(err)}`, { messageId, table: table.name });
  }
  return { table: table.name, partition, force: r.data.force ?? false, reason: r.data.reason ?? 'manual' };
}

/** Validates an audit request ({} = every table, default windows). */
export function parseAuditRequest(config: Config, payload: unknown, messageId: string): AuditRequest {
  const r = auditSchema.safeParse(payload);
  if (!r.success) throw new InvalidMessageError(`audit message ${messageId} is invalid: ${issues('message', r.error)}`, { messageId });
  for (const t of r.data.tables ?? []) {
    if (!config.tables.some((c) => c.name === t)) throw new InvalidMessageError(`audit message ${messageId}: unknown table "${t}"`, { messageId, table: t });
  }
  const time = (field: 'from' | 'to', v: string | undefined) => {
    if (v === undefined) return undefined;
    const g = /^\d{8}$/.test(v) || /^\d{4}-\d{2}-\d{2}$/.test(v) ? 'DAY' : 'HOUR';
    try {
      const id = normalizePartition(v, g);
      return field === 'from' ? partitionStart(id) : partitionEnd(id); // `to` is inclusive
    } catch {
      throw new InvalidMessageError(`audit message ${messageId}: ${field} "${v}" is not a partition id or ISO time`, { messageId, field });
    }
  };
  const fromMs = time('from', r.data.from);
  const toMs = time('to', r.data.to);
  if (fromMs !== undefined && toMs !== undefined && toMs < fromMs) throw new InvalidMessageError(`audit message ${messageId}: to is before from`, { messageId });
  return { ...(r.data.tables ? { tables: r.data.tables } : {}), ...(fromMs !== undefined ? { fromMs } : {}), ...(toMs !== undefined ? { toMs } : {}) };
}
