/**
 * The README's stream in both commit modes, on the embedded backends (folder lake, DuckDB) with
 * simulated time: what each mode costs in jobs and lake reads, and how fresh it keeps the table.
 *
 * Scenario: one object a second for `files` (2,000) seconds into one hourly table, 13 partitions:
 * every fifth file is late data for one of 12 older hours, the rest go to the current hour; each
 * file holds 3 CSV rows. Each file is written when its finalize event is first delivered, and the
 * event goes to onObjectFinalized with Eventarc's retry semantics: a thrown transient error is
 * delivered again after a backoff of 10 s doubling to 600 s, jittered (0.5-1x) by a seeded
 * generator, up to 4 deliveries at once.
 *   - load (the default `commit: {mode: load}`, budget 300/day, burst 20): events load partitions.
 *   - dml (`commit: {mode: dml, interval: 60s}`): events mark partitions dirty, and a tick every
 *     60 s of simulated time calls commitTables (as Cloud Scheduler would) until nothing is dirty.
 *
 * Measured from the warehouse's job history (not from the engine's own accounting, which is
 * printed beside it as a cross-check): load jobs into the target and into staging tables, DML
 * statements, and their rate per table per day over the run (first arrival to last job) against
 * each quota; transfer amplification = bytes the load jobs read from the lake / bytes of distinct
 * object generations written; freshness per file = simulated time from the object's arrival
 * (its first delivery) to the end of the job that made it queryable (load mode: the first load
 * job that read it; dml mode: the commit transaction that inserted its staged rows).
 *
 * Goals (issue 9): amplification <= 1.05x in both modes; in dml mode every file queryable within
 * interval + 60 s of arrival; target load jobs, staging loads and DML statements at most a fifth
 * of their limits (load mode: its steady rate, the day's one-time burst excluded). Exits 1 naming
 * each goal missed, or if the table does not hold every row exactly once.
 *
 * Time is simulated, so figures depend only on the seed (jitter) and on how concurrent
 * deliveries interleave; each mode runs once per seed and medians are reported.
 *
 *   npm run bench:stream [-- --seeds=1,2,3] [--files=2000] [--modes=load,dml] [--no-write]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { commitTables } from '../shared/core/commit.ts';
import type { CommitResult } from '../shared/core/commit.ts';
import { isPermanent } from '../shared/core/errors.ts';
import type { JobSpec } from '../shared/core/ports.ts';
import { onObjectFinalized } from '../shared/handlers/object-finalized.ts';
import { createTestEnv, csvRows, EVENTS_YAML, storageEvent } from '../test/helpers/local-env.ts';
import type { TestEnv } from '../test/helpers/local-env.ts';
import { median } from './stats.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export type Mode = 'load' | 'dml';

const INTERVAL_MS = 60_000;
const ROWS_PER_FILE = 3;
const MIN_BACKOFF_MS = 10_000;
const MAX_BACKOFF_MS = 600_000;
const CONCURRENCY = 4;
const DAY_MS = 86_400_000;
/** The budget's burst at the default config (EVENTS_YAML): spent once a day, not a rate. */
const BURST = 20;

/** Quotas (/work/shared/FACTS.md; README, "The job budget and freshness"). */
export const LIMITS = {
  /** Load jobs per table per day: the ceiling tidemark's budget protects. */
  targetLoadsPerDay: 1_500,
  /** 25 DML statements per 10 s per table. */
  dmlPerDay: 25 * 8_640,
  /** Load jobs per project per day (staging tables are fresh tables, so only this one applies). */
  stageLoadsPerDay: 100_000,
};

const YAML: Record<Mode, string> = {
  load: EVENTS_YAML,
  dml: EVENTS_YAML.replace(
    '    partitioning: { type: HOUR }\n',
    `    partitioning: { type: HOUR }\n    commit: { mode: dml, interval: ${INTERVAL_MS / 1000}s }\n`,
  ),
};

