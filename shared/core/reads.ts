/**
 * What the loads of a table read from the lake per UTC day, against what the lake received that
 * day: the transfer amplification the audit summary reports (README, "Auditing"). Pure; the
 * audit gathers the inputs from reads it makes anyway (its source listing) plus one paged
 * listing of the table's change markers (status-store.ts).
 */
import type { StatusChange } from './status-store.ts';

const DAY_MS = 86_400_000;

/**
 * Days of change markers kept (and so of bytes read the audit can report): the audit prunes
 * older markers. A week of markers is at most a few thousand small objects per table (one per
 * settled job), a few listing calls.
 */
export const READS_DAYS = 7;

/** One table's lake reads on one UTC day. */
export interface DayReads {
  table: string;
  /** UTC day, YYYY-MM-DD. */
  day: string;
  /** Bytes the jobs settled that day read from the lake (their change markers' `bytes`). */
  bytesRead: number;
  /** Jobs settled that day (change markers). */
  jobs: number;
  /** Bytes of the object generations written that day (listed objects whose `updated` time falls in it). */
  newBytes: number;
  /** bytesRead / newBytes; null when nothing new was written that day. */
  amplification: number | null;
}

export const dayStartOf = (ms: number): number => Math.floor(ms / DAY_MS) * DAY_MS;
const dayId = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/**
 * The UTC days [fromMs, toMs) touches, limited to the last READS_DAYS days before `now`'s day
 * and not after it (older markers are pruned; later days have had no jobs). Epoch ms of each
 * day's start.
 */
export function readsDays(fromMs: number, toMs: number, now: number): number[] {
  const today = dayStartOf(now);
  const first = Math.max(dayStartOf(fromMs), today - READS_DAYS * DAY_MS);
  const last = Math.min(dayStartOf(Math.max(fromMs, toMs - 1)), today);
  const out: number[] = [];
  for (let d = first; d <= last; d += DAY_MS) out.push(d);
  return out;
}

/**
 * Per day of `days` (day starts, ascending): bytes read and jobs from the change markers, bytes
 * of new object generations from the listing. Markers and objects outside the days are ignored;
 * an object with no `updated` time counts nowhere.
 */
export function dailyReads(
  table: string,
  days: readonly number[],
  changes: readonly Pick<StatusChange, 'at' | 'bytes'>[],
  objects: readonly { size: number; updated?: string | undefined }[],
): DayReads[] {
  const rows = new Map(days.map((d) => [d, { bytesRead: 0, jobs: 0, newBytes: 0 }]));
  for (const c of changes) {
    const r = rows.get(dayStartOf(c.at));
    if (!r) continue;
    r.jobs++;
    r.bytesRead += c.bytes;
  }
  for (const o of objects) {
    const at = o.updated ? Date.parse(o.updated) : NaN;
    const r = Number.isFinite(at) ? rows.get(dayStartOf(at)) : undefined;
    if (r) r.newBytes += o.size;
  }
  return days.map((d) => {
    const r = rows.get(d)!;
    return {
      table,
      day: dayId(d),
      ...r,
      amplification: r.newBytes > 0 ? Math.round((r.bytesRead / r.newBytes) * 1000) / 1000 : null,
    };
  });
}
