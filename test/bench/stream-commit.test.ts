/**
 * The stream benchmark's dml scenario, shortened to 300 files (5 minutes of simulated time), and
 * its goal check. Time is simulated: every figure asserted is a count or a simulated duration.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { missedGoals, percentile, runStream, streamObject } from '../../bench/stream-commit.ts';
import type { StreamRun } from '../../bench/stream-commit.ts';

describe('bench/stream-commit', () => {
  it('commit mode dml: 300 files at 1/s into 13 partitions, each queryable within interval + 60 s, each byte read once', async () => {
    const r = await runStream({ mode: 'dml', files: 300, seed: 1 });
    assert.deepEqual(r.problems, []);
    assert.equal(r.rows, 900);
    assert.equal(r.distinctIds, 900);
    assert.equal(r.targetLoads, 0);
    assert.equal(r.retries, 0);
    assert.equal(r.bytesRead, r.bytesWritten);
    assert.equal(r.engineBytesRead, r.bytesWritten);
    assert.ok(
      r.freshnessMs.every((f) => f >= 0 && f <= 120_000),
      `max ${Math.max(...r.freshnessMs)} ms`,
    );
    // One commit a minute while files arrive (the last one after the stream ends).
    assert.ok(r.commits >= 5 && r.commits <= 6, `${r.commits} commits`);
    assert.ok(r.peakDmlPer10s <= 2);
    assert.deepEqual(missedGoals(r), []);
  });

  it('routes every fifth file to one of 12 older hours, the rest to the current hour', () => {
    assert.equal(streamObject(0), 'events/dt=2026-11-24/hr=00/s-0000.csv');
    assert.equal(streamObject(5), 'events/dt=2026-11-24/hr=01/s-0005.csv');
    assert.equal(streamObject(60), 'events/dt=2026-11-24/hr=00/s-0060.csv');
    assert.equal(streamObject(7), 'events/dt=2026-11-24/hr=12/s-0007.csv');
    assert.equal(new Set(Array.from({ length: 2000 }, (_, i) => streamObject(i).slice(0, 27))).size, 13);
  });

  it('percentile is the nearest rank', () => {
    const xs = Array.from({ length: 200 }, (_, i) => 200 - i);
    assert.equal(percentile(xs, 50), 100);
    assert.equal(percentile(xs, 99), 198);
    assert.equal(percentile(xs, 100), 200);
    assert.equal(percentile([7], 99), 7);
  });

  const ok: StreamRun = {
    mode: 'dml',
    seed: 1,
    files: 10,
    deliveries: 10,
    retries: 0,
    ticks: 2,
    commits: 1,
    targetLoads: 0,
    stageLoads: 2,
    dmlStatements: 1,
    spanMs: 60_000,
    perDay: { targetLoads: 0, stageLoads: 2_880, dml: 1_440 },
    peakDmlPer10s: 1,
    bytesWritten: 100,
    bytesRead: 100,
    engineBytesRead: 100,
    amplification: 1,
    freshnessMs: [60_000, 120_000],
    rows: 30,
    distinctIds: 30,
    problems: [],
  };
  const cases: [string, Partial<StreamRun>, RegExp | null][] = [
    ['every goal met', {}, null],
    ['amplification above 1.05x', { amplification: 1.06 }, /amplification 1\.060x > 1\.05x/],
    ['a dml file later than interval + 60 s', { freshnessMs: [120_001] }, /queryable 120\.0 s after arrival/],
    ['a load-mode file late is no dml goal', { mode: 'load', freshnessMs: [3_600_000] }, null],
    [
      'target loads above a fifth of 1,500',
      { perDay: { ...ok.perDay, targetLoads: 301 } },
      /load jobs into the table 301/,
    ],
    ['staging loads above a fifth of 100,000', { perDay: { ...ok.perDay, stageLoads: 20_001 } }, /staging loads/],
    ['DML above a fifth of 216,000', { perDay: { ...ok.perDay, dml: 43_201 } }, /DML statements 43201/],
    ['a correctness problem', { problems: ['the table holds 29 rows'] }, /29 rows/],
  ];
  for (const [name, over, expected] of cases)
    it(`missedGoals: ${name}`, () => {
      const missed = missedGoals({ ...ok, ...over });
      if (expected === null) assert.deepEqual(missed, []);
      else {
        assert.equal(missed.length, 1, missed.join('; '));
        assert.match(missed[0]!, expected);
      }
    });
});