export interface StreamRun {
  mode: Mode;
  seed: number;
  files: number;
  deliveries: number;
  retries: number;
  ticks: number;
  commits: number;
  targetLoads: number;
  stageLoads: number;
  dmlStatements: number;
  /** Simulated ms from the first arrival to the end of the last job. */
  spanMs: number;
  /** Per table per day at this run's rate (load mode's target loads: the burst excluded). */
  perDay: { targetLoads: number; stageLoads: number; dml: number };
  /** DML statements whose transactions ended within one 10 s window, at most. */
  peakDmlPer10s: number;
  bytesWritten: number;
  /** Bytes the load jobs read (the warehouse's inputBytes). */
  bytesRead: number;
  /** Bytes the engine says its jobs read (SyncResult.jobs, CommitResult.bytesRead). */
  engineBytesRead: number;
  amplification: number;
  /** Arrival to queryable, simulated ms, per file (index = file). */
  freshnessMs: number[];
  rows: number;
  distinctIds: number;
  problems: string[];
}

/** Seeded uniform [0, 1) (the LCG of test/helpers/platform.ts `shuffled`). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

/** `events/dt=2026-11-24/hr=HH/s-NNNN.csv`: every fifth file late data for one of hours 0-11, else hour 12. */
export function streamObject(i: number): string {
  const hour = i % 5 === 0 ? (i / 5) % 12 : 12;
  return `events/dt=2026-11-24/hr=${String(hour).padStart(2, '0')}/s-${String(i).padStart(4, '0')}.csv`;
}

interface Delivery {
  file: number;
  dueAt: number;
  attempt: number;
}

/** Runs the stream in one mode on a fresh environment and measures it. */
export async function runStream(opts: { mode: Mode; files: number; seed: number }): Promise<StreamRun> {
  const env = await createTestEnv({ yaml: YAML[opts.mode] });
  try {
    return await simulate(env, opts);
  } finally {
    await env.close();
  }
}

async function simulate(env: TestEnv, opts: { mode: Mode; files: number; seed: number }): Promise<StreamRun> {
  const { mode, files: n } = opts;
  const rand = random(opts.seed);
  const clock = env.clock;
  const start = clock.now();
  const arrival = (i: number) => start + i * 1_000;
  const written = new Map<number, number>(); // file -> bytes of its one generation
  let queue: Delivery[] = Array.from({ length: n }, (_, i) => ({ file: i, dueAt: arrival(i), attempt: 1 }));
  let nextTick = mode === 'dml' ? start + INTERVAL_MS : Infinity;
  const run = { deliveries: 0, retries: 0, ticks: 0, engineBytesRead: 0 };
  const commits: CommitResult[] = [];
  const problems: string[] = [];

  const deliver = async (d: Delivery) => {
    run.deliveries++;
    if (!written.has(d.file)) {
      const content = csvRows(d.file * ROWS_PER_FILE, ROWS_PER_FILE);
      await env.put(streamObject(d.file), content);
      written.set(d.file, Buffer.byteLength(content));
    }
    try {
      const r = await onObjectFinalized(
        env.engine,
        storageEvent({ name: streamObject(d.file) }, `evt-${d.file}`) as CloudEvent<unknown>,
      );
      if (r.ok && r.value.action === 'synced') for (const j of r.value.result.jobs) run.engineBytesRead += j.bytesRead;
      if (!r.ok) problems.push(`file ${d.file}: event acknowledged with a permanent error`);
    } catch (err) {
      if (isPermanent(err)) {
        problems.push(`file ${d.file}: ${String(err)}`);
        return;
      }
      run.retries++;
      const backoff = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** Math.min(d.attempt - 1, 20));
      queue.push({ file: d.file, dueAt: clock.now() + backoff * (0.5 + rand() / 2), attempt: d.attempt + 1 });
    }
  };
  // The tick: Cloud Scheduler's every minute; it stops once every event is acknowledged and nothing is dirty.
  const tick = async (): Promise<boolean> => {
    run.ticks++;
    const [r] = await commitTables(env.engine);
    if (!r) throw new Error('no dml table to commit');
    if (r.outcome === 'committed') {
      commits.push(r);
      run.engineBytesRead += r.bytesRead;
    } else if (r.outcome === 'aborted') problems.push(`commit ${r.jobId ?? '?'} aborted: ${r.message ?? ''}`);
    return r.outcome === 'idle';
  };

  for (;;) {
    queue.sort((a, b) => a.dueAt - b.dueAt || a.file - b.file);
    const due = Math.min(queue[0]?.dueAt ?? Infinity, nextTick);
    if (due === Infinity) break;
    if (due > clock.now()) clock.ms = due;
    const batch = queue.filter((d) => d.dueAt <= clock.now()).slice(0, CONCURRENCY);
    queue = queue.filter((d) => !batch.includes(d));
    const ticking = nextTick <= clock.now();
    if (ticking) nextTick += INTERVAL_MS;
    const [idle] = await Promise.all([ticking ? tick() : Promise.resolve(false), ...batch.map(deliver)]);
    if (idle && queue.length === 0 && batch.length === 0) nextTick = Infinity;
    if (run.ticks > 10_000) throw new Error('still dirty after 10,000 ticks');
  }

  const m = await measure(env, mode, n, arrival, written);
  const spanMs = m.lastEnd - start;
  const days = spanMs / DAY_MS;
  const dmlStatements = commits.reduce((s, c) => s + c.dmlStatements, 0);
  const bytesWritten = [...written.values()].reduce((s, b) => s + b, 0);
  const freshnessMs = m.queryableAt.map((t, i) => (t === undefined ? NaN : t - arrival(i)));
  const missing = freshnessMs.filter((f) => Number.isNaN(f)).length;
  if (missing) problems.push(`${missing} file(s) never made queryable by a job`);
  const rows = await env.count();
  const distinctIds = await env.count('true', '(SELECT DISTINCT id FROM lake_us.events)');
  if (rows !== n * ROWS_PER_FILE || distinctIds !== rows)
    problems.push(`the table holds ${rows} rows, ${distinctIds} distinct ids; expected ${n * ROWS_PER_FILE} once each`);
  if (m.engineCommits !== commits.length)
    problems.push(`${m.engineCommits} commit transactions in the warehouse, ${commits.length} reported committed`);
  return {
    mode,
    seed: opts.seed,
    files: n,
    ...run,
    commits: commits.length,
    targetLoads: m.targetLoads,
    stageLoads: m.stageLoads,
    dmlStatements,
    spanMs,
    perDay: {
      targetLoads: (mode === 'load' ? Math.max(0, m.targetLoads - BURST) : m.targetLoads) / days,
      stageLoads: m.stageLoads / days,
      dml: dmlStatements / days,
    },
    peakDmlPer10s: peakPerWindow(
      commits.map((c) => ({ at: m.commitEnd.get(c.jobId!) ?? 0, n: c.dmlStatements })),
      10_000,
    ),
    bytesWritten,
    bytesRead: m.bytesRead,
    amplification: m.bytesRead / bytesWritten,
    freshnessMs,
    rows,
    distinctIds,
    problems,
  };
}

