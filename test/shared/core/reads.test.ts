/**
 * The audit's lake reads per table per day: the pure arithmetic as a table, then an audit on the
 * embedded backends with known jobs (change markers) and known objects giving exact figures.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatReads } from '../../../shared/cli/commands/audit.ts';
import { auditTable, runAudit } from '../../../shared/core/audit.ts';
import type { AuditDeps } from '../../../shared/core/audit.ts';
import type { ObjectStore } from '../../../shared/core/ports.ts';
import { dailyReads, READS_DAYS, readsDays } from '../../../shared/core/reads.ts';
import { listChanges, recordChange } from '../../../shared/core/status-store.ts';
import type { StatusChange } from '../../../shared/core/status-store.ts';
import { createTestEnv } from '../../helpers/local-env.ts';

const DAY = 86_400_000;
const d = (day: number, h = 0, m = 0) => Date.UTC(2026, 10, day, h, m);
const iso = (ms: number) => new Date(ms).toISOString();

describe('readsDays', () => {
  const now = d(24, 12);
  // [first day, last day, number of days] (null: none).
  const cases: [string, number, number, [string, string, number] | null][] = [
    ['one day', d(24), d(24, 11), ['2026-11-24', '2026-11-24', 1]],
    ['two days', d(23), d(24, 11), ['2026-11-23', '2026-11-24', 2]],
    ['a window ending at midnight does not take the next day', d(22), d(24), ['2026-11-22', '2026-11-23', 2]],
    ['a window reaching into the future stops today', d(24), d(27), ['2026-11-24', '2026-11-24', 1]],
    [
      'a long window: the last READS_DAYS days and today only',
      d(1),
      d(24, 11),
      ['2026-11-17', '2026-11-24', READS_DAYS + 1],
    ],
    ['a window wholly before the kept markers', d(1), d(10), null],
  ];
  for (const [name, from, to, expected] of cases) {
    it(name, () => {
      const days = readsDays(from, to, now);
      for (let i = 1; i < days.length; i++) assert.equal(days[i]! - days[i - 1]!, DAY);
      assert.deepEqual(
        days.length ? [iso(days[0]!).slice(0, 10), iso(days.at(-1)!).slice(0, 10), days.length] : null,
        expected,
      );
    });
  }
});

describe('dailyReads', () => {
  const days = [d(23), d(24)];
  const cases: [
    string,
    Parameters<typeof dailyReads>[2],
    Parameters<typeof dailyReads>[3],
    [number, number, number, number | null][],
  ][] = [
    [
      'each file read once: 1x',
      [
        { at: d(23, 1), bytes: 100 },
        { at: d(23, 2), bytes: 300 },
      ],
      [
        { size: 100, updated: iso(d(23, 0, 59)) },
        { size: 300, updated: iso(d(23, 1, 30)) },
      ],
      [
        [400, 2, 400, 1],
        [0, 0, 0, null],
      ],
    ],
    [
      'the whole partition reloaded for each new file: 1 + 2 + 3 files of 100 bytes = 2x',
      [
        { at: d(24, 1), bytes: 100 },
        { at: d(24, 2), bytes: 200 },
        { at: d(24, 3), bytes: 300 },
      ],
      [0, 1, 2].map((i) => ({ size: 100, updated: iso(d(24, i + 1)) })),
      [
        [0, 0, 0, null],
        [600, 3, 300, 2],
      ],
    ],
    [
      'reads of yesterday’s files today, a failed job (0 bytes), objects without a time, days outside',
      [
        { at: d(24, 0, 5), bytes: 250 },
        { at: d(24, 0, 6), bytes: 0 },
        { at: d(22, 23), bytes: 999 },
        { at: d(25, 0), bytes: 999 },
      ],
      [{ size: 250, updated: iso(d(23, 23, 59)) }, { size: 7 }, { size: 5, updated: iso(d(21)) }],
      [
        [0, 0, 250, 0],
        [250, 2, 0, null],
      ],
    ],
    [
      'amplification rounded to three decimals',
      [{ at: d(23, 5), bytes: 1000 }],
      [{ size: 3000, updated: iso(d(23, 4)) }],
      [
        [1000, 1, 3000, 0.333],
        [0, 0, 0, null],
      ],
    ],
  ];
  for (const [name, changes, objects, expected] of cases) {
    it(name, () =>
      assert.deepEqual(
        dailyReads('events', days, changes, objects),
        expected.map(([bytesRead, jobs, newBytes, amplification], i) => ({
          table: 'events',
          day: i === 0 ? '2026-11-23' : '2026-11-24',
          bytesRead,
          jobs,
          newBytes,
          amplification,
        })),
      ),
    );
  }
});

describe('formatReads (the audit text summary)', () => {
  const row = (day: string, bytesRead: number, jobs: number, newBytes: number, amplification: number | null) => ({
    table: 'events',
    day,
    bytesRead,
    jobs,
    newBytes,
    amplification,
  });
  it('one line per day with jobs or new objects; days with neither left out', () => {
    const text = formatReads([
      row('2026-11-23', 5000, 2, 4000, 1.25),
      row('2026-11-24', 0, 0, 0, null),
      row('2026-11-25', 0, 0, 2048, 0),
    ]);
    const lines = text.split('\n');
    assert.match(
      lines[0]!,
      /^Lake reads per UTC day \(amplification = bytes the jobs read \/ bytes of object generations/,
    );
    assert.match(lines[3]!, /^events +2026-11-23 +2 +4\.9 KiB +3\.9 KiB +1\.25x$/);
    assert.match(lines[4]!, /^events +2026-11-25 +0 +0 B +2\.0 KiB +0\.00x$/);
    assert.equal(lines.length, 5);
  });
  it('nothing at all: no section', () => assert.equal(formatReads([row('2026-11-24', 0, 0, 0, null)]), ''));
});

describe('the audit reports reads per table per day', () => {
  it('from the change markers and the listing it takes: exact amplification, one marker listing per table', async () => {
    const env = await createTestEnv();
    try {
      // The lake's objects, with the times they were written (the embedded store's file times are
      // the machine's, so the listing is given known `updated` times here).
      const updated = new Map<string, string>();
      const put = async (day: number, h: number, file: string, size: number, at: number) => {
        const name = `events/dt=2026-11-${day}/hr=${String(h).padStart(2, '0')}/${file}`;
        await env.put(name, Buffer.alloc(size, 'x'));
        updated.set(name, iso(at));
      };
      await put(23, 5, 'a.csv', 1000, d(23, 5, 10));
      await put(23, 5, 'b.csv', 3000, d(23, 5, 40));
      await put(24, 1, 'a.csv', 2000, d(24, 1, 5));
      await put(23, 23, 'late.csv', 500, d(24, 0, 30)); // yesterday's partition, written today
      const inner = env.engine.store;
      const store: ObjectStore = {
        listPage: async (b, o) => {
          const page = await inner.listPage(b, o);
          return {
            ...page,
            objects: page.objects.map((x) => {
              const { updated: _real, ...rest } = x;
              const at = b === 'lake' ? updated.get(x.name) : undefined;
              return at ? { ...rest, updated: at } : rest;
            }),
          };
        },
        read: (b, n) => inner.read(b, n),
        write: (b, n, data, o) => inner.write(b, n, data, o),
        remove: (b, n) => inner.remove(b, n),
        uri: (b, n) => inner.uri(b, n),
      };
      // The jobs that settled: hour 5 loaded a.csv, then reloaded a.csv + b.csv; hour 1 of the
      // 24th loaded its file; hour 23 of the 23rd was loaded today; one failed attempt.
      const change = (at: number, partition: string, bytes: number, outcome: StatusChange['outcome'] = 'loaded') =>
        recordChange(store, env.config.state, {
          table: 'events',
          partition,
          at,
          outcome,
          objects: 1,
          bytes,
          rows: null,
          quarantined: 0,
          jobId: `job_${at}`,
          reason: 'test',
        });
      await change(d(23, 5, 11), '2026112305', 1000);
      await change(d(23, 5, 41), '2026112305', 4000);
      await change(d(24, 0, 31), '2026112323', 500);
      await change(d(24, 1, 6), '2026112401', 2000);
      await change(d(24, 1, 7), '2026112401', 0, 'failed');
      await change(d(14), '2026111400', 12345); // older than the days reported

      const deps: AuditDeps = { ...env.engine, store, bus: { publish: async (_t, m) => m.map(() => 'id') } };
      const { audit, reads } = await auditTable(deps, deps.router.table('events')!, d(23), d(24, 11), env.log);
      assert.deepEqual(reads, [
        { table: 'events', day: '2026-11-23', bytesRead: 5000, jobs: 2, newBytes: 4000, amplification: 1.25 },
        { table: 'events', day: '2026-11-24', bytesRead: 2500, jobs: 3, newBytes: 2500, amplification: 1 },
      ]);
      assert.equal(audit.calls.changePages, 1);

      // The same rows in the report (the audit results message) and in the per-table log line.
      const report = await runAudit(deps, { fromMs: d(23), toMs: d(24, 11) });
      assert.deepEqual(report.reads, reads);
      const line = env.log.entries.find((e) => e.message.startsWith('audit events: '));
      assert.deepEqual((line as unknown as { reads: unknown }).reads, reads);
      // The audit keeps READS_DAYS days of markers: the one from the 14th is pruned, the rest stay.
      const left = await listChanges(store, env.config.state, 'events', 0);
      assert.equal(left.length, 5);
      assert.ok(!left.some((c) => c.at === d(14)));
    } finally {
      await env.close();
    }
  });
});
