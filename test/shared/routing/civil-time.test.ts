/**
 * Zone arithmetic over Intl: offsets, local hours to instants (DST gaps and folds), zone surveys,
 * and the time-zone rule that decides which tables may use which zone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  instantOfLocalHour,
  isRealTime,
  isValidTimeZone,
  localHourAt,
  offsetAt,
  renderedWall,
  surveyZone,
  utcMs,
} from '../../../shared/routing/civil-time.ts';
import type { Partitioning } from '../../../shared/core/ports.ts';
import { pathTimeRuleOf, zoneProblem } from '../../../shared/routing/zone-rule.ts';
import { intlWall } from '../../helpers/intl-oracle.ts';

const H = 3_600_000;
const NOW = Date.UTC(2026, 10, 24);

describe('offsetAt / localHourAt', () => {
  const cases: [string, number, number][] = [
    ['Asia/Seoul', Date.UTC(2026, 10, 24, 15), 9 * H],
    ['UTC', Date.UTC(2026, 10, 24, 15), 0],
    ['America/New_York', Date.UTC(2026, 0, 15), -5 * H],
    ['America/New_York', Date.UTC(2026, 6, 15), -4 * H],
    ['Asia/Kolkata', Date.UTC(2026, 6, 15), 5.5 * H],
    ['Australia/Adelaide', Date.UTC(2026, 0, 15), 10.5 * H],
    ['Pacific/Kiritimati', Date.UTC(2026, 0, 15), 14 * H],
  ];
  for (const [zone, ms, offset] of cases)
    it(`${zone} at ${new Date(ms).toISOString()}`, () => assert.equal(offsetAt(ms, zone), offset));
  it('Seoul midnight is 15:00 UTC the day before', () => {
    assert.deepEqual(localHourAt(Date.UTC(2026, 10, 24, 15), 'Asia/Seoul'), {
      year: 2026,
      month: 11,
      day: 25,
      hour: 0,
    });
  });
});

/** Intl's own answer at one instant, computed independently of civil-time.ts (the oracle for its cache). */
function intlOffset(ms: number, zone: string): number {
  const whole = Math.floor(ms / 1000) * 1000;
  const w = intlWall(whole, zone);
  return utcMs(w.year, w.month, w.day, w.hour) + w.minute * 60_000 + w.second * 1000 - whole;
}

describe('offsetAt at transitions (cached per hour, exact to the second)', () => {
  const M = 60_000;
  // [zone, the transition instant (UTC), offset just before, offset from then on]
  const cases: [string, number, number, number][] = [
    ['America/New_York spring-forward', Date.UTC(2026, 2, 8, 7), -5 * H, -4 * H],
    ['America/New_York fall-back', Date.UTC(2026, 10, 1, 6), -4 * H, -5 * H],
    ['Europe/London spring-forward', Date.UTC(2026, 2, 29, 1), 0, H],
    ['Australia/Lord_Howe DST ends at 15:00 UTC', Date.UTC(2026, 3, 4, 15), 11 * H, 10.5 * H],
    ['Australia/Lord_Howe DST starts at 15:30 UTC, inside an hour', Date.UTC(2026, 9, 3, 15, 30), 10.5 * H, 11 * H],
    ['Asia/Kathmandu +5:30 -> +5:45 at 18:30 UTC, inside an hour', Date.UTC(1985, 11, 31, 18, 30), 5.5 * H, 5.75 * H],
    ['Pacific/Chatham spring-forward at 14:00 UTC', Date.UTC(2026, 8, 26, 14), 12.75 * H, 13.75 * H],
  ];
  for (const [name, at, before, after] of cases) {
    const zone = name.split(' ')[0]!;
    it(name, () => {
      // Ask the hour after the transition first, so a cache filled there cannot answer for before.
      for (const ms of [at + H, at, at - 1, at - 1000, at + 999, at - H, at + 59 * M]) {
        assert.equal(offsetAt(ms, zone), ms < at ? before : after, new Date(ms).toISOString());
      }
      for (let ms = at - 2 * H; ms <= at + 2 * H; ms += 7 * M + 13_000)
        assert.equal(offsetAt(ms, zone), intlOffset(ms, zone), new Date(ms).toISOString());
    });
  }
  it('UTC-like zones are 0 at every instant, as Intl says', () => {
    for (const zone of ['UTC', 'Etc/UTC', 'Etc/GMT', 'GMT', 'Zulu']) {
      for (const ms of [utcMs(99, 1, 1), Date.UTC(1900, 0, 1), Date.UTC(2026, 5, 1, 12, 34)])
        assert.equal(offsetAt(ms, zone), intlOffset(ms, zone), zone);
    }
  });
  it('every hour of a year in several zones matches Intl', () => {
    for (const zone of ['America/New_York', 'Europe/Berlin', 'Australia/Lord_Howe', 'Asia/Seoul', 'America/Santiago']) {
      for (let ms = Date.UTC(2026, 0, 1) + 17 * M; ms < Date.UTC(2027, 0, 1); ms += H + 11 * M)
        assert.equal(offsetAt(ms, zone), intlOffset(ms, zone), `${zone} ${new Date(ms).toISOString()}`);
    }
  });
  it('an unknown zone still fails', () => assert.throws(() => offsetAt(0, 'Mars/Base')));
  it("reads en-US's rendering of the fields; any other rendering is null (then the parts are asked)", () => {
    assert.equal(renderedWall('11/14/2023 AD, 17:13:20'), Date.UTC(2023, 10, 14, 17, 13, 20));
    assert.equal(renderedWall('1/1/100 BC, 00:00:00'), utcMs(-99, 1, 1, 0));
    for (const other of ['14.11.2023 n. Chr., 17:13:20', '11/14/2023, 17:13:20', '11/14/2023 AD, 5:13:20 PM'])
      assert.equal(renderedWall(other), null, other);
  });
});

