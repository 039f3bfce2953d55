/**
 * Partition-id math. A partition id is BigQuery's decorator text: `YYYYMMDDHH` for HOUR tables and
 * `YYYYMMDD` for DAY tables, read as a UTC instant (the start of that hour or day). DATE-column
 * DAY tables use the same ids for local dates; the functions below only ever look at the digits.
 */
import { InvalidMessageError } from '../core/errors.ts';
import { DAY_MS, FIRST_PARTITION_YEAR, HOUR_MS, isRealTime, LAST_PARTITION_YEAR, utcMs } from './civil-time.ts';

export type Granularity = 'HOUR' | 'DAY';

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** UTC instant -> 'YYYYMMDDHH' (HOUR) or 'YYYYMMDD' (DAY). */
export function partitionIdAt(ms: number, g: Granularity): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) throw new RangeError(`not a valid instant: ${ms}`);
  const day = pad(d.getUTCFullYear(), 4) + pad(d.getUTCMonth() + 1, 2) + pad(d.getUTCDate(), 2);
  return g === 'HOUR' ? day + pad(d.getUTCHours(), 2) : day;
}

interface ParsedId {
  year: number;
  month: number;
  day: number;
  hour: number;
  granularity: Granularity;
}

function parseId(id: string): ParsedId {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})?$/.exec(id);
  if (!m) throw new RangeError(`malformed partition id ${JSON.stringify(id)}: expected YYYYMMDDHH or YYYYMMDD`);
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  if (!isRealTime(year, month, day, hour))
    throw new RangeError(`malformed partition id ${JSON.stringify(id)}: not a real date/hour`);
  return { year, month, day, hour, granularity: m[4] === undefined ? 'DAY' : 'HOUR' };
}

/** UTC ms of the start of partition `id`; throws RangeError for malformed ids. */
export function partitionStart(id: string): number {
  const p = parseId(id);
  return utcMs(p.year, p.month, p.day, p.hour);
}

/** UTC ms just after partition `id` (exclusive end). */
export function partitionEnd(id: string): number {
  return partitionStart(id) + (granularityOf(id) === 'HOUR' ? HOUR_MS : DAY_MS);
}

/** The partition that follows `id` at the same granularity. */
export function nextPartitionId(id: string): string {
  return partitionIdAt(partitionEnd(id), granularityOf(id));
}

/** HOUR for 10-digit ids, DAY for 8-digit ids; RangeError otherwise. */
export function granularityOf(id: string): Granularity {
  return parseId(id).granularity;
}

/** Ids of the partitions whose start lies in [fromMs, toMs), ascending. */
export function partitionsInRange(fromMs: number, toMs: number, g: Granularity): string[] {
  const step = g === 'HOUR' ? HOUR_MS : DAY_MS;
  const ids: string[] = [];
  // Partitions are aligned to UTC hours/days, which are whole multiples of the step from the epoch.
  for (let t = Math.ceil(fromMs / step) * step; t < toMs; t += step) ids.push(partitionIdAt(t, g));
  return ids;
}

const ID_FORMS: { re: RegExp; hasHour: boolean; offset: boolean }[] = [
  { re: /^(\d{4})(\d{2})(\d{2})(\d{2})$/, hasHour: true, offset: false },
  { re: /^(\d{4})(\d{2})(\d{2})$/, hasHour: false, offset: false },
  { re: /^(\d{4})-(\d{2})-(\d{2})$/, hasHour: false, offset: false },
  {
    re: /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})$/i,
    hasHour: true,
    offset: true,
  },
];

/**
 * Accepts '2026112413', '20261124', '2026-11-24T13:00:00Z', '2026-11-24T13:00:00+09:00',
 * '2026-11-24'; returns the id for granularity g. Throws InvalidMessageError (naming the input and
 * the reason) when the input is malformed, not a real date, outside BigQuery's partition range, or
 * not aligned to g (a DAY id for an HOUR table, 13:30 for HOUR, 13:00 for DAY).
 */
export function normalizePartition(input: string, g: Granularity): string {
  const fail = (reason: string): never => {
    throw new InvalidMessageError(`invalid partition ${JSON.stringify(input)}: ${reason}`, {
      partition: input,
      reason,
    });
  };
  if (typeof input !== 'string') fail('not a string');
  const text = input.trim();
  const form = ID_FORMS.find((f) => f.re.test(text));
  if (!form) return fail('expected YYYYMMDDHH, YYYYMMDD, YYYY-MM-DD or an RFC 3339 time');
  const m = form.re.exec(text)!;
  const [year, month, day, hour] = [1, 2, 3, 4].map((i) => Number(m[i] ?? 0)) as [number, number, number, number];
  if (!isRealTime(year, month, day, hour)) fail('not a real date/hour');
  if (Number(m[5] ?? 0) >= 60 || Number(m[6] ?? 0) >= 60) fail('not a real time');
  let ms = utcMs(year, month, day, hour) + Number(m[5] ?? 0) * 60_000 + Number(m[6] ?? 0) * 1000;
  if (m[7] && Number(m[7]) !== 0) fail(`not aligned to a ${g === 'HOUR' ? 'whole hour' : 'UTC day'}`);
  if (form.offset) ms -= offsetMsOf(m[8]!, fail);
  if (!form.hasHour && g === 'HOUR') fail('a day was given for an HOUR-partitioned table; give the hour (YYYYMMDDHH)');
  if (form.hasHour && !form.offset && g === 'DAY')
    fail('an hour was given for a DAY-partitioned table; give the day (YYYYMMDD)');
  const step = g === 'HOUR' ? HOUR_MS : DAY_MS;
  if (ms % step !== 0) fail(`not aligned to a ${g === 'HOUR' ? 'whole UTC hour' : 'UTC day'}`);
  const id = partitionIdAt(ms, g);
  const y = Number(id.slice(0, 4));
  if (y < FIRST_PARTITION_YEAR || y > LAST_PARTITION_YEAR) {
    fail(`outside BigQuery's partition range ${FIRST_PARTITION_YEAR}-${LAST_PARTITION_YEAR}`);
  }
  return id;
}

function offsetMsOf(zone: string, fail: (reason: string) => never): number {
  if (zone.toUpperCase() === 'Z') return 0;
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
  const [hours, minutes] = [Number(m[2]), Number(m[3])];
  if (hours > 23 || minutes > 59) fail(`bad UTC offset ${zone}`);
  return (m[1] === '-' ? -1 : 1) * (hours * 60 + minutes) * 60_000;
}
