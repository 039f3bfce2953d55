/**
 * Finding the bad files of a failed load whose errors name none of them, by bisection.
 *
 * What is cheapest (each load job, failed or not, counts against the table's daily budget):
 * - When a failed job names its bad file (BigQuery does, in `location` or the message, about one
 *   per job), quarantining it and loading again costs k + 1 jobs for k bad files: nothing beats
 *   that, since a job that names one file teaches one file. claims.ts does that, no bisection.
 * - When a failed job names no file, reloading teaches nothing. Bisection probes halves: a probe
 *   that succeeds clears its half; when the left half is clean the right one must hold the failure
 *   and is split without a probe of its own. About 2·k·log2(n/k) + k probes for k bad files in n
 *   (a bad file's path costs about two probes per level, shared near the root).
 * Probes load into a scratch table (WRITE_TRUNCATE of scratch$P, expiring by itself) so the
 * target never sees a partial load, and each probe takes a job from the table's budget. Probe job
 * ids derive from the claim, so a sync interrupted mid-search (budget, timeout) resumes it: probes
 * already run are looked up, not submitted again. A file is quarantined only when a probe's error
 * names it exactly; a single-file probe that fails without naming it is reported, not excluded.
 */
import type { Logger } from '../log.ts';
import type { TableRoute } from '../routing/router.ts';
import { blameUris } from './blame.ts';
import { reserveJob } from './budget.ts';
import { waitForJob } from './claims.ts';
import type { Engine } from './engine.ts';
import { isTransientError } from './error-rules.ts';
import { BackendUnavailableError } from './errors.ts';
import type { JobStatus, TableRef } from './ports.ts';
import type { FileRef, Inflight } from './state.ts';

export interface BisectResult {
  /** Files a probe's error named exactly, with that error. */
  blamed: Map<string, { file: FileRef; message: string }>;
  /** Single files whose probe failed with an error that named nothing (not excluded). */
  unresolved: string[];
  /** Probe jobs looked at (submitted now or earlier). */
  probes: number;
  /** False when the search stopped at `maxProbes` before finishing. */
  complete: boolean;
}

/** The most probes one search may use: enough for several bad files, bounded for table-wide errors. */
export function maxProbesFor(n: number): number {
  return Math.max(8, 8 * Math.ceil(Math.log2(Math.max(2, n))));
}

class ProbeLimitReached extends Error {}

/**
 * Bisects `files` (uri -> file), known as a whole to fail with errors that name none of them.
 * `scratchTable` is the probe destination (created here with an expiration, deleted by the caller).
 */
export async function bisectBadFiles(
  engine: Engine,
  route: TableRoute,
  partition: string,
  inf: Inflight,
  files: Map<string, FileRef>,
  options: { scratch: TableRef; expiresAt: number; labels: Record<string, string> },
  log: Logger,
): Promise<BisectResult> {
  const { warehouse, store, config, clock } = engine;
  const table = route.table;
  const result: BisectResult = { blamed: new Map(), unresolved: [], probes: 0, complete: true };
  const maxProbes = maxProbesFor(files.size);
  await warehouse.ensureTable({
    ...table.spec,
    ref: options.scratch,
    labels: { tidemark: 'probe' },
    expiresAt: options.expiresAt,
  });

  /** Runs (or adopts) the probe of `uris`; a probe that failed transiently is run again under a new id. */
  const probe = async (uris: string[], path: string): Promise<JobStatus> => {
    for (let attempt = 0; ; attempt++) {
      const jobId = `${inf.jobId}_p${path || 'x'}${attempt ? `_r${attempt}` : ''}`;
      let st = await warehouse.getJob(jobId);
      if (!st) {
        if (result.probes >= maxProbes) throw new ProbeLimitReached();
        await reserveJob(store, config.state, table, clock, log);
        st = (
          await warehouse.insertJob({
            kind: 'load',
            jobId,
            table: table.spec,
            destination: options.scratch,
            partition,
            sourceUris: uris,
            writeDisposition: 'WRITE_TRUNCATE',
            labels: { ...options.labels, tidemark_kind: 'probe' },
          })
        ).status;
      }
      result.probes++;
      // Past maxWaitMs this hands over (PartitionBusyError); the retry resumes the search.
      if (st.state !== 'DONE') st = await waitForJob(engine, jobId, partition);
      if (!st.errorResult || !isTransientError(st.errorResult)) return st;
      if (attempt >= 3)
        throw new BackendUnavailableError(`probe ${jobId} failed transiently: ${st.errorResult.message}`, { jobId });
    }
  };

  /** Searches `uris`; `knownBad` when the set is known to fail. Returns whether it held a failure. */
  const search = async (uris: string[], path: string, knownBad: boolean): Promise<boolean> => {
    if (uris.length > table.maxUrisPerLoad) {
      // Too many for one load job (a staged partition): search both halves, neither known bad.
      const half = Math.ceil(uris.length / 2);
      const left = await search(uris.slice(0, half), `${path}0`, false);
      return (await search(uris.slice(half), `${path}1`, false)) || left;
    }
    if (!knownBad || uris.length === 1) {
      const st = await probe(uris, path);
      if (!st.errorResult) return false;
      const named = blameUris([st.errorResult, ...(st.errors ?? [])], uris);
      if (named.size > 0) {
        for (const [uri, message] of named) result.blamed.set(uri, { file: files.get(uri)!, message });
        const rest = uris.filter((u) => !named.has(u));
        if (rest.length > 0) await search(rest, `${path}r`, false);
        return true;
      }
      if (uris.length === 1) {
        result.unresolved.push(uris[0]!);
        return true;
      }
    }
    const half = Math.ceil(uris.length / 2);
    const leftFailed = await search(uris.slice(0, half), `${path}0`, false);
    // A clean left half means the right one holds the failure: split it without probing it whole.
    await search(uris.slice(half), `${path}1`, !leftFailed);
    return true;
  };

  try {
    await search([...files.keys()], '', true);
  } catch (err) {
    if (!(err instanceof ProbeLimitReached)) throw err;
    result.complete = false;
  }
  log.info('bisected a failed load', {
    jobId: inf.jobId,
    files: files.size,
    probes: result.probes,
    blamed: result.blamed.size,
    unresolved: result.unresolved.length,
    complete: result.complete,
  });
  return result;
}
