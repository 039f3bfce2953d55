/**
 * Routes object names to tables and partitions: `route(bucket, name)` for events, and per table
 * `partitionOf` (one name), `prefixesFor` (listing one partition) and `prefixesForRange` (listing
 * an audit window). The time-zone rule it applies is written down in zone-rule.ts.
 */
import type { Config, TableConfig } from '../config/types.ts';
import { ConfigError, RouteError } from '../core/errors.ts';
import {
  DAY_MS,
  FIRST_PARTITION_YEAR,
  HOUR_MS,
  instantOfLocalHour,
  isRealTime,
  LAST_PARTITION_YEAR,
} from './civil-time.ts';
import { isIgnoredObjectName } from './ignored-names.ts';
import { granularityOf, partitionIdAt } from './partition.ts';
import type { Granularity } from './partition.ts';
import { compileSource, formatToken, PatternSyntaxError } from './pattern.ts';
import type { SourceMatcher, TokenName } from './pattern.ts';
import { coveringPrefixes, localSpanOf, partitionSpan } from './prefixes.ts';
import { pathTimeRuleOf } from './zone-rule.ts';
import type { PathTimeRule } from './zone-rule.ts';

export { isIgnoredObjectName } from './ignored-names.ts';

export type RouteResult =
  | { kind: 'routed'; table: TableConfig; partition: string }
  /** No table matches, folder placeholder, temp file, state object. */
  | { kind: 'ignored'; reason: string };

/** One table's view of object names. */
export interface TableRoute {
  readonly table: TableConfig;
  readonly granularity: Granularity;
  /**
   * Partition of an object name in this table's bucket; null when the name is not this table's
   * (no match, temp file, placeholder). Throws RouteError (permanent; the message names the
   * object and the reason) when the name matches but its time is invalid (month 13, hour 24, a
   * DST gap).
   */
  partitionOf(name: string): string | null;
  /**
   * Listing prefixes (in the table's bucket) that together cover every object of partition `id`;
   * callers filter with partitionOf. As specific as the pattern's literal text allows; a regex
   * route gives its literal prefix, possibly ''.
   */
  prefixesFor(id: string): string[];
  /**
   * Few prefixes covering every partition whose start lies in [fromMs, toMs): per hour, day, month
   * or year, whichever needs the fewest list calls (see prefixes.ts), and never more than 40 units.
   * With `drift` (the auditor), also the same times written without leading zeros and the
   * folders around them, so names a producer wrote differently are seen and reported.
   */
  prefixesForRange(fromMs: number, toMs: number, options?: { drift?: boolean }): string[];
  /** One line for `config check`. */
  describe(): string;
}

export interface Router {
  /** Where an object belongs; may throw RouteError as partitionOf does. */
  route(bucket: string, name: string): RouteResult;
  table(name: string): TableRoute | undefined;
  readonly tables: TableRoute[];
}

/** Builds the routes of every table; throws ConfigError when a source does not compile. */
export function createRouter(config: Config): Router {
  const issues: { path: string; message: string }[] = [];
  const tables: TableRoute[] = [];
  config.tables.forEach((table, i) => {
    try {
      tables.push(createTableRoute(table));
    } catch (err) {
      if (!(err instanceof PatternSyntaxError)) throw err;
      issues.push({ path: `tables[${i}].source`, message: err.message });
    }
  });
  if (issues.length) throw new ConfigError(config.file, issues);
  const byName = new Map(tables.map((t) => [t.table.name, t]));
  const byBucket = new Map<string, TableRoute[]>();
  for (const t of tables) byBucket.set(t.table.source.bucket, [...(byBucket.get(t.table.source.bucket) ?? []), t]);
  const { state } = config;
  return {
    tables,
    table: (name) => byName.get(name),
    route(bucket, name) {
      if (bucket === state.bucket && name.startsWith(state.prefix)) return { kind: 'ignored', reason: 'state object' };
      const ignored = isIgnoredObjectName(name);
      if (ignored) return { kind: 'ignored', reason: ignored };
      const candidates = byBucket.get(bucket);
      if (!candidates) return { kind: 'ignored', reason: `no table reads bucket ${bucket}` };
      for (const route of candidates) {
        const partition = route.partitionOf(name);
        if (partition !== null) return { kind: 'routed', table: route.table, partition };
      }
      return { kind: 'ignored', reason: 'no table pattern matches' };
    },
  };
}

