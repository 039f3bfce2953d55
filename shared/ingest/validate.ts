/**
 * Validates one incoming record against a table's BigQuery schema, as a load job would judge the
 * NDJSON line later: a record refused here would have failed the whole file at load (and been
 * quarantined), so it is refused at the door with a reason naming the field. Pure; tested as a
 * table in test/shared/ingest/validate.test.ts.
 *
 * JSON values BigQuery accepts per type (NDJSON loads): STRING/GEOGRAPHY strings; INTEGER
 * integers or integer strings within int64; FLOAT numbers or numeric strings (also NaN/Infinity
 * as strings); NUMERIC/BIGNUMERIC numbers or decimal strings; BOOLEAN true/false; BYTES base64;
 * TIMESTAMP/DATE/TIME/DATETIME canonical strings; JSON anything; RECORD objects; REPEATED arrays
 * (null elements are not allowed). REQUIRED fields must be present and not null.
 */
import type { SchemaField } from '../core/ports.ts';
import { EVENT_ID, EVENT_ID_COLUMN, RECEIVED_AT_COLUMN } from './record.ts';

export type UnknownFields = 'reject' | 'ignore';

export type Validated = { ok: true; record: Record<string, unknown>; eventId?: string } | { ok: false; reason: string };

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const DATE = /^\d{4}-\d{1,2}-\d{1,2}$/;
const TIME = /^\d{1,2}:\d{2}(:\d{2}(\.\d{1,6})?)?$/;
const DATETIME = /^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$/;
const TIMESTAMP = /^\d{4}-\d{1,2}-\d{1,2}[ T]\d{1,2}:\d{2}(:\d{2}(\.\d{1,12})?)?( ?(Z|UTC|[+-]\d{1,2}(:\d{2})?))?$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A calendar date that exists (month 13, Feb 30 are not). */
function realDate(y: number, m: number, d: number): boolean {
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d && y >= 1 && y <= 9999;
}

function checkDateParts(text: string): boolean {
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2})/.exec(text);
  return !!m && realDate(Number(m[1]), Number(m[2]), Number(m[3]));
}

function checkClock(text: string): boolean {
  const m = /(\d{1,2}):(\d{2})(?::(\d{2}))?/.exec(text);
  return !m || (Number(m[1]) <= 23 && Number(m[2]) <= 59 && Number(m[3] ?? 0) <= 59);
}

