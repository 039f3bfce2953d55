/**
 * The ingestion endpoint's core, independent of the HTTP server it runs in:
 * `POST /v1/streams/<stream>/events` with a JSON array or NDJSON body (gzip accepted). Each
 * record is validated against the stream's table schema; accepted records are published, one
 * message per record, to the stream's topic with their `event_id` (the caller's, or one
 * assigned) and `received_at`. The answer says how many were accepted and, for each rejected
 * record, its index and the reason: 200 all accepted, 207 some, 400 none (or a body that cannot
 * be read), 404 unknown stream, 405 not POST, 413 over a limit, 415 wrong content type or
 * encoding, 503 publishing failed (nothing is acknowledged: retry with the same event ids).
 */
import { randomUUID } from 'node:crypto';
import type { StreamConfig } from '../config/types.ts';
import { errorMessage } from '../core/errors.ts';
import type { Bus, Clock } from '../core/ports.ts';
import type { Logger } from '../log.ts';
import { BodyError, bodyFormat, decodeBody, parseRecords } from './body.ts';
import { EVENT_ID_COLUMN, RECEIVED_AT_COLUMN } from './record.ts';
import { validateRecord } from './validate.ts';

export interface IngestRequest {
  method: string;
  /** Path below the function's root: `/v1/streams/locations/events`. */
  path: string;
  contentType?: string;
  /** Content-Encoding as sent; ignored when `decoded` (the platform inflated the body already). */
  contentEncoding?: string;
  body: Buffer;
  decoded?: boolean;
}

export interface RejectedRecord {
  index: number;
  reason: string;
}

export interface IngestResponse {
  status: number;
  headers?: Record<string, string>;
  body: { stream?: string; accepted: number; rejected: RejectedRecord[]; eventIds?: string[]; error?: string };
}

export interface IngestDeps {
  streams: readonly StreamConfig[];
  bus: Pick<Bus, 'publish'>;
  clock: Pick<Clock, 'now'>;
  log: Logger;
  /** Assigns ids to records that carry none (default: random UUIDs). */
  newEventId?: () => string;
}

/** At most this many rejections are itemised in one answer (the count is always exact). */
export const MAX_REJECTIONS_LISTED = 1000;

const ROUTE = /^\/v1\/streams\/([^/]+)\/events\/?$/;

const fail = (status: number, error: string, extra: Record<string, string> = {}): IngestResponse => ({
  status,
  ...(Object.keys(extra).length ? { headers: extra } : {}),
  body: { accepted: 0, rejected: [], error },
});

/** Handles one request; never throws (a publish failure is a 503). */
export async function handleIngest(deps: IngestDeps, req: IngestRequest): Promise<IngestResponse> {
  const match = ROUTE.exec(req.path);
  if (!match)
    return fail(404, `no such endpoint ${JSON.stringify(req.path.slice(0, 200))}: POST /v1/streams/<stream>/events`);
  let name: string;
  try {
    name = decodeURIComponent(match[1]!);
  } catch {
    return fail(404, 'the stream name is not valid URL encoding');
  }
  const stream = deps.streams.find((s) => s.name === name);
  if (!stream)
    return fail(
      404,
      `unknown stream ${JSON.stringify(name.slice(0, 100))}; streams: ${deps.streams.map((s) => s.name).join(', ') || '(none configured)'}`,
    );
  if (req.method !== 'POST') return fail(405, `use POST, not ${req.method}`, { allow: 'POST' });

  let items;
  try {
    const format = bodyFormat(req.contentType);
    const text = req.decoded ? req.body : decodeBody(req.body, req.contentEncoding, stream.limits);
    items = parseRecords(text, format, stream.limits);
  } catch (err) {
    if (err instanceof BodyError) return fail(err.status, err.message);
    throw err;
  }
  if (items.length === 0) return fail(400, 'the body holds no records');

  const receivedAt = new Date(deps.clock.now()).toISOString();
  const newId = deps.newEventId ?? randomUUID;
  const rejected: RejectedRecord[] = [];
  const messages: Record<string, unknown>[] = [];
  const eventIds: string[] = [];
  items.forEach((item, index) => {
    if ('error' in item) return void rejected.push({ index, reason: item.error });
    const v = validateRecord(stream.schema, item.value, stream.unknownFields);
    if (!v.ok) return void rejected.push({ index, reason: v.reason });
    const eventId = v.eventId ?? newId();
    eventIds.push(eventId);
    messages.push({ ...v.record, [EVENT_ID_COLUMN]: eventId, [RECEIVED_AT_COLUMN]: receivedAt });
  });
  const listed = rejected.slice(0, MAX_REJECTIONS_LISTED);
  const log = deps.log.child({ stream: stream.name, topic: stream.topic });
  if (messages.length === 0) {
    log.info('ingest request refused: no valid record', {
      rejected: rejected.length,
      firstReason: rejected[0]?.reason,
    });
    return {
      status: 400,
      body: {
        stream: stream.name,
        accepted: 0,
        rejected: listed,
        error: `none of the ${items.length} record(s) is valid`,
      },
    };
  }
  try {
    await deps.bus.publish(stream.topic, messages, { stream: stream.name });
  } catch (err) {
    log.error('publishing accepted records failed; the caller is told to retry', {
      records: messages.length,
      error: errorMessage(err),
    });
    return fail(
      503,
      `could not publish to the stream's topic (${errorMessage(err).slice(0, 200)}); retry the request (records that carry an event_id are stored once)`,
      { 'retry-after': '5' },
    );
  }
  log.info('events accepted', { accepted: messages.length, rejected: rejected.length });
  return {
    status: rejected.length ? 207 : 200,
    body: { stream: stream.name, accepted: messages.length, rejected: listed, eventIds },
  };
}
