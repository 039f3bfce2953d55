import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackendUnavailableError } from '../../../../shared/core/errors.ts';
import { httpStatusOf, isRetryable, reasonOf, withRetry } from '../../../../shared/backends/gcp/retry.ts';

/** An error shaped like @google-cloud/common's ApiError. */
function apiError(code: number, reason?: string, message = `HTTP ${code}`): Error {
  return Object.assign(new Error(message), { code, errors: reason ? [{ reason, message }] : [] });
}

function networkError(code: string): Error {
  return Object.assign(new Error(`request failed, reason: ${code}`), { code });
}

describe('httpStatusOf / reasonOf', () => {
  const cases: { name: string; err: unknown; status: number | undefined; reason: string | undefined }[] = [
    { name: 'ApiError code', err: apiError(409, 'duplicate'), status: 409, reason: 'duplicate' },
    {
      name: 'gaxios response.status',
      err: Object.assign(new Error('x'), { response: { status: 503 } }),
      status: 503,
      reason: undefined,
    },
    { name: 'teeny response.statusCode', err: { response: { statusCode: 412 } }, status: 412, reason: undefined },
    {
      name: 'gRPC code is not HTTP',
      err: Object.assign(new Error('x'), { code: 14 }),
      status: undefined,
      reason: undefined,
    },
    { name: 'network code string', err: networkError('ECONNRESET'), status: undefined, reason: undefined },
    { name: 'not an object', err: 'boom', status: undefined, reason: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.equal(httpStatusOf(c.err), c.status);
      assert.equal(reasonOf(c.err), c.reason);
    });
  }
});

describe('isRetryable', () => {
  const cases: { name: string; err: unknown; retry: boolean }[] = [
    { name: '429', err: apiError(429), retry: true },
    { name: '500', err: apiError(500), retry: true },
    { name: '502', err: apiError(502), retry: true },
    { name: '503', err: apiError(503), retry: true },
    { name: '504', err: apiError(504), retry: true },
    { name: '400 invalid', err: apiError(400, 'invalid'), retry: false },
    { name: '403 accessDenied', err: apiError(403, 'accessDenied'), retry: false },
    { name: '403 quotaExceeded', err: apiError(403, 'quotaExceeded'), retry: false },
    { name: '404', err: apiError(404, 'notFound'), retry: false },
    { name: '409', err: apiError(409, 'duplicate'), retry: false },
    { name: '412', err: apiError(412, 'conditionNotMet'), retry: false },
    { name: '403 rateLimitExceeded', err: apiError(403, 'rateLimitExceeded'), retry: true },
    { name: 'backendError reason', err: apiError(400, 'backendError'), retry: true },
    { name: 'internalError reason', err: apiError(400, 'internalError'), retry: true },
    {
      name: 'table update rate message',
      err: apiError(403, undefined, 'Exceeded rate limits: too many table update operations for this table.'),
      retry: true,
    },
    { name: 'ECONNRESET', err: networkError('ECONNRESET'), retry: true },
    { name: 'ETIMEDOUT', err: networkError('ETIMEDOUT'), retry: true },
    { name: 'plain Error', err: new Error('bug'), retry: false },
  ];
  for (const c of cases) {
    it(`${c.name} -> ${c.retry ? 'retry' : 'no retry'}`, () => assert.equal(isRetryable(c.err), c.retry));
  }
});

describe('withRetry', () => {
  function recorder() {
    const sleeps: number[] = [];
    return { sleeps, sleep: async (ms: number) => void sleeps.push(ms) };
  }

  it('retries transient failures, then returns the value', async () => {
    const { sleeps, sleep } = recorder();
    const failures = [apiError(429), apiError(503), networkError('ECONNRESET')];
    let calls = 0;
    const value = await withRetry(
      async (attempt) => {
        calls++;
        assert.equal(attempt, calls);
        const err = failures.shift();
        if (err) throw err;
        return 'ok';
      },
      { describe: 'thing', sleep },
    );
    assert.equal(value, 'ok');
    assert.equal(calls, 4);
    assert.equal(sleeps.length, 3);
  });

  it('rethrows a permanent failure at once, untouched', async () => {
    const { sleeps, sleep } = recorder();
    const err = apiError(412, 'conditionNotMet');
    let calls = 0;
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw err;
        },
        { describe: 'thing', sleep },
      ),
      (thrown) => thrown === err,
    );
    assert.equal(calls, 1);
    assert.deepEqual(sleeps, []);
  });

  it('gives up after the last attempt with BackendUnavailableError carrying the cause', async () => {
    const { sleeps, sleep } = recorder();
    const last = apiError(503, 'backendError', 'Service unavailable');
    let calls = 0;
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw last;
        },
        { describe: 'jobs.insert j1', attempts: 4, sleep },
      ),
      (err: unknown) => {
        assert.ok(err instanceof BackendUnavailableError);
        assert.equal(err.permanent, false);
        assert.equal(err.cause, last);
        assert.match(err.message, /jobs\.insert j1 failed after 4 attempts: Service unavailable/);
        assert.deepEqual(err.fields, { call: 'jobs.insert j1', attempts: 4, status: 503, reason: 'backendError' });
        return true;
      },
    );
    assert.equal(calls, 4);
    assert.equal(sleeps.length, 3);
  });

  it('waits with exponential backoff and full jitter, capped at maxMs', async () => {
    const { sleeps, sleep } = recorder();
    await assert.rejects(
      withRetry(
        async () => {
          throw apiError(500);
        },
        { describe: 'x', attempts: 7, baseMs: 100, maxMs: 1000, sleep, random: () => 0.5 },
      ),
      BackendUnavailableError,
    );
    // Ceilings 100, 200, 400, 800, 1000, 1000; jitter picks half of each.
    assert.deepEqual(sleeps, [50, 100, 200, 400, 500, 500]);

    const low = recorder();
    await assert.rejects(
      withRetry(
        async () => {
          throw apiError(500);
        },
        { describe: 'x', attempts: 3, sleep: low.sleep, random: () => 0 },
      ),
      BackendUnavailableError,
    );
    assert.deepEqual(low.sleeps, [0, 0]);
  });

  it('defaults to 6 attempts with a 500 ms base', async () => {
    const { sleeps, sleep } = recorder();
    let calls = 0;
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw apiError(429);
        },
        { describe: 'x', sleep, random: () => 0.999999 },
      ),
      BackendUnavailableError,
    );
    assert.equal(calls, 6);
    assert.deepEqual(sleeps, [499, 999, 1999, 3999, 7999]);
  });
});
