/**
 * Reads an ingestion request body: a JSON array of records, or NDJSON (one record per line),
 * optionally gzip-compressed (`Content-Encoding: gzip`). Limits are enforced on the bytes as
 * sent and again on the decoded bytes (a small gzip body can inflate a thousandfold), and on
 * the number of records. A line that is not JSON is one rejected record (its index and the
 * parser's reason); a JSON array body that does not parse is refused as a whole.
 */
import { gunzipSync } from 'node:zlib';

export type BodyFormat = 'json' | 'ndjson';

export interface BodyLimits {
  /** Bytes, before and after decoding. */
  maxBodyBytes: number;
  maxRecords: number;
}

/** One item of the body: a parsed value, or why its line could not be parsed. */
export type BodyItem = { value: unknown } | { error: string };

/** Why a request is refused as a whole, with its HTTP status. */
export class BodyError extends Error {
  readonly status: 400 | 413 | 415;
  constructor(status: 400 | 413 | 415, message: string) {
    super(message);
    this.name = 'BodyError';
    this.status = status;
  }
}

/** The format a Content-Type names, or a 415. */
export function bodyFormat(contentType: string | undefined): BodyFormat {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json') return 'json';
  if (
    type === 'application/x-ndjson' ||
    type === 'application/ndjson' ||
    type === 'application/jsonl' ||
    type === 'application/jsonlines'
  )
    return 'ndjson';
  throw new BodyError(
    415,
    `unsupported content type ${JSON.stringify(contentType ?? '')}: send application/json (an array of records) or application/x-ndjson (one record per line)`,
  );
}

/**
 * Decodes the body bytes as sent. `encoding` is the Content-Encoding header; `identity` when the
 * platform has already decoded it (functions-framework inflates gzip itself).
 */
export function decodeBody(bytes: Buffer, encoding: string | undefined, limits: BodyLimits): Buffer {
  const tooLarge = (what: string) =>
    new BodyError(
      413,
      `${what} is larger than the limit of ${limits.maxBodyBytes} bytes (limits.maxBodyBytes); send fewer records per request`,
    );
  if (bytes.length > limits.maxBodyBytes) throw tooLarge('the request body');
  const enc = (encoding ?? 'identity').trim().toLowerCase();
  if (enc === 'identity' || enc === '') return bytes;
  if (enc !== 'gzip' && enc !== 'x-gzip')
    throw new BodyError(415, `unsupported content encoding ${JSON.stringify(encoding)}: send gzip or nothing`);
  try {
    // maxOutputLength stops inflating at the limit instead of after the damage.
    return gunzipSync(bytes, { maxOutputLength: limits.maxBodyBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError)
      throw tooLarge('the decompressed body');
    throw new BodyError(400, `the body is not valid gzip: ${(err as Error).message}`);
  }
}

/** The records of a decoded body. */
export function parseRecords(text: Buffer, format: BodyFormat, limits: BodyLimits): BodyItem[] {
  if (text.length > limits.maxBodyBytes)
    throw new BodyError(
      413,
      `the decompressed body is larger than the limit of ${limits.maxBodyBytes} bytes (limits.maxBodyBytes); send fewer records per request`,
    );
  const tooMany = (n: number) =>
    new BodyError(413, `${n} records is more than the limit of ${limits.maxRecords} per request (limits.maxRecords)`);
  let source: string;
  try {
    source = new TextDecoder('utf-8', { fatal: true }).decode(text);
  } catch {
    throw new BodyError(400, 'the body is not valid UTF-8');
  }
  if (format === 'json') {
    let value: unknown;
    try {
      value = JSON.parse(source);
    } catch (err) {
      throw new BodyError(400, `the body is not JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(value))
      throw new BodyError(400, 'the body must be a JSON array of records (or send application/x-ndjson)');
    if (value.length > limits.maxRecords) throw tooMany(value.length);
    return value.map((v: unknown) => ({ value: v }));
  }
  const items: BodyItem[] = [];
  for (const raw of source.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    if (items.length >= limits.maxRecords) throw tooMany(items.length + 1);
    try {
      items.push({ value: JSON.parse(line) as unknown });
    } catch (err) {
      items.push({ error: `not JSON: ${(err as Error).message}` });
    }
  }
  return items;
}