describe('instantOfLocalHour', () => {
  const cases: [string, string, [number, number, number, number], number | null][] = [
    ['Seoul 00:00', 'Asia/Seoul', [2026, 11, 25, 0], Date.UTC(2026, 10, 24, 15)],
    ['New York before spring-forward', 'America/New_York', [2026, 3, 8, 1], Date.UTC(2026, 2, 8, 6)],
    ['New York spring-forward gap', 'America/New_York', [2026, 3, 8, 2], null],
    ['New York after spring-forward', 'America/New_York', [2026, 3, 8, 3], Date.UTC(2026, 2, 8, 7)],
    ['New York fall-back fold: first 01:00', 'America/New_York', [2026, 11, 1, 1], Date.UTC(2026, 10, 1, 5)],
    ['New York after the fold', 'America/New_York', [2026, 11, 1, 2], Date.UTC(2026, 10, 1, 7)],
    ['Kolkata half hour', 'Asia/Kolkata', [2026, 11, 24, 10], Date.UTC(2026, 10, 24, 4, 30)],
    ['year 0099 is not 1999', 'UTC', [99, 1, 1, 0], utcMs(99, 1, 1)],
  ];
  for (const [name, zone, [year, month, day, hour], expected] of cases) {
    it(name, () => assert.equal(instantOfLocalHour({ year, month, day, hour }, zone), expected));
  }
});

