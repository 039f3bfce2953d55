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
    [/^28 partition\(s\) wait for the job budget of table events \(jobBudget 300\/day: one job every 4 min 48 s after a burst of 20\)/, /run from 12:04:48 to 14:14:24 UTC \(about 2 h 14 min\)/, /nothing is dead-lettered/, /raise jobBudget\/jobBurst of events in \/x\/tidemark\.config\.yaml/],
  ],
  ['one waiting', [events, 1, now + 12_000, now, 'c.yaml'], [/^1 partition\(s\)/, /from 12:00:12 to 12:00:12 UTC \(about 12 s\)/]],
  ['more than a day of budget', [{ name: 't', jobBudget: 10, jobBurst: 1 }, 25, now + 1000, now, 'c.yaml'], [/past the daily cap of 10 jobs: tomorrow or later/]],
];
for (const [what, args, patterns] of cases) {
  it(what, () => {
    const line = budgetWaitLine(...args);
    assert.equal(line.includes('\n'), false);
    for (const p of patterns) assert.match(line, p);
  });
}
