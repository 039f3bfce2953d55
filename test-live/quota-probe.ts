/**
 * The loop behind the live quota test (quota.test.ts): submits load jobs into one table with
 * bounded concurrency until BigQuery refuses one for the table's daily modifications, or a cap.
 * The BigQuery calls are injected (`submit`), so the loop's decisions are tested offline
 * (test/test-live/quota-probe.test.ts) and the live test only wires the client.
 *
 * Why the errors are told apart: `quotaExceeded` is a longer-term limit (the daily count being
 * measured), so the first one naming the table stops the probe. `rateLimitExceeded` is a
 * short-term limit ("too many table update operations for this table": a few per 10 s): the
 * probe backs off and goes on, and stops only when it persists (then the count is what the rate
 * allowed in the time, not the daily ceiling, and the result says so).
 */

/** One job's end as the submitter saw it: done, or the error (at insertion or in the job's result). */
export type JobEnd = { ok: true } | { ok: false; reason: string; message: string };

export interface ProbeOptions {
  /** Submits load job number `i` and waits for it to finish. */
  submit: (i: number) => Promise<JobEnd>;
  /** Most jobs to submit (successful or not). */
  cap: number;
  /** Jobs in flight at once. */
  concurrency: number;
  sleep: (ms: number) => Promise<void>;
  /** Consecutive rate-limit refusals of one job before the probe stops (default 8). */
  maxRateRetries?: number;
  /** First backoff after a rate-limit refusal (doubles each time, at most 60 s; default 2 s). */
  backoffMs?: number;
}

export interface ProbeResult {
  /** Jobs that loaded successfully before the stop. */
  succeeded: number;
  /** Jobs submitted in all (succeeded, refused, failed otherwise). */
  submitted: number;
  /** Rate-limit refusals retried on the way. */
  rateLimited: number;
  /** Jobs that failed for another reason (counted toward the quota by BigQuery all the same). */
  otherFailures: number;
  /** quota: a daily quota error named the table; rate: rate limiting persisted; cap: the cap was reached first. */
  stoppedBy: 'quota' | 'rate' | 'cap';
  /** The error that stopped it (quota or rate), verbatim. */
  error: { reason: string; message: string } | null;
}

/** A refusal for the table's (or its partitions') modifications, as opposed to any other error. */
export function isTableQuotaError(e: { reason: string; message: string }): 'quota' | 'rate' | null {
  const about = /table|partition/i.test(e.message);
  if (e.reason === 'quotaExceeded' && about) return 'quota';
  if (e.reason === 'rateLimitExceeded' && about) return 'rate';
  return null;
}

/** Runs the probe. Never throws for a job's error: a submitter that throws is counted as another failure. */
export async function runQuotaProbe(opts: ProbeOptions): Promise<ProbeResult> {
  const maxRetries = opts.maxRateRetries ?? 8;
  const firstBackoff = opts.backoffMs ?? 2_000;
  const result: ProbeResult = {
    succeeded: 0,
    submitted: 0,
    rateLimited: 0,
    otherFailures: 0,
    stoppedBy: 'cap',
    error: null,
  };
  let next = 0;
  let stop = false;
  const worker = async () => {
    while (!stop && next < opts.cap) {
      const i = next++;
      for (let attempt = 0; !stop; attempt++) {
        result.submitted++;
        let end: JobEnd;
        try {
          end = await opts.submit(i);
        } catch (err) {
          end = { ok: false, reason: 'exception', message: (err as Error).message };
        }
        if (end.ok) {
          result.succeeded++;
          break;
        }
        const kind = isTableQuotaError(end);
        if (kind === 'quota' || (kind === 'rate' && attempt >= maxRetries)) {
          if (!stop) {
            stop = true;
            result.stoppedBy = kind;
            result.error = { reason: end.reason, message: end.message };
          }
          break;
        }
        if (kind === 'rate') {
          result.rateLimited++;
          await opts.sleep(Math.min(60_000, firstBackoff * 2 ** attempt));
          continue;
        }
        result.otherFailures++;
        break;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
  return result;
}