describe('isRealTime / isValidTimeZone', () => {
  it('calendar checks', () => {
    assert.ok(isRealTime(2028, 2, 29, 23));
    for (const [y, m, d, h] of [
      [2027, 2, 29, 0],
      [2026, 13, 1, 0],
      [2026, 0, 1, 0],
      [2026, 4, 31, 0],
      [2026, 1, 1, 24],
      [2026, 1, 0, 0],
    ] as const) {
      assert.equal(isRealTime(y, m, d, h), false, `${y}-${m}-${d} ${h}`);
    }
  });
  it('zones', () => {
    for (const zone of ['UTC', 'Etc/UTC', 'Asia/Seoul', 'America/New_York']) assert.ok(isValidTimeZone(zone), zone);
    for (const zone of ['Mars/Base', '', '+09:00', 'KST+9', 'Asia/Seou'])
      assert.equal(isValidTimeZone(zone), false, zone);
  });
  it('UTC names are valid without asking Intl (whose first formatter loads the zone data), and Intl agrees', () => {
    const utcNames = [
      'UTC',
      'Etc/UTC',
      'Etc/UCT',
      'Etc/Universal',
      'Etc/Zulu',
      'Etc/GMT',
      'Etc/GMT0',
      'Etc/GMT+0',
      'Etc/GMT-0',
      'GMT',
      'Universal',
      'Zulu',
    ];
    for (const zone of utcNames) assert.doesNotThrow(() => new Intl.DateTimeFormat('en-US', { timeZone: zone }), zone);
    const real = Intl.DateTimeFormat;
    Intl.DateTimeFormat = function refused() {
      throw new Error('Intl.DateTimeFormat called');
    } as unknown as typeof Intl.DateTimeFormat;
    try {
      for (const zone of utcNames) assert.ok(isValidTimeZone(zone), zone);
    } finally {
      Intl.DateTimeFormat = real;
    }
  });
  it('surveys', () => {
    assert.deepEqual(surveyZone('America/New_York', NOW), {
      everNonZero: true,
      notWholeHours: false,
      offsetsMinutes: [-300, -240],
    });
    assert.deepEqual(surveyZone('UTC', NOW), { everNonZero: false, notWholeHours: false, offsetsMinutes: [0] });
    assert.equal(surveyZone('Australia/Adelaide', NOW).notWholeHours, true);
    assert.equal(surveyZone('Europe/London', NOW).everNonZero, true);
  });
});

describe('the time-zone rule', () => {
  const hour: Partitioning = { type: 'HOUR' };
  const day: Partitioning = { type: 'DAY' };
  const dayTs: Partitioning = { type: 'DAY', field: 'ts', fieldType: 'TIMESTAMP' };
  const dayDate: Partitioning = { type: 'DAY', field: 'd', fieldType: 'DATE' };
  const dayDatetime: Partitioning = { type: 'DAY', field: 'd', fieldType: 'DATETIME' };
  const cases: { zone: string; p: Partitioning; hh: boolean; rule: string; problem: RegExp | null }[] = [
    { zone: 'Asia/Seoul', p: hour, hh: true, rule: 'utc-hour', problem: null },
    { zone: 'America/New_York', p: hour, hh: true, rule: 'utc-hour', problem: null },
    { zone: 'Asia/Kolkata', p: hour, hh: true, rule: 'utc-hour', problem: /not a whole number of hours/ },
    { zone: 'Australia/Adelaide', p: hour, hh: true, rule: 'utc-hour', problem: /not a whole number of hours/ },
    {
      zone: 'Asia/Seoul',
      p: day,
      hh: false,
      rule: 'local-date',
      problem: /a local day spans two UTC day partitions; add \{hh\}/,
    },
    {
      zone: 'Asia/Seoul',
      p: dayTs,
      hh: false,
      rule: 'local-date',
      problem: /a local day spans two UTC day partitions/,
    },
    { zone: 'Europe/London', p: day, hh: false, rule: 'local-date', problem: /spans two UTC day/ },
    { zone: 'UTC', p: day, hh: false, rule: 'local-date', problem: null },
    { zone: 'Africa/Abidjan', p: dayTs, hh: false, rule: 'local-date', problem: null },
    { zone: 'Asia/Seoul', p: day, hh: true, rule: 'utc-hour', problem: null },
    { zone: 'Asia/Kolkata', p: day, hh: true, rule: 'utc-hour', problem: /not a whole number/ },
    { zone: 'Asia/Seoul', p: dayDate, hh: false, rule: 'local-date', problem: null },
    { zone: 'Asia/Kolkata', p: dayDate, hh: true, rule: 'local-date', problem: null },
    { zone: 'Asia/Seoul', p: dayDatetime, hh: true, rule: 'local-date', problem: null },
  ];
  for (const c of cases) {
    it(`${c.zone} ${JSON.stringify(c.p)}${c.hh ? ' with {hh}' : ''}`, () => {
      assert.equal(pathTimeRuleOf(c.p, c.hh), c.rule);
      const problem = zoneProblem(c.zone, c.p, c.hh, NOW);
      if (c.problem === null) assert.equal(problem, null);
      else assert.match(problem ?? '', c.problem);
    });
  }
});