/** Why `value` is not a valid scalar of `type`, or null. */
function scalarProblem(type: string, value: unknown): string | null {
  switch (type) {
    case 'STRING':
    case 'GEOGRAPHY':
      return typeof value === 'string' ? null : `expected a string, got ${describe(value)}`;
    case 'INTEGER':
    case 'INT64': {
      let n: bigint | null = null;
      if (typeof value === 'number' && Number.isInteger(value)) n = BigInt(value);
      else if (typeof value === 'string' && /^[+-]?\d{1,19}$/.test(value.trim())) n = BigInt(value.trim());
      if (n === null) return `expected an integer, got ${describe(value)}`;
      if (typeof value === 'number' && !Number.isSafeInteger(value))
        return 'integer beyond 2^53 must be sent as a string to keep its precision';
      return n < INT64_MIN || n > INT64_MAX ? 'integer out of the INT64 range' : null;
    }
    case 'FLOAT':
    case 'FLOAT64':
      // 1e400 parses to Infinity, which JSON.stringify would write as null: refuse it here.
      if (typeof value === 'number')
        return Number.isFinite(value) ? null : 'number out of the FLOAT64 range (send "Infinity" as a string if meant)';
      return typeof value === 'string' &&
        (DECIMAL.test(value.trim()) || /^[+-]?(NaN|Infinity|inf)$/i.test(value.trim()))
        ? null
        : `expected a number, got ${describe(value)}`;
    case 'NUMERIC':
    case 'BIGNUMERIC':
      if (typeof value === 'number' && Number.isFinite(value)) return null;
      return typeof value === 'string' && DECIMAL.test(value.trim())
        ? null
        : `expected a decimal number, got ${describe(value)}`;
    case 'BOOLEAN':
    case 'BOOL':
      return typeof value === 'boolean' ? null : `expected true or false, got ${describe(value)}`;
    case 'BYTES':
      return typeof value === 'string' && BASE64.test(value) ? null : `expected base64 text, got ${describe(value)}`;
    case 'TIMESTAMP':
      if (typeof value !== 'string' || !TIMESTAMP.test(value.trim()))
        return `expected a timestamp like "2026-11-24T13:05:09Z", got ${describe(value)}`;
      return checkDateParts(value.trim()) && checkClock(value.trim().slice(10))
        ? null
        : `not a real time: ${JSON.stringify(value)}`;
    case 'DATE':
      if (typeof value !== 'string' || !DATE.test(value))
        return `expected a date like "2026-11-24", got ${describe(value)}`;
      return checkDateParts(value) ? null : `not a real date: ${JSON.stringify(value)}`;
    case 'DATETIME':
      if (typeof value !== 'string' || !DATETIME.test(value))
        return `expected a datetime like "2026-11-24T13:05:09", got ${describe(value)}`;
      return checkDateParts(value) && checkClock(value.slice(10))
        ? null
        : `not a real datetime: ${JSON.stringify(value)}`;
    case 'TIME':
      if (typeof value !== 'string' || !TIME.test(value))
        return `expected a time like "13:05:09", got ${describe(value)}`;
      return checkClock(value) ? null : `not a real time: ${JSON.stringify(value)}`;
    case 'JSON':
      return null;
    default:
      // INTERVAL, RANGE: BigQuery's own text forms; leave them to the load.
      return typeof value === 'string' ? null : `expected a string for ${type}, got ${describe(value)}`;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  return `${typeof value} ${String(value)}`;
}

/** Fields of `value` checked against `fields`; returns the record to keep, or the first problem. */
function checkObject(
  fields: SchemaField[],
  value: Record<string, unknown>,
  path: string,
  unknown: UnknownFields,
  skip: Set<string>,
): { record: Record<string, unknown> } | { reason: string } {
  const byName = new Map(fields.map((f) => [f.name.toLowerCase(), f]));
  // Built on a null-prototype object: a "__proto__" key from JSON.parse stays a plain key.
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const seen = new Set<string>();
  for (const key of Object.keys(value)) {
    const lower = key.toLowerCase();
    if (path === '' && skip.has(lower)) continue;
    const field = byName.get(lower);
    if (!field) {
      if (unknown === 'reject') return { reason: `${path}${key}: not a column of the table` };
      continue;
    }
    if (seen.has(lower)) return { reason: `${path}${key}: given twice (column names are case-insensitive)` };
    seen.add(lower);
    const checked = checkField(field, value[key], `${path}${field.name}`, unknown, skip);
    if ('reason' in checked) return checked;
    if (checked.value !== undefined) out[field.name] = checked.value;
  }
  for (const f of fields) {
    if (f.mode === 'REQUIRED' && !seen.has(f.name.toLowerCase()) && !(path === '' && skip.has(f.name.toLowerCase())))
      return { reason: `${path}${f.name}: required` };
  }
  return { record: { ...out } };
}

function checkField(
  field: SchemaField,
  value: unknown,
  path: string,
  unknown: UnknownFields,
  skip: Set<string>,
): { value: unknown } | { reason: string } {
  if (value === null || value === undefined) {
    if (field.mode === 'REQUIRED') return { reason: `${path}: required, got null` };
    return { value: field.mode === 'REPEATED' ? undefined : null };
  }
  if (field.mode === 'REPEATED') {
    if (!Array.isArray(value)) return { reason: `${path}: expected an array, got ${describe(value)}` };
    const items: unknown[] = [];
    for (let i = 0; i < value.length; i++) {
      if (value[i] === null) return { reason: `${path}[${i}]: null elements are not allowed in a REPEATED field` };
      const one = checkOne(field, value[i], `${path}[${i}]`, unknown, skip);
      if ('reason' in one) return one;
      items.push(one.value);
    }
    return { value: items };
  }
  return checkOne(field, value, path, unknown, skip);
}

function checkOne(
  field: SchemaField,
  value: unknown,
  path: string,
  unknown: UnknownFields,
  skip: Set<string>,
): { value: unknown } | { reason: string } {
  if (field.type === 'RECORD' || field.type === 'STRUCT') {
    if (!isObject(value)) return { reason: `${path}: expected an object, got ${describe(value)}` };
    const inner = checkObject(field.fields ?? [], value, `${path}.`, unknown, skip);
    return 'reason' in inner ? inner : { value: inner.record };
  }
  const problem = scalarProblem(field.type, value);
  return problem ? { reason: `${path}: ${problem}` } : { value };
}

const SET_BY_TIDEMARK = new Set([EVENT_ID_COLUMN, RECEIVED_AT_COLUMN]);

/**
 * Checks one record against the table's schema. `event_id` may be given by the caller (then it
 * must match EVENT_ID); `received_at` is set by tidemark and refused when sent.
 */
export function validateRecord(fields: SchemaField[], value: unknown, unknown: UnknownFields): Validated {
  if (!isObject(value)) return { ok: false, reason: `a record must be a JSON object, got ${describe(value)}` };
  let eventId: string | undefined;
  for (const key of Object.keys(value)) {
    const lower = key.toLowerCase();
    if (lower === RECEIVED_AT_COLUMN)
      return { ok: false, reason: `${key}: set by tidemark when the event is received; do not send it` };
    if (lower === EVENT_ID_COLUMN) {
      const id = value[key];
      if (typeof id !== 'string' || !EVENT_ID.test(id))
        return {
          ok: false,
          reason: `${key}: must be 1-128 letters, digits or _ . : @ - (or left out, and one is assigned)`,
        };
      if (eventId !== undefined)
        return { ok: false, reason: `${key}: given twice (column names are case-insensitive)` };
      eventId = id;
    }
  }
  const checked = checkObject(fields, value, '', unknown, SET_BY_TIDEMARK);
  if ('reason' in checked) return { ok: false, reason: checked.reason };
  return { ok: true, record: checked.record, ...(eventId !== undefined ? { eventId } : {}) };
}
