/**
 * Listing prefixes for a stretch of local (path) time. A table's partitions map to spans of the
 * wall-clock time written in paths; a span is covered by the pattern's literal prefix filled with
 * the tokens of each hour, day, month or year in it. Coarser units mean fewer listings but more
 * names to page through and skip; a range picks the unit with the fewest expected list calls.
 */
import { civilOf, DAY_MS, HOUR_MS, offsetAt, utcMs } from './civil-time.ts';
import { partitionEnd, partitionIdAt, partitionStart } from './partition.ts';
import type { Granularity } from './partition.ts';
import { TOKEN_NAMES } from './pattern.ts';
import type { SourceMatcher, TokenValues } from './pattern.ts';
import type { PathTimeRule } from './zone-rule.ts';

/** Local wall-clock time as UTC-ms labels (a Seoul 09:00 is labelled 09:00Z), [start, end). */
export interface LocalSpan {
  start: number;
  end: number;
}

export type Level = 'hour' | 'day' | 'month' | 'year';

const LEVELS: Level[] = ['hour', 'day', 'month', 'year'];

/** Prefix lists never grow past this, whatever the range. */
export const MAX_PREFIXES = 40;

/** The local time whose paths can hold objects of partition `id`. */
export function partitionSpan(id: string, rule: PathTimeRule, zone: string): LocalSpan {
  const start = partitionStart(id);
  const end = partitionEnd(id);
  if (rule === 'local-date') return { start, end };
  let lo = Infinity;
  let hi = -Infinity;
  // Sample every UTC hour: across a DST change the local labels are not one contiguous shift.
  for (let t = start; t < end; t += HOUR_MS) {
    const label = t + offsetAt(t, zone);
    lo = Math.min(lo, Math.floor(label / HOUR_MS) * HOUR_MS);
    hi = Math.max(hi, Math.ceil((label + HOUR_MS) / HOUR_MS) * HOUR_MS);
  }
  return { start: lo, end: hi };
}

/** The local span of all partitions whose start lies in [fromMs, toMs), or null if there are none. */
export function localSpanOf(
  fromMs: number,
  toMs: number,
  g: Granularity,
  spanOf: (id: string) => LocalSpan,
): LocalSpan | null {
  const step = g === 'HOUR' ? HOUR_MS : DAY_MS;
  const first = Math.ceil(fromMs / step) * step;
  const last = (Math.ceil(toMs / step) - 1) * step;
  if (!(first <= last)) return null;
  return { start: spanOf(partitionIdAt(first, g)).start, end: spanOf(partitionIdAt(last, g)).end };
}

function floorTo(level: Level, ms: number): number {
  const c = civilOf(ms);
  if (level === 'hour') return utcMs(c.year, c.month, c.day, c.hour);
  if (level === 'day') return utcMs(c.year, c.month, c.day);
  if (level === 'month') return utcMs(c.year, c.month, 1);
  return utcMs(c.year, 1, 1);
}

