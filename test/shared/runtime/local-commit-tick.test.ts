/**
 * The local suite's commit tick (npm start's Cloud Scheduler job): with a dml table, a tick every
 * commitTickPeriodMs on the bus's clock reaches the committer's handler; without one, no tick and
 * no subscription. Driven by a manual clock: nothing here waits on real time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../shared/config/load.ts';
import { commitTickPeriodMs, createLocalSuite, MAX_LOCAL_TICK_MS } from '../../../shared/runtime/local-suite.ts';
import { TimerClock } from '../../helpers/clock.ts';
import { commitResult, DML_YAML, fakeCommit } from '../../helpers/commit.ts';
import { createTestEnv, EVENTS_YAML } from '../../helpers/local-env.ts';

describe('commitTickPeriodMs', () => {
  const withInterval = (interval: string) =>
    parseConfig(DML_YAML.replace('interval: 30s', `interval: ${interval}`), '/tmp/tidemark.config.yaml');
  const cases: [string, () => ReturnType<typeof parseConfig>, number | null][] = [
    ['no dml table: no tick', () => parseConfig(EVENTS_YAML, '/tmp/tidemark.config.yaml'), null],
    ['the shortest dml interval, 10 s', () => withInterval('10s'), 10_000],
    ['at most MAX_LOCAL_TICK_MS for a long interval', () => withInterval('5m'), MAX_LOCAL_TICK_MS],
  ];
  for (const [name, config, expected] of cases) it(name, () => assert.equal(commitTickPeriodMs(config()), expected));
});

describe('the local suite with a commit-mode dml table', () => {
  it('publishes a tick every period on the clock, and each reaches the commit handler', async () => {
    const env = await createTestEnv({ yaml: DML_YAML });
    const timers = new TimerClock(env.clock);
    const commit = fakeCommit(async () => [commitResult('events')]);
    const suite = createLocalSuite(env.engine, { clock: timers, commit });
    try {
      const period = commitTickPeriodMs(env.config)!;
      assert.equal(period, MAX_LOCAL_TICK_MS);
      await suite.drain();
      assert.deepEqual(commit.calls, [], 'no tick before the first period');
      await timers.advance(period - 1);
      await suite.drain();
      assert.deepEqual(commit.calls, []);
      await timers.advance(1);
      await suite.drain();
      assert.deepEqual(commit.calls, [{}], 'the tick reached commitTables, for every dml table');
      await timers.advance(period);
      await suite.drain();
      assert.equal(commit.calls.length, 2);
      assert.ok(
        env.log.entries.some((l) => l.message === 'commit events: committed (2 partitions)'),
        "the handler logged the table's result",
      );
      assert.deepEqual(suite.bus.deadLetters(), []);
    } finally {
      suite.close();
      await env.close();
    }
  });

  it('a failed tick is logged and dropped, never dead-lettered; the next tick runs', async () => {
    const env = await createTestEnv({ yaml: DML_YAML });
    const timers = new TimerClock(env.clock);
    let fail = true;
    const commit = fakeCommit(async () => {
      if (fail) throw new Error('BigQuery hiccup');
      return [];
    });
    const suite = createLocalSuite(env.engine, { clock: timers, commit });
    try {
      await timers.advance(MAX_LOCAL_TICK_MS);
      await suite.drain();
      assert.equal(commit.calls.length, 1);
      assert.ok(env.log.entries.some((l) => l.severity === 'WARNING' && /BigQuery hiccup/.test(l.message)));
      assert.deepEqual(suite.bus.deadLetters(), []);
      fail = false;
      await timers.advance(MAX_LOCAL_TICK_MS);
      await suite.drain();
      assert.equal(commit.calls.length, 2);
    } finally {
      suite.close();
      await env.close();
    }
  });

  it('stops ticking when closed', async () => {
    const env = await createTestEnv({ yaml: DML_YAML });
    const timers = new TimerClock(env.clock);
    const commit = fakeCommit(async () => []);
    const suite = createLocalSuite(env.engine, { clock: timers, commit });
    assert.equal(timers.pending, 1, 'the first tick is waiting');
    suite.close();
    await timers.advance(3 * MAX_LOCAL_TICK_MS);
    assert.equal(timers.pending, 0, 'no tick waits after close');
    assert.deepEqual(commit.calls, []);
    await env.close();
  });
});

describe('the local suite without a dml table', () => {
  it('publishes no tick and does not subscribe the commit topic', async () => {
    const env = await createTestEnv();
    const timers = new TimerClock(env.clock);
    const commit = fakeCommit(async () => []);
    const suite = createLocalSuite(env.engine, { clock: timers, commit });
    try {
      assert.equal(timers.pending, 0, 'no timer is waiting for a tick');
      await timers.advance(10 * MAX_LOCAL_TICK_MS);
      await suite.drain();
      assert.deepEqual(commit.calls, []);
      // A tick published by hand finds no subscriber (kept in the topic's backlog, handled by nobody).
      await suite.bus.publish(env.config.topics.commit, [{}]);
      await suite.drain();
      assert.deepEqual(commit.calls, []);
    } finally {
      suite.close();
      await env.close();
    }
  });
});
