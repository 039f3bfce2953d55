/** What `tidemark backfill` / `reload` say when partitions wait for the job budget. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { budgetWaitLine } from '../../../../shared/cli/commands/backfill.ts';

const events = { name: 'events', jobBudget: 300, jobBurst: 20 };
const now = Date.UTC(2026, 10, 24, 12, 0, 0);

const cases: [string, Parameters<typeof budgetWaitLine>, RegExp[]][] = [
  [
    '28 waiting at the default budget: the pace, the first and last run, how to go faster',
    [events, 28, now + 288_000, now, '/x/tidemark.config.yaml'],
    [
      /^28 partition\(s\) wait for the job budget of table events \(jobBudget 300\/day: one job every 4 min 48 s after a burst of 20\)/,
      /run from 12:04:48 to 14:14:24 UTC \(about 2 h 14 min\)/,
      /nothing is dead-lettered/,
      /raise jobBudget\/jobBurst of events in \/x\/tidemark\.config\.yaml/,
    ],
  ],
  [
    'one waiting',
    [events, 1, now + 12_000, now, 'c.yaml'],
    [/^1 partition\(s\)/, /from 12:00:12 to 12:00:12 UTC \(about 12 s\)/],
  ],
  [
    'more than a day of budget',
    [{ name: 't', jobBudget: 10, jobBurst: 1 }, 25, now + 1000, now, 'c.yaml'],
    [/past the daily cap of 10 jobs: tomorrow or later/],
  ],
];
for (const [what, args, patterns] of cases) {
  it(what, () => {
    const line = budgetWaitLine(...args);
    assert.equal(line.includes('\n'), false);
    for (const p of patterns) assert.match(line, p);
  });
}

it('reportBudgetWaits: one line per table whose partitions wait, none when nothing waits', async () => {
  const { parseConfig } = await import('../../../../shared/config/load.ts');
  const { EVENTS_YAML } = await import('../../../helpers/local-env.ts');
  const { reportBudgetWaits } = await import('../../../../shared/cli/commands/backfill.ts');
  const config = parseConfig(EVENTS_YAML, '/x/tidemark.config.yaml');
  const lines: string[] = [];
  const ctx = {
    options: { backend: 'local' as const },
    env: {},
    cwd: '/x',
    out: () => {},
    err: (s: string) => void lines.push(s),
  };
  const at = (partition: string, ms: number) => ({
    topic: config.topics.backfill,
    id: partition,
    data: JSON.stringify({ table: 'events', partition }),
    notBefore: new Date(now + ms).toISOString(),
  });
  assert.equal(reportBudgetWaits(ctx, config, { waiting: () => [] }), 0);
  assert.deepEqual(lines, []);
  assert.equal(
    reportBudgetWaits(ctx, config, { waiting: () => [at('2026112401', 288_000), at('2026112402', 288_000)] }),
    2,
  );
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^2 partition\(s\) wait for the job budget of table events/);
});
