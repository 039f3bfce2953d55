/**
 * Content identity of a partition's source: the fingerprint of its (name, generation) set, the
 * BigQuery job ids derived from it, and the encoding of times into label values.
 */
import { createHash } from 'node:crypto';

export interface ObjectVersion {
  name: string;
  generation: string;
}

/**
 * sha256 over the sorted (name, generation) pairs; the order objects were listed in does not
 * matter. An empty set has a fingerprint too.
 */
export function fingerprintObjects(objects: readonly ObjectVersion[]): string {
  const lines = objects.map((o) => `${o.name}\u0000${o.generation}`).sort();
  const hash = createHash('sha256');
  for (const line of lines) hash.update(line).update('\n');
  return hash.digest('hex');
}

const JOB_ID_PART = /[^A-Za-z0-9_-]/g;

/**
 * A BigQuery job id for one attempt to make `partition` of `table` equal to a listing.
 * Same inputs, same id: a second insert gets 409, which is what makes submission idempotent.
 * Only letters, digits, `_` and `-`, far below the 1,024-character limit.
 */
export function jobIdFor(kind: string, table: string, partition: string, fingerprint: string, salt = ''): string {
  const digest = createHash('sha256').update(`${kind}|${table}|${partition}|${fingerprint}|${salt}`).digest('hex');
  const safeTable = table.replace(JOB_ID_PART, '_').slice(0, 60);
  return `tidemark_${kind}_${safeTable}_${partition}_${digest.slice(0, 32)}`;
}

/**
 * Encodes an instant as a label value: `20261124t130509z` (ISO 8601 basic format, lower case).
 * Label values allow only lowercase letters, digits, `_` and `-`; this sorts like the time.
 */
export function encodeLabelTime(ms: number): string {
  const iso = new Date(Math.floor(ms / 1000) * 1000).toISOString(); // 2026-11-24T13:05:09.000Z
  return iso.slice(0, 19).replace(/[-:]/g, '').toLowerCase() + 'z';
}

/** Inverse of encodeLabelTime; null for anything else. */
export function decodeLabelTime(value: string | undefined): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})t(\d{2})(\d{2})(\d{2})z$/.exec(value ?? '');
  if (!m) return null;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  // Date.UTC rolls month 13 into next year: accept only values that encode back to themselves.
  return Number.isNaN(ms) || encodeLabelTime(ms) !== value ? null : ms;
}