/** Reads every job back: counts, bytes read, and when each file became queryable. */
async function measure(
  env: TestEnv,
  mode: Mode,
  n: number,
  arrival: (i: number) => number,
  written: Map<number, number>,
) {
  const wh = env.engine.warehouse;
  const target = env.config.tables[0]!.spec.ref;
  const history = await wh.jobHistory();
  const uriToFile = new Map<string, number>();
  for (const i of written.keys()) uriToFile.set(env.engine.store.uri('lake', streamObject(i)), i);
  const commitEnd = new Map<string, number>(); // successful commit transactions
  for (const j of history)
    if (j.kind === 'commit' && j.state === 'DONE' && !j.error) commitEnd.set(j.jobId, j.endedAt!);
  const queryableAt: (number | undefined)[] = Array.from({ length: n }, () => undefined);
  let targetLoads = 0;
  let stageLoads = 0;
  let bytesRead = 0;
  let lastEnd = arrival(0);
  for (const j of history) {
    if (j.endedAt !== null) lastEnd = Math.max(lastEnd, j.endedAt);
    if (j.kind !== 'load') continue;
    const spec = (await wh.getJobSpec(j.jobId)) as Extract<JobSpec, { kind: 'load' }>;
    const status = await wh.getJob(j.jobId);
    bytesRead += status?.inputBytes ?? 0;
    const intoTarget = spec.destination.table === target.table && spec.destination.dataset === target.dataset;
    if (intoTarget) targetLoads++;
    else stageLoads++;
    if (j.state !== 'DONE' || j.error) continue;
    // A stage load `<commit job id>_<P>_<n>` is queryable when its commit's transaction is.
    const done = intoTarget ? j.endedAt! : commitEnd.get(j.jobId.replace(/_\d+_\d+$/, ''));
    if (done === undefined) continue;
    for (const uri of spec.sourceUris) {
      const i = uriToFile.get(uri);
      if (i !== undefined && (queryableAt[i] === undefined || done < queryableAt[i]!)) queryableAt[i] = done;
    }
  }
  if (mode === 'load' && stageLoads) throw new Error(`load mode ran ${stageLoads} staging loads`);
  return { targetLoads, stageLoads, bytesRead, queryableAt, lastEnd, commitEnd, engineCommits: commitEnd.size };
}

