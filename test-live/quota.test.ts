/**
 * Measures how many load jobs BigQuery accepts into one partitioned table before it refuses one
 * for the table's daily modifications. The docs disagree (1,500 load jobs per table per day on
 * the quotas page's load-job row; 11,000 / 30,000 partition modifications a day "replacing" it
 * on another), so an operator can find out on their own project. tidemark's job budget keeps
 * 1,500 as its ceiling whatever this prints. Opt-in twice, because it spends a table's daily quota
 * and runs for a long time:
 *
 *   TIDEMARK_LIVE_PROJECT=my-project TIDEMARK_LIVE_BUCKET=my-scratch-bucket TIDEMARK_LIVE_QUOTA=1 npm run test:live
 *
 * Optional: TIDEMARK_LIVE_QUOTA_CAP (most jobs, default 1700), TIDEMARK_LIVE_QUOTA_CONCURRENCY
 * (jobs in flight, default 4), TIDEMARK_LIVE_QUOTA_COLUMN=1 (a TIMESTAMP-column partitioned table
 * instead of ingestion time), TIDEMARK_LIVE_LOCATION (default US).
 *
 * Creates dataset tidemark_quota_<random> with table `probe` (HOUR partitions) and uploads one
 * tiny NDJSON file under tidemark-live-quota-<random>/ in the bucket; each job is a WRITE_TRUNCATE
 * of that file into one partition (`probe$P`, as tidemark loads). Both are deleted afterwards,
 * pass or fail. Asserts only that it ran: the count and the error are printed as diagnostics.
 * Uses Application Default Credentials; without the variables nothing touches the network.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { BigQuery } from '@google-cloud/bigquery';
import { Storage } from '@google-cloud/storage';
import { partitionIdAt } from '../shared/routing/partition.ts';
import { runQuotaProbe } from './quota-probe.ts';
import type { JobEnd } from './quota-probe.ts';

const project = process.env.TIDEMARK_LIVE_PROJECT;
const bucket = process.env.TIDEMARK_LIVE_BUCKET;
const location = process.env.TIDEMARK_LIVE_LOCATION || 'US';
const cap = Number(process.env.TIDEMARK_LIVE_QUOTA_CAP || 1700);
const concurrency = Number(process.env.TIDEMARK_LIVE_QUOTA_CONCURRENCY || 4);
const column = process.env.TIDEMARK_LIVE_QUOTA_COLUMN === '1';
const skip = !project
  ? 'TIDEMARK_LIVE_PROJECT is not set; live tests need a project and Application Default Credentials'
  : process.env.TIDEMARK_LIVE_QUOTA !== '1'
    ? "TIDEMARK_LIVE_QUOTA=1 is not set; the quota test runs ~1,500+ load jobs and spends a throwaway table's daily quota"
    : !bucket
      ? 'TIDEMARK_LIVE_BUCKET is not set; the quota test uploads one tiny file there'
      : !(Number.isInteger(cap) && cap > 0 && Number.isInteger(concurrency) && concurrency > 0)
        ? 'TIDEMARK_LIVE_QUOTA_CAP and TIDEMARK_LIVE_QUOTA_CONCURRENCY must be positive integers'
        : false;
if (skip) process.stderr.write(`live quota test skipped: ${skip}\n`);

const run = randomBytes(4).toString('hex');
const dataset = `tidemark_quota_${run}`;
const object = `tidemark-live-quota-${run}/row.json`;
// One hour a day back: every job replaces this partition.
const hourMs = Math.floor((Date.now() - 24 * 3_600_000) / 3_600_000) * 3_600_000;
const partition = partitionIdAt(hourMs, 'HOUR');

/** The error of a failed insert or job: its first `errors[]` entry, else its message. */
function errorOf(err: unknown): { reason: string; message: string } {
  const e = err as { errors?: { reason?: string; message?: string }[]; message?: string };
  const first = e.errors?.[0];
  return { reason: first?.reason ?? 'exception', message: first?.message ?? e.message ?? String(err) };
}

