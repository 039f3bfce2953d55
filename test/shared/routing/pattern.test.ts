/**
 * Compiling patterns and regexes: what they claim, the token values they read, the prefixes they
 * list, what they refuse to compile, and that no name, however long or odd, makes matching hang.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compilePattern,
  compileRegex,
  compileSource,
  PatternSyntaxError,
  regexLiteralPrefix,
} from '../../../shared/routing/pattern.ts';
import type { TokenValues } from '../../../shared/routing/pattern.ts';

const HIVE = 'events/dt={yyyy}-{mm}-{dd}/hr={hh}/*.json.gz';

describe('compilePattern: matching and token values', () => {
  const cases: { pattern: string; name: string; values: TokenValues | null; conflict?: string }[] = [
    {
      pattern: HIVE,
      name: 'events/dt=2026-11-24/hr=13/part-0.json.gz',
      values: { yyyy: '2026', mm: '11', dd: '24', hh: '13' },
    },
    { pattern: HIVE, name: 'events/dt=2026-11-24/hr=13/.json.gz', values: null }, // * does not match a leading dot
    { pattern: HIVE, name: 'events/dt=2026-11-24/hr=13/a/b.json.gz', values: null }, // * stays in its segment
    { pattern: HIVE, name: 'events/dt=2026-11-24/hr=13/part-0.json', values: null },
    { pattern: HIVE, name: 'events/dt=2026-1-24/hr=13/part-0.json.gz', values: null },
    { pattern: HIVE, name: 'events/dt=2026-11-24/hr=1/part-0.json.gz', values: null },
    { pattern: HIVE, name: 'events/dt=2026-11-24/hr=13/', values: null },
    { pattern: HIVE, name: 'Events/dt=2026-11-24/hr=13/x.json.gz', values: null }, // case-sensitive
    {
      pattern: HIVE,
      name: 'events/dt=2026-13-45/hr=99/x.json.gz',
      values: { yyyy: '2026', mm: '13', dd: '45', hh: '99' },
    }, // digits only; the router judges dates
    {
      pattern: HIVE,
      name: 'events/dt=2026-11-24/hr=13/my file ü 名前.json.gz',
      values: { yyyy: '2026', mm: '11', dd: '24', hh: '13' },
    },
    {
      pattern: HIVE,
      name: 'events/dt=2026-11-24/hr=13/%2F.json.gz',
      values: { yyyy: '2026', mm: '11', dd: '24', hh: '13' },
    }, // never URL-decoded
    {
      pattern: 'orders/{yyyy}/{mm}/{dd}/*.csv',
      name: 'orders/2026/11/24/a.csv',
      values: { yyyy: '2026', mm: '11', dd: '24' },
    },
    { pattern: 'orders/{yyyy}/{mm}/{dd}/*.csv', name: 'orders/2026/11/24/a.CSV', values: null },
    { pattern: 'sales/dt={yyyy}{mm}{dd}/*', name: 'sales/dt=20261124/x', values: { yyyy: '2026', mm: '11', dd: '24' } },
    { pattern: 'sales/dt={yyyy}{mm}{dd}/*', name: 'sales/dt=2026112/x', values: null },
    {
      pattern: 'logs/**/{yyyy}/{mm}/{dd}/*.log',
      name: 'logs/2026/11/24/a.log',
      values: { yyyy: '2026', mm: '11', dd: '24' },
    },
    {
      pattern: 'logs/**/{yyyy}/{mm}/{dd}/*.log',
      name: 'logs/eu/west/2026/11/24/a.log',
      values: { yyyy: '2026', mm: '11', dd: '24' },
    },
    { pattern: 'logs/**/{yyyy}/{mm}/{dd}/*.log', name: 'logs/.hidden/2026/11/24/a.log', values: null },
    { pattern: '**/{yyyy}-{mm}-{dd}.csv', name: '2026-11-24.csv', values: { yyyy: '2026', mm: '11', dd: '24' } },
    { pattern: '**/{yyyy}-{mm}-{dd}.csv', name: 'a/b/2026-11-24.csv', values: { yyyy: '2026', mm: '11', dd: '24' } },
    { pattern: 'd/{yyyy}/{mm}/{dd}/**', name: 'd/2026/11/24/x/y/z.bin', values: { yyyy: '2026', mm: '11', dd: '24' } },
    {
      pattern: 'x/*_{yyyy}{mm}{dd}_*.csv',
      name: 'x/export_20261124_001.csv',
      values: { yyyy: '2026', mm: '11', dd: '24' },
    },
    {
      pattern: 'x/*_{yyyy}{mm}{dd}_*.csv',
      name: 'x/a_20261124_b_20261125_c.csv',
      values: { yyyy: '2026', mm: '11', dd: '24' },
    },
    {
      pattern: 'p (copy)/+x@!#,=/{yyyy}-{mm}-{dd}.csv',
      name: 'p (copy)/+x@!#,=/2026-11-24.csv',
      values: { yyyy: '2026', mm: '11', dd: '24' },
    },
    { pattern: 'p (copy)/+x@!#,=/{yyyy}-{mm}-{dd}.csv', name: 'p copy/+x@!#,=/2026-11-24.csv', values: null },
    { pattern: 'a.b/{yyyy}{mm}{dd}.csv', name: 'aXb/20261124.csv', values: null }, // '.' is literal
    {
      pattern: 'a/{yyyy}/{mm}/{dd}/f-{yyyy}{mm}{dd}.csv',
      name: 'a/2026/11/24/f-20261124.csv',
      values: { yyyy: '2026', mm: '11', dd: '24' },
    },
    {
      pattern: 'a/{yyyy}/{mm}/{dd}/f-{yyyy}{mm}{dd}.csv',
      name: 'a/2026/11/24/f-20261125.csv',
      values: { yyyy: '2026', mm: '11', dd: '24' },
      conflict: 'dd',
    },
    // unpadded tokens: Spark and Hive write month=4/day=1/hour=0
    {
      pattern: 'e/year={yyyy}/month={m}/day={d}/hour={h}/*',
      name: 'e/year=2026/month=4/day=1/hour=0/x',
      values: { yyyy: '2026', mm: '4', dd: '1', hh: '0' },
    },
    {
      pattern: 'e/year={yyyy}/month={m}/day={d}/hour={h}/*',
      name: 'e/year=2026/month=12/day=31/hour=23/x',
      values: { yyyy: '2026', mm: '12', dd: '31', hh: '23' },
    },
    {
      pattern: 'e/year={yyyy}/month={m}/day={d}/hour={h}/*',
      name: 'e/year=2026/month=04/day=1/hour=0/x',
      values: null,
    }, // {m} has no leading zero
    {
      pattern: 'e/year={yyyy}/month={m}/day={d}/hour={h}/*',
      name: 'e/year=2026/month=4/day=1/hour=00/x',
      values: null,
    },
    {
      pattern: 'e/year={yyyy}/month={m}/day={d}/hour={h}/*',
      name: 'e/year=2026/month=123/day=1/hour=0/x',
      values: null,
    },
    { pattern: 'e/year={yyyy}/month={m}/day={d}/hour={h}/*', name: 'e/year=2026/month=0/day=1/hour=0/x', values: null },
    { pattern: 'e/{yyyy}-{m}-{d}.csv', name: 'e/2026-4-13.csv', values: { yyyy: '2026', mm: '4', dd: '13' } },
    { pattern: 'e/{yyyy}/{mm}/x-{m}.csv', name: 'e/2026/04/x-4.csv', values: { yyyy: '2026', mm: '04' } }, // same month both ways
    {
      pattern: 'e/{yyyy}/{mm}/x-{m}.csv',
      name: 'e/2026/04/x-5.csv',
      values: { yyyy: '2026', mm: '04' },
      conflict: 'mm',
    },
  ];
  for (const c of cases) {
    it(`${c.pattern} ${c.values ? 'claims' : 'does not claim'} ${c.name}`, () => {
      const found = compilePattern(c.pattern).match(c.name);
      if (c.values === null) return assert.equal(found, null);
      assert.deepEqual(found?.values, c.values);
      assert.equal(found?.conflict, c.conflict);
    });
  }
});