function nextUnit(level: Level, ms: number): number {
  const c = civilOf(ms);
  if (level === 'hour') return ms + HOUR_MS;
  if (level === 'day') return utcMs(c.year, c.month, c.day + 1);
  if (level === 'month') return utcMs(c.year, c.month + 1, 1);
  return utcMs(c.year + 1, 1, 1);
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

function valuesOf(level: Level, ms: number): TokenValues {
  const c = civilOf(ms);
  const values: TokenValues = { yyyy: pad(c.year, 4) };
  if (level !== 'year') values.mm = pad(c.month, 2);
  if (level === 'day' || level === 'hour') values.dd = pad(c.day, 2);
  if (level === 'hour') values.hh = pad(c.hour, 2);
  return values;
}

/** Unit starts of `level` overlapping the span, or null when there are more than MAX_PREFIXES. */
function unitsOf(level: Level, span: LocalSpan): number[] | null {
  const units: number[] = [];
  for (let t = floorTo(level, span.start); t < span.end; t = nextUnit(level, t)) {
    if (units.length === MAX_PREFIXES) return null;
    units.push(t);
  }
  return units;
}

/** Sorted, without duplicates and without prefixes another one already covers. */
function minimal(prefixes: string[]): string[] {
  const sorted = [...new Set(prefixes)].sort();
  const kept: string[] = [];
  for (const p of sorted) if (!kept.some((k) => p.startsWith(k))) kept.push(p);
  return kept;
}

function commonPrefix(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return a.slice(0, i);
}

/**
 * Prefixes for one unit's token values. With `drift`, also what a producer who drifted from the
 * pattern would have written for the same time, so the auditor sees it: each token written with a
 * leading zero again without it (`hr=09/` -> also `hr=9`, `dt=2026-12-01/` -> also `dt=2026-12-1`,
 * which also covers days 10-19: a few more names, no more calls per unit), and a trailing literal
 * with no digits cut back to its folder (`dt=2026-11-24/hr=` -> `dt=2026-11-24/`: stray files
 * beside the hour folders). Broader prefixes only cost names to page through; callers filter.
 */
function unitPrefixes(matcher: SourceMatcher, values: TokenValues, drift: boolean): string[] {
  const full = matcher.prefixWith(values);
  if (!drift) return [full];
  const folder = full.slice(0, full.lastIndexOf('/') + 1);
  const out = [/[0-9]/.test(full.slice(folder.length)) ? full : folder];
  for (const token of TOKEN_NAMES) {
    const value = values[token];
    if (value === undefined || !value.startsWith('0') || value.length < 2) continue;
    const { [token]: _omitted, ...others } = values;
    const before = matcher.prefixWith(others);
    // Only when the prefix really stops at this token (not at a wildcard or another token first).
    if (full.startsWith(before + value)) out.push(before + value.replace(/^0+(?=.)/, ''));
  }
  return out;
}

/**
 * What a range listing is assumed to meet per partition when choosing a unit. A listing costs one
 * call per prefix plus one per 1,000 names; at 10 objects per partition, a year of hourly
 * partitions is listed per month (13 prefixes) and two days per day (2-3 prefixes).
 */
const ASSUMED_OBJECTS_PER_PARTITION = 10;
const NAMES_PER_PAGE = 1000;

/**
 * Prefixes covering every path time in `span`. Without `partitionMs`, one per `finest` unit. With
 * it (a range listing), the unit from `finest` up with the fewest expected list calls, among those
 * giving at most MAX_PREFIXES; past that many years, the prefix common to the first and last year.
 * `drift` widens each unit's prefix to what a drifted producer would write (see unitPrefixes).
 */
export function coveringPrefixes(
  matcher: SourceMatcher,
  span: LocalSpan,
  finest: Level,
  options: { partitionMs?: number; drift?: boolean } = {},
): string[] {
  if (matcher.kind === 'regex') return [matcher.literalPrefix];
  const prefixesAt = (level: Level, units: number[]): string[] =>
    minimal(units.flatMap((t) => unitPrefixes(matcher, valuesOf(level, t), !!options.drift)));
  const { partitionMs } = options;
  if (partitionMs === undefined) return prefixesAt(finest, unitsOf(finest, span) ?? []);
  let best: { level: Level; units: number[]; calls: number } | undefined;
  for (const level of LEVELS.slice(LEVELS.indexOf(finest))) {
    const units = unitsOf(level, span);
    if (!units) continue;
    const covered = nextUnit(level, units[units.length - 1]!) - units[0]!;
    const calls = units.length + ((covered / partitionMs) * ASSUMED_OBJECTS_PER_PARTITION) / NAMES_PER_PAGE;
    if (!best || calls < best.calls) best = { level, units, calls };
  }
  if (best) return prefixesAt(best.level, best.units);
  const first = matcher.prefixWith(valuesOf('year', span.start));
  const last = matcher.prefixWith(valuesOf('year', span.end - 1));
  return [commonPrefix(first, last)];
}
