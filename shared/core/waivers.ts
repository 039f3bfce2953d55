/**
 * Accepted gaps ("waivers"): partitions the data producer will never deliver, recorded by a
 * person with a reason so the auditor stops reporting them as holes and the watermark passes
 * them. One small JSON object per table beside the state objects,
 * `<state.prefix>waivers/<table>.json`, changed only by compare-and-swap on its generation (two
 * people waiving at once both land). The auditor reads it once per table per audit.
 *
 * A waiver never hides data: a waived partition whose source gains objects is audited normally.
 */
import type { StateConfig } from '../config/types.ts';
import { PreconditionFailedError } from './errors.ts';
import type { ObjectStore } from './ports.ts';

/** One accepted gap. */
export interface Waiver {
  partition: string;
  reason: string;
  /** Who recorded it (user@host). */
  by: string;
  /** When, epoch ms. */
  at: number;
}

/** The waivers object of one table. */
export interface WaiverSet {
  version: 1;
  table: string;
  waivers: Waiver[];
}

/** A waivers object that is not what tidemark writes; names the object and the field. */
export class CorruptWaiversError extends Error {
  override readonly name = 'CorruptWaiversError';
}

/** Largest number of partitions one waive or revoke may name (about 14 months of hours). */
export const MAX_WAIVER_PARTITIONS = 10_000;

export function waiversObjectName(cfg: StateConfig, table: string): string {
  return `${cfg.prefix}waivers/${table}.json`;
}

const PARTITION_ID = /^[0-9]{8}([0-9]{2})?$/;

/** Validates a waivers object read back from the store (runtime data: no zod). */
export function parseWaiverSet(text: string, where: string, table: string): WaiverSet {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CorruptWaiversError(`${where}: not JSON (${(err as Error).message})`);
  }
  const fail = (field: string, why: string): never => {
    throw new CorruptWaiversError(`${where}: ${field} ${why}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('(top level)', 'is not an object');
  const o = raw as Record<string, unknown>;
  if (o.version !== 1) fail('version', `is ${JSON.stringify(o.version)}, expected 1`);
  if (o.table !== table) fail('table', `is ${JSON.stringify(o.table)}, expected ${JSON.stringify(table)}`);
  if (!Array.isArray(o.waivers)) return fail('waivers', 'is not a list');
  const waivers = o.waivers.map((w: unknown, i): Waiver => {
    const at = `waivers[${i}]`;
    if (typeof w !== 'object' || w === null) return fail(at, 'is not an object');
    const e = w as Record<string, unknown>;
    if (typeof e.partition !== 'string' || !PARTITION_ID.test(e.partition))
      fail(`${at}.partition`, 'is not a partition id (YYYYMMDD or YYYYMMDDHH)');
    if (typeof e.reason !== 'string' || e.reason.trim() === '') fail(`${at}.reason`, 'is not a non-empty string');
    if (typeof e.by !== 'string') fail(`${at}.by`, 'is not a string');
    if (typeof e.at !== 'number' || !Number.isFinite(e.at)) fail(`${at}.at`, 'is not a time (epoch ms)');
    return { partition: e.partition as string, reason: e.reason as string, by: e.by as string, at: e.at as number };
  });
  return { version: 1, table, waivers };
}

/** The table's waivers and the generation to compare-and-swap against ('0': no object yet). */
export async function readWaivers(
  store: Pick<ObjectStore, 'read'>,
  cfg: StateConfig,
  table: string,
): Promise<{ set: WaiverSet; generation: string }> {
  const name = waiversObjectName(cfg, table);
  const found = await store.read(cfg.bucket, name);
  if (!found) return { set: { version: 1, table, waivers: [] }, generation: '0' };
  return {
    set: parseWaiverSet(found.data.toString('utf8'), `gs://${cfg.bucket}/${name}`, table),
    generation: found.generation,
  };
}

/**
 * Applies `change` to the table's waivers with compare-and-swap, re-reading when someone else
 * wrote first. Returns the set as written.
 */
export async function updateWaivers(
  store: ObjectStore,
  cfg: StateConfig,
  table: string,
  change: (waivers: Waiver[]) => Waiver[],
  attempts = 50,
): Promise<WaiverSet> {
  for (let attempt = 1; ; attempt++) {
    const { set, generation } = await readWaivers(store, cfg, table);
    const next: WaiverSet = {
      version: 1,
      table,
      waivers: change(structuredClone(set.waivers)).sort((a, b) => a.partition.localeCompare(b.partition)),
    };
    try {
      await store.write(cfg.bucket, waiversObjectName(cfg, table), JSON.stringify(next, null, 1), {
        ifGenerationMatch: generation,
        contentType: 'application/json',
      });
      return next;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError) || attempt >= attempts) throw err;
    }
  }
}

/** Records `partitions` as accepted gaps (a partition waived again gets the new reason). */
export async function addWaivers(
  store: ObjectStore,
  cfg: StateConfig,
  table: string,
  partitions: string[],
  entry: { reason: string; by: string; at: number },
): Promise<WaiverSet> {
  if (entry.reason.trim() === '') throw new RangeError('a waiver needs a reason');
  checkCount(partitions);
  const chosen = new Set(partitions);
  return updateWaivers(store, cfg, table, (ws) => [
    ...ws.filter((w) => !chosen.has(w.partition)),
    ...partitions.map((partition) => ({ partition, ...entry })),
  ]);
}

/** Removes the waivers of `partitions`; returns how many were removed. */
export async function revokeWaivers(
  store: ObjectStore,
  cfg: StateConfig,
  table: string,
  partitions: string[],
): Promise<number> {
  checkCount(partitions);
  const chosen = new Set(partitions);
  let removed = 0;
  await updateWaivers(store, cfg, table, (ws) => {
    const kept = ws.filter((w) => !chosen.has(w.partition));
    removed = ws.length - kept.length;
    return kept;
  });
  return removed;
}

function checkCount(partitions: string[]): void {
  if (partitions.length > MAX_WAIVER_PARTITIONS)
    throw new RangeError(`${partitions.length} partitions at once; at most ${MAX_WAIVER_PARTITIONS}`);
}