describe('compilePattern: refused patterns', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['a/{yyy}/x', /unknown token at column 3/],
    ['a/{a,b}/{yyyy}', /unknown token/],
    ['a/}/x', /unsupported character "}"/],
    ['a/?/x', /unsupported character "\?"/],
    ['a/[0-9]/x', /unsupported character "\["/],
    ['a\\b', /unsupported character/],
    ['a/x**/b', /must be a whole path segment/],
    ['a/**/b/**/c', /at most one \*\*/],
    ['a/*-*-*.csv', /more than two \*/],
    ['a/{yyyy}{m}{d}/x', /\{m\} .* is unpadded .*could be read two ways/],
    ['a/{yyyy}-{m}{dd}/x', /\{m\} .* is unpadded/],
    ['a/{yyyy}-{m}1/x', /\{m\} .* is unpadded/],
    ['a/{yyyy}-{m}-{d}*.csv', /\{d\} .* is unpadded/],
    ['a/{yyyy}/h-{h}0/x', /\{h\} .* is unpadded/],
    ['a/{y}/x', /unknown token/],
  ];
  for (const [pattern, reason] of cases) {
    it(JSON.stringify(pattern), () =>
      assert.throws(
        () => compilePattern(pattern),
        (e: unknown) => e instanceof PatternSyntaxError && reason.test(e.message),
      ),
    );
  }
  it('compileSource wants exactly one of pattern and regex', () => {
    assert.throws(() => compileSource({}), PatternSyntaxError);
    assert.throws(() => compileSource({ pattern: 'a', regex: 'b' }), PatternSyntaxError);
  });
});

