/**
 * The routing promise as a property: a route that `config check` accepts never fails at run time
 * on an object its own pattern matches. For every pattern form (hive folders, plain folders, run
 * together, `**`, regex; padded and unpadded tokens) and every time-zone rule of zone-rule.ts,
 * names are written from random valid times (seeded, so a failure reproduces) and routed back;
 * each must land in the partition computed here independently from the time (Intl directly, no
 * router code), and the listing prefixes of that partition and of a range around it must cover it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../shared/config/load.ts';
import { createRouter } from '../../../shared/routing/router.ts';
import { intlWall } from '../../helpers/intl-oracle.ts';

/** mulberry32: a tiny seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOUR = 3_600_000;
const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
}

/** Wall-clock fields of instant `ms` in `zone`, straight from Intl. */
function wallAt(ms: number, zone: string): Wall {
  const { year, month, day, hour } = intlWall(ms, zone);
  return { year, month, day, hour };
}

const same = (a: Wall, b: Wall): boolean =>
  a.year === b.year && a.month === b.month && a.day === b.day && a.hour === b.hour;
const utcId = (ms: number, g: 'HOUR' | 'DAY'): string => {
  const iso = new Date(ms).toISOString();
  return iso.slice(0, 4) + iso.slice(5, 7) + iso.slice(8, 10) + (g === 'HOUR' ? iso.slice(11, 13) : '');
};

/** A pattern form: the source as configured, and a template written with the same tokens. */
interface Form {
  label: string;
  source: string;
  /** Tokens {yyyy} {mm} {dd} {hh} {m} {d} {h}, `*` (a random word) and `**` (0-2 random folders). */
  template: string;
  hasHour: boolean;
}

const regex = (label: string, re: string, template: string, hasHour: boolean): Form => ({
  label,
  source: `regex: ${JSON.stringify(re)}`,
  template,
  hasHour,
});
const pattern = (label: string, p: string, hasHour: boolean): Form => ({
  label,
  source: `pattern: ${JSON.stringify(p)}`,
  template: p,
  hasHour,
});

const FORMS: Form[] = [
  pattern('hive, padded', 'hv/year={yyyy}/month={mm}/day={dd}/hour={hh}/*.json', true),
  pattern('hive, unpadded', 'hv/year={yyyy}/month={m}/day={d}/hour={h}/*.json', true),
  pattern('plain folders, padded', 'pl/{yyyy}/{mm}/{dd}/{hh}/*.csv', true),
  pattern('plain folders, unpadded', 'pl/{yyyy}/{m}/{d}/{h}/*.csv', true),
  pattern('run together', 'rt/{yyyy}{mm}{dd}{hh}/part-*.csv', true),
  pattern('run together, unpadded hour', 'rt/dt={yyyy}{mm}{dd}/h{h}/*', true),
  pattern('dashes, unpadded, under **', 'gs/**/{yyyy}-{m}-{d}T{h}/*.csv', true),
  regex(
    'regex, padded',
    '^rx/(?<yyyy>\\d{4})/(?<mm>\\d{2})/(?<dd>\\d{2})/(?<hh>\\d{2})/[^/]+$',
    'rx/{yyyy}/{mm}/{dd}/{hh}/*',
    true,
  ),
  regex(
    'regex, unpadded',
    '^rx/year=(?<yyyy>\\d{4})/month=(?<mm>\\d{1,2})/day=(?<dd>\\d{1,2})/hour=(?<hh>\\d{1,2})/[^/]+$',
    'rx/year={yyyy}/month={m}/day={d}/hour={h}/*',
    true,
  ),
  pattern('hive days, padded', 'hv/year={yyyy}/month={mm}/day={dd}/*.json', false),
  pattern('hive days, unpadded', 'hv/year={yyyy}/month={m}/day={d}/*.json', false),
  pattern('plain days, unpadded', 'pl/{yyyy}/{m}/{d}/*.csv', false),
  pattern('run-together days', 'rt/{yyyy}{mm}{dd}/*', false),
  regex(
    'regex days, unpadded',
    '^rx/(?<yyyy>\\d{4})-(?<mm>\\d{1,2})-(?<dd>\\d{1,2})\\.csv$',
    'rx/{yyyy}-{m}-{d}.csv',
    false,
  ),
];

/** A time-zone rule of zone-rule.ts, with the zone and partitioning that select it. */
interface Rule {
  label: string;
  zone: string;
  partitioning: string;
  granularity: 'HOUR' | 'DAY';
  /** utc: path time -> UTC instant -> its UTC partition; local: the path's date is the id. */
  kind: 'utc' | 'local';
  hasHour: boolean;
}

