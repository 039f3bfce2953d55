/**
 * Checks of the JSON messages tidemark accepts on its topics: backfill requests, audit
 * requests and commit ticks. Strict: unknown fields, wrong types and unsafe identifiers are InvalidMessageError
 * naming the field, before anything reaches an API or SQL. Hand-written rather than zod: this
 * ships in every function, and zod was about half of each bundle.
 */
import { TABLE_NAME } from '../config/names.ts';
import type { Config } from '../config/types.ts';
import type { AuditRequest } from '../core/audit.ts';
import { InvalidMessageError } from '../core/errors.ts';
import { normalizePartition, partitionEnd, partitionStart } from '../routing/partition.ts';

export interface BackfillRequest {
  table: string;
  partition: string;
  force: boolean;
  reason: string;
}

/** One field's rule: returns what is wrong with a present value, or undefined. */
type Check = (value: unknown) => string | undefined;

const text =
  (min: number, max: number, pattern?: RegExp, patternMessage?: string): Check =>
  (v) => {
    if (typeof v !== 'string') return `expected a string, got ${describe(v)}`;
    if (v.length < min) return `at least ${min} characters`;
    if (v.length > max) return `at most ${max} characters`;
    if (pattern && !pattern.test(v)) return patternMessage;
    return undefined;
  };

const tableName = text(1, 40, TABLE_NAME, 'must be a table name from the config (lowercase letters, digits, _)');

const BACKFILL: Record<string, { check: Check; required: boolean }> = {
  table: { check: tableName, required: true },
  partition: { check: text(8, 40), required: true },
  force: {
    check: (v) => (typeof v === 'boolean' ? undefined : `expected a boolean, got ${describe(v)}`),
    required: false,
  },
  reason: { check: text(0, 100, /^[A-Za-z0-9 _.:-]*$/, 'letters, digits, space and _.:- only'), required: false },
};

const tableNames: Check = (v) => {
  if (!Array.isArray(v)) return `expected an array, got ${describe(v)}`;
  if (v.length > 1000) return 'at most 1000 tables';
  for (const [i, t] of v.entries()) {
    const problem = tableName(t);
    if (problem) return `[${i}]: ${problem}`;
  }
  return undefined;
};

const AUDIT: Record<string, { check: Check; required: boolean }> = {
  tables: { check: tableNames, required: false },
  from: { check: text(0, 40), required: false },
  to: { check: text(0, 40), required: false },
};

const COMMIT_TICK: Record<string, { check: Check; required: boolean }> = {
  tables: { check: tableNames, required: false },
};

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

/**
 * Checks a decoded message against its fields: an object, no unknown keys (own keys, so a
 * `__proto__` key is seen), required ones present, each value valid. Every problem is listed,
 * as `message.<field>: <reason>`; returns the payload as a record when there are none.
 */
function checkFields(
  payload: unknown,
  fields: Record<string, { check: Check; required: boolean }>,
): { data?: Record<string, unknown>; problems: string[] } {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload))
    return { problems: [`message: expected a JSON object, got ${describe(payload)}`] };
  const data = payload as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(data)) if (!Object.hasOwn(fields, key)) problems.push(`message.${key}: unknown field`);
  for (const [key, rule] of Object.entries(fields)) {
    if (!Object.hasOwn(data, key) || data[key] === undefined) {
      if (rule.required) problems.push(`message.${key}: required`);
      continue;
    }
    const problem = rule.check(data[key]);
    if (problem) problems.push(`message.${key}${problem.startsWith('[') ? '' : ': '}${problem}`);
  }
  return problems.length ? { problems } : { data, problems };
}

/** Validates a backfill message and normalises its partition to the table's granularity. */
export function parseBackfillRequest(config: Config, payload: unknown, messageId: string): BackfillRequest {
  const r = checkFields(payload, BACKFILL);
  if (!r.data)
    throw new InvalidMessageError(`backfill message ${messageId} is invalid: ${r.problems.join('; ')}`, { messageId });
  const data = r.data as { table: string; partition: string; force?: boolean; reason?: string };
  const table = config.tables.find((t) => t.name === data.table);
  if (!table)
    throw new InvalidMessageError(`backfill message ${messageId}: unknown table "${data.table}"`, {
      messageId,
      table: data.table,
    });
  let partition: string;
  try {
    partition = normalizePartition(data.partition, table.partitioning.type);
  } catch (err) {
    throw new InvalidMessageError(
      `backfill message ${messageId}: ${err instanceof Error ? err.message : String(err)}`,
      { messageId, table: table.name },
    );
  }
  return { table: table.name, partition, force: data.force ?? false, reason: data.reason ?? 'manual' };
}

/** Validates an audit request ({} = every table, default windows). */
export function parseAuditRequest(config: Config, payload: unknown, messageId: string): AuditRequest {
  const r = checkFields(payload, AUDIT);
  if (!r.data)
    throw new InvalidMessageError(`audit message ${messageId} is invalid: ${r.problems.join('; ')}`, { messageId });
  const data = r.data as { tables?: string[]; from?: string; to?: string };
  for (const t of data.tables ?? []) {
    if (!config.tables.some((c) => c.name === t))
      throw new InvalidMessageError(`audit message ${messageId}: unknown table "${t}"`, { messageId, table: t });
  }
  const time = (field: 'from' | 'to', v: string | undefined) => {
    if (v === undefined) return undefined;
    const g = /^\d{8}$/.test(v) || /^\d{4}-\d{2}-\d{2}$/.test(v) ? 'DAY' : 'HOUR';
    try {
      const id = normalizePartition(v, g);
      return field === 'from' ? partitionStart(id) : partitionEnd(id); // `to` is inclusive
    } catch {
      throw new InvalidMessageError(`audit message ${messageId}: ${field} "${v}" is not a partition id or ISO time`, {
        messageId,
        field,
      });
    }
  };
  const fromMs = time('from', data.from);
  const toMs = time('to', data.to);
  if (fromMs !== undefined && toMs !== undefined && toMs < fromMs)
    throw new InvalidMessageError(`audit message ${messageId}: to is before from`, { messageId });
  return {
    ...(data.tables ? { tables: data.tables } : {}),
    ...(fromMs !== undefined ? { fromMs } : {}),
    ...(toMs !== undefined ? { toMs } : {}),
  };
}

/** A commit tick: `{}` (Cloud Scheduler's) commits every commit-mode dml table; `tables` names some. */
export interface CommitTick {
  tables?: string[];
}

/** Validates a commit tick; a table that is unknown or not in commit mode dml is named. */
export function parseCommitTick(config: Config, payload: unknown, messageId: string): CommitTick {
  const r = checkFields(payload, COMMIT_TICK);
  if (!r.data)
    throw new InvalidMessageError(`commit tick ${messageId} is invalid: ${r.problems.join('; ')}`, { messageId });
  const data = r.data as { tables?: string[] };
  for (const t of data.tables ?? []) {
    const table = config.tables.find((c) => c.name === t);
    if (!table)
      throw new InvalidMessageError(`commit tick ${messageId}: unknown table "${t}"`, { messageId, table: t });
    if (table.commit.mode !== 'dml')
      throw new InvalidMessageError(
        `commit tick ${messageId}: table "${t}" has commit.mode ${table.commit.mode}, not dml`,
        { messageId, table: t },
      );
  }
  return data.tables ? { tables: data.tables } : {};
}