describe('compilePattern: prefixes and examples', () => {
  const cases: { pattern: string; values: TokenValues; prefix: string; literal: string }[] = [
    {
      pattern: HIVE,
      values: { yyyy: '2026', mm: '11', dd: '24', hh: '13' },
      prefix: 'events/dt=2026-11-24/hr=13/',
      literal: 'events/dt=',
    },
    {
      pattern: HIVE,
      values: { yyyy: '2026', mm: '11', dd: '24' },
      prefix: 'events/dt=2026-11-24/hr=',
      literal: 'events/dt=',
    },
    { pattern: HIVE, values: { yyyy: '2026', mm: '11' }, prefix: 'events/dt=2026-11-', literal: 'events/dt=' },
    { pattern: HIVE, values: {}, prefix: 'events/dt=', literal: 'events/dt=' },
    {
      pattern: 'sales/dt={yyyy}{mm}{dd}/*',
      values: { yyyy: '2026', mm: '11' },
      prefix: 'sales/dt=202611',
      literal: 'sales/dt=',
    },
    { pattern: '{dd}-{mm}-{yyyy}/*', values: { yyyy: '2026', mm: '11' }, prefix: '', literal: '' },
    {
      pattern: 'logs/**/{yyyy}/{mm}/{dd}/*.log',
      values: { yyyy: '2026', mm: '11', dd: '24' },
      prefix: 'logs/',
      literal: 'logs/',
    },
    {
      pattern: 'd/{yyyy}/{mm}/{dd}/**',
      values: { yyyy: '2026', mm: '11', dd: '24' },
      prefix: 'd/2026/11/24',
      literal: 'd/',
    },
    { pattern: 'x/*/{yyyy}/{mm}/{dd}', values: { yyyy: '2026', mm: '11', dd: '24' }, prefix: 'x/', literal: 'x/' },
    // unpadded tokens are spelled unpadded in prefixes, whichever way the value is given
    {
      pattern: 'e/year={yyyy}/month={m}/day={d}/hour={h}/*',
      values: { yyyy: '2026', mm: '04', dd: '01', hh: '00' },
      prefix: 'e/year=2026/month=4/day=1/hour=0/',
      literal: 'e/year=',
    },
    {
      pattern: 'e/year={yyyy}/month={m}/day={d}/hour={h}/*',
      values: { yyyy: '2026', mm: '4' },
      prefix: 'e/year=2026/month=4/day=',
      literal: 'e/year=',
    },
    {
      pattern: 'e/{yyyy}-{m}-{d}.csv',
      values: { yyyy: '2026', mm: '11', dd: '09' },
      prefix: 'e/2026-11-9.csv',
      literal: 'e/',
    },
  ];
  for (const c of cases) {
    it(`${c.pattern} with ${JSON.stringify(c.values)}`, () => {
      const m = compilePattern(c.pattern);
      assert.equal(m.prefixWith(c.values), c.prefix);
      assert.equal(m.literalPrefix, c.literal);
      const example = m.example({ yyyy: '2026', mm: '11', dd: '24', hh: '13' }, 'part-0');
      assert.ok(example !== null && m.match(example), `example ${example} is claimed`);
    });
  }
});

