/** Fingerprints, job ids and label time encoding: stable, order-free, legal characters. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeLabelTime, encodeLabelTime, fingerprintObjects, jobIdFor } from '../../../shared/core/fingerprint.ts';

describe('fingerprintObjects', () => {
  const a = { name: 'events/dt=2026-11-24/hr=10/a.json.gz', generation: '1732450000000001' };
  const b = { name: 'events/dt=2026-11-24/hr=10/b.json.gz', generation: '1732450000000002' };
  it('does not depend on listing order', () => assert.equal(fingerprintObjects([a, b]), fingerprintObjects([b, a])));
  it('changes with a new generation, an added object and a removed object', () => {
    const base = fingerprintObjects([a, b]);
    assert.notEqual(fingerprintObjects([a, { ...b, generation: '9' }]), base);
    assert.notEqual(fingerprintObjects([a]), base);
    assert.notEqual(fingerprintObjects([a, b, { name: 'c', generation: '1' }]), base);
  });
  it('cannot be fooled by names that run into generations', () => {
    assert.notEqual(
      fingerprintObjects([{ name: 'x1', generation: '23' }]),
      fingerprintObjects([{ name: 'x', generation: '123' }]),
    );
    assert.notEqual(
      fingerprintObjects([{ name: 'a\nb', generation: '1' }]),
      fingerprintObjects([
        { name: 'a', generation: '1' },
        { name: 'b', generation: '1' },
      ]),
    );
  });
  it('is a stable sha256 hex, known for the empty set', () => {
    assert.equal(fingerprintObjects([]), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.match(fingerprintObjects([a]), /^[0-9a-f]{64}$/);
  });
});

describe('jobIdFor', () => {
  const cases: [string, string, string, string][] = [
    ['load', 'events', '2026112413', 'f'.repeat(64)],
    ['copy', 'orders', '20261124', '0'.repeat(64)],
    ['truncate', 'a_table_with_a_rather_long_name_of_forty', '2026112413', '1'.repeat(64)],
  ];
  for (const [kind, table, partition, fp] of cases) {
    it(`${kind} ${table}$${partition}: legal characters, well under 1,024, stable`, () => {
      const id = jobIdFor(kind, table, partition, fp, '7');
      assert.match(id, /^[A-Za-z0-9_-]+$/);
      assert.ok(id.length <= 1024 && id.length < 160, `${id.length} chars`);
      assert.equal(id, jobIdFor(kind, table, partition, fp, '7'));
      assert.ok(id.includes(partition));
    });
  }
  it('differs by kind, table, partition, fingerprint and salt', () => {
    const base = jobIdFor('load', 't', '2026112413', 'a', '1');
    for (const other of [
      jobIdFor('copy', 't', '2026112413', 'a', '1'),
      jobIdFor('load', 'u', '2026112413', 'a', '1'),
      jobIdFor('load', 't', '2026112414', 'a', '1'),
      jobIdFor('load', 't', '2026112413', 'b', '1'),
      jobIdFor('load', 't', '2026112413', 'a', '2'),
    ]) {
      assert.notEqual(other, base);
    }
  });
  it('keeps unexpected characters out of the id', () =>
    assert.match(jobIdFor('load', 'we!rd tab/le', '20261124', 'x'), /^[A-Za-z0-9_-]+$/));
});

describe('label time encoding', () => {
  const cases: [string, number, string][] = [
    ['a plain instant', Date.UTC(2026, 10, 24, 13, 5, 9), '20261124t130509z'],
    ['milliseconds are dropped', Date.UTC(2026, 10, 24, 13, 5, 9, 999), '20261124t130509z'],
    ['the start of a year', Date.UTC(2027, 0, 1), '20270101t000000z'],
  ];
  for (const [what, ms, encoded] of cases) {
    it(`${what}: ${encoded}`, () => {
      assert.equal(encodeLabelTime(ms), encoded);
      assert.match(encoded, /^[a-z0-9_-]{1,63}$/, 'a legal label value');
      assert.equal(decodeLabelTime(encoded), Math.floor(ms / 1000) * 1000);
    });
  }
  it('sorts like time', () => {
    const times = [Date.UTC(2026, 0, 2), Date.UTC(2025, 11, 31, 23), Date.UTC(2026, 10, 24, 9)];
    assert.deepEqual(times.map(encodeLabelTime).sort(), [...times].sort((x, y) => x - y).map(encodeLabelTime));
  });
  for (const bad of [undefined, '', '2026-11-24T13:05:09Z', '20261124t130509', '20261324t130509z', 'garbage']) {
    it(`decodes ${JSON.stringify(bad)} as null`, () => assert.equal(decodeLabelTime(bad), null));
  }
});
