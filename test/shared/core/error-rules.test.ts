import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyError, isTransientError } from '../../../shared/core/error-rules.ts';
import type { ErrorClass, ErrorFacts } from '../../../shared/core/error-rules.ts';

describe('classifyError (one rule for API calls and finished jobs)', () => {
  const cases: { name: string; facts: ErrorFacts; want: ErrorClass }[] = [
    {
      name: 'job rateLimitExceeded',
      facts: { reason: 'rateLimitExceeded', message: 'Exceeded rate limits' },
      want: 'retry-now',
    },
    { name: 'job backendError', facts: { reason: 'backendError', message: 'Backend error' }, want: 'retry-now' },
    {
      name: 'job internalError',
      facts: { reason: 'internalError', message: 'An internal error occurred' },
      want: 'retry-now',
    },
    {
      name: 'job quotaExceeded',
      facts: { reason: 'quotaExceeded', message: 'Quota exceeded: imports per table' },
      want: 'retry-later',
    },
    { name: 'API 403 quotaExceeded', facts: { reason: 'quotaExceeded', status: 403 }, want: 'retry-later' },
    {
      name: 'table update message, no reason',
      facts: { message: 'Exceeded rate limits: too many table update operations for this table' },
      want: 'retry-now',
    },
    {
      name: 'table update message under 403',
      facts: { status: 403, message: 'Too many table update operations' },
      want: 'retry-now',
    },
    {
      name: 'job invalid (bad file)',
      facts: { reason: 'invalid', message: 'Could not parse x as INT64' },
      want: 'permanent',
    },
    { name: 'job notFound', facts: { reason: 'notFound', message: 'Not found: URI gs://b/o' }, want: 'permanent' },
    { name: 'accessDenied 403', facts: { reason: 'accessDenied', status: 403 }, want: 'permanent' },
    { name: '429', facts: { status: 429 }, want: 'retry-now' },
    { name: '503', facts: { status: 503 }, want: 'retry-now' },
    { name: '409', facts: { status: 409, reason: 'duplicate' }, want: 'permanent' },
    { name: 'ECONNRESET', facts: { code: 'ECONNRESET' }, want: 'retry-now' },
    { name: 'nothing known', facts: { message: 'bug' }, want: 'permanent' },
  ];
  for (const c of cases) {
    it(`${c.name} -> ${c.want}`, () => {
      assert.equal(classifyError(c.facts), c.want);
      assert.equal(isTransientError(c.facts), c.want !== 'permanent');
    });
  }
});
