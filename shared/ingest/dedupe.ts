/**
 * How a stream table's partition is loaded exactly once although Pub/Sub and its storage
 * subscription deliver at least once (a message can be written into two files).
 *
 * The rule, deterministic and independent of load order: an event belongs to the earliest hour
 * in which a file holds it. Loading hour P therefore keeps, per `event_id`, one row of P's files
 * (the earliest `received_at`; ties by the row), and drops every event that a file of hour P-1
 * written within the redelivery window before P also holds (P-1 keeps it). A redelivery lands
 * at most `maxDuration` (the file it was first written to stays open that long) plus the ack
 * deadline plus a minute of retry backoff after its first file's name time, so only P-1's files
 * named in that window ("the tail") can share events with P.
 *
 * The engine loads P's files and the tail into two staging tables and copies P's rows with
 * `dedupe` (a query job writing `table$P` in BigQuery, the same SQL in DuckDB): claims.ts.
 */
import type { StreamConfig } from '../config/types.ts';
import { STREAM_ACK_DEADLINE_SECONDS } from '../deploy/streams.ts';
import { formatFileDatetime } from './file-names.ts';
import { EVENT_ID_COLUMN, RECEIVED_AT_COLUMN } from './record.ts';

/** Dedupe key and order of every stream table. */
export const DEDUPE = { key: EVENT_ID_COLUMN, order: RECEIVED_AT_COLUMN } as const;

/** Retry backoff of a redelivery on top of the ack deadline (Pub/Sub's minimum backoff is 10 s). */
const BACKOFF_MARGIN_MS = 60_000;

/** The stream whose files load into `table`, if any. */
export function streamForTable(streams: readonly StreamConfig[], table: string): StreamConfig | undefined {
  return streams.find((s) => s.table === table);
}

/** How long after a file's name time a redelivered copy of one of its messages can be named. */
export function redeliveryWindowMs(stream: StreamConfig): number {
  return stream.files.maxDurationMs + STREAM_ACK_DEADLINE_SECONDS * 1000 + BACKOFF_MARGIN_MS;
}

/**
 * The files of hour P-1 that can share events with hour P: named within the redelivery window
 * before `partitionStartMs` (P's start). `skip` holds "name\0generation" keys to leave out (files
 * P-1 quarantined: they load nowhere). A name's time text runs from the year down in fixed widths
 * (config check), so comparing that text compares the times: no parsing.
 */
export function tailFiles<T extends { name: string; generation: string }>(
  stream: StreamConfig,
  previousHour: readonly T[],
  partitionStartMs: number,
  skip: ReadonlySet<string> = new Set(),
): T[] {
  const { prefix, datetimeFormat } = stream.files;
  const from = formatFileDatetime(datetimeFormat, partitionStartMs - redeliveryWindowMs(stream));
  const to = formatFileDatetime(datetimeFormat, partitionStartMs);
  return previousHour.filter((f) => {
    const time = f.name.slice(prefix.length, prefix.length + from.length);
    return (
      f.name.startsWith(prefix) &&
      f.name[prefix.length + from.length] === '_' &&
      time >= from &&
      time < to &&
      !skip.has(`${f.name}\u0000${f.generation}`)
    );
  });
}
