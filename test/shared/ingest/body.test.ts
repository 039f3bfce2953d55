/**
 * Body decoding and record splitting: the limits before and after gzip (a bomb stops at the
 * limit instead of inflating), content types and encodings, NDJSON line rules.
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { BodyError, bodyFormat, decodeBody, parseRecords } from '../../../shared/ingest/body.ts';

const limits = { maxBodyBytes: 1000, maxRecords: 3 };

const status = (fn: () => unknown): number => {
  try {
    fn();
  } catch (err) {
    if (err instanceof BodyError) return err.status;
    throw err;
  }
  return 0;
};

describe('request bodies', () => {
  const types: [string | undefined, string | number][] = [
    ['application/json', 'json'],
    ['application/json; charset=utf-8', 'json'],
    ['application/x-ndjson', 'ndjson'],
    ['application/ndjson', 'ndjson'],
    ['text/plain', 415],
    ['application/x-www-form-urlencoded', 415],
    [undefined, 415],
  ];
  for (const [type, want] of types) {
    it(`content type ${type ?? '(none)'} -> ${want}`, () => {
      if (typeof want === 'number')
        assert.equal(
          status(() => bodyFormat(type)),
          want,
        );
      else assert.equal(bodyFormat(type), want);
    });
  }

  it('a gzip bomb stops inflating at the limit: 413, never the whole thing in memory', () => {
    const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024));
    assert.ok(bomb.length < limits.maxBodyBytes * 60);
    assert.equal(
      status(() => decodeBody(bomb, 'gzip', { ...limits, maxBodyBytes: 100_000 })),
      413,
    );
  });

  it('gzip within the limit decodes; broken gzip is a 400; br is a 415; raw bytes over the limit 413', () => {
    assert.equal(decodeBody(gzipSync('[1]'), 'gzip', limits).toString(), '[1]');
    assert.equal(
      status(() => decodeBody(Buffer.from('not gzip'), 'gzip', limits)),
      400,
    );
    assert.equal(
      status(() => decodeBody(Buffer.from('x'), 'br', limits)),
      415,
    );
    assert.equal(
      status(() => decodeBody(Buffer.alloc(1001), undefined, limits)),
      413,
    );
  });

  it('NDJSON: blank lines skipped, a bad line is one rejected item, the record limit is 413', () => {
    const items = parseRecords(Buffer.from('{"a":1}\n\n  \nnope\r\n{"b":2}\n'), 'ndjson', limits);
    assert.deepEqual(
      items.map((i) => ('value' in i ? 'ok' : 'bad')),
      ['ok', 'bad', 'ok'],
    );
    assert.equal(
      status(() => parseRecords(Buffer.from('1\n2\n3\n4\n'), 'ndjson', limits)),
      413,
    );
  });

  it('JSON: an array only; too many records 413; not JSON 400', () => {
    assert.equal(parseRecords(Buffer.from('[{},{}]'), 'json', limits).length, 2);
    assert.equal(
      status(() => parseRecords(Buffer.from('{}'), 'json', limits)),
      400,
    );
    assert.equal(
      status(() => parseRecords(Buffer.from('[1,2,3,4]'), 'json', limits)),
      413,
    );
    assert.equal(
      status(() => parseRecords(Buffer.from('[1,'), 'json', limits)),
      400,
    );
  });
});
