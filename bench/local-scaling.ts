/**
 * How the embedded backends' costs grow with the number of files: per-file cost should stay flat.
 *
 *   sync:    one `syncPartition` of a fresh hourly partition holding N one-row CSV files (folder
 *            lake, DuckDB warehouse): listing, fingerprint, load job(s), state. CPU ms per file
 *            (`process.cpuUsage` of the child, DuckDB's threads included), wall ms, peak RSS.
 *   listing: every page (1,000 objects) of a table folder of N objects in 100-file hourly
 *            folders, listed with the table's prefix. CPU ms per page and per object.
 *
 * Each measurement is a child process that writes its files first (not timed). With
 * `--base=<git ref>` the same measurements also run on that revision's `shared/` (extracted
 * with `git archive`; no worktree touched), interleaved with this tree's, for the sizes in
 * `--base-sync` and `--base-list` (the old code is quadratic: a sync of 10,000 files took it
 * minutes).
 *
 *   npm run bench:scaling [-- --runs=3] [--sync=1000,10000] [--list=1000,10000,100000] [--base=main] [--base-sync=1000] [--base-list=1000,10000]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { extractRevision, median } from './stats.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface Measure {
  cpuMs: number;
  wallMs: number;
  units: number;
  rssMiB: number;
}

const YAML = `
project: tidemark-bench
location: US
lake: { bucket: lake }
defaults: { jobBudget: 1000, jobBurst: 100 }
tables:
  - name: events
    source: { pattern: "events/dt={yyyy}-{mm}-{dd}/hr={hh}/*.csv", timeZone: UTC }
    format: CSV
    csv: { skipLeadingRows: 1 }
    schema:
      - { name: id, type: INTEGER }
      - { name: v, type: STRING }
    target: { dataset: lake_us, table: events }
    partitioning: { type: HOUR }
`;

/** In a child: build N files, measure one sync or one full listing with the modules of `root`. */
async function child(root: string, what: 'sync' | 'list', n: number): Promise<void> {
  const load = (p: string) => import(pathToFileURL(join(root, p)).href);
  const { parseConfig } = await load('shared/config/load.ts');
  const { createLocalEngine, defaultLocalPaths } = await load('shared/runtime/local.ts');
  const { syncPartition } = await load('shared/core/sync.ts');
  const { createLogger } = await load('shared/log.ts');
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-bench-scaling-'));
  try {
    const config = parseConfig(YAML, join(dir, 'tidemark.config.yaml'));
    const engine = createLocalEngine(config, {
      paths: defaultLocalPaths(dir, {
        lakeDir: join(dir, 'lake'),
        warehouseFile: join(dir, 'wh.duckdb'),
        workDir: join(dir, 'work'),
      }),
      log: createLogger(() => {}),
      engine: { pollMs: 5 },
    });
    try {
      // Files written straight into the folder: the store's own writes (locks, fsync) are not measured.
      const perFolder = what === 'sync' ? n : 100;
      for (let i = 0; i < n; i++) {
        const hour = Math.floor(i / perFolder);
        const folder = join(
          dir,
          'lake',
          'lake',
          'events',
          `dt=2026-11-${String(1 + Math.floor(hour / 24)).padStart(2, '0')}`,
          `hr=${String(hour % 24).padStart(2, '0')}`,
        );
        if (i % perFolder === 0) mkdirSync(folder, { recursive: true });
        writeFileSync(join(folder, `part-${String(i).padStart(6, '0')}.csv`), `id,v\n${i},x\n`);
      }
      await engine.warehouse.ensureTable(config.tables[0].spec);
      const before = process.cpuUsage();
      const started = performance.now();
      let units = 0;
      if (what === 'sync') {
        const r = await syncPartition(engine, { table: 'events', partition: '2026110100', reason: 'bench' });
        if (r.outcome !== 'loaded') throw new Error(`sync ended ${JSON.stringify(r)}`);
        units = n;
      } else {
        let pageToken: string | undefined;
        let objects = 0;
        do {
          const page = await engine.store.listPage('lake', { prefix: 'events/', ...(pageToken ? { pageToken } : {}) });
          objects += page.objects.length;
          pageToken = page.nextPageToken;
          units++;
        } while (pageToken);
        if (objects !== n) throw new Error(`listed ${objects} objects, expected ${n}`);
      }
      const used = process.cpuUsage(before);
      const result: Measure = {
        cpuMs: (used.user + used.system) / 1000,
        wallMs: performance.now() - started,
        units,
        rssMiB: process.resourceUsage().maxRSS / 1024,
      };
      process.stdout.write(JSON.stringify(result) + '\n');
    } finally {
      await engine.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runChild(root: string, what: 'sync' | 'list', n: number): Measure {
  const out = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', `--root=${root}`, `--what=${what}`, `--n=${n}`],
    {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    },
  );
  if (out.status !== 0) throw new Error(`child ${what} ${n} (${root}) failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').pop()!) as Measure;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'boolean' },
      root: { type: 'string' },
      what: { type: 'string' },
      n: { type: 'string' },
      runs: { type: 'string' },
      sync: { type: 'string' },
      list: { type: 'string' },
      base: { type: 'string' },
      'base-sync': { type: 'string' },
      'base-list': { type: 'string' },
    },
  });
  if (values.child) return child(values.root ?? ROOT, values.what as 'sync' | 'list', Number(values.n));
  const runs = Number(values.runs ?? 3);
  const sizes = (s: string | undefined, d: string) => (s ?? d).split(',').filter(Boolean).map(Number);
  const plan = [
    ...sizes(values.sync, '1000,10000').map((n) => ['sync', n] as const),
    ...sizes(values.list, '1000,10000,100000').map((n) => ['list', n] as const),
  ];
  const baseSizes = {
    sync: new Set(sizes(values['base-sync'], '1000')),
    list: new Set(sizes(values['base-list'], '1000,10000')),
  };
  let baseRoot: string | undefined;
  let commit = '';
  if (values.base) {
    ({ dir: baseRoot, commit } = extractRevision(ROOT, values.base, ['shared']));
  }
  const load = [loadavg()[0]!];
  const rows: string[] = [];
  try {
    for (const [what, n] of plan) {
      const roots: [string, string][] = [['this tree', ROOT]];
      if (baseRoot && baseSizes[what].has(n)) roots.push([`${values.base} (${commit})`, baseRoot]);
      const results = new Map<string, Measure[]>(roots.map(([label]) => [label, []]));
      for (let i = 0; i < runs; i++) {
        for (const [label, root] of i % 2 ? [...roots].reverse() : roots) {
          const m = runChild(root, what, n);
          results.get(label)!.push(m);
          process.stderr.write(
            `${what} ${n} ${label} run ${i + 1}: ${Math.round(m.cpuMs)} ms CPU, ${Math.round(m.wallMs)} ms wall\n`,
          );
        }
      }
      for (const [label, ms] of results) {
        const units = ms[0]!.units;
        const unit = what === 'sync' ? 'file' : 'page';
        rows.push(
          `| ${what} | ${n.toLocaleString('en-US')} | ${label} | ${Math.round(median(ms.map((m) => m.cpuMs)))} | ${Math.round(median(ms.map((m) => m.wallMs)))} | ${(median(ms.map((m) => m.cpuMs)) / units).toFixed(2)} per ${unit} (${units} ${unit}s) | ${Math.round(median(ms.map((m) => m.rssMiB)))} |`,
        );
      }
    }
  } finally {
    if (baseRoot) rmSync(baseRoot, { recursive: true, force: true });
  }
  load.push(loadavg()[0]!);
  console.log(
    [
      `- machine: nproc ${cpus().length} (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; load average ${load.map((l) => l.toFixed(1)).join(' -> ')} (before -> after)`,
      `- command: \`npm run bench:scaling -- ${process.argv.slice(2).join(' ')}\``,
      `- medians of ${runs} runs (interleaved with the base revision where there is one); each run a child process`,
      '',
      '| measure | files | code | CPU ms | wall ms | CPU ms per unit | peak RSS MiB |',
      '|---|---:|---|---:|---:|---:|---:|',
      ...rows,
    ].join('\n'),
  );
}

await main();
