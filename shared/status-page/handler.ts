/**
 * The status page's HTTP handler, shared by the deployed `statusPage` function and `npm start`:
 *
 *   GET  /                 the page (plain HTML)          GET /app.js   its one JS module
 *   GET  /api/status       the same report as `tidemark status --json`, plus who may act
 *   GET  /api/partition    one cell's details (?table=&partition=)
 *   POST /api/backfill     {table, partition | from+to, force?, dryRun?}: the CLI's `reload` /
 *                          `backfill`; a dry run returns the messages it would publish
 *
 * Actions need a JSON body (a cross-site form cannot send one without a preflight, which is
 * never answered) and a caller allowed by access.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BackfillMessage } from '../core/audit.ts';
import { InvalidMessageError } from '../core/errors.ts';
import type { Logger } from '../log.ts';
import { normalizePartition, partitionEnd, partitionStart, partitionsInRange } from '../routing/partition.ts';
import { readPartitionDetail, readStatusReport, statusTables } from '../core/status-read.ts';
import type { DeadLetter, StatusDeps } from '../core/status-read.ts';
import { decodeRuns } from '../core/status-store.ts';
import { localPathTime } from '../core/status.ts';
import type { TableStatus } from '../core/status.ts';
import { callerEmail, mayAct } from './access.ts';
import type { PageAccess } from './access.ts';

export interface StatusPageDeps {
  status: StatusDeps;
  deadLetters: () => Promise<DeadLetter[]>;
  /** Publishes backfill messages to the backfill topic (locally: and waits until they are handled). */
  publishBackfills: (messages: BackfillMessage[]) => Promise<void>;
  access: PageAccess;
  log: Logger;
}

/** Most partitions one backfill from the page may name (the CLI has no such cap). */
export const MAX_PAGE_BACKFILL = 2000;

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

type Req = IncomingMessage & { body?: unknown };

/** Actions are a few fields; anything larger is refused unread. */
const MAX_BODY = 16_384;

async function jsonBody(req: Req): Promise<Record<string, unknown>> {
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? ''))
    throw new HttpError(415, 'actions take a JSON body (Content-Type: application/json)');
  let body = req.body;
  if (body === undefined || Buffer.isBuffer(body) || typeof body === 'string') {
    let text = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : '';
    if (body === undefined) {
      for await (const chunk of req) {
        text += chunk;
        if (text.length > MAX_BODY) throw new HttpError(413, `the body is over ${MAX_BODY} bytes`);
      }
    }
    try {
      body = JSON.parse(text || '{}');
    } catch {
      throw new HttpError(400, 'the body is not JSON');
    }
  }
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw new HttpError(400, 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

/** The class the status shows for a partition (`none` outside the audited window). */
export function classOf(t: TableStatus, partition: string): string {
  if (!t.window || partition < t.window.from || partition > t.window.to) return 'not audited';
  const g = t.granularity;
  const i = partitionsInRange(partitionStart(t.window.from), partitionStart(partition), g).length;
  return decodeRuns(t.runs)[i] ?? 'not audited';
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader(
    'Content-Security-Policy',
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
  );
  res.end(body);
}

const sendJson = (res: ServerResponse, status: number, value: unknown) =>
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));

async function backfill(deps: StatusPageDeps, body: Record<string, unknown>) {
  const str = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : undefined);
  const tableName = str('table');
  if (!tableName) throw new InvalidMessageError('give "table"', {});
  const table = statusTables(deps.status.config, [tableName])[0]!;
  const g = table.partitioning.type;
  const partition = str('partition');
  let ids: string[];
  try {
    if (partition) ids = [normalizePartition(partition, g)];
    else {
      const from = str('from');
      const to = str('to');
      if (!from || !to) throw new Error('give "partition", or "from" and "to"');
      const a = normalizePartition(from, g);
      const b = normalizePartition(to, g);
      if (b < a) throw new Error(`"to" ${to} is before "from" ${from}`);
      ids = partitionsInRange(partitionStart(a), partitionEnd(b), g);
    }
  } catch (err) {
    throw new InvalidMessageError((err as Error).message, { table: tableName });
  }
  if (ids.length > MAX_PAGE_BACKFILL)
    throw new InvalidMessageError(
      `${ids.length} partitions: the page backfills at most ${MAX_PAGE_BACKFILL} at once (use \`tidemark backfill\`)`,
      { table: tableName },
    );
  const force = partition ? body.force !== false : body.force === true;
  const reason = partition && force ? 'reload' : force ? 'manual-force' : 'manual';
  const messages: BackfillMessage[] = ids.map((p) => ({ table: table.name, partition: p, force, reason }));
  const current = (await readStatusReport(deps.status, { tables: [table.name] })).tables[0]!;
  const preview = messages.map((m) => ({
    ...m,
    localTime: localPathTime(m.partition, table.source.timeZone),
    class: classOf(current, m.partition),
  }));
  if (body.dryRun !== false) return { dryRun: true, topic: deps.status.config.topics.backfill, messages: preview };
  await deps.publishBackfills(messages);
  deps.log.notice(`status page: ${messages.length} backfill message(s) published`, {
    table: table.name,
    partitions: messages.length,
    force,
    reason,
  });
  return { dryRun: false, topic: deps.status.config.topics.backfill, published: messages.length, messages: preview };
}

/** The handler: (req, res) as Node's http server and functions-framework's `http` both call it. */
export function createStatusPageHandler(deps: StatusPageDeps): (req: Req, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://status.local');
    const caller = callerEmail(req.headers);
    const canAct = mayAct(deps.access, caller);
    try {
      // The page's markup and script load only when asked for: the deployed bundle carries them
      // in lazy files of their own (scripts/build/project-chunks.ts), not in index.js.
      if (req.method === 'GET' && (url.pathname === '/' || url.pathname === '/index.html'))
        return send(res, 200, 'text/html; charset=utf-8', (await import('./index-html.ts')).INDEX_HTML);
      if (req.method === 'GET' && url.pathname === '/app.js')
        return send(res, 200, 'text/javascript; charset=utf-8', (await import('./app-js.ts')).APP_JS);
      if (req.method === 'GET' && url.pathname === '/api/status') {
        const tables = url.searchParams.getAll('table');
        const report = await readStatusReport(deps.status, {
          ...(tables.length ? { tables } : {}),
          deadLetters: deps.deadLetters,
        });
        return sendJson(res, 200, { ...report, caller, canAct, mode: deps.access.mode });
      }
      if (req.method === 'GET' && url.pathname === '/api/partition') {
        return sendJson(
          res,
          200,
          await readPartitionDetail(
            deps.status,
            url.searchParams.get('table') ?? '',
            url.searchParams.get('partition') ?? '',
          ),
        );
      }
      if (req.method === 'POST' && url.pathname === '/api/backfill') {
        const body = await jsonBody(req);
        if (!canAct)
          throw new HttpError(
            403,
            `${caller ?? 'an unidentified caller'} may read but not act: operators are listed in statusPage.operators`,
          );
        return sendJson(res, 200, await backfill(deps, body));
      }
      throw new HttpError(404, `no such page: ${req.method} ${url.pathname}`);
    } catch (err) {
      if (err instanceof HttpError) return sendJson(res, err.status, { error: err.message });
      if (err instanceof InvalidMessageError) return sendJson(res, 400, { error: err.message });
      deps.log.error(`status page: ${(err as Error).message}`, { path: url.pathname });
      return sendJson(res, 500, { error: (err as Error).message });
    }
  };
}
