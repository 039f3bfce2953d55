/** What `tidemark sync`, `backfill` and `reload` print about the jobs they ran and what those read from the lake. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBackfillOutcome } from '../../../../shared/cli/commands/backfill.ts';
import { commitQueued, formatSyncResults, lakeRead, readLabel } from '../../../../shared/cli/commands/sync.ts';
import type { CliContext } from '../../../../shared/cli/context.ts';
import { syncPartition } from '../../../../shared/core/sync.ts';
import { createTestEnv, csvRows, EVENTS_YAML } from '../../../helpers/local-env.ts';
import type { SyncRow } from '../../../../shared/cli/commands/sync.ts';
import type { JobRead, SyncResult } from '../../../../shared/core/sync.ts';

const MiB = 1024 * 1024;
const job = (jobId: string, kind: string, filesRead: number, bytesRead: number): JobRead => ({
  jobId,
  kind,
  filesRead,
  bytesRead,
});
const synced = (partition: string, outcome: SyncResult['outcome'], jobs: JobRead[]): SyncResult => ({
  table: 'events',
  partition,
  outcome,
  jobId: jobs.at(-1)?.jobId ?? null,
  jobsSubmitted: jobs.length,
  objects: 4,
  bytes: 4 * MiB,
  rows: 40,
  quarantined: [],
  newlyQuarantined: [],
  jobs,
});

describe('readLabel', () => {
  const cases: [string, JobRead[] | undefined, string][] = [
    ['no job', [], '-'],
    ['absent (an older result)', undefined, '-'],
    ['one file', [job('j1', 'append', 1, 512)], 'read 1 file, 512 B'],
    ['an append and a load', [job('j1', 'append', 1, MiB), job('j2', 'load', 3, 2.5 * MiB)], 'read 4 files, 3.5 MiB'],
  ];
  for (const [name, jobs, expected] of cases) it(name, () => assert.equal(readLabel(jobs), expected));
  it('lakeRead sums files and bytes', () =>
    assert.deepEqual(lakeRead([job('a', 'load', 2, 10), job('b', 'load', 3, 5)]), { files: 5, bytes: 15 }));
});

describe('formatSyncResults', () => {
  const results: SyncRow[] = [
    synced('2026112401', 'loaded', [job('tm_a', 'append', 1, 1.5 * MiB)]),
    synced('2026112402', 'up-to-date', []),
    synced('2026112403', 'loaded', [job('tm_b', 'load', 3, 3 * MiB), job('tm_c', 'copy', 0, 0)]),
    { table: 'events', partition: '2026112404', outcome: 'failed', error: 'budget' },
  ];

  it('text: what each partition read, and the total', () => {
    const text = formatSyncResults(results);
    const line = (p: string) => text.split('\n').find((l) => l.startsWith(p))!;
    assert.match(line('2026112401'), /loaded .*read 1 file, 1\.5 MiB/);
    assert.match(line('2026112402'), /up-to-date .* - /);
    assert.match(line('2026112403'), /read 3 files, 3\.0 MiB/);
    assert.match(line('2026112404'), /failed +budget/);
    assert.match(text.split('\n').at(-1)!, /^3 job\(s\) read 4 file\(s\), 4\.5 MiB from the lake\.$/);
  });

  it('text: no total when no job ran', () => {
    assert.doesNotMatch(formatSyncResults([synced('2026112402', 'up-to-date', [])]), /from the lake/);
  });

  it('text: at most `max` partitions listed, the rest counted', () => {
    const text = formatSyncResults(results, { max: 2 });
    assert.match(text, /\.\.\. and 2 more \(use --json\)/);
    assert.doesNotMatch(text, /2026112403/);
  });

  it('--json: every job with its filesRead and bytesRead', () => {
    const parsed = JSON.parse(formatSyncResults(results, { json: true })) as SyncRow[];
    assert.deepEqual(
      parsed.map((r) => ('jobs' in r ? r.jobs : null)),
      [
        [{ jobId: 'tm_a', kind: 'append', filesRead: 1, bytesRead: 1.5 * MiB }],
        [],
        [
          { jobId: 'tm_b', kind: 'load', filesRead: 3, bytesRead: 3 * MiB },
          { jobId: 'tm_c', kind: 'copy', filesRead: 0, bytesRead: 0 },
        ],
        null,
      ],
    );
  });
});

describe('formatBackfillOutcome', () => {
  const summary = { table: 'events', partitions: 3, outcomes: { loaded: 2, 'up-to-date': 1 }, deadLettered: 0 };
  const results: SyncRow[] = [
    synced('2026112401', 'loaded', [job('tm_a', 'load', 2, 2 * MiB)]),
    synced('2026112402', 'up-to-date', []),
    synced('2026112403', 'loaded', [job('tm_b', 'append', 1, MiB)]),
  ];
  it('text: the summary, then the partitions that ran jobs with what they read', () => {
    const text = formatBackfillOutcome(summary, results, false);
    assert.match(text.split('\n')[2]!, /^events +3 +2 +1 +0$/);
    assert.match(text, /2026112401 .*read 2 files, 2\.0 MiB/);
    assert.match(text, /2026112403 .*read 1 file, 1\.0 MiB/);
    assert.doesNotMatch(text, /2026112402/);
    assert.match(text, /2 job\(s\) read 3 file\(s\), 3\.0 MiB from the lake\./);
  });
  it('a reload that ran no job prints the summary only', () => {
    const text = formatBackfillOutcome({ ...summary, partitions: 1 }, [results[1]!], false);
    assert.equal(text.split('\n').length, 3);
  });
  it('--json: the summary and every result with its jobs', () => {
    const parsed = JSON.parse(formatBackfillOutcome(summary, results, true)) as typeof summary & {
      results: SyncResult[];
    };
    assert.deepEqual(parsed.outcomes, summary.outcomes);
    assert.deepEqual(
      parsed.results.map((r) => [r.partition, r.jobs.map((j) => [j.filesRead, j.bytesRead])]),
      [
        ['2026112401', [[2, 2 * MiB]]],
        ['2026112402', []],
        ['2026112403', [[1, MiB]]],
      ],
    );
  });
});

describe('commitQueued (tidemark sync of a commit-mode dml table)', () => {
  it('commits the queued partitions now and reports what the commit read for each', async () => {
    const env = await createTestEnv({
      yaml: EVENTS_YAML.replace('defaults: {', 'defaults: { commit: { mode: dml, interval: 60s },'),
    });
    try {
      const path = (h: string, f: string) => `events/dt=2026-11-24/hr=${h}/${f}`;
      await env.put(path('10', 'a.csv'), csvRows(1, 5));
      await env.put(path('11', 'a.csv'), csvRows(10, 2));
      const rows: SyncRow[] = [];
      for (const partition of ['2026112410', '2026112411', '2026112412'])
        rows.push(await syncPartition(env.engine, { table: 'events', partition, reason: 'cli-sync' }));
      assert.deepEqual(
        rows.map((r) => r.outcome),
        ['queued', 'queued', 'queued'],
      );
      const errs: string[] = [];
      const ctx = { err: (s: string) => errs.push(s), out: () => {} } as unknown as CliContext;
      await commitQueued(ctx, env.engine, 'events', rows);
      assert.equal(await env.count(), 7);
      assert.deepEqual(
        rows.map((r) => [r.partition, r.outcome, 'jobs' in r ? lakeRead(r.jobs).files : -1]),
        [
          ['2026112410', 'loaded', 1],
          ['2026112411', 'loaded', 1],
          ['2026112412', 'up-to-date', 0],
        ],
      );
      assert.deepEqual(
        rows.slice(0, 2).map((r) => ('objects' in r ? [r.objects, r.rows] : [])),
        [
          [1, 5],
          [1, 2],
        ],
      );
      assert.match(errs.join('\n'), /^commit events: committed \(job tidemark_commit_events_\w+\), 2 partition\(s\)/);
    } finally {
      await env.close();
    }
  });
});