/** The route of one table; throws PatternSyntaxError when its pattern or regex does not compile. */
export function createTableRoute(table: TableConfig): TableRoute {
  const matcher = compileSource(table.source);
  const granularity: Granularity = table.partitioning.type;
  const rule = pathTimeRuleOf(table.partitioning, matcher.tokens.has('hh'));
  const zone = table.source.timeZone;
  const spanOf = (id: string) => {
    if (granularityOf(id) !== granularity)
      throw new RangeError(`partition ${id} is not a ${granularity} partition of table ${table.name}`);
    return partitionSpan(id, rule, zone);
  };
  return {
    table,
    granularity,
    partitionOf: (name) => partitionOfName(table, matcher, rule, name),
    prefixesFor(id) {
      // DAY tables list whole local days even when paths have hours: 2 listings, not 24.
      return coveringPrefixes(matcher, spanOf(id), granularity === 'HOUR' ? 'hour' : 'day');
    },
    prefixesForRange(fromMs, toMs, options = {}) {
      const span = localSpanOf(fromMs, toMs, granularity, (id) => spanOf(id));
      const partitionMs = granularity === 'HOUR' ? HOUR_MS : DAY_MS;
      return span
        ? coveringPrefixes(matcher, span, granularity === 'HOUR' ? 'hour' : 'day', {
            partitionMs,
            drift: !!options.drift,
          })
        : [];
    },
    describe: () => describeRoute(table, matcher, rule),
  };
}

/**
 * What a token value may look like: the year always has 4 digits; a month, day or hour 1 or 2
 * (padded `04` or unpadded `4`: a `{m}` pattern token or a regex `(?<mm>\d{1,2})` group).
 */
const DIGITS: Record<TokenName, { re: RegExp; text: string }> = {
  yyyy: { re: /^[0-9]{4}$/, text: '4 digits' },
  mm: { re: /^[0-9]{1,2}$/, text: '1 or 2 digits' },
  dd: { re: /^[0-9]{1,2}$/, text: '1 or 2 digits' },
  hh: { re: /^[0-9]{1,2}$/, text: '1 or 2 digits' },
};

function routeError(table: TableConfig, name: string, reason: string): RouteError {
  const shown = name.length > 300 ? `${name.slice(0, 300)}…` : name;
  return new RouteError(`gs://${table.source.bucket}/${shown}: ${reason}`, {
    table: table.name,
    bucket: table.source.bucket,
    object: name,
    reason,
  });
}

function partitionOfName(table: TableConfig, matcher: SourceMatcher, rule: PathTimeRule, name: string): string | null {
  if (isIgnoredObjectName(name)) return null;
  const found = matcher.match(name);
  if (!found) return null;
  const fail = (reason: string): never => {
    throw routeError(table, name, reason);
  };
  if (found.conflict) fail(`{${found.conflict}} appears twice with different values`);
  // The hour is required to convert a time; when present it is checked even if it is not used.
  const needed: TokenName[] =
    rule === 'utc-hour' || found.values.hh !== undefined ? ['yyyy', 'mm', 'dd', 'hh'] : ['yyyy', 'mm', 'dd'];
  const n = {} as Record<TokenName, number>;
  for (const token of needed) {
    const text = found.values[token];
    if (text === undefined) return fail(`no {${token}} in the name`);
    if (!DIGITS[token].re.test(text)) fail(`${token}=${JSON.stringify(text)} is not ${DIGITS[token].text}`);
    n[token] = Number(text);
  }
  const hour = n.hh ?? 0;
  const written = `${found.values.yyyy}-${found.values.mm}-${found.values.dd}${found.values.hh !== undefined ? ` ${found.values.hh}h` : ''}`;
  if (!isRealTime(n.yyyy, n.mm, n.dd, hour)) fail(`${written} is not a real date/hour`);
  let id: string;
  if (rule === 'local-date') {
    // Re-spelled from the numbers: an unpadded `4`/`1` is the id's `0401`.
    id = `${formatToken('yyyy', n.yyyy)}${formatToken('mm', n.mm)}${formatToken('dd', n.dd)}`;
  } else {
    const zone = table.source.timeZone;
    const ms = instantOfLocalHour({ year: n.yyyy, month: n.mm, day: n.dd, hour }, zone);
    if (ms === null) return fail(`${written} does not exist in ${zone} (skipped by a daylight-saving change)`);
    if (ms % HOUR_MS !== 0) fail(`${written} in ${zone} does not start on a whole UTC hour`);
    id = partitionIdAt(ms, table.partitioning.type);
  }
  const year = Number(id.slice(0, 4));
  if (year < FIRST_PARTITION_YEAR || year > LAST_PARTITION_YEAR) {
    fail(`${written} is outside BigQuery's partition range ${FIRST_PARTITION_YEAR}-${LAST_PARTITION_YEAR}`);
  }
  return id;
}

function describeRoute(table: TableConfig, matcher: SourceMatcher, rule: PathTimeRule): string {
  const { partitioning, spec, source } = table;
  const what = matcher.kind === 'regex' ? `regex ${source.regex}` : source.pattern;
  const column = partitioning.field
    ? `${partitioning.fieldType ?? 'column'} column ${partitioning.field}`
    : 'ingestion time';
  const id = partitioning.type === 'HOUR' ? 'YYYYMMDDHH' : 'YYYYMMDD';
  const days = rule === 'local-date' ? (source.timeZone === 'UTC' ? 'UTC' : `local (${source.timeZone})`) : 'UTC';
  return (
    `${table.name}: gs://${source.bucket}/${what} [${source.timeZone}] -> ` +
    `${spec.ref.dataset}.${spec.ref.table}$${id} (${partitioning.type} on ${column}, ${days} ${partitioning.type === 'HOUR' ? 'hours' : 'days'})`
  );
}