describe('live: load jobs one partitioned table accepts in a day', { skip, timeout: 4 * 3_600_000 }, () => {
  const bigquery = new BigQuery({ projectId: project, location });
  const storage = new Storage({ projectId: project });
  let created = false;
  let uploaded = false;

  after(async () => {
    const problems: string[] = [];
    if (created)
      await bigquery
        .dataset(dataset)
        .delete({ force: true })
        .catch((err: { code?: number; message: string }) =>
          err.code === 404 ? undefined : problems.push(`dataset ${dataset}: ${err.message}`),
        );
    if (uploaded)
      await storage
        .bucket(bucket!)
        .file(object)
        .delete({ ignoreNotFound: true })
        .catch((err: Error) => problems.push(`gs://${bucket}/${object}: ${err.message}`));
    if (problems.length) throw new Error(`clean-up failed; delete by hand: ${problems.join('; ')}`);
  });

  it('submits small load jobs until a quota error about the table, or the cap', async (t) => {
    await bigquery.createDataset(dataset, { location });
    created = true;
    await bigquery.dataset(dataset).createTable('probe', {
      schema: { fields: [{ name: 'ts', type: 'TIMESTAMP' }] },
      timePartitioning: column ? { type: 'HOUR', field: 'ts' } : { type: 'HOUR' },
    });
    await storage
      .bucket(bucket!)
      .file(object)
      .save(`${JSON.stringify({ ts: new Date(hourMs + 60_000).toISOString() })}\n`, {
        contentType: 'application/x-ndjson',
      });
    uploaded = true;

    const submit = async (i: number): Promise<JobEnd> => {
      let job;
      try {
        [job] = await bigquery.createJob({
          jobId: `tidemark_quota_${run}_${i}_${randomBytes(3).toString('hex')}`,
          location,
          configuration: {
            load: {
              sourceUris: [`gs://${bucket}/${object}`],
              sourceFormat: 'NEWLINE_DELIMITED_JSON',
              destinationTable: { projectId: project, datasetId: dataset, tableId: `probe$${partition}` },
              writeDisposition: 'WRITE_TRUNCATE',
            },
          },
        });
      } catch (err) {
        return { ok: false, ...errorOf(err) };
      }
      for (let delay = 500; ; delay = Math.min(delay * 2, 5_000)) {
        const [meta] = await job.getMetadata();
        const status = meta.status as { state?: string; errorResult?: { reason?: string; message?: string } };
        if (status?.state === 'DONE')
          return status.errorResult
            ? {
                ok: false,
                reason: status.errorResult.reason ?? 'unknown',
                message: status.errorResult.message ?? '',
              }
            : { ok: true };
        await sleep(delay);
      }
    };

    const started = Date.now();
    let reported = 0;
    const result = await runQuotaProbe({
      submit: async (i) => {
        const end = await submit(i);
        if (i >= reported + 100) {
          reported = i;
          process.stderr.write(
            `quota probe: ${i} jobs submitted after ${Math.round((Date.now() - started) / 1000)} s\n`,
          );
        }
        return end;
      },
      cap,
      concurrency,
      sleep: (ms) => sleep(ms),
    });
    const table = `${dataset}.probe (${column ? 'TIMESTAMP column' : 'ingestion-time'} HOUR partitions, ${location})`;
    t.diagnostic(
      `${result.succeeded} load jobs into ${table} succeeded before ${
        result.stoppedBy === 'quota'
          ? 'the first quota error'
          : result.stoppedBy === 'rate'
            ? 'rate limiting persisted (a rate, not the daily ceiling)'
            : `the cap of ${cap}`
      }; ${result.submitted} submitted in all, ${result.rateLimited} rate-limited and retried, ${
        result.otherFailures
      } other failures, ${Math.round((Date.now() - started) / 1000)} s`,
    );
    t.diagnostic(result.error ? `error: ${result.error.reason}: ${result.error.message}` : 'no quota error');
    t.diagnostic("tidemark's job budget keeps 1,500 per table per day as its ceiling whatever this measures");
    assert.ok(result.submitted > 0, 'the probe ran');
  });
});