const RULES: Rule[] = [
  ...['UTC', 'Asia/Seoul', 'America/New_York', 'Europe/London', 'Australia/Sydney'].map((zone): Rule => ({
    label: `HOUR, ${zone}`,
    zone,
    partitioning: '{ type: HOUR }',
    granularity: 'HOUR',
    kind: 'utc',
    hasHour: true,
  })),
  ...['Asia/Seoul', 'America/New_York'].map((zone): Rule => ({
    label: `DAY of the UTC hour, ${zone}`,
    zone,
    partitioning: '{ type: DAY }',
    granularity: 'DAY',
    kind: 'utc',
    hasHour: true,
  })),
  {
    label: 'DATE column with hours, Asia/Seoul',
    zone: 'Asia/Seoul',
    partitioning: '{ type: DAY, field: d, fieldType: DATE }',
    granularity: 'DAY',
    kind: 'local',
    hasHour: true,
  },
  {
    label: 'DAY, UTC days',
    zone: 'UTC',
    partitioning: '{ type: DAY }',
    granularity: 'DAY',
    kind: 'local',
    hasHour: false,
  },
  {
    label: 'DATE column, America/New_York',
    zone: 'America/New_York',
    partitioning: '{ type: DAY, field: d, fieldType: DATE }',
    granularity: 'DAY',
    kind: 'local',
    hasHour: false,
  },
  {
    label: 'TIMESTAMP column, UTC days',
    zone: 'UTC',
    partitioning: '{ type: DAY, field: t, fieldType: TIMESTAMP }',
    granularity: 'DAY',
    kind: 'local',
    hasHour: false,
  },
];

function word(random: () => number): string {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const rest = letters + '0123456789-';
  let w = letters[Math.floor(random() * letters.length)]!;
  for (let n = Math.floor(random() * 8); n > 0; n--) w += rest[Math.floor(random() * rest.length)];
  return w;
}

function write(template: string, t: Wall, random: () => number): string {
  const values: Record<string, string> = {
    yyyy: pad(t.year, 4),
    mm: pad(t.month),
    dd: pad(t.day),
    hh: pad(t.hour),
    m: String(t.month),
    d: String(t.day),
    h: String(t.hour),
  };
  return template
    .split('/')
    .flatMap((segment) => {
      if (segment === '**') return Array.from({ length: Math.floor(random() * 3) }, () => word(random));
      return [
        segment.replace(/\{(yyyy|mm|dd|hh|m|d|h)\}|\*/g, (token, name?: string) =>
          name ? values[name]! : word(random),
        ),
      ];
    })
    .join('/');
}

/** A random time and the partition it belongs to, computed without the router. */
function sample(rule: Rule, random: () => number): { wall: Wall; expected: string } {
  if (rule.kind === 'local') {
    // Any local date BigQuery can partition: 1960-01-01 .. 2159-12-31.
    const day = Date.UTC(1960, 0, 1) + Math.floor(random() * 73_000) * 24 * HOUR;
    const d = new Date(day);
    const wall = {
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      hour: Math.floor(random() * 24),
    };
    return { wall, expected: utcId(day, 'DAY') };
  }
  // An instant in 1971..2150 (zone rules of those years are whole hours in these zones).
  const from = Date.UTC(1971, 0, 1);
  const instant = from + Math.floor(random() * ((Date.UTC(2150, 0, 1) - from) / HOUR)) * HOUR;
  const wall = wallAt(instant, rule.zone);
  // A path names a wall-clock hour; in a fall-back fold that hour happened twice: the first counts.
  let first = instant;
  while (same(wallAt(first - HOUR, rule.zone), wall)) first -= HOUR;
  return { wall, expected: utcId(first, rule.granularity) };
}

const SAMPLES = 120;

describe('round trip: names written from random times route to the partition of that time', () => {
  let seed = 20261201;
  for (const form of FORMS) {
    for (const rule of RULES.filter((r) => r.hasHour === form.hasHour)) {
      const caseSeed = seed++;
      it(`${form.label} / ${rule.label} (seed ${caseSeed})`, () => {
        const yaml = [
          'project: test-project',
          'location: US',
          'lake: { bucket: lake }',
          'tables:',
          '  - name: t',
          `    source: { ${form.source}, timeZone: ${rule.zone} }`,
          '    format: CSV',
          '    autodetect: true',
          '    target: { dataset: ds, table: t }',
          `    partitioning: ${rule.partitioning}`,
        ].join('\n');
        const router = createRouter(parseConfig(yaml, '/virtual/tidemark.config.yaml')); // config check accepts it
        const route = router.table('t')!;
        const random = prng(caseSeed);
        for (let i = 0; i < SAMPLES; i++) {
          const { wall, expected } = sample(rule, random);
          const name = write(form.template, wall, random);
          const why = `${name} (${JSON.stringify(wall)} in ${rule.zone})`;
          const routed = router.route('lake', name);
          assert.deepEqual(routed.kind === 'routed' ? routed.partition : routed, expected, why);
          assert.ok(
            route.prefixesFor(expected).some((p) => name.startsWith(p)),
            `${why}: prefixes of ${expected} ${JSON.stringify(route.prefixesFor(expected))} miss it`,
          );
          const start = Date.UTC(
            Number(expected.slice(0, 4)),
            Number(expected.slice(4, 6)) - 1,
            Number(expected.slice(6, 8)),
            Number(expected.slice(8) || 0),
          );
          const around = route.prefixesForRange(
            start - Math.floor(random() * 40) * 24 * HOUR,
            start + 1 + Math.floor(random() * 40) * 24 * HOUR,
          );
          assert.ok(
            around.some((p) => name.startsWith(p)),
            `${why}: range prefixes ${JSON.stringify(around)} miss it`,
          );
        }
      });
    }
  }
});