/** The largest sum of `n` over events within any window of `windowMs`. */
function peakPerWindow(events: { at: number; n: number }[], windowMs: number): number {
  const s = [...events].sort((a, b) => a.at - b.at);
  let peak = 0;
  for (let i = 0, j = 0, sum = 0; i < s.length; i++) {
    sum += s[i]!.n;
    while (s[i]!.at - s[j]!.at >= windowMs) sum -= s[j++]!.n;
    peak = Math.max(peak, sum);
  }
  return peak;
}

/** The p-th percentile (nearest rank). */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** The goals a run misses (issue 9), each as a sentence. */
export function missedGoals(r: StreamRun): string[] {
  const out = [...r.problems];
  if (r.amplification > 1.05) out.push(`${r.mode}: amplification ${r.amplification.toFixed(3)}x > 1.05x`);
  if (r.mode === 'dml') {
    const worst = Math.max(...r.freshnessMs);
    if (worst > INTERVAL_MS + 60_000)
      out.push(`dml: a file was queryable ${(worst / 1000).toFixed(1)} s after arrival > interval + 60 s`);
  }
  const fifth = (what: string, perDay: number, limit: number) => {
    if (perDay > limit / 5)
      out.push(`${r.mode}: ${what} ${Math.round(perDay)} per day > a fifth of ${limit.toLocaleString('en-US')}`);
  };
  fifth('load jobs into the table', r.perDay.targetLoads, LIMITS.targetLoadsPerDay);
  fifth('staging loads', r.perDay.stageLoads, LIMITS.stageLoadsPerDay);
  fifth('DML statements', r.perDay.dml, LIMITS.dmlPerDay);
  return out;
}

