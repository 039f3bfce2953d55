/**
 * shared/runtime/gcp.ts: the deployed engine's wiring. Storage and BigQuery share one
 * GoogleAuth (the very instance, which @google-cloud/common would otherwise wrap in one of its
 * own), and engine calls reach both APIs (a fake answering 403). The config comes from
 * the resolved tidemark.config.json, not the YAML.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../../shared/config/load.ts';
import { serializeConfig } from '../../../shared/config/resolved.ts';
import { createGcpEngine, gcpClients, loadRuntimeConfig } from '../../../shared/runtime/gcp.ts';
import { EVENTS_YAML } from '../../helpers/local-env.ts';

describe('gcp runtime', () => {
  const requests: string[] = [];
  const fake = createServer((req, res) => {
    requests.push(new URL(req.url ?? '/', 'http://x').pathname);
    req.resume();
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path.startsWith('/computeMetadata/')) {
        res.setHeader('Metadata-Flavor', 'Google');
        if (path.endsWith('/token'))
          return void res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ access_token: 't', expires_in: 3600, token_type: 'Bearer' }));
        if (path.endsWith('/project-id')) return void res.writeHead(200).end('tidemark-test');
        return void res.writeHead(200).end('');
      }
      res
        .writeHead(403, { 'content-type': 'application/json' })
        .end(
          JSON.stringify({ error: { code: 403, message: 'fake', errors: [{ reason: 'forbidden', message: 'fake' }] } }),
        );
    });
  });
  const saved = { ...process.env };
  before(async () => {
    await new Promise<void>((ok) => fake.listen(0, '127.0.0.1', ok));
    const host = `127.0.0.1:${(fake.address() as AddressInfo).port}`;
    for (const k of ['GOOGLE_APPLICATION_CREDENTIALS', 'HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy'])
      delete process.env[k];
    Object.assign(process.env, {
      GCE_METADATA_HOST: host,
      STORAGE_EMULATOR_HOST: `http://${host}`,
      BIGQUERY_EMULATOR_HOST: `http://${host}`,
      CLOUDSDK_CONFIG: mkdtempSync(join(tmpdir(), 'tidemark-gcloud-')),
      NO_PROXY: '127.0.0.1',
    });
  });
  after(() => {
    fake.closeAllConnections();
    fake.close();
    process.env = saved;
  });

  it('Storage and BigQuery share one auth client, and calls through the engine reach both', async () => {
    const config = parseConfig(EVENTS_YAML, '/p/tidemark.config.yaml', () => '[]');
    const clients = gcpClients(config);
    const [auth, storage, bigquery] = await Promise.all([clients.auth(), clients.storage(), clients.bigquery()]);
    assert.equal(storage.authClient, auth, 'Storage uses the shared GoogleAuth');
    assert.equal(bigquery.authClient, auth, 'BigQuery uses the shared GoogleAuth (not a wrapper around it)');
    assert.equal(await clients.storage(), storage, 'created once');

    const engine = createGcpEngine({}, config);
    await assert.rejects(engine.store.read('lake', 'x'));
    await assert.rejects(engine.warehouse.getJob('job-1'));
    const apiCalls = requests.filter((p) => !p.startsWith('/computeMetadata/'));
    assert.ok(
      apiCalls.some((p) => p.includes('/b/lake/')) && apiCalls.some((p) => p.includes('/jobs/job-1')),
      `both APIs were called: ${apiCalls.join(', ')}`,
    );
  });

  it('reads the resolved config the build writes (TIDEMARK_RESOLVED_CONFIG, default ./tidemark.config.json)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-runtime-'));
    try {
      const config = parseConfig(EVENTS_YAML, join(dir, 'tidemark.config.yaml'), () => '[]');
      writeFileSync(join(dir, 'built.json'), serializeConfig(config, 'tidemark.config.yaml'));
      assert.deepEqual(loadRuntimeConfig({ TIDEMARK_RESOLVED_CONFIG: join(dir, 'built.json') }), {
        ...config,
        file: join(dir, 'built.json'),
      });
      assert.throws(
        () => loadRuntimeConfig({ TIDEMARK_RESOLVED_CONFIG: join(dir, 'tidemark.config.yaml') }),
        /cannot read the resolved config/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
