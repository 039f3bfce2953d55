/**
 * CPU time of one audit of a year of hourly partitions with F files each (in-memory object store,
 * a fake warehouse that answers the partition query), the code of this tree against an older
 * revision of it (default `main`).
 *
 * The older revision's `shared/` and `test/helpers/` are extracted with `git archive` into a
 * temp folder (node_modules linked in), so no worktree or branch is touched. Every run is a
 * child process that builds the lake (not timed), then reports the CPU time
 * (`process.cpuUsage`, user + system) of `auditTable` alone and a digest of the audit's result:
 * both revisions must report the same digest. Runs alternate base, this, this, base, ... after
 * one untimed warm-up pair; medians are reported.
 *
 *   npm run bench:audit [-- --runs=5] [--days=365] [--files=100] [--zone=Asia/Seoul] [--base=main]
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { extractRevision, median } from './stats.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface ChildResult {
  cpuMs: number;
  objects: number;
  partitions: number;
  digest: string;
}

/** In a child: build the lake with the modules of `root`, audit it, print the CPU time. */
async function child(root: string, days: number, files: number, zone: string): Promise<void> {
  const load = (p: string) => import(pathToFileURL(join(root, p)).href);
  const { parseConfig } = await load('shared/config/load.ts');
  const { createRouter } = await load('shared/routing/router.ts');
  const { auditTable } = await load('shared/core/audit.ts');
  const { fingerprintObjects } = await load('shared/core/fingerprint.ts');
  const { writeState, emptyState } = await load('shared/core/state.ts');
  const { memoryLogger } = await load('shared/log.ts');
  const { MemoryObjectStore } = await load('test/helpers/memory-store.ts');
  const { ManualClock } = await load('test/helpers/clock.ts');

  const config = parseConfig(
    `
project: tidemark-bench
location: US
lake: { bucket: lake }
tables:
  - name: clicks
    source: { pattern: "clicks/dt={yyyy}-{mm}-{dd}/hr={hh}/*.json", timeZone: ${zone} }
    format: NEWLINE_DELIMITED_JSON
    autodetect: true
    target: { dataset: lake_us, table: clicks }
    partitioning: { type: HOUR }
`,
    '/virtual/tidemark.config.yaml',
  );
  const router = createRouter(config);
  const store = new MemoryObjectStore();
  const clock = new ManualClock(Date.UTC(2026, 10, 24));
  const from = clock.now() - days * 86_400_000;
  const partitions: { partitionId: string; totalRows: number }[] = [];
  let objects = 0;
  // Names are the zone's local hour; routing them back gives the UTC partition (so every zone works).
  const fmt = new Intl.DateTimeFormat('en-CA', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
  });
  for (let ms = from; ms < clock.now(); ms += 3_600_000) {
    const p = Object.fromEntries(fmt.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
    const dir = `clicks/dt=${p.year}-${p.month}-${p.day}/hr=${p.hour}/`;
    const id = router.table('clicks').partitionOf(`${dir}part-0.json`) as string | null;
    if (id === null) continue;
    const listed: { name: string; generation: string }[] = [];
    for (let f = 0; f < files; f++) {
      const name = `${dir}part-${f}.json`;
      if (store.buckets.get('lake')?.has(name)) break;
      listed.push({ name, generation: (await store.write('lake', name, '{}\n')).generation });
      objects++;
    }
    if (listed.length === 0) continue; // a DST fold's second hour: its names are the first's
    const h = { state: emptyState('clicks', id, ms), generation: '0' };
    await writeState(store, config.state, h, {
      ...h.state,
      status: 'loaded',
      loaded: {
        sourceFingerprint: fingerprintObjects(listed),
        loadedFingerprint: '',
        objects: listed.length,
        bytes: 3 * listed.length,
        rows: listed.length,
        jobId: 'j',
        at: ms,
      },
    });
    partitions.push({ partitionId: id, totalRows: listed.length });
  }
  const warehouse = {
    insertJob: async () => {
      throw new Error('no jobs in an audit');
    },
    getJob: async () => null,
    getTableLabels: async () => ({ labels: {}, etag: '1' }),
    patchTableLabels: async () => {},
    listPartitions: async () => partitions,
    ensureTable: async () => {},
    deleteTable: async () => {},
  };
  const deps = {
    config,
    router,
    store,
    warehouse,
    clock,
    log: memoryLogger(),
    options: { pollMs: 1, maxWaitMs: 1, submitGraceMs: 1, maxRounds: 1 },
    bus: { publish: async () => [] },
  };
  const before = process.cpuUsage();
  const { audit } = await auditTable(deps, router.table('clicks'), from, clock.now(), deps.log);
  const used = process.cpuUsage(before);
  const digest = createHash('sha256')
    .update(JSON.stringify(audit.counts))
    .update(JSON.stringify(audit.findings ?? null))
    .digest('hex')
    .slice(0, 12);
  const result: ChildResult = {
    cpuMs: (used.user + used.system) / 1000,
    objects,
    partitions: partitions.length,
    digest,
  };
  process.stdout.write(JSON.stringify({ ...result, ok: audit.counts.ok }) + '\n');
}

