/**
 * What the event hint saves: N finalize events for the N files of one hourly partition,
 * delivered one at a time to `onObjectFinalized` on the embedded backends (folder lake, DuckDB).
 *
 *   (a) hint: each event carries its object's true generation. The first event lists and loads
 *       the partition; every later one finds its (name, generation) in the partition's state
 *       and is answered without listing.
 *   (b) no hint match: the same events with generation '0', so every event checks the budget,
 *       lists the whole partition and compares fingerprints (up to date after the first load).
 *
 * Every run writes N files into a fresh partition first (not timed), then times the delivery.
 * Runs alternate a, b, b, a, a, b, ... after one untimed warm-up pair; medians are reported.
 * The job budget is set high in the YAML so no run waits for it. Absolute numbers are local
 * (a listing here is a readdir and a stat per file; on Cloud Storage it is a paged HTTP call),
 * but the count of listings per event is what a deployment pays too.
 *
 *   npm run bench:sync [-- --runs=9] [--events=300] [--no-write]
 */
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { parseConfig } from '../shared/config/load.ts';
import { EVENTS_YAML } from '../test/helpers/local-env.ts';
import { OBJECT_FINALIZED } from '../shared/events/storage-event.ts';
import { onObjectFinalized } from '../shared/handlers/object-finalized.ts';
import { createLogger } from '../shared/log.ts';
import { partitionIdAt } from '../shared/routing/partition.ts';
import { createLocalEngine, defaultLocalPaths } from '../shared/runtime/local.ts';
import type { LocalEngine } from '../shared/runtime/local.ts';
import { median } from './stats.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// The test suite's table, with a budget no run of this benchmark can exhaust.
const YAML = EVENTS_YAML.replace('project: test-project', 'project: tidemark-bench').replace(
  'defaults: { jobBudget: 300, jobBurst: 20 }',
  'defaults: { jobBudget: 100000, jobBurst: 10000 }',
);

type Variant = 'hint' | 'no-hint';

interface Run {
  ms: number;
  listings: number;
  jobs: number;
  fromState: number;
}

/** `events/dt=2026-11-24/hr=13/part-00007.csv` for partition 2026112413. */
function objectName(partition: string, i: number): string {
  const p = partition;
  return `events/dt=${p.slice(0, 4)}-${p.slice(4, 6)}-${p.slice(6, 8)}/hr=${p.slice(8, 10)}/part-${String(i).padStart(5, '0')}.csv`;
}

function finalizeEvent(name: string, generation: string, id: string): CloudEvent<unknown> {
  return {
    specversion: '1.0',
    id,
    source: '//storage.googleapis.com/projects/_/buckets/lake',
    type: OBJECT_FINALIZED,
    subject: `objects/${name}`,
    data: { bucket: 'lake', name, generation, metageneration: '1', size: '16', contentType: 'text/csv' },
  };
}

/** Writes `n` one-row files into `partition` (untimed), then delivers their events and times it. */
async function deliver(
  engine: LocalEngine,
  counter: { listings: number },
  partition: string,
  n: number,
  variant: Variant,
): Promise<Run> {
  const events: CloudEvent<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const name = objectName(partition, i);
    const { generation } = await engine.store.write('lake', name, `id,v\n${i},x${i}\n`);
    events.push(finalizeEvent(name, variant === 'hint' ? generation : '0', `${partition}-${i}`));
  }
  counter.listings = 0;
  let jobs = 0;
  let fromState = 0;
  const started = performance.now();
  for (const event of events) {
    const r = await onObjectFinalized(engine, event);
    if (!r.ok || r.value.action !== 'synced') throw new Error(`event ${event.id} was not synced: ${JSON.stringify(r)}`);
    jobs += r.value.result.jobsSubmitted;
    if (r.value.result.outcome === 'up-to-date') fromState++;
  }
  const ms = performance.now() - started;
  const listings = counter.listings;
  const rows = (await engine.warehouse.listPartitions(engine.config.tables[0]!.spec.ref)).find(
    (p) => p.partitionId === partition,
  )?.totalRows;
  if (rows !== n) throw new Error(`partition ${partition} holds ${rows} rows, expected ${n}`);
  return { ms, listings, jobs, fromState };
}

const range = (xs: number[]) =>
  Math.min(...xs) === Math.max(...xs) ? `${xs[0]}` : `${Math.min(...xs)}-${Math.max(...xs)}`;