/** Seconds under 10 minutes, minutes above. */
const s = (ms: number) => (ms < 600_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`);
const int = (x: number) => Math.round(x).toLocaleString('en-US');
const pct = (x: number, limit: number) => `${((100 * x) / limit).toFixed(1)}%`;

function formatSection(runs: Record<Mode, StreamRun[]>, command: string, now = new Date()): string {
  const modes = (Object.keys(runs) as Mode[]).filter((m) => runs[m].length);
  const med = (m: Mode, f: (r: StreamRun) => number) => median(runs[m].map(f));
  const all = (m: Mode, f: (r: StreamRun) => number, fmt: (x: number) => string) => {
    const xs = runs[m].map(f);
    return Math.min(...xs) === Math.max(...xs) ? fmt(xs[0]!) : `${fmt(median(xs))} (${xs.map(fmt).join(', ')})`;
  };
  const row = (label: string, f: (m: Mode) => string) => `| ${label} | ${modes.map(f).join(' | ')} |`;
  const first = runs[modes[0]!][0]!;
  return [
    `## Stream commits, load vs dml (issue 9): ${now.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `- machine: nproc ${cpus().length} (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}/${process.arch}; time is simulated, so the machine does not change the figures`,
    `- command: \`${command}\` (bench/stream-commit.ts says what is measured)`,
    `- ${int(first.files)} files at 1/s into 13 partitions of one hourly table (every fifth late data for one of 12 older hours), ${ROWS_PER_FILE} rows each; seeds ${runs[modes[0]!].map((r) => r.seed).join(', ')} (retry jitter); median over the runs, each run in parentheses where they differ. Per day = the run's rate from the first arrival to the last job${modes.includes('load') ? `; load mode's target loads exclude the day's burst of ${BURST}` : ''}.`,
    '',
    `| figure | ${modes.map((m) => (m === 'load' ? '`commit: {mode: load}` (budget 300/day, burst 20)' : `\`commit: {mode: dml, interval: ${INTERVAL_MS / 1000}s}\``)).join(' | ')} |`,
    `|---|${modes.map(() => '---:').join('|')}|`,
    row('load jobs into the table', (m) => all(m, (r) => r.targetLoads, int)),
    row(
      `&nbsp;&nbsp;per day vs ${int(LIMITS.targetLoadsPerDay)} per table`,
      (m) =>
        all(m, (r) => r.perDay.targetLoads, int) +
        ` = ${pct(
          med(m, (r) => r.perDay.targetLoads),
          LIMITS.targetLoadsPerDay,
        )}`,
    ),
    row('load jobs into staging tables', (m) => all(m, (r) => r.stageLoads, int)),
    row(
      `&nbsp;&nbsp;per day vs ${int(LIMITS.stageLoadsPerDay)} per project`,
      (m) =>
        all(m, (r) => r.perDay.stageLoads, int) +
        ` = ${pct(
          med(m, (r) => r.perDay.stageLoads),
          LIMITS.stageLoadsPerDay,
        )}`,
    ),
    row('commit transactions', (m) => all(m, (r) => r.commits, int)),
    row('DML statements', (m) => all(m, (r) => r.dmlStatements, int)),
    row(
      `&nbsp;&nbsp;per day vs ${int(LIMITS.dmlPerDay)} (25 per 10 s) per table`,
      (m) =>
        all(m, (r) => r.perDay.dml, int) +
        ` = ${pct(
          med(m, (r) => r.perDay.dml),
          LIMITS.dmlPerDay,
        )}`,
    ),
    row('&nbsp;&nbsp;most in one 10 s window (limit 25)', (m) => all(m, (r) => r.peakDmlPer10s, int)),
    row('event deliveries', (m) => all(m, (r) => r.deliveries, int)),
    row('&nbsp;&nbsp;redelivered after a transient error (no token, partition busy)', (m) =>
      all(m, (r) => r.retries, int),
    ),
    row('transfer amplification (bytes read / bytes written)', (m) =>
      all(
        m,
        (r) => r.amplification,
        (x) => `${x.toFixed(3)}x`,
      ),
    ),
    row('freshness, median', (m) => all(m, (r) => median(r.freshnessMs), s)),
    row('freshness, p99', (m) => all(m, (r) => percentile(r.freshnessMs, 99), s)),
    row('freshness, max', (m) => all(m, (r) => Math.max(...r.freshnessMs), s)),
    row('rows / distinct ids', (m) => all(m, (r) => r.rows, int) + ' / ' + all(m, (r) => r.distinctIds, int)),
    '',
  ].join('\n');
}

/** Puts `section` before "## History" (the current sections come first), or at the end. */
function writeSection(section: string): string {
  const file = join(ROOT, 'BENCHMARKS.md');
  const text = readFileSync(file, 'utf8');
  const at = text.indexOf('\n## History');
  writeFileSync(file, at < 0 ? `${text}\n${section}` : `${text.slice(0, at + 1)}${section}\n${text.slice(at + 1)}`);
  return file;
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      seeds: { type: 'string' },
      files: { type: 'string' },
      modes: { type: 'string' },
      'no-write': { type: 'boolean' },
    },
  });
  const seeds = (values.seeds ?? '1,2,3').split(',').map(Number);
  const files = Math.max(10, Number(values.files ?? 2000));
  const modes = (values.modes ?? 'load,dml').split(',') as Mode[];
  const runs: Record<Mode, StreamRun[]> = { load: [], dml: [] };
  const missed: string[] = [];
  for (const seed of seeds)
    for (const mode of modes) {
      const t0 = performance.now();
      const r = await runStream({ mode, files, seed });
      runs[mode].push(r);
      const f = r.freshnessMs;
      process.stderr.write(
        `${mode} seed ${seed}: ${r.targetLoads} target loads, ${r.stageLoads} stage loads, ${r.dmlStatements} DML, ` +
          `amplification ${r.amplification.toFixed(3)}x (engine says ${(r.engineBytesRead / r.bytesWritten).toFixed(3)}x), ` +
          `freshness ${s(median(f))} / ${s(percentile(f, 99))} / ${s(Math.max(...f))}, ` +
          `${((performance.now() - t0) / 1000).toFixed(0)} s wall\n`,
      );
      missed.push(...missedGoals(r).map((g) => `seed ${seed}: ${g}`));
    }
  const command = ['npm run bench:stream', ...(args.length ? ['--', ...args] : [])].join(' ');
  const section = formatSection(runs, command);
  process.stdout.write(section + '\n');
  if (!values['no-write']) process.stdout.write(`written to ${writeSection(section)}\n`);
  if (missed.length) {
    process.stdout.write(`goals missed:\n${missed.map((m) => `- ${m}`).join('\n')}\n`);
    process.exitCode = 1;
  } else process.stdout.write('every goal met\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main(process.argv.slice(2));
}
