/**
 * GcsObjectStore at the HTTP boundary: the real @google-cloud/storage client talks to a local
 * server that keeps objects in memory and answers like the GCS JSON API (list, metadata, media
 * download, multipart upload with ifGenerationMatch, delete). With a custom apiEndpoint the
 * client does not authenticate, so nothing leaves 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { CRC32C, Storage } from '@google-cloud/storage';
import { GcsObjectStore } from '../../../../shared/backends/gcp/storage-store.ts';
import { BackendUnavailableError, PreconditionFailedError } from '../../../../shared/core/errors.ts';

interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
}

interface StoredObject {
  data: Buffer;
  generation: string;
  contentType: string;
  metadata?: Record<string, string>;
  updated: string;
}

/** A local stand-in for storage.googleapis.com with objects in memory. */
class FakeGcs {
  readonly requests: Recorded[] = [];
  readonly objects = new Map<string, StoredObject>();
  /** Statuses to answer with, in order, before serving normally. */
  readonly faults: number[] = [];
  /** Runs before each request is served (to change objects between two calls). */
  beforeServe: ((req: Recorded) => void) | undefined;
  private nextGeneration = 1_700_000_000_000_001n;
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const recorded: Recorded = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
      };
      this.requests.push(recorded);
      const fault = this.faults.shift();
      if (fault !== undefined)
        return sendError(res, fault, fault === 429 ? 'rateLimitExceeded' : 'backendError', `injected ${fault}`);
      this.beforeServe?.(recorded);
      this.serve(recorded, Buffer.concat(chunks), res);
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  reset(): void {
    this.requests.length = 0;
    this.objects.clear();
    this.faults.length = 0;
    this.beforeServe = undefined;
  }

  put(bucket: string, name: string, data: string, metadata?: Record<string, string>): string {
    const generation = String(this.nextGeneration++);
    this.objects.set(`${bucket}/${name}`, {
      data: Buffer.from(data),
      generation,
      contentType: 'text/plain',
      updated: '2024-01-01T13:05:00.000Z',
      ...(metadata ? { metadata } : {}),
    });
    return generation;
  }

  private serve(req: Recorded, body: Buffer, res: ServerResponse): void {
    const upload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(req.path);
    if (upload && req.method === 'POST') return this.upload(decodeURIComponent(upload[1]!), req, body, res);
    const list = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(req.path);
    if (list && req.method === 'GET') return this.list(decodeURIComponent(list[1]!), req.query, res);
    const object = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(req.path);
    if (!object) return sendError(res, 400, 'invalid', `unexpected ${req.method} ${req.path}`);
    const bucket = decodeURIComponent(object[1]!);
    const name = decodeURIComponent(object[2]!);
    const stored = this.objects.get(`${bucket}/${name}`);
    const wanted = req.query.get('generation');
    if (!stored || (wanted !== null && wanted !== stored.generation))
      return sendError(res, 404, 'notFound', `No such object: ${bucket}/${name}`);
    if (req.method === 'DELETE') {
      this.objects.delete(`${bucket}/${name}`);
      res.writeHead(204).end();
      return;
    }
    if (req.query.get('alt') === 'media') {
      res.writeHead(200, {
        'content-type': stored.contentType,
        'x-goog-generation': stored.generation,
        'x-goog-stored-content-encoding': 'identity',
        'x-goog-hash': `crc32c=${crc32c(stored.data)},md5=${md5(stored.data)}`,
      });
      res.end(stored.data);
      return;
    }
    sendJson(res, 200, resource(bucket, name, stored));
  }

  private list(bucket: string, q: URLSearchParams, res: ServerResponse): void {
    const names = [...this.objects.keys()]
      .filter((k) => k.startsWith(`${bucket}/`))
      .map((k) => k.slice(bucket.length + 1))
      .sort()
      .filter((n) => n.startsWith(q.get('prefix') ?? ''))
      .filter((n) => n >= (q.get('startOffset') ?? ''))
      .filter((n) => q.get('endOffset') === null || n < q.get('endOffset')!)
      .filter((n) => q.get('pageToken') === null || n > Buffer.from(q.get('pageToken')!, 'base64url').toString());
    const max = Number(q.get('maxResults') ?? 1000);
    const page = names.slice(0, max);
    const more = names.length > max;
    sendJson(res, 200, {
      kind: 'storage#objects',
      items: page.map((n) => resource(bucket, n, this.objects.get(`${bucket}/${n}`)!)),
      ...(more ? { nextPageToken: Buffer.from(page.at(-1)!).toString('base64url') } : {}),
    });
  }

  private upload(bucket: string, req: Recorded, body: Buffer, res: ServerResponse): void {
    const name = req.query.get('name') ?? '';
    const [metaPart, dataPart] = parseMultipart(String(req.headers['content-type']), body);
    const meta = JSON.parse(metaPart!.toString('utf8')) as { contentType?: string; metadata?: Record<string, string> };
    const current = this.objects.get(`${bucket}/${name}`);
    const match = req.query.get('ifGenerationMatch');
    if (match !== null && match !== (current?.generation ?? '0')) {
      return sendError(res, 412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.');
    }
    const stored: StoredObject = {
      data: dataPart!,
      generation: String(this.nextGeneration++),
      contentType: meta.contentType ?? 'application/octet-stream',
      updated: new Date().toISOString(),
      ...(meta.metadata ? { metadata: meta.metadata } : {}),
    };
    this.objects.set(`${bucket}/${name}`, stored);
    sendJson(res, 200, resource(bucket, name, stored));
  }
}

