/**
 * Overlap detection: two sources claiming a common name (exact for patterns, sampled for regexes),
 * and sources reaching under the state prefix. Every reported name must really be claimed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findCommonName, findNameUnder } from '../../../shared/routing/overlap.ts';
import { compileSource } from '../../../shared/routing/pattern.ts';

type Source = { pattern: string } | { regex: string };

describe('findCommonName', () => {
  const cases: { name: string; a: Source; b: Source; overlap: boolean }[] = [
    {
      name: 'different folders',
      a: { pattern: 'events/{yyyy}/{mm}/{dd}/*.json' },
      b: { pattern: 'orders/{yyyy}/{mm}/{dd}/*.json' },
      overlap: false,
    },
    {
      name: 'same folder, different suffix',
      a: { pattern: 'x/{yyyy}/{mm}/{dd}/*.json' },
      b: { pattern: 'x/{yyyy}/{mm}/{dd}/*.csv' },
      overlap: false,
    },
    {
      name: 'same pattern',
      a: { pattern: 'x/{yyyy}/{mm}/{dd}/*.json' },
      b: { pattern: 'x/{yyyy}/{mm}/{dd}/*.json' },
      overlap: true,
    },
    {
      name: 'a ** swallowing a folder',
      a: { pattern: 'data/**/*.csv' },
      b: { pattern: 'data/orders/{yyyy}/{mm}/{dd}/*.csv' },
      overlap: true,
    },
    {
      name: 'a * meeting a literal',
      a: { pattern: 'x/*/{yyyy}{mm}{dd}.csv' },
      b: { pattern: 'x/eu/{yyyy}{mm}{dd}.csv' },
      overlap: true,
    },
    {
      name: 'stars that only meet in the middle',
      a: { pattern: 'a/*-1.csv' },
      b: { pattern: 'a/1-*.csv' },
      overlap: true,
    },
    {
      name: 'a prefix of the other, more segments',
      a: { pattern: 'x/{yyyy}/*' },
      b: { pattern: 'x/{yyyy}/{mm}/{dd}/*' },
      overlap: false,
    },
    { name: 'tokens against letters', a: { pattern: 'x/{yyyy}.csv' }, b: { pattern: 'x/abcd.csv' }, overlap: false },
    { name: 'only a dot-name would be common', a: { pattern: 'a/*' }, b: { pattern: 'a/.x' }, overlap: false },
    {
      name: 'hive key vs value',
      a: { pattern: 'e/dt={yyyy}-{mm}-{dd}/*' },
      b: { pattern: 'e/dt={yyyy}{mm}{dd}/*' },
      overlap: false,
    },
    {
      name: 'identical regexes',
      a: { regex: '^x/(?<yyyy>\\d{4})' },
      b: { regex: '^x/(?<yyyy>\\d{4})' },
      overlap: true,
    },
    {
      name: 'regex claiming a pattern sample',
      a: { regex: '^x/.*\\.json$' },
      b: { pattern: 'x/{yyyy}/{mm}/{dd}/*.json' },
      overlap: true,
    },
    {
      name: 'unpadded vs padded month',
      a: { pattern: 'x/{yyyy}/{m}/{dd}/*' },
      b: { pattern: 'x/{yyyy}/{mm}/{dd}/*' },
      overlap: true,
    }, // month=10..12 are both
    {
      name: 'unpadded vs a zero-led literal',
      a: { pattern: 'x/{yyyy}/{m}/*' },
      b: { pattern: 'x/{yyyy}/0*/*' },
      overlap: false,
    },
    {
      name: 'unpadded hour 0 vs a literal 0',
      a: { pattern: 'x/{yyyy}/{h}/*' },
      b: { pattern: 'x/{yyyy}/0/*' },
      overlap: true,
    },
    {
      name: 'regex elsewhere',
      a: { regex: '^y/.*\\.json$' },
      b: { pattern: 'x/{yyyy}/{mm}/{dd}/*.json' },
      overlap: false,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const a = compileSource(c.a);
      const b = compileSource(c.b);
      for (const [x, y] of [
        [a, b],
        [b, a],
      ] as const) {
        const name = findCommonName(x, y);
        assert.equal(name !== null, c.overlap, `found ${JSON.stringify(name)}`);
        if (name !== null && x.kind === 'pattern' && y.kind === 'pattern') {
          assert.ok(x.match(name) && y.match(name), `${name} is claimed by both`);
        }
      }
    });
  }
});

describe('findNameUnder', () => {
  const cases: { source: Source; prefix: string; claims: boolean }[] = [
    { source: { pattern: 'events/dt={yyyy}-{mm}-{dd}/*' }, prefix: '_tidemark/', claims: false },
    { source: { pattern: '**/*.json' }, prefix: '_tidemark/', claims: true },
    { source: { pattern: '*/{yyyy}/{mm}/{dd}/*.json' }, prefix: '_tidemark/', claims: true },
    { source: { pattern: '*/{yyyy}/{mm}/{dd}/*.json' }, prefix: '.tidemark/', claims: false },
    { source: { pattern: '_tidemark/{yyyy}/{mm}/{dd}/*' }, prefix: '_tidemark/', claims: true },
    { source: { pattern: '_t*/{yyyy}/{mm}/{dd}/*' }, prefix: '_tidemark/', claims: true },
    { source: { pattern: '_t*/{yyyy}/{mm}/{dd}/*' }, prefix: '_tidemark/state/', claims: false },
    { source: { pattern: 'a/{yyyy}/{mm}/{dd}/*' }, prefix: 'a/b/', claims: false },
    { source: { regex: '^_tidemark/' }, prefix: '_tidemark/', claims: true },
    { source: { regex: '^events/' }, prefix: '_tidemark/', claims: false },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.source)} under ${c.prefix}`, () => {
      const m = compileSource(c.source);
      const name = findNameUnder(m, c.prefix);
      assert.equal(name !== null, c.claims, `found ${JSON.stringify(name)}`);
      if (name !== null) assert.ok(name.startsWith(c.prefix) && m.match(name));
    });
  }
});
