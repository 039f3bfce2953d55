/**
 * The time-zone rule: how the local time written in an object's path becomes a partition id, and
 * which zone/partitioning combinations are refused because no correct mapping exists.
 *
 * Path times are local times in `source.timeZone` (default UTC).
 *
 * - HOUR partitions (ingestion time, or a TIMESTAMP/DATETIME column) are UTC hours: the local
 *   hour is converted to its UTC hour, whose id is `YYYYMMDDHH` in UTC. Asia/Seoul `dt=2026-11-25/
 *   hr=00` -> `2026112415`. A zone whose offset is not a whole number of hours (Asia/Kolkata,
 *   Australia/Adelaide) is refused: each local hour would straddle two UTC hours.
 * - DAY partitions on ingestion time or a TIMESTAMP column are UTC days. With an {hh} token the
 *   local hour is converted as above and its UTC day is the partition. Without {hh} a local day
 *   spans two UTC days whenever the zone's offset is not 0, so such zones are refused (unless the
 *   offset is 0 at every sampled time: UTC, Etc/GMT, Africa/Abidjan...).
 * - DAY partitions on a DATE (or DATETIME) column are local days: the date tokens as written are
 *   the partition `YYYYMMDD`; the zone does not shift anything.
 * - A local hour that does not exist (the DST gap, 02:00 on a spring-forward night in New York)
 *   is a RouteError. A local hour that happens twice (the fall-back fold) maps to its first
 *   occurrence: the path cannot say which one it meant, so both hours' data land in one partition.
 */
import type { Partitioning } from '../core/ports.ts';
import { formatOffset, surveyZone } from './civil-time.ts';

/**
 * `utc-hour`: local hour -> UTC instant -> partition of that instant.
 * `local-date`: the path's date is the partition id; time zone not applied.
 */
export type PathTimeRule = 'utc-hour' | 'local-date';

/** Which rule applies to a table (see the module header). */
export function pathTimeRuleOf(partitioning: Partitioning, hasHourToken: boolean): PathTimeRule {
  if (partitioning.type === 'HOUR') return 'utc-hour';
  if (partitioning.fieldType === 'DATE' || partitioning.fieldType === 'DATETIME') return 'local-date';
  return hasHourToken ? 'utc-hour' : 'local-date';
}

/** True when the partitions are local dates by design (DATE/DATETIME DAY columns). */
export function partitionsAreLocalDates(partitioning: Partitioning): boolean {
  return partitioning.type === 'DAY' && (partitioning.fieldType === 'DATE' || partitioning.fieldType === 'DATETIME');
}

/**
 * Why `zone` cannot be used for this table, or null when it can. Offsets are sampled around
 * `nowMs` (a year either side); the router re-checks each instant it converts.
 */
export function zoneProblem(
  zone: string,
  partitioning: Partitioning,
  hasHourToken: boolean,
  nowMs: number,
): string | null {
  if (partitionsAreLocalDates(partitioning)) return null;
  const survey = surveyZone(zone, nowMs);
  const offsets = survey.offsetsMinutes.map(formatOffset).join(', ');
  if (partitioning.type === 'DAY' && !hasHourToken && survey.everNonZero) {
    return (
      `${zone} is UTC${offsets}; a local day spans two UTC day partitions; ` +
      'add {hh} to the pattern, use a DATE column, or set timeZone: UTC'
    );
  }
  if (survey.notWholeHours) {
    return (
      `${zone} is UTC${offsets}, not a whole number of hours: ` +
      `a local hour would straddle two UTC ${partitioning.type === 'HOUR' ? 'hour' : 'day'} partitions`
    );
  }
  return null;
}
