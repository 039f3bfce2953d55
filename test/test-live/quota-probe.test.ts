/** The live quota test's loop, offline: where it stops, what it counts, how it treats each error. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTableQuotaError, runQuotaProbe } from '../../test-live/quota-probe.ts';
import type { JobEnd } from '../../test-live/quota-probe.ts';

const QUOTA = {
  ok: false as const,
  reason: 'quotaExceeded',
  message: 'Quota exceeded: Your table exceeded quota for imports or query appends per table.',
};
const RATE = {
  ok: false as const,
  reason: 'rateLimitExceeded',
  message: 'Exceeded rate limits: too many table update operations for this table.',
};

describe('isTableQuotaError', () => {
  const cases: [string, { reason: string; message: string }, 'quota' | 'rate' | null][] = [
    ['daily table quota', QUOTA, 'quota'],
    [
      'partition modifications',
      {
        reason: 'quotaExceeded',
        message:
          'Quota exceeded: Your table exceeded quota for Number of partition modifications to a column partitioned table.',
      },
      'quota',
    ],
    ['table update rate', RATE, 'rate'],
    [
      'a project quota that names no table',
      { reason: 'quotaExceeded', message: 'Quota exceeded: load jobs per project' },
      null,
    ],
    ['another error', { reason: 'invalid', message: 'Error while reading table: bad row' }, null],
  ];
  for (const [name, e, expected] of cases) it(name, () => assert.equal(isTableQuotaError(e), expected));
});

/** A fake BigQuery: accepts `limit` jobs, then refuses with `refusal`; rate-limits the jobs in `rated` once each. */
function fake(limit: number, opts: { rated?: Set<number>; failing?: Set<number>; refusal?: JobEnd } = {}) {
  let accepted = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const ratedOnce = new Set<number>();
  const sleeps: number[] = [];
  const submit = async (i: number): Promise<JobEnd> => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setImmediate(r));
    inFlight--;
    if (opts.rated?.has(i) && !ratedOnce.has(i)) {
      ratedOnce.add(i);
      return RATE;
    }
    if (opts.failing?.has(i)) return { ok: false, reason: 'invalid', message: 'bad file' };
    if (accepted >= limit) return opts.refusal ?? QUOTA;
    accepted++;
    return { ok: true };
  };
  return { submit, sleeps, sleep: async (ms: number) => void sleeps.push(ms), maxInFlight: () => maxInFlight };
}

describe('runQuotaProbe', () => {
  it('stops at the first quota refusal: the count is the jobs the table accepted', async () => {
    const f = fake(1500);
    const r = await runQuotaProbe({ submit: f.submit, cap: 1700, concurrency: 8, sleep: f.sleep });
    assert.equal(r.succeeded, 1500);
    assert.equal(r.stoppedBy, 'quota');
    assert.deepEqual(r.error, { reason: QUOTA.reason, message: QUOTA.message });
    assert.ok(r.submitted <= 1500 + 8, `${r.submitted} submitted: at most one refusal per worker`);
    assert.ok(f.maxInFlight() <= 8 && f.maxInFlight() > 1, `${f.maxInFlight()} in flight`);
  });

  it('stops at the cap when the table accepts more', async () => {
    const f = fake(11_000);
    const r = await runQuotaProbe({ submit: f.submit, cap: 300, concurrency: 4, sleep: f.sleep });
    assert.deepEqual([r.succeeded, r.submitted, r.stoppedBy, r.error], [300, 300, 'cap', null]);
  });

  it('backs off on a rate limit and goes on; other failures are counted, not stops', async () => {
    const f = fake(100, { rated: new Set([3, 40]), failing: new Set([7]) });
    const r = await runQuotaProbe({ submit: f.submit, cap: 200, concurrency: 2, sleep: f.sleep, backoffMs: 1000 });
    assert.equal(r.rateLimited, 2);
    assert.deepEqual(f.sleeps, [1000, 1000]);
    assert.equal(r.otherFailures, 1);
    assert.equal(r.succeeded, 100);
    assert.equal(r.stoppedBy, 'quota');
  });

  it('a rate limit that persists stops the probe and says so', async () => {
    const f = fake(5, { refusal: RATE });
    const r = await runQuotaProbe({ submit: f.submit, cap: 50, concurrency: 1, sleep: f.sleep, maxRateRetries: 3 });
    assert.equal(r.succeeded, 5);
    assert.equal(r.stoppedBy, 'rate');
    assert.deepEqual(f.sleeps, [2000, 4000, 8000]);
  });

  it('a submitter that throws counts as another failure', async () => {
    const r = await runQuotaProbe({
      submit: async (i) => {
        if (i === 0) throw new Error('socket hang up');
        return { ok: true };
      },
      cap: 3,
      concurrency: 1,
      sleep: async () => {},
    });
    assert.deepEqual([r.succeeded, r.otherFailures, r.stoppedBy], [2, 1, 'cap']);
  });
});