function runChild(root: string, args: { days: number; files: number; zone: string }): ChildResult & { ok: number } {
  const out = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--child',
      `--root=${root}`,
      `--days=${args.days}`,
      `--files=${args.files}`,
      `--zone=${args.zone}`,
    ],
    { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  if (out.status !== 0) throw new Error(`child (${root}) failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').pop()!) as ChildResult & { ok: number };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'boolean' },
      root: { type: 'string' },
      runs: { type: 'string' },
      days: { type: 'string' },
      files: { type: 'string' },
      zone: { type: 'string' },
      base: { type: 'string' },
    },
  });
  const days = Number(values.days ?? 365);
  const files = Number(values.files ?? 100);
  const zone = values.zone ?? 'Asia/Seoul';
  if (values.child) return child(values.root ?? ROOT, days, files, zone);

  const runs = Number(values.runs ?? 5);
  const base = values.base ?? 'main';
  const { dir: baseRoot, commit } = extractRevision(ROOT, base, ['shared', 'test/helpers']);
  try {
    const load = [loadavg()[0]!];
    const roots = { base: baseRoot, current: ROOT };
    runChild(baseRoot, { days, files, zone });
    runChild(ROOT, { days, files, zone });
    const cpu: Record<'base' | 'current', number[]> = { base: [], current: [] };
    let shape: (ChildResult & { ok: number }) | undefined;
    for (let i = 0; i < runs; i++) {
      const order: ('base' | 'current')[] = i % 2 === 0 ? ['base', 'current'] : ['current', 'base'];
      for (const which of order) {
        const r = runChild(roots[which], { days, files, zone });
        if (shape && (r.digest !== shape.digest || r.objects !== shape.objects))
          throw new Error(`results differ: ${JSON.stringify(shape)} vs ${which} ${JSON.stringify(r)}`);
        shape = r;
        cpu[which].push(r.cpuMs);
        process.stderr.write(`run ${i + 1} ${which}: ${(r.cpuMs / 1000).toFixed(2)} s CPU\n`);
      }
    }
    load.push(loadavg()[0]!);
    const fmt = (xs: number[]) =>
      `${(median(xs) / 1000).toFixed(2)} (${(Math.min(...xs) / 1000).toFixed(2)}-${(Math.max(...xs) / 1000).toFixed(2)})`;
    console.log(
      [
        `- machine: nproc ${cpus().length} (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; load average ${load.map((l) => l.toFixed(1)).join(' -> ')} (before -> after)`,
        `- command: \`npm run bench:audit -- --runs=${runs} --days=${days} --files=${files} --zone=${zone} --base=${base}\``,
        `- ${shape!.partitions} hourly partitions, ${shape!.objects} objects, zone ${zone}; both revisions report ${shape!.ok} partitions ok, same result digest ${shape!.digest}`,
        '',
        '| revision | audit CPU s, median (min-max) | runs |',
        '|---|---:|---:|',
        `| base: ${base} (${commit}) | ${fmt(cpu.base)} | ${runs} |`,
        `| this tree | ${fmt(cpu.current)} | ${runs} |`,
        '',
        `ratio (this / base): ${(median(cpu.current) / median(cpu.base)).toFixed(2)}`,
      ].join('\n'),
    );
  } finally {
    rmSync(baseRoot, { recursive: true, force: true });
  }
}

await main();
