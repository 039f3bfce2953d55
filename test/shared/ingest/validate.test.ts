/**
 * validateRecord as a table: every BigQuery type and mode, unknown fields per config, the
 * columns tidemark sets, and hostile shapes (prototype keys, wrong containers).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SchemaField } from '../../../shared/core/ports.ts';
import { validateRecord } from '../../../shared/ingest/validate.ts';

const SCHEMA: SchemaField[] = [
  { name: 'device_id', type: 'STRING', mode: 'REQUIRED' },
  { name: 'n', type: 'INTEGER' },
  { name: 'f', type: 'FLOAT' },
  { name: 'd', type: 'NUMERIC' },
  { name: 'b', type: 'BOOLEAN' },
  { name: 'ts', type: 'TIMESTAMP' },
  { name: 'day', type: 'DATE' },
  { name: 'dt', type: 'DATETIME' },
  { name: 't', type: 'TIME' },
  { name: 'raw', type: 'BYTES' },
  { name: 'doc', type: 'JSON' },
  { name: 'tags', type: 'STRING', mode: 'REPEATED' },
  {
    name: 'meta',
    type: 'RECORD',
    fields: [
      { name: 'battery', type: 'INTEGER', mode: 'REQUIRED' },
      { name: 'src', type: 'STRING' },
    ],
  },
  { name: 'event_id', type: 'STRING', mode: 'REQUIRED' },
  { name: 'received_at', type: 'TIMESTAMP', mode: 'REQUIRED' },
];

const base = { device_id: 'd1' };

describe('validateRecord', () => {
  const good: [string, Record<string, unknown>][] = [
    ['the required field only', {}],
    ['an integer, and one as a string', { n: 42 }],
    ['INT64 max as a string', { n: '9223372036854775807' }],
    ['a float, an integer float, NaN as a string', { f: 1.5 }],
    ['NaN as text', { f: 'NaN' }],
    ['a numeric as a string', { d: '123456789012345678901234567.123456789' }],
    ['booleans', { b: false }],
    ['a UTC timestamp', { ts: '2026-11-24T13:05:09.123Z' }],
    ['a timestamp with an offset', { ts: '2026-11-24 13:05:09+09:00' }],
    ['a date', { day: '2028-02-29' }],
    ['a datetime', { dt: '2026-11-24T13:05:09.5' }],
    ['a time', { t: '23:59:59' }],
    ['base64 bytes', { raw: 'aGVsbG8=' }],
    ['any JSON', { doc: { a: [1, { b: null }] } }],
    ['a repeated field', { tags: ['a', 'b'] }],
    ['a record', { meta: { battery: 80, src: 'gps' } }],
    ['nulls in nullable fields', { n: null, meta: null, tags: null }],
    ['a caller event id', { event_id: 'abc-123:x@y.z' }],
    ['column names in another case', { N: 3, Tags: ['x'] }],
  ];
  for (const [what, extra] of good) {
    it(`accepts ${what}`, () => {
      const r = validateRecord(SCHEMA, { ...base, ...extra }, 'reject');
      assert.ok(r.ok, r.ok ? '' : r.reason);
    });
  }

  const bad: [string, unknown, RegExp][] = [
    ['a JSON array', [1, 2], /must be a JSON object, got an array/],
    ['a string', 'x', /must be a JSON object/],
    ['null', null, /must be a JSON object, got null/],
    ['a missing required field', { n: 1 }, /^device_id: required$/],
    ['a null required field', { device_id: null }, /device_id: required, got null/],
    ['a number for a string', { device_id: 5 }, /device_id: expected a string, got number 5/],
    ['a fractional integer', { ...base, n: 1.5 }, /^n: expected an integer/],
    ['an integer beyond INT64', { ...base, n: '9223372036854775808' }, /INT64 range/],
    ['an unsafe integer as a number', { ...base, n: 2 ** 60 }, /as a string/],
    ['a word for a float', { ...base, f: 'fast' }, /^f: expected a number/],
    ['a boolean as text', { ...base, b: 'true' }, /^b: expected true or false/],
    ['a timestamp without a time', { ...base, ts: '2026-11-24' }, /^ts: expected a timestamp/],
    ['a timestamp on Feb 30', { ...base, ts: '2026-02-30T00:00:00Z' }, /not a real time/],
    ['hour 24', { ...base, ts: '2026-02-03T24:00:00Z' }, /not a real time/],
    ['a date on Feb 29 of a common year', { ...base, day: '2026-02-29' }, /not a real date/],
    ['a number for a date', { ...base, day: 20261124 }, /^day: expected a date/],
    ['bytes that are not base64', { ...base, raw: 'not base64!' }, /^raw: expected base64/],
    ['a scalar for a repeated field', { ...base, tags: 'a' }, /^tags: expected an array/],
    ['a null inside a repeated field', { ...base, tags: ['a', null] }, /^tags\[1\]: null elements/],
    ['a wrong element type', { ...base, tags: ['a', 2] }, /^tags\[1\]: expected a string/],
    ['an array for a record', { ...base, meta: [] }, /^meta: expected an object, got an array/],
    ['a missing nested required field', { ...base, meta: { src: 'x' } }, /^meta\.battery: required$/],
    ['a nested unknown field', { ...base, meta: { battery: 1, volts: 3 } }, /^meta\.volts: not a column/],
    ['an unknown field', { ...base, speed: 3 }, /^speed: not a column of the table$/],
    ['a column given twice in two cases', { ...base, N: 1, n: 2 }, /given twice/],
    ['received_at from the caller', { ...base, received_at: '2026-11-24T00:00:00Z' }, /set by tidemark/],
    ['an event id with a space', { ...base, event_id: 'a b' }, /event_id: must be 1-128/],
    ['an event id as a number', { ...base, event_id: 7 }, /event_id: must be/],
    ['a 200-character event id', { ...base, event_id: 'x'.repeat(200) }, /event_id: must be/],
  ];
  for (const [what, value, reason] of bad) {
    it(`refuses ${what}`, () => {
      const r = validateRecord(SCHEMA, value, 'reject');
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.reason, reason);
    });
  }

  it('unknownFields: ignore drops unknown fields (top level and nested) and keeps the rest', () => {
    const r = validateRecord(SCHEMA, { ...base, speed: 3, meta: { battery: 1, volts: 3 } }, 'ignore');
    assert.ok(r.ok);
    assert.deepEqual(r.record, { device_id: 'd1', meta: { battery: 1 } });
  });

  it('a __proto__ key from JSON.parse is an unknown field, never a prototype', () => {
    const value: unknown = JSON.parse('{"device_id":"d","__proto__":{"polluted":true}}');
    const refused = validateRecord(SCHEMA, value, 'reject');
    assert.ok(!refused.ok && /__proto__: not a column/.test(refused.reason));
    const kept = validateRecord(SCHEMA, value, 'ignore');
    assert.ok(kept.ok);
    assert.deepEqual(Object.keys(kept.record), ['device_id']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(Object.getPrototypeOf(kept.record), Object.prototype);
  });

  it('the caller event id is returned apart from the record; the column names follow the schema', () => {
    const r = validateRecord(SCHEMA, { DEVICE_ID: 'x', event_id: 'e1' }, 'reject');
    assert.ok(r.ok);
    assert.equal(r.eventId, 'e1');
    assert.deepEqual(r.record, { device_id: 'x' });
  });
});
