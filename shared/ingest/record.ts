/**
 * What one accepted event becomes: one NDJSON line, the message data the storage subscription
 * writes verbatim (TEXT format, one message per line) and the loader loads. The record's own
 * fields plus two columns tidemark sets: `event_id` (the caller's, or one assigned) and
 * `received_at` (when the function accepted it).
 */

/** Column holding the event's id: duplicates are removed by it at load. */
export const EVENT_ID_COLUMN = 'event_id';

/** Column holding the receive time (RFC 3339, UTC, milliseconds). */
export const RECEIVED_AT_COLUMN = 'received_at';

/** Caller-chosen event ids: short, printable, safe in logs and SQL literals. */
export const EVENT_ID = /^[A-Za-z0-9_.:@-]{1,128}$/;

/** The message data for an accepted record (no newline inside: JSON.stringify escapes them). */
export function messageLine(record: Record<string, unknown>, eventId: string, receivedAt: string): string {
  return JSON.stringify({ ...record, [EVENT_ID_COLUMN]: eventId, [RECEIVED_AT_COLUMN]: receivedAt });
}
