/**
 * Calendar and time-zone arithmetic on plain numbers, with Intl as the only source of zone rules:
 * wall-clock fields of an instant in a zone, the instant of a local wall-clock hour (with DST
 * gaps and folds made explicit), and a survey of a zone's offsets for config validation.
 */

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** BigQuery only partitions dates in this range; anything outside goes to __UNPARTITIONED__. */
export const FIRST_PARTITION_YEAR = 1960;
export const LAST_PARTITION_YEAR = 2159;

/** A wall-clock hour: what a path's {yyyy}{mm}{dd}{hh} say. */
export interface CivilHour {
  year: number;
  month: number;
  day: number;
  hour: number;
}

/** UTC ms of a calendar time read as UTC; unlike Date.UTC, years 0-99 are not moved to 19xx. */
export function utcMs(year: number, month: number, day: number, hour = 0): number {
  const date = new Date(Date.UTC(2000, month - 1, day, hour));
  date.setUTCFullYear(year, month - 1, day);
  return date.getTime();
}

/** The calendar fields of a UTC ms (the inverse of utcMs). */
export function civilOf(ms: number): CivilHour {
  const d = new Date(ms);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours() };
}

/** True when year-month-day hour is a real calendar time (no 2026-02-30, no hour 24). */
export function isRealTime(year: number, month: number, day: number, hour = 0): boolean {
  if (![year, month, day, hour].every(Number.isInteger)) return false;
  if (month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23) return false;
  const c = civilOf(utcMs(year, month, day, hour));
  return c.year === year && c.month === month && c.day === day;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/**
 * True when Intl knows `zone` as an IANA name. Offset strings such as "+09:00", which newer
 * engines also accept, are refused: they carry no DST rules and are easy to get wrong.
 */
export function isValidTimeZone(zone: string): boolean {
  if (!/^[A-Za-z]/.test(zone)) return false;
  // The UTC names are IANA links every engine knows; answered without Intl, whose first formatter
  // loads the zone data (about 10 ms of a `tidemark config check`).
  if (ALWAYS_UTC.has(zone)) return true;
  try {
    formatterFor(zone);
    return true;
  } catch {
    return false;
  }
}

/** Zones whose offset is 0 at every instant: answered without Intl. */
const ALWAYS_UTC = new Set([
  'UTC',
  'Etc/UTC',
  'Etc/UCT',
  'Etc/Universal',
  'Etc/Zulu',
  'Etc/GMT',
  'Etc/GMT0',
  'Etc/GMT+0',
  'Etc/GMT-0',
  'GMT',
  'Universal',
  'Zulu',
]);
/** Per zone: UTC hour index -> the zone's offset through that whole hour, or NaN when it changes inside it. */
const hourOffsets = new Map<string, Map<number, number>>();
/** Hours kept per zone before the cache starts over (about 11 years; a few MiB at most). */
const MAX_CACHED_HOURS = 100_000;

/**
 * Offset of `zone` from UTC at instant `ms`, in ms (Seoul: +9h).
 *
 * Intl's formatToParts is slow (it dominated an audit's CPU), so offsets are cached per zone and
 * UTC hour: an hour whose first and last second have the same offset has that offset throughout
 * (no zone changes its offset twice within an hour). An hour with a transition inside it
 * (Lord Howe's 02:00 at +10:30 is 15:30 UTC) is marked and answered exactly, second by second.
 */
export function offsetAt(ms: number, zone: string): number {
  if (ALWAYS_UTC.has(zone)) return 0;
  const hour = Math.floor(ms / HOUR_MS);
  let byHour = hourOffsets.get(zone);
  if (!byHour) hourOffsets.set(zone, (byHour = new Map()));
  let offset = byHour.get(hour);
  if (offset === undefined) {
    const first = intlOffsetAt(hour * HOUR_MS, zone);
    offset = first === intlOffsetAt(hour * HOUR_MS + HOUR_MS - 1000, zone) ? first : NaN;
    if (byHour.size >= MAX_CACHED_HOURS) byHour.clear();
    byHour.set(hour, offset);
  }
  return Number.isNaN(offset) ? intlOffsetAt(ms, zone) : offset;
}

/**
 * en-US's rendering of formatterFor's fields, "11/14/2023 AD, 17:13:20": reading the numbers from
 * `format()` costs a third of `formatToParts()` (no part objects).
 */
const RENDERED = /^(\d+)\/(\d+)\/(\d+) (AD|BC), (\d+):(\d+):(\d+)$/;

/** The wall-clock time (as UTC ms) formatterFor rendered as `text`; null for any other rendering (another ICU's pattern). */
export function renderedWall(text: string): number | null {
  const m = RENDERED.exec(text);
  if (!m) return null;
  const year = m[4] === 'BC' ? 1 - Number(m[3]) : Number(m[3]);
  return utcMs(year, Number(m[1]), Number(m[2]), Number(m[5])) + Number(m[6]) * 60_000 + Number(m[7]) * 1000;
}

/** The offset as Intl states it, at the whole second of `ms`: the source of truth offsetAt caches. */
function intlOffsetAt(ms: number, zone: string): number {
  const whole = Math.floor(ms / 1000) * 1000;
  const rendered = renderedWall(formatterFor(zone).format(whole));
  if (rendered !== null) return rendered - whole;
  const parts = formatterFor(zone).formatToParts(new Date(whole));
  const get = (type: Intl.DateTimeFormatPartTypes): number => Number(parts.find((p) => p.type === type)?.value);
  const bc = parts.find((p) => p.type === 'era')?.value === 'BC';
  const year = bc ? 1 - get('year') : get('year');
  const wall = utcMs(year, get('month'), get('day'), get('hour')) + get('minute') * 60_000 + get('second') * 1000;
  return wall - whole;
}

/** Wall-clock hour of instant `ms` in `zone` (minutes dropped). */
export function localHourAt(ms: number, zone: string): CivilHour {
  return civilOf(ms + offsetAt(ms, zone));
}

/**
 * The instant a local wall-clock hour starts in `zone`. `null` when that hour does not exist (a
 * DST gap: 02:00 on a spring-forward night in New York). In a fold (01:00 on a fall-back night
 * happens twice) the earlier instant is returned: a path names the hour, not which of the two.
 */
export function instantOfLocalHour(t: CivilHour, zone: string): number | null {
  const wall = utcMs(t.year, t.month, t.day, t.hour);
  // Transitions are months apart, so the offsets a day either side are the only candidates.
  const candidates = [offsetAt(wall - DAY_MS, zone), offsetAt(wall + DAY_MS, zone)].map((o) => wall - o);
  const valid = candidates.filter((ms) => ms + offsetAt(ms, zone) === wall).sort((a, b) => a - b);
  return valid[0] ?? null;
}

/** What the offsets of a zone look like around an instant (see surveyZone). */
export interface ZoneSurvey {
  /** Some sampled offset is not 0. */
  everNonZero: boolean;
  /** Some sampled offset is not a whole number of hours (Asia/Kolkata +5:30, Lord Howe +10:30). */
  notWholeHours: boolean;
  /** The distinct offsets seen, in minutes, ascending. */
  offsetsMinutes: number[];
}

/**
 * Samples a zone's offset on the 1st and 15th of every month from a year before `aroundMs` to a
 * year after: enough to see both sides of any DST rule in force now.
 */
export function surveyZone(zone: string, aroundMs: number): ZoneSurvey {
  const now = civilOf(aroundMs);
  const seen = new Set<number>();
  for (let i = -13; i <= 13; i++) {
    for (const day of [1, 15]) {
      const ms = utcMs(now.year, now.month + i, day, 12);
      seen.add(offsetAt(ms, zone) / 60_000);
    }
  }
  const offsetsMinutes = [...seen].sort((a, b) => a - b);
  return {
    everNonZero: offsetsMinutes.some((m) => m !== 0),
    notWholeHours: offsetsMinutes.some((m) => m % 60 !== 0),
    offsetsMinutes,
  };
}

/** "+09:00" style text for an offset in minutes. */
export function formatOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}
