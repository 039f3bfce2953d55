/**
 * Partition-id math: ids of instants, starts and ends, ranges, and the normalisation of partitions
 * named in messages (which must refuse anything malformed, unreal or misaligned).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidMessageError } from '../../../shared/core/errors.ts';
import {
  granularityOf,
  nextPartitionId,
  normalizePartition,
  partitionEnd,
  partitionIdAt,
  partitionsInRange,
  partitionStart,
} from '../../../shared/routing/partition.ts';
import type { Granularity } from '../../../shared/routing/partition.ts';

const H = 3_600_000;

describe('partitionIdAt', () => {
  const cases: [string, number, Granularity, string][] = [
    ['start of an hour', Date.UTC(2026, 10, 24, 13), 'HOUR', '2026112413'],
    ['inside an hour', Date.UTC(2026, 10, 24, 13, 59, 59, 999), 'HOUR', '2026112413'],
    ['midnight', Date.UTC(2026, 10, 24), 'HOUR', '2026112400'],
    ['day of an instant', Date.UTC(2026, 10, 24, 23, 30), 'DAY', '20261124'],
    ['leap day', Date.UTC(2028, 1, 29, 5), 'DAY', '20280229'],
    ['epoch', 0, 'HOUR', '1970010100'],
  ];
  for (const [name, ms, g, id] of cases) it(name, () => assert.equal(partitionIdAt(ms, g), id));
  it('refuses NaN', () => assert.throws(() => partitionIdAt(Number.NaN, 'HOUR'), RangeError));
});

describe('partitionStart / partitionEnd / nextPartitionId / granularityOf', () => {
  const cases: { id: string; start: number; end: number; next: string; g: Granularity }[] = [
    {
      id: '2026112413',
      start: Date.UTC(2026, 10, 24, 13),
      end: Date.UTC(2026, 10, 24, 14),
      next: '2026112414',
      g: 'HOUR',
    },
    { id: '2026112423', start: Date.UTC(2026, 10, 24, 23), end: Date.UTC(2026, 10, 25), next: '2026112500', g: 'HOUR' },
    { id: '2026123123', start: Date.UTC(2026, 11, 31, 23), end: Date.UTC(2027, 0, 1), next: '2027010100', g: 'HOUR' },
    { id: '20261124', start: Date.UTC(2026, 10, 24), end: Date.UTC(2026, 10, 25), next: '20261125', g: 'DAY' },
    { id: '20280228', start: Date.UTC(2028, 1, 28), end: Date.UTC(2028, 1, 29), next: '20280229', g: 'DAY' },
    { id: '20270228', start: Date.UTC(2027, 1, 28), end: Date.UTC(2027, 2, 1), next: '20270301', g: 'DAY' },
  ];
  for (const c of cases) {
    it(c.id, () => {
      assert.equal(partitionStart(c.id), c.start);
      assert.equal(partitionEnd(c.id), c.end);
      assert.equal(nextPartitionId(c.id), c.next);
      assert.equal(granularityOf(c.id), c.g);
    });
  }

  const malformed = [
    '',
    '2026',
    '202611241',
    '20261124130',
    '2026-11-24',
    '20261301',
    '20261100',
    '20270229',
    '2026112424',
    'abcdefgh',
    ' 20261124',
  ];
  for (const id of malformed) {
    it(`refuses ${JSON.stringify(id)} with RangeError`, () => {
      assert.throws(() => partitionStart(id), RangeError);
      assert.throws(() => granularityOf(id), RangeError);
    });
  }
});

describe('partitionsInRange', () => {
  const cases: [string, number, number, Granularity, string[]][] = [
    [
      'aligned hours',
      Date.UTC(2026, 10, 24, 22),
      Date.UTC(2026, 10, 25, 1),
      'HOUR',
      ['2026112422', '2026112423', '2026112500'],
    ],
    [
      'from inside an hour skips that hour',
      Date.UTC(2026, 10, 24, 22, 30),
      Date.UTC(2026, 10, 25, 0),
      'HOUR',
      ['2026112423'],
    ],
    [
      'to inside an hour keeps the hour starting before it',
      Date.UTC(2026, 10, 24, 22),
      Date.UTC(2026, 10, 24, 23, 1),
      'HOUR',
      ['2026112422', '2026112423'],
    ],
    ['empty when from = to', Date.UTC(2026, 10, 24), Date.UTC(2026, 10, 24), 'HOUR', []],
    ['empty when from > to', Date.UTC(2026, 10, 25), Date.UTC(2026, 10, 24), 'DAY', []],
    ['days across a month', Date.UTC(2026, 10, 29), Date.UTC(2026, 11, 2), 'DAY', ['20261129', '20261130', '20261201']],
    ['days from mid-day', Date.UTC(2026, 10, 29, 12), Date.UTC(2026, 11, 1), 'DAY', ['20261130']],
  ];
  for (const [name, from, to, g, ids] of cases) it(name, () => assert.deepEqual(partitionsInRange(from, to, g), ids));

  it('a year of hours is 8760 ascending ids', () => {
    const ids = partitionsInRange(Date.UTC(2026, 0, 1), Date.UTC(2027, 0, 1), 'HOUR');
    assert.equal(ids.length, 8760);
    assert.equal(ids[0], '2026010100');
    assert.equal(ids.at(-1), '2026123123');
    assert.equal(partitionStart(ids[100]!) - partitionStart(ids[99]!), H);
  });
});

describe('normalizePartition', () => {
  const valid: [string, Granularity, string][] = [
    ['2026112413', 'HOUR', '2026112413'],
    ['20261124', 'DAY', '20261124'],
    ['2026-11-24', 'DAY', '20261124'],
    ['2026-11-24T13:00:00Z', 'HOUR', '2026112413'],
    ['2026-11-24T13:00Z', 'HOUR', '2026112413'],
    ['2026-11-24 13:00:00z', 'HOUR', '2026112413'],
    ['2026-11-24T13:00:00.000Z', 'HOUR', '2026112413'],
    ['2026-11-24T13:00:00+09:00', 'HOUR', '2026112404'],
    ['2026-11-25T00:00:00+09:00', 'HOUR', '2026112415'],
    ['2026-11-24T13:00:00-0500', 'HOUR', '2026112418'],
    ['2026-11-24T00:00:00Z', 'DAY', '20261124'],
    ['2026-11-25T09:00:00+09:00', 'DAY', '20261125'],
    [' 2026112413 ', 'HOUR', '2026112413'],
  ];
  for (const [input, g, id] of valid)
    it(`${input} (${g}) -> ${id}`, () => assert.equal(normalizePartition(input, g), id));

  const invalid: [string, Granularity, RegExp][] = [
    ['', 'HOUR', /expected YYYYMMDDHH/],
    ['yesterday', 'DAY', /expected YYYYMMDDHH/],
    ['2026/11/24', 'DAY', /expected/],
    ['20261124', 'HOUR', /a day was given for an HOUR/],
    ['2026-11-24', 'HOUR', /a day was given for an HOUR/],
    ['2026112413', 'DAY', /an hour was given for a DAY/],
    ['2026112400', 'DAY', /an hour was given for a DAY/],
    ['2026-11-24T13:30:00Z', 'HOUR', /not aligned/],
    ['2026-11-24T13:00:01Z', 'HOUR', /not aligned/],
    ['2026-11-24T13:00:00.5Z', 'HOUR', /not aligned/],
    ['2026-11-24T13:00:00+05:30', 'HOUR', /not aligned/],
    ['2026-11-24T13:00:00Z', 'DAY', /not aligned/],
    ['2026-11-24T00:00:00+09:00', 'DAY', /not aligned/],
    ['20261301', 'DAY', /not a real date/],
    ['20270229', 'DAY', /not a real date/],
    ['2026112424', 'HOUR', /not a real date/],
    ['2026-02-30', 'DAY', /not a real date/],
    ['2026-11-24T13:61:00Z', 'HOUR', /not a real time/],
    ['2026-11-24T13:00:00+25:00', 'HOUR', /bad UTC offset/],
    ['2026-11-24T13:00:00', 'HOUR', /expected/],
    ['19591231', 'DAY', /partition range/],
    ['21600101', 'DAY', /partition range/],
  ];
  for (const [input, g, reason] of invalid) {
    it(`refuses ${JSON.stringify(input)} for ${g}`, () => {
      assert.throws(
        () => normalizePartition(input, g),
        (err: unknown) =>
          err instanceof InvalidMessageError && err.message.includes(JSON.stringify(input)) && reason.test(err.message),
      );
    });
  }
});
