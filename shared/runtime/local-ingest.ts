/**
 * The ingestion path on embedded backends (`npm start`): the same endpoint as ingestEvents on a
 * local HTTP server, publishing to the in-process bus, and per stream a stand-in for the Pub/Sub
 * Cloud Storage subscription writing the messages into the lake folder, where the loader's
 * watcher picks the files up like any other.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LocalStorageSubscription } from '../backends/local/storage-subscription.ts';
import type { LocalBus } from '../backends/local/bus.ts';
import type { Config } from '../config/types.ts';
import { errorMessage } from '../core/errors.ts';
import { handleIngest } from '../ingest/handler.ts';
import type { IngestDeps, IngestResponse } from '../ingest/handler.ts';
import type { LocalEngine } from './local.ts';

export interface LocalIngest {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  subscriptions: LocalStorageSubscription[];
  /** Stops the server, writes the open files, unsubscribes. */
  close(): Promise<void>;
}

/** Reads a request body, refusing (413) past `limit` bytes without buffering the rest. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Answer now; what is still coming is read and dropped (a client blocks until it is sent).
        chunks.length = 0;
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Starts the endpoint and the storage subscriptions. `port` 0 picks a free one. */
export async function startLocalIngest(
  engine: LocalEngine,
  bus: LocalBus,
  options: { port: number; host?: string } = { port: 0 },
): Promise<LocalIngest> {
  const config: Config = engine.config;
  const subscriptions = config.streams.map((stream) => {
    const table = config.tables.find((t) => t.name === stream.table)!;
    return new LocalStorageSubscription({
      bus,
      topic: stream.topic,
      store: engine.store,
      bucket: table.source.bucket,
      naming: stream.files,
      maxDurationMs: stream.files.localMaxDurationMs,
      maxBytes: stream.files.maxBytes,
      clock: engine.clock,
      log: engine.log,
      deadLetterTopic: stream.deadLetterTopic,
    });
  });
  const deps: IngestDeps = { streams: config.streams, bus, clock: engine.clock, log: engine.log };
  const limit = Math.max(1, ...config.streams.map((s) => s.limits.maxBodyBytes));
  const server: Server = createServer((req, res) => {
    const send = (r: IngestResponse) => {
      res.writeHead(r.status, { 'content-type': 'application/json', ...r.headers });
      res.end(JSON.stringify(r.body));
    };
    readBody(req, limit)
      .then(async (body) => {
        if (body === null)
          return send({
            status: 413,
            headers: { connection: 'close' },
            body: {
              accepted: 0,
              rejected: [],
              error: `the request body is larger than ${limit} bytes (limits.maxBodyBytes)`,
            },
          });
        const path = new URL(req.url ?? '/', 'http://localhost').pathname;
        send(
          await handleIngest(deps, {
            method: req.method ?? 'GET',
            path,
            contentType: req.headers['content-type'],
            contentEncoding: req.headers['content-encoding'],
            body,
          }),
        );
      })
      .catch((err: unknown) => send({ status: 500, body: { accepted: 0, rejected: [], error: errorMessage(err) } }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    subscriptions,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      for (const s of subscriptions) await s.close();
    },
  };
}

/** A curl line posting one record to a stream (for the narration and the README). */
export function curlExample(url: string, stream: string, record: Record<string, unknown>): string {
  return `curl -sS -X POST ${url}/v1/streams/${stream}/events -H 'content-type: application/x-ndjson' --data-binary '${JSON.stringify(record)}'`;
}