function resource(bucket: string, name: string, o: StoredObject): Record<string, unknown> {
  return {
    kind: 'storage#object',
    id: `${bucket}/${name}/${o.generation}`,
    bucket,
    name,
    generation: o.generation,
    metageneration: '1',
    contentType: o.contentType,
    size: String(o.data.length),
    updated: o.updated,
    crc32c: crc32c(o.data),
    md5Hash: md5(o.data),
    ...(o.metadata ? { metadata: o.metadata } : {}),
  };
}

function crc32c(data: Buffer): string {
  const c = new CRC32C();
  c.update(data);
  return c.toString();
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('base64');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, code: number, reason: string, message: string): void {
  sendJson(res, code, { error: { code, message, errors: [{ domain: 'global', reason, message }] } });
}

/** The parts of a multipart/related body. */
function parseMultipart(contentType: string, body: Buffer): Buffer[] {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  assert.ok(boundary, `no boundary in ${contentType}`);
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    const part = body.subarray(start, next === -1 ? body.length : next);
    const headerEnd = part.indexOf('\r\n\r\n');
    let content = part.subarray(headerEnd + 4);
    if (content.subarray(-2).toString() === '\r\n') content = content.subarray(0, -2);
    parts.push(content);
    at = next;
  }
  return parts;
}

