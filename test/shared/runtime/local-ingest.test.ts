/**
 * The local ingestion path of `npm start`: the endpoint on a real local HTTP server, the
 * in-process bus, the storage subscription's stand-in writing a file into the lake folder, and
 * the loader handling that file's finalize event as the watcher would deliver it.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { LocalBus } from '../../../shared/backends/local/bus.ts';
import { onObjectFinalized } from '../../../shared/handlers/object-finalized.ts';
import { curlExample, startLocalIngest } from '../../../shared/runtime/local-ingest.ts';
import type { LocalIngest } from '../../../shared/runtime/local-ingest.ts';
import { createTestEnv, storageEvent } from '../../helpers/local-env.ts';
import type { TestEnv } from '../../helpers/local-env.ts';
import { location, streamYaml } from '../../helpers/streams.ts';

describe('local ingestion (npm start)', () => {
  let env: TestEnv;
  let bus: LocalBus;
  let ingest: LocalIngest;
  before(async () => {
    env = await createTestEnv({ yaml: streamYaml('    limits: { maxBodyBytes: 5000 }\n') });
    bus = new LocalBus({ log: env.log });
    ingest = await startLocalIngest(env.engine, bus, { port: 0 });
  });
  after(async () => {
    await ingest.close();
    bus.close();
    await env.close();
  });

  it('a POST (gzip) is written to a lake file named for its hour, which the loader loads', async () => {
    const body = gzipSync([1, 2, 3].map((i) => JSON.stringify(location(i))).join('\n'));
    const res = await fetch(`${ingest.url}/v1/streams/locations/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' },
      body,
    });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { accepted: number }).accepted, 3);
    await ingest.subscriptions[0]!.flush();
    const [file] = ingest.subscriptions[0]!.written;
    assert.match(file!.name, /^streams\/locations\/2026-11-24\/12\/00_00Z_[0-9a-f-]{36}\.ndjson$/);
    const generation = (await env.engine.store.read('lake', file!.name))!.generation;
    await onObjectFinalized(env.engine, storageEvent({ name: file!.name, generation, size: file!.bytes }) as never);
    assert.equal(await env.count('true', 'lake_us.locations'), 3);
  });

  it('a body over the limit is refused with 413 before it is read whole', async () => {
    const res = await fetch(`${ingest.url}/v1/streams/locations/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: 'x'.repeat(100_000),
    });
    assert.equal(res.status, 413);
  });

  it('the curl line printed by npm start posts an event', async (t) => {
    if (spawnSync('curl', ['--version']).status !== 0) return t.skip('curl is not installed');
    const line = curlExample(ingest.url, 'locations', location(9));
    // Asynchronously: the server answering curl runs in this process.
    const out = await promisify(execFile)('sh', ['-c', line], { encoding: 'utf8', timeout: 30_000 });
    assert.equal((JSON.parse(out.stdout) as { accepted: number }).accepted, 1);
  });
});
