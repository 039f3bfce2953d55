/**
 * A local stand-in for a Google REST API: records each request and answers from a handler, so
 * the real client libraries (and google-auth-library's `request`) talk to 127.0.0.1 only. Auth
 * is an OAuth2Client holding a fixed token: nothing looks for credentials or a metadata server.
 */
import http from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OAuth2Client } from 'google-auth-library';

export interface Recorded {
  method: string;
  /** Decoded path, without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: any;
}

export interface Reply {
  status?: number;
  body?: unknown;
}

export type Handler = (req: Recorded) => Reply | undefined;

export class FakeApi {
  readonly requests: Recorded[] = [];
  /** Tried in order; the first that returns a reply answers. Unhandled requests get 501. */
  readonly handlers: Handler[] = [];
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const text = Buffer.concat(chunks).toString('utf8');
      const recorded: Recorded = { method: req.method ?? 'GET', path: decodeURIComponent(url.pathname), query: url.searchParams, headers: req.headers, body: text ? JSON.parse(text) : undefined };
      this.requests.push(recorded);
      let reply: Reply | undefined;
      try {
        for (const handler of this.handlers) {
          reply = handler(recorded);
          if (reply) break;
        }
      } catch (err) {
        reply = apiError(500, 'internal', String(err));
      }
      reply ??= apiError(501, 'notImplemented', `no fake for ${recorded.method} ${recorded.path}`);
      res.writeHead(reply.status ?? 200, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${this.port}`;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Requests other than reads, as `METHOD path`. */
  writes(): string[] {
    return this.requests.filter((r) => r.method !== 'GET' && !r.path.endsWith(':getIamPolicy')).map((r) => `${r.method} ${r.path}`);
  }
}

/** The error body Google APIs send. */
export function apiError(code: number, reason: string, message: string, status?: string): Reply {
  return { status: code, body: { error: { code, message, ...(status ? { status } : {}), errors: [{ domain: 'global', reason, message }] } } };
}

/** An auth client with a fixed bearer token. */
export function fixedTokenAuth(): OAuth2Client {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: 'test-token', expiry_date: Date.now() + 3_600_000 });
  return client;
}
