import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { refuseUnloadable } from '../../../shared/core/listing.ts';
import { unloadableReason } from '../../../shared/core/object-names.ts';

describe('unloadableReason: which names a load URI can carry', () => {
  const cases: { name: string; why: RegExp | null }[] = [
    { name: 'events/a.csv', why: null },
    { name: 'events/a b,c;d=e.csv', why: null },
    { name: 'events/x[1].csv', why: null },
    { name: 'events/x?.csv', why: null },
    { name: 'events/{a}.csv', why: null },
    { name: 'events/ünïcødé.csv', why: null },
    { name: `events/${'x'.repeat(1017)}`, why: null }, // exactly 1,024 bytes
    { name: 'events/a*.json', why: /"\*".*wildcard.*rename the object without "\*"/ },
    { name: '*', why: /wildcard/ },
    { name: 'events/a\nb.csv', why: /line feed.*rename the object/ },
    { name: 'events/a\rb.csv', why: /carriage return.*rename the object/ },
    { name: 'events/a\0b.csv', why: /NUL.*rename the object/ },
    { name: `events/${'x'.repeat(1018)}`, why: /1025 bytes, over the 1024.*rename the object to a shorter name/ },
    { name: `events/${'é'.repeat(509)}`, why: /1025 bytes/ }, // 2 bytes each in UTF-8
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.name.length > 40 ? `${c.name.slice(0, 20)}…(${Buffer.byteLength(c.name)} bytes)` : c.name)} -> ${c.why ? 'refused' : 'loadable'}`, () => {
      const why = unloadableReason(c.name);
      if (c.why === null) assert.equal(why, null);
      else assert.match(why ?? '', c.why);
    });
  }
});

describe('refuseUnloadable', () => {
  const store = {
    uri: (_b: string, name: string) => {
      if (name.includes('/../'))
        throw new Error(`invalid object name ${JSON.stringify(name)}: must not contain ".." segments`);
      return `gs://lake/${name}`;
    },
  };
  const obj = (name: string, generation = '1') => ({ bucket: 'lake', name, generation, size: 1 });

  it("applies the common rule, then the store's, and keeps an earlier entry's time", () => {
    const earlier = { name: 'a*.csv', generation: '1', error: 'old words', jobId: '', at: 5 };
    const out = refuseUnloadable(
      store,
      'lake',
      [obj('ok.csv'), obj('a*.csv'), obj('b*.csv', '2'), obj('x/../y.csv')],
      [earlier],
      100,
    );
    assert.deepEqual(
      out.map((q) => [q.name, q.jobId, q.at]),
      [
        ['a*.csv', '', 5],
        ['b*.csv', '', 100],
        ['x/../y.csv', '', 100],
      ],
    );
    assert.match(out[2]!.error, /must not contain "\.\." segments; rename the object/);
  });
});
