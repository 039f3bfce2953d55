/**
 * Ingestion figures, locally:
 *
 *   (1) events per second one ingestEvents instance accepts: the registered function served by
 *       functions-framework (express, its body parsing, the handler's validation and message
 *       building) on a local port, posted NDJSON requests of `--batch` location records by
 *       `--concurrency` clients at once, publishing to a stub that only counts (Pub/Sub's own
 *       publish latency is not on this machine). Median of `--runs` runs of `--requests` requests.
 *   (2) end-to-end latency from POST to queryable on the embedded backends: one event posted to
 *       the local endpoint, written by the storage subscription's stand-in after its maxDuration
 *       (`--max-duration`, the demo's 5 s by default), its file's finalize event handled by the
 *       loader (npm start's watcher adds its 0.4 s write-stability wait on top), then polled for
 *       in DuckDB. Median of `--posts` posts.
 *
 *   npm run bench:ingest [-- --runs=5] [--requests=200] [--batch=500] [--concurrency=4] [--posts=5] [--max-duration=5s]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import ms from 'ms';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { LocalBus } from '../shared/backends/local/bus.ts';
import { LocalStorageSubscription } from '../shared/backends/local/storage-subscription.ts';
import { parseConfig } from '../shared/config/load.ts';
import { OBJECT_FINALIZED } from '../shared/events/storage-event.ts';
import { onObjectFinalized } from '../shared/handlers/object-finalized.ts';
import { handleIngest } from '../shared/ingest/handler.ts';
import { ingestHttpFunction } from '../shared/ingest/http.ts';
import { createLogger } from '../shared/log.ts';
import { createLocalEngine, defaultLocalPaths } from '../shared/runtime/local.ts';
import { location, streamYaml } from '../test/helpers/streams.ts';
import { median } from './stats.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    requests: { type: 'string', default: '200' },
    batch: { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '4' },
    posts: { type: 'string', default: '5' },
    'max-duration': { type: 'string', default: '5s' },
  },
});
const quiet = createLogger(() => {});
const yaml = streamYaml(
  `    limits: { maxBodyBytes: 33554432, maxRecords: 100000 }\n    files: { localMaxDuration: ${args['max-duration']} }\n`,
).replace('defaults: { jobBudget: 1000, jobBurst: 1000 }', 'defaults: { jobBudget: 1500, jobBurst: 1500 }');
const config = parseConfig(yaml, join(tmpdir(), 'tidemark.config.yaml'));

async function throughput(): Promise<void> {
  let published = 0;
  http(
    'ingestEventsBench',
    ingestHttpFunction(() => ({
      streams: config.streams,
      bus: { publish: async (_t, m) => ((published += m.length), m.map(() => 'x')) },
      clock: { now: Date.now },
      log: quiet,
    })),
  );
  const server = getTestServer('ingestEventsBench') as Server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/streams/locations/events`;
  const batch = Number(args.batch);
  const body = Array.from({ length: batch }, (_, i) =>
    JSON.stringify(location(i, { event_time: new Date().toISOString() })),
  ).join('\n');
  const post = async () => {
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
    if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
    await r.arrayBuffer();
  };
  const rates: number[] = [];
  for (let run = -1; run < Number(args.runs); run++) {
    let left = Number(args.requests);
    published = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: Number(args.concurrency) }, async () => {
        while (left-- > 0) await post();
      }),
    );
    const s = (performance.now() - t0) / 1000;
    if (run >= 0) rates.push(published / s); // run -1 warms up
  }
  server.close();
  server.closeAllConnections();
  console.log(
    `(1) accepted by one instance: median ${Math.round(median(rates)).toLocaleString('en-US')} events/s (runs: ${rates.map((r) => Math.round(r)).join(', ')}; ${args.requests} requests x ${batch} records, ${args.concurrency} clients, ${body.length.toLocaleString('en-US')} bytes per request)`,
  );
}

async function latency(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-bench-ingest-'));
  const engine = createLocalEngine(config, { paths: defaultLocalPaths(dir), log: quiet });
  try {
    for (const t of config.tables) await engine.warehouse.ensureTable(t.spec);
    const stream = config.streams[0]!;
    const bus = new LocalBus({ log: quiet });
    const sub = new LocalStorageSubscription({
      bus,
      topic: stream.topic,
      store: engine.store,
      bucket: 'lake',
      naming: stream.files,
      maxDurationMs: stream.files.localMaxDurationMs,
      maxBytes: stream.files.maxBytes,
      clock: engine.clock,
      log: quiet,
      // What the watcher does in npm start: the file's finalize event goes to the loader.
      afterWrite: (name) =>
        void bus.publish('finalized', [
          {
            specversion: '1.0',
            id: name,
            type: OBJECT_FINALIZED,
            source: '//storage.googleapis.com/projects/_/buckets/lake',
            data: { bucket: 'lake', name, generation: '1', size: '0' },
          },
        ]),
    });
    bus.subscribe('finalized', async (m) => void (await onObjectFinalized(engine, m.json() as never)), {
      minBackoffMs: 100,
    });
    const times: number[] = [];
    for (let i = 0; i < Number(args.posts); i++) {
      const id = `bench-${Date.now()}-${i}`;
      const t0 = performance.now();
      const r = await handleIngest(
        { streams: config.streams, bus, clock: engine.clock, log: quiet },
        {
          method: 'POST',
          path: '/v1/streams/locations/events',
          contentType: 'application/x-ndjson',
          body: Buffer.from(JSON.stringify(location(i, { event_id: id, event_time: new Date().toISOString() }))),
        },
      );
      if (r.status !== 200) throw new Error(JSON.stringify(r.body));
      for (;;) {
        const [row] = await engine.warehouse.query(
          `SELECT count(*)::INTEGER AS n FROM lake_us.locations WHERE event_id = '${id}'`,
        );
        if (Number(row!.n) === 1) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      times.push(performance.now() - t0);
    }
    await sub.close();
    bus.close();
    const m = median(times);
    const wait = ms(args['max-duration'] as ms.StringValue);
    console.log(
      `(2) POST -> queryable locally: median ${(m / 1000).toFixed(2)} s with maxDuration ${args['max-duration']} (${((m - wait) / 1000).toFixed(2)} s after the file is cut; posts: ${times.map((t) => (t / 1000).toFixed(2)).join(', ')} s)`,
    );
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`node ${process.version}, ${cpus().length} CPU(s) ${cpus()[0]?.model ?? ''}`);
await throughput();
await latency();