describe('GcsObjectStore over the JSON API', () => {
  const fake = new FakeGcs();
  const sleeps: number[] = [];
  let store: GcsObjectStore;

  before(async () => {
    const apiEndpoint = await fake.start();
    const storage = new Storage({ apiEndpoint, projectId: 'tidemark-test', retryOptions: { autoRetry: false } });
    store = new GcsObjectStore({ storage, sleep: async (ms) => void sleeps.push(ms) });
  });
  after(() => fake.close());
  beforeEach(() => {
    fake.reset();
    sleeps.length = 0;
  });

  describe('write', () => {
    it('creates with ifGenerationMatch=0, content type and custom metadata, returning the generation', async () => {
      const { generation } = await store.write('state', 'tidemark/events/2024010113.json', '{"v":1}', {
        ifGenerationMatch: '0',
        contentType: 'application/json',
        metadata: { owner: 'fn-1' },
      });
      assert.match(generation, /^\d+$/);
      assert.equal(fake.requests.length, 1);
      const req = fake.requests[0]!;
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/upload/storage/v1/b/state/o');
      assert.equal(req.query.get('uploadType'), 'multipart');
      assert.equal(req.query.get('name'), 'tidemark/events/2024010113.json');
      assert.equal(req.query.get('ifGenerationMatch'), '0');
      assert.equal(req.headers.authorization, undefined);
      const stored = fake.objects.get('state/tidemark/events/2024010113.json')!;
      assert.equal(stored.data.toString(), '{"v":1}');
      assert.equal(stored.contentType, 'application/json');
      assert.deepEqual(stored.metadata, { owner: 'fn-1' });
      assert.equal(stored.generation, generation);
    });

    it('maps 412 to PreconditionFailedError naming bucket and object, without retrying', async () => {
      fake.put('state', 'a.json', 'old');
      await assert.rejects(store.write('state', 'a.json', 'new', { ifGenerationMatch: '0' }), (err: unknown) => {
        assert.ok(err instanceof PreconditionFailedError);
        assert.match(err.message, /gs:\/\/state\/a\.json/);
        assert.deepEqual(err.fields, { bucket: 'state', object: 'a.json', ifGenerationMatch: '0' });
        return true;
      });
      assert.equal(fake.requests.length, 1);
      assert.equal(fake.objects.get('state/a.json')!.data.toString(), 'old');
    });

    it('swaps when the generation matches and refuses a stale one', async () => {
      const g1 = fake.put('state', 'a.json', 'v1');
      const { generation: g2 } = await store.write('state', 'a.json', 'v2', { ifGenerationMatch: g1 });
      assert.notEqual(g2, g1);
      assert.equal(fake.requests[0]!.query.get('ifGenerationMatch'), g1);
      await assert.rejects(store.write('state', 'a.json', 'v3', { ifGenerationMatch: g1 }), PreconditionFailedError);
      assert.equal(fake.objects.get('state/a.json')!.data.toString(), 'v2');
    });

    it('writes unconditionally without the parameter', async () => {
      fake.put('state', 'a.json', 'v1');
      await store.write('state', 'a.json', Buffer.from('v2'));
      assert.equal(fake.requests[0]!.query.has('ifGenerationMatch'), false);
      assert.equal(fake.objects.get('state/a.json')!.data.toString(), 'v2');
    });

    it('retries 429 and 503 on upload, then succeeds', async () => {
      fake.faults.push(429, 503);
      await store.write('state', 'b.json', 'x', { ifGenerationMatch: '0' });
      assert.equal(fake.requests.length, 3);
      assert.equal(sleeps.length, 2);
      assert.equal(fake.objects.get('state/b.json')!.data.toString(), 'x');
    });
  });

  describe('read', () => {
    it('returns bytes, generation and custom metadata, downloading exactly that generation', async () => {
      const generation = fake.put('state', 'dir/a.json', '{"a":1}', { owner: 'x' });
      const found = await store.read('state', 'dir/a.json');
      assert.deepEqual(found, { data: Buffer.from('{"a":1}'), generation, metadata: { owner: 'x' } });
      const media = fake.requests.find((r) => r.query.get('alt') === 'media')!;
      assert.equal(media.path, '/storage/v1/b/state/o/dir%2Fa.json');
      assert.equal(media.query.get('generation'), generation);
    });

    it('reads again when the object is replaced between metadata and download', async () => {
      fake.put('state', 'a.json', 'v1');
      let replaced = false;
      fake.beforeServe = (req) => {
        if (req.query.get('alt') === 'media' && !replaced) {
          replaced = true;
          fake.put('state', 'a.json', 'v2');
        }
      };
      const found = await store.read('state', 'a.json');
      assert.equal(found?.data.toString(), 'v2');
      assert.equal(found?.generation, fake.objects.get('state/a.json')!.generation);
      assert.deepEqual(
        fake.requests.map((r) => r.query.get('alt') ?? 'meta'),
        ['meta', 'media', 'meta', 'media'],
      );
    });

    it('returns null for a missing object', async () => {
      assert.equal(await store.read('state', 'nope.json'), null);
      assert.equal(fake.requests.length, 1);
    });

    it('retries a 503 on read', async () => {
      fake.put('state', 'a.json', 'v');
      fake.faults.push(503);
      assert.equal((await store.read('state', 'a.json'))?.data.toString(), 'v');
      assert.equal(sleeps.length, 1);
    });

    it('gives up with BackendUnavailableError when 503 persists', async () => {
      fake.faults.push(503, 503, 503, 503, 503, 503);
      await assert.rejects(store.read('state', 'a.json'), BackendUnavailableError);
      assert.equal(fake.requests.length, 6);
    });
  });

  describe('listPage', () => {
    it('passes prefix, startOffset, endOffset, maxResults and pageToken; maps objects', async () => {
      for (const n of [
        'events/dt=2024-01-01/hr=12/a.json',
        'events/dt=2024-01-01/hr=13/a.json',
        'events/dt=2024-01-01/hr=13/b.json',
        'events/dt=2024-01-01/hr=13/c.json',
        'events/dt=2024-01-01/hr=14/a.json',
        'other/x.json',
      ]) {
        fake.put('lake', n, 'abcd', n.endsWith('b.json') ? { source: 'up' } : undefined);
      }
      const options = {
        prefix: 'events/',
        startOffset: 'events/dt=2024-01-01/hr=13/',
        endOffset: 'events/dt=2024-01-01/hr=14/',
        maxResults: 2,
      };
      const first = await store.listPage('lake', options);
      assert.deepEqual(
        first.objects.map((o) => o.name),
        ['events/dt=2024-01-01/hr=13/a.json', 'events/dt=2024-01-01/hr=13/b.json'],
      );
      assert.ok(first.nextPageToken);
      const b = first.objects[1]!;
      assert.equal(b.bucket, 'lake');
      assert.equal(typeof b.generation, 'string');
      assert.equal(b.generation, fake.objects.get(`lake/${b.name}`)!.generation);
      assert.equal(b.size, 4);
      assert.equal(b.updated, '2024-01-01T13:05:00.000Z');
      assert.deepEqual(b.metadata, { source: 'up' });
      assert.equal(first.objects[0]!.metadata, undefined);

      const second = await store.listPage('lake', { ...options, pageToken: first.nextPageToken! });
      assert.deepEqual(
        second.objects.map((o) => o.name),
        ['events/dt=2024-01-01/hr=13/c.json'],
      );
      assert.equal(second.nextPageToken, undefined);

      const [q1, q2] = fake.requests.map((r) => r.query);
      assert.equal(fake.requests[0]!.path, '/storage/v1/b/lake/o');
      assert.equal(q1!.get('prefix'), 'events/');
      assert.equal(q1!.get('startOffset'), 'events/dt=2024-01-01/hr=13/');
      assert.equal(q1!.get('endOffset'), 'events/dt=2024-01-01/hr=14/');
      assert.equal(q1!.get('maxResults'), '2');
      assert.equal(q1!.has('pageToken'), false);
      assert.equal(q1!.has('autoPaginate'), false);
      assert.equal(q2!.get('pageToken'), first.nextPageToken);
    });

    it('sends no parameter for options that are not set', async () => {
      await store.listPage('lake', {});
      assert.deepEqual(
        [...fake.requests[0]!.query.keys()].filter((k) => k !== 'prettyPrint'),
        [],
      );
    });

    it('retries a 503, then returns the page', async () => {
      fake.put('lake', 'a', 'x');
      fake.faults.push(503);
      const page = await store.listPage('lake', {});
      assert.equal(page.objects.length, 1);
      assert.equal(fake.requests.length, 2);
    });
  });

  describe('remove and uri', () => {
    it('deletes an object and ignores one that is missing', async () => {
      fake.put('state', 'a.json', 'x');
      await store.remove('state', 'a.json');
      assert.equal(fake.objects.has('state/a.json'), false);
      await store.remove('state', 'a.json');
      assert.deepEqual(
        fake.requests.map((r) => r.method),
        ['DELETE', 'DELETE'],
      );
    });

    it('names objects as gs:// URIs', () => {
      assert.equal(store.uri('lake', 'events/dt=2024-01-01/a.csv'), 'gs://lake/events/dt=2024-01-01/a.csv');
    });
  });
});
