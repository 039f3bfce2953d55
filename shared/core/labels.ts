/**
 * Checkpoints kept as BigQuery table labels (no state database): `tidemark_last_load` and
 * `tidemark_watermark`. Written with the table's etag so concurrent writers never move a label
 * backwards; a lost race (412) is retried after re-reading.
 */
import type { Logger } from '../log.ts';
import { PreconditionFailedError } from './errors.ts';
import { decodeLabelTime, encodeLabelTime } from './fingerprint.ts';
import type { TableRef, Warehouse } from './ports.ts';

export const LAST_LOAD_LABEL = 'tidemark_last_load';
export const WATERMARK_LABEL = 'tidemark_watermark';

/** The time a checkpoint label holds, or null when unset/unreadable. */
export async function readLabelTime(warehouse: Warehouse, ref: TableRef, key: string): Promise<number | null> {
  const current = await warehouse.getTableLabels(ref);
  return current ? decodeLabelTime(current.labels[key]) : null;
}

/**
 * Moves label `key` forward to `ms` (never backwards). Returns the value the label holds after
 * the call. Missing table: nothing to label, returns null.
 */
export async function advanceLabelTime(
  warehouse: Warehouse,
  ref: TableRef,
  key: string,
  ms: number,
  log?: Logger,
  attempts = 8,
): Promise<number | null> {
  const target = encodeLabelTime(ms);
  for (let attempt = 1; ; attempt++) {
    const current = await warehouse.getTableLabels(ref);
    if (!current) return null;
    const existing = current.labels[key];
    const existingMs = decodeLabelTime(existing);
    if (existingMs !== null && existing! >= target) return existingMs;
    try {
      await warehouse.patchTableLabels(ref, { [key]: target }, current.etag);
      log?.debug('label advanced', { label: key, value: target, previous: existing ?? null });
      return decodeLabelTime(target);
    } catch (err) {
      if (!(err instanceof PreconditionFailedError) || attempt >= attempts) throw err;
      // Somebody else changed the table in between: re-read and decide again.
    }
  }
}