function formatSection(
  runs: Record<Variant, Run[]>,
  n: number,
  command: string,
  load: number[],
  now = new Date(),
): string {
  const eps = (r: Run) => (n * 1000) / r.ms;
  const row = (label: string, rs: Run[]) => {
    const ms = rs.map((r) => r.ms);
    return `| ${label} | ${median(ms).toFixed(0)} (${Math.min(...ms).toFixed(0)}-${Math.max(...ms).toFixed(0)}) | ${median(rs.map(eps)).toFixed(0)} | ${range(rs.map((r) => r.listings))} | ${range(rs.map((r) => r.jobs))} | ${range(rs.map((r) => r.fromState))} |`;
  };
  const ratio = median(runs['no-hint'].map((r) => r.ms)) / median(runs.hint.map((r) => r.ms));
  return [
    `## Sync throughput: ${now.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `- machine: nproc ${cpus().length} (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}/${process.arch}; load average ${load.map((l) => l.toFixed(1)).join(' -> ')} (before -> after)`,
    `- command: \`${command}\` (bench/sync-throughput.ts says what is measured)`,
    `- ${n} finalize events for the ${n} files of one fresh hourly partition per run, delivered one at a time to onObjectFinalized on the embedded backends (folder lake, DuckDB); ${runs.hint.length} runs per variant, alternating, after one warm-up pair`,
    '',
    `| variant | ms per ${n} events, median (min-max) | events/s, median | listings per run | jobs per run | events answered up to date |`,
    '|---|---:|---:|---:|---:|---:|',
    row('(a) hint: true generation', runs.hint),
    row("(b) generation '0': no hint match", runs['no-hint']),
    '',
    `(a) handles events ${ratio.toFixed(1)}x as fast as (b). Both load the partition once, on the first event; (b) then lists all ${n} objects for every later event to find nothing changed.`,
    '',
  ].join('\n');
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { runs: { type: 'string' }, events: { type: 'string' }, 'no-write': { type: 'boolean' } },
  });
  const runsPerVariant = Math.max(1, Number(values.runs ?? 9));
  const n = Math.max(2, Number(values.events ?? 300));
  const loadBefore = loadavg()[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-bench-sync-'));
  const config = parseConfig(YAML, join(dir, 'tidemark.config.yaml'));
  const engine = createLocalEngine(config, {
    paths: defaultLocalPaths(dir, {
      lakeDir: join(dir, 'lake'),
      warehouseFile: join(dir, 'wh.duckdb'),
      workDir: join(dir, 'work'),
    }),
    // Discarded: the bench measures the handler, not the log sink.
    log: createLogger(() => {}),
    engine: { pollMs: 5 },
  });
  const counter = { listings: 0 };
  const listPage = engine.store.listPage.bind(engine.store);
  engine.store.listPage = (...a) => (counter.listings++, listPage(...a));
  try {
    await engine.warehouse.ensureTable(config.tables[0]!.spec);
    // A fresh hour per run, counting up from a fixed day.
    let hour = Date.UTC(2026, 10, 20, 0);
    const next = () => partitionIdAt((hour += 3_600_000), 'HOUR');
    await deliver(engine, counter, next(), n, 'hint');
    await deliver(engine, counter, next(), n, 'no-hint');
    const runs: Record<Variant, Run[]> = { hint: [], 'no-hint': [] };
    for (let i = 0; i < runsPerVariant; i++) {
      const order: Variant[] = i % 2 ? ['no-hint', 'hint'] : ['hint', 'no-hint'];
      for (const v of order) runs[v].push(await deliver(engine, counter, next(), n, v));
      process.stderr.write(`run ${i + 1}/${runsPerVariant}\r`);
    }
    process.stderr.write('\n');
    const command = ['npm run bench:sync', ...(args.length ? ['--', ...args] : [])].join(' ');
    const section = formatSection(runs, n, command, [loadBefore, loadavg()[0]!]);
    process.stdout.write(section + '\n');
    if (!values['no-write']) {
      appendFileSync(join(ROOT, 'BENCHMARKS.md'), section + '\n');
      process.stdout.write(`appended to ${join(ROOT, 'BENCHMARKS.md')}\n`);
    }
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main(process.argv.slice(2));
}
