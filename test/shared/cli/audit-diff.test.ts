/** What `npm start` prints per audit: changes only (new holes, holes filled, class changes). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffAudit } from '../../../shared/cli/audit-diff.ts';
import type { AuditReport, TableAudit } from '../../../shared/core/audit.ts';

const table = (
  findings: [string, TableAudit['findings'][number]['class']][],
  counts: Partial<TableAudit['counts']> = {},
): TableAudit => ({
  table: 'events',
  window: { from: '2026112400', to: '2026112423', partitions: 24 },
  counts: {
    ok: 0,
    missing: 0,
    stale: 0,
    failed: 0,
    quarantined: 0,
    'upstream-missing': 0,
    waived: 0,
    orphan: 0,
    'source-deleted': 0,
    ...counts,
  },
  findings: findings.map(([partition, cls]) => ({ partition, class: cls, sourceObjects: 1, warehouseRows: null })),
  watermark: { before: null, after: null },
  unrouted: { count: 0, samples: [] },
  calls: { sourcePages: 0, statePages: 0, partitionQueries: 0, changePages: 0, stateReads: 0 },
});
const report = (t: TableAudit, published = 0): AuditReport => ({
  startedAt: '',
  tables: [t],
  published,
  deferred: 0,
  unrouted: 0,
  reads: [],
});

describe('diffAudit', () => {
  const first = diffAudit(null, report(table([['2026112405', 'missing']], { ok: 20, missing: 1 }), 1));
  const cases: [string, ReturnType<typeof diffAudit>['lines'], string[]][] = [
    [
      'the first audit: one summary line per table',
      first.lines,
      ['audit events 2026112400..2026112423: 20 ok, 1 missing', '1 backfill(s) published'],
    ],
    ['nothing changed: nothing printed', diffAudit(first.memory, report(table([['2026112405', 'missing']]))).lines, []],
    [
      'a hole filled',
      diffAudit(first.memory, report(table([]))).lines,
      ['filled   events$2026112405: was missing, now ok'],
    ],
    [
      'a new hole',
      diffAudit(
        first.memory,
        report(
          table([
            ['2026112405', 'missing'],
            ['2026112407', 'failed'],
          ]),
        ),
      ).lines,
      ['new hole events$2026112407: failed'],
    ],
    [
      'a class changed',
      diffAudit(first.memory, report(table([['2026112405', 'quarantined']]))).lines,
      ['changed  events$2026112405: missing -> quarantined'],
    ],
    [
      'a partition that left the window is forgotten, not "filled"',
      diffAudit(
        first.memory,
        report({ ...table([]), window: { from: '2026112406', to: '2026112423', partitions: 18 } }),
      ).lines,
      [],
    ],
  ];
  for (const [name, lines, expected] of cases) it(name, () => assert.deepEqual(lines, expected));
});