describe('compileRegex', () => {
  const re = '^exports/(?<yyyy>\\d{4})(?<mm>\\d{2})(?<dd>\\d{2})/(?:hour=(?<hh>\\d{2})/)?[^/]+\\.parquet$';
  const cases: { name: string; values: TokenValues | null }[] = [
    { name: 'exports/20261124/hour=13/a.parquet', values: { yyyy: '2026', mm: '11', dd: '24', hh: '13' } },
    { name: 'exports/20261124/a.parquet', values: { yyyy: '2026', mm: '11', dd: '24' } },
    { name: 'exports/20261124/a.csv', values: null },
    { name: 'other/exports/20261124/a.parquet', values: null },
  ];
  for (const c of cases) {
    it(`${c.values ? 'claims' : 'does not claim'} ${c.name}`, () => {
      const m = compileRegex(re);
      assert.deepEqual(m.match(c.name)?.values ?? null, c.values);
    });
  }
  it('reads 1- or 2-digit month, day and hour groups', () => {
    const spark = compileRegex('^e/month=(?<mm>\\d{1,2})/day=(?<dd>\\d{1,2})/(?<yyyy>\\d{4})-(?<hh>\\d{1,2})\\.csv$');
    assert.deepEqual(spark.match('e/month=4/day=1/2026-0.csv')?.values, { yyyy: '2026', mm: '4', dd: '1', hh: '0' });
  });
  it('knows its tokens and refuses what does not compile', () => {
    assert.deepEqual([...compileRegex(re).tokens].sort(), ['dd', 'hh', 'mm', 'yyyy']);
    assert.deepEqual([...compileRegex('^(?<yyyy>\\d{4})/(?<month>\\d\\d)').tokens], ['yyyy']);
    assert.throws(
      () => compileRegex('^(?<yyyy>\\d{4}'),
      (e: unknown) => e instanceof PatternSyntaxError && /does not compile/.test(e.message),
    );
    assert.equal(compileRegex(re).example({}), null);
  });

  const prefixes: [string, string][] = [
    [re, 'exports/'],
    ['exports/(?<yyyy>\\d{4})', ''], // not anchored: could match anywhere
    ['^a\\/b\\.c-(?<yyyy>\\d{4})', 'a/b.c-'],
    ['^abc?/(?<yyyy>\\d{4})', 'ab'],
    ['^abc*/(?<yyyy>\\d{4})', 'ab'],
    ['^abc+/(?<yyyy>\\d{4})', 'abc'],
    ['^abc{2}/(?<yyyy>\\d{4})', 'ab'],
    ['^ab\\d', 'ab'],
    ['^a.b', 'a'],
    ['^a/(?:x|y)/(?<yyyy>\\d{4})', 'a/'],
    ['^a/x|^b/y', ''],
    ['^a/[|]/x', 'a/'],
  ];
  for (const [source, prefix] of prefixes)
    it(`literal prefix of ${source} is ${JSON.stringify(prefix)}`, () =>
      assert.equal(regexLiteralPrefix(source), prefix));
});

describe('long and hostile names do not hang', () => {
  // Each of these ran for seconds or forever with three stars per segment; the limits keep them fast.
  const patterns = [
    HIVE,
    'x/*_{yyyy}{mm}{dd}_*.csv',
    'logs/**/{yyyy}/{mm}/{dd}/*x*.log',
    '**/{yyyy}-{mm}-{dd}/*.csv',
    'd/{yyyy}/{mm}/{dd}/**',
  ];
  const names = [
    'events/dt=2026-11-24/hr=13/' + 'a.json.gz'.repeat(600),
    'events/dt=2026-11-24/hr=13/' + 'x'.repeat(5000),
    'x/' + 'a_20261124_'.repeat(460),
    'logs/' + 'x'.repeat(5000),
    'logs/' + '2026/'.repeat(1000),
    'x/'.repeat(2500),
    '../'.repeat(1500) + 'a.csv',
    'é'.repeat(3000),
    'd/2026/11/24/' + 'y/'.repeat(2000) + 'z',
  ];
  for (const pattern of patterns) {
    it(pattern, () => {
      const m = compilePattern(pattern);
      for (const name of names) m.match(name); // finishing is the assertion
      assert.ok(m.match('d/2026/11/24/' + 'y/'.repeat(2000) + 'z') !== null || pattern !== 'd/{yyyy}/{mm}/{dd}/**');
    });
  }
});
