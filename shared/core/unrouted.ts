/**
 * Objects no table will ever load although they sit where a table's data lives: a producer that
 * drifted from the pattern (`hr=9` for `hr=09`, `.json` for `.json.gz`, a new sub-folder) or
 * wrote a time that does not exist. The loader acknowledges their events, so without a report
 * their data would be lost silently. Deliberately ignored names (hidden files, `_SUCCESS`,
 * `_temporary/`, `*.tmp`, tidemark's state prefix) are not unrouted: writers leave them on
 * purpose.
 */
import type { StateConfig } from '../config/types.ts';
import { isIgnoredObjectName } from '../routing/ignored-names.ts';
import type { Router } from '../routing/router.ts';
import { RouteError } from './errors.ts';

/** How many unrouted names a report keeps as examples. */
export const UNROUTED_SAMPLES = 10;

/** Unrouted objects seen under one table's listing. */
export interface UnroutedReport {
  count: number;
  /** The first UNROUTED_SAMPLES, in listing order. */
  samples: { object: string; reason: string }[];
}

/** True for names tidemark skips on purpose (never worth a warning). */
export function isDeliberatelyIgnored(state: StateConfig, bucket: string, name: string): boolean {
  return (bucket === state.bucket && name.startsWith(state.prefix)) || isIgnoredObjectName(name) !== null;
}

/**
 * Why the object `name` in `bucket` is loaded by no table, or null when some table loads it or it
 * is deliberately ignored. Pure over the router.
 */
export function unroutedReason(router: Router, state: StateConfig, bucket: string, name: string): string | null {
  if (isDeliberatelyIgnored(state, bucket, name)) return null;
  try {
    const routed = router.route(bucket, name);
    return routed.kind === 'routed' ? null : routed.reason;
  } catch (err) {
    if (!(err instanceof RouteError)) throw err;
    return typeof err.fields.reason === 'string' ? err.fields.reason : err.message;
  }
}

/** Collects unrouted objects: a count and the first few names. */
export function unroutedCollector(): UnroutedReport & { add(object: string, reason: string): void } {
  const report = {
    count: 0,
    samples: [] as UnroutedReport['samples'],
    add(object: string, reason: string) {
      report.count++;
      if (report.samples.length < UNROUTED_SAMPLES) report.samples.push({ object, reason });
    },
  };
  return report;
}
