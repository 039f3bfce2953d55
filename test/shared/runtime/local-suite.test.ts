/** npm start's finalize events on the local bus: a budget wait holds the event, never dead-letters it. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { LocalBus } from '../../../shared/backends/local/bus.ts';
import { deliverFinalizeEvent } from '../../../shared/runtime/local-suite.ts';
import { TimerClock } from '../../helpers/clock.ts';
import { createTestEnv, csvRows, EVENTS_YAML } from '../../helpers/local-env.ts';

it(
  'a finalize event that finds the job budget spent waits for the next token, then loads',
  { timeout: 60_000 },
  async () => {
    const env = await createTestEnv({
      yaml: EVENTS_YAML.replace('jobBudget: 300, jobBurst: 20', 'jobBudget: 2, jobBurst: 1'),
    });
    const timers = new TimerClock(env.clock);
    const bus = new LocalBus({ clock: timers });
    try {
      bus.subscribe(
        'finalize',
        async (msg) => void (await deliverFinalizeEvent(env.engine, bus, 'finalize', msg.json())),
        { maxDeliveryAttempts: 2, minBackoffMs: 1, maxBackoffMs: 1 },
      );
      await env.put('events/dt=2026-11-24/hr=01/a.csv', csvRows(1, 1));
      await env.put('events/dt=2026-11-24/hr=02/a.csv', csvRows(2, 1));
      await bus.publish('finalize', [
        env.event('events/dt=2026-11-24/hr=01/a.csv'),
        env.event('events/dt=2026-11-24/hr=02/a.csv'),
      ]);
      await bus.settled();
      assert.equal(await env.count(), 1, 'the one token loads one partition');
      assert.equal(bus.waiting('finalize').length, 1, 'the other waits');
      await timers.advance(12 * 3_600_000); // jobBudget 2/day: a token every 12 h
      await bus.drain();
      assert.equal(await env.count(), 2);
      assert.deepEqual(bus.deadLetters(), []);
    } finally {
      bus.close();
      await env.close();
    }
  },
);
