/**
 * ingestEvents through functions-framework's test server (the express app the runtime uses, so
 * its body parsing and gzip inflation are part of what is tested): good batches, partly bad
 * batches, limits, gzip, content types, unknown streams, hostile JSON, publish failures.
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { before, describe, it } from 'node:test';
import request from 'supertest';
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { parseConfig } from '../../../shared/config/load.ts';
import type { Config } from '../../../shared/config/types.ts';
import { ingestHttpFunction } from '../../../shared/ingest/http.ts';
import type { IngestDeps } from '../../../shared/ingest/handler.ts';
import { memoryLogger } from '../../../shared/log.ts';
import { location, streamYaml } from '../../helpers/streams.ts';

const NOW = Date.UTC(2026, 10, 24, 12, 34, 56, 789);

describe('ingestEvents under functions-framework', () => {
  let config: Config;
  const published: { topic: string; messages: unknown[]; attributes?: Record<string, string> }[] = [];
  let failPublish = false;
  let ids = 0;
  const log = memoryLogger();
  const server = () => request(getTestServer('ingestEventsTest'));
  const post = (body: string | Buffer, type = 'application/json') =>
    server().post('/v1/streams/locations/events').set('content-type', type).send(body);

  before(() => {
    config = parseConfig(
      streamYaml('    limits: { maxBodyBytes: 20000, maxRecords: 50 }\n'),
      '/tmp/tidemark.config.yaml',
    );
    const deps: IngestDeps = {
      streams: config.streams,
      bus: {
        publish: async (topic, messages, attributes) => {
          if (failPublish) throw new Error('UNAVAILABLE: the topic is gone (test)');
          published.push({ topic, messages, ...(attributes ? { attributes } : {}) });
          return messages.map((_, i) => `m${i}`);
        },
      },
      clock: { now: () => NOW },
      log,
      newEventId: () => `assigned-${++ids}`,
    };
    http(
      'ingestEventsTest',
      ingestHttpFunction(() => deps),
    );
  });

  it('a good JSON array: 200, every record published once with event_id and received_at', async () => {
    published.length = 0;
    const res = await post(JSON.stringify([location(1), location(2, { event_id: 'mine-2' })]));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      stream: 'locations',
      accepted: 2,
      rejected: [],
      eventIds: [res.body.eventIds[0], 'mine-2'],
    });
    assert.match(res.body.eventIds[0], /^assigned-\d+$/);
    assert.equal(published.length, 1, 'one publish call per request (the publisher batches)');
    assert.equal(published[0]!.topic, 'tidemark-stream-locations');
    const [first, second] = published[0]!.messages as Record<string, unknown>[];
    assert.deepEqual(first, {
      ...location(1),
      event_id: res.body.eventIds[0],
      received_at: '2026-11-24T12:34:56.789Z',
    });
    assert.equal(second!.event_id, 'mine-2');
  });

  it('NDJSON (with CRLF and blank lines): 200', async () => {
    published.length = 0;
    const body = `${JSON.stringify(location(1))}\r\n\n${JSON.stringify(location(2))}\n`;
    const res = await post(body, 'application/x-ndjson');
    assert.equal(res.status, 200);
    assert.equal(res.body.accepted, 2);
    assert.equal(published[0]!.messages.length, 2);
  });

  it('a partly bad batch: 207 with the index and reason of each rejected record; only good ones published', async () => {
    published.length = 0;
    const body = [
      JSON.stringify(location(0)),
      '{"device_id": "x", "lat": ',
      JSON.stringify(location(2, { lat: 'north' })),
      JSON.stringify(location(3, { speed: 4 })),
      JSON.stringify(location(4)),
    ].join('\n');
    const res = await post(body, 'application/x-ndjson');
    assert.equal(res.status, 207);
    assert.equal(res.body.accepted, 2);
    assert.deepEqual(
      res.body.rejected.map((r: { index: number }) => r.index),
      [1, 2, 3],
    );
    assert.match(res.body.rejected[0].reason, /not JSON/);
    assert.match(res.body.rejected[1].reason, /^lat: expected a number/);
    assert.match(res.body.rejected[2].reason, /^speed: not a column/);
    assert.equal(published[0]!.messages.length, 2);
  });

  it('no valid record: 400 with the reasons, nothing published', async () => {
    published.length = 0;
    const res = await post(JSON.stringify([{ lat: 1 }, 'text']));
    assert.equal(res.status, 400);
    assert.equal(res.body.accepted, 0);
    assert.equal(res.body.rejected.length, 2);
    assert.equal(published.length, 0);
  });

  it('an empty array: 400', async () => {
    const res = await post('[]');
    assert.equal(res.status, 400);
    assert.match(res.body.error, /no records/);
  });

  it('gzip (Content-Encoding): decoded and accepted', async () => {
    published.length = 0;
    const body = gzipSync(Buffer.from([1, 2, 3].map((i) => JSON.stringify(location(i))).join('\n')));
    const res = await server()
      .post('/v1/streams/locations/events')
      .set({ 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' })
      .send(body);
    assert.equal(res.status, 200);
    assert.equal(res.body.accepted, 3);
  });

  it('a gzip body that inflates past the limit: 413 (the decoded size counts)', async () => {
    const records = Array.from({ length: 40 }, (_, i) =>
      JSON.stringify(location(i, { device_id: 'x'.repeat(1000) })),
    ).join('\n');
    const body = gzipSync(Buffer.from(records));
    assert.ok(body.length < 20000 && records.length > 20000);
    const res = await server()
      .post('/v1/streams/locations/events')
      .set({ 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' })
      .send(body);
    assert.equal(res.status, 413);
    assert.match(res.body.error, /limits\.maxBodyBytes/);
  });

  it('an oversized body: 413 naming the limit', async () => {
    const res = await post(JSON.stringify([location(1, { device_id: 'x'.repeat(30000) })]));
    assert.equal(res.status, 413);
    assert.match(res.body.error, /20000 bytes \(limits\.maxBodyBytes\)/);
  });

  it('too many records: 413 naming the limit', async () => {
    const res = await post(JSON.stringify(Array.from({ length: 51 }, (_, i) => location(i))));
    assert.equal(res.status, 413);
    assert.match(res.body.error, /51 records .* limit of 50 .*limits\.maxRecords/);
  });

  it('a wrong content type: 415', async () => {
    const res = await post('device_id=x', 'text/plain');
    assert.equal(res.status, 415);
    assert.match(res.body.error, /application\/json .* application\/x-ndjson/);
  });

  it('an unknown stream: 404 listing the streams', async () => {
    const res = await server().post('/v1/streams/nosuch/events').set('content-type', 'application/json').send('[]');
    assert.equal(res.status, 404);
    assert.match(res.body.error, /unknown stream "nosuch"; streams: locations/);
  });

  it('another path: 404; GET: 405 with Allow', async () => {
    assert.equal(
      (await server().post('/v1/streams/locations').set('content-type', 'application/json').send('[]')).status,
      404,
    );
    const res = await server().get('/v1/streams/locations/events');
    assert.equal(res.status, 405);
    assert.equal(res.headers.allow, 'POST');
  });

  const hostile: [string, string, string, number, RegExp][] = [
    ['an object instead of an array', 'application/json', '{"device_id":"x"}', 400, /JSON array/],
    [
      '__proto__ smuggling',
      'application/x-ndjson',
      '{"device_id":"d","lat":1,"lon":2,"event_time":"2026-11-24T00:00:00Z","__proto__":{"admin":true}}',
      400,
      /__proto__: not a column/,
    ],
    [
      'constructor.prototype',
      'application/x-ndjson',
      '{"device_id":"d","lat":1,"lon":2,"event_time":"2026-11-24T00:00:00Z","constructor":{"prototype":{"x":1}}}',
      400,
      /constructor: not a column/,
    ],
    [
      'deep nesting',
      'application/x-ndjson',
      '{"device_id":"d","meta":' + '['.repeat(5000) + ']'.repeat(5000) + '}',
      400,
      /meta: expected an object/,
    ],
    [
      'a 1e400 float',
      'application/x-ndjson',
      '{"device_id":"d","lat":1e400,"lon":2,"event_time":"2026-11-24T00:00:00Z"}',
      400,
      /lat: number out of the FLOAT64 range/,
    ],
    ['invalid UTF-8', 'application/x-ndjson', '\xff\xfe', 400, /UTF-8|not JSON/],
    [
      'received_at forged',
      'application/x-ndjson',
      JSON.stringify(location(1, { received_at: '2020-01-01T00:00:00Z' })),
      400,
      /received_at: set by tidemark/,
    ],
    [
      'SQL in the event id',
      'application/x-ndjson',
      JSON.stringify(location(1, { event_id: "x' OR '1'='1" })),
      400,
      /event_id: must be/,
    ],
  ];
  for (const [what, type, body, status, reason] of hostile) {
    it(`hostile: ${what} -> ${status}`, async () => {
      const res = await server()
        .post('/v1/streams/locations/events')
        .set('content-type', type)
        .send(what === 'invalid UTF-8' ? Buffer.from([0xff, 0xfe, 0x0a]) : body);
      assert.equal(res.status, status, JSON.stringify(res.body));
      if (status !== 200) assert.match(JSON.stringify(res.body), reason);
    });
  }

  it('invalid JSON as application/json is refused with 400 before any publish', async () => {
    published.length = 0;
    const res = await post('[{"device_id": ');
    assert.equal(res.status, 400);
    assert.equal(published.length, 0);
  });

  it('a publish failure: 503 with Retry-After, and the log says why', async () => {
    failPublish = true;
    try {
      const res = await post(JSON.stringify([location(1)]));
      assert.equal(res.status, 503);
      assert.equal(res.headers['retry-after'], '5');
      assert.match(res.body.error, /retry the request/);
      assert.ok(
        log.entries.some((e) => e.severity === 'ERROR' && /publishing accepted records failed/.test(e.message)),
      );
    } finally {
      failPublish = false;
    }
  });
});
