/**
 * The embedded object store's file calls: what an asynchronous fs call costs against the same
 * call made synchronously, and what that means for a stream of files through the whole engine.
 *
 *   calls:  in one process, `files` small files (200 bytes) read, stat'ed and written with
 *           node:fs/promises and with the synchronous calls, in interleaved rounds: CPU and wall
 *           microseconds per call, medians over rounds.
 *   stream: the README's stream (bench/stream-commit.ts, load mode, `stream` files, seed 1) in a
 *           child process on this tree and on `--base` (a revision whose store and lock use
 *           asynchronous calls; extracted with `git archive`, no worktree touched), interleaved:
 *           the child's CPU (utime+stime, DuckDB's threads included) and wall seconds.
 *
 *   npm run bench:store [-- --runs=5] [--files=2000] [--stream=500] [--base=c11c45c]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { extractRevision, median } from './stats.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

interface Cost {
  cpuUs: number;
  wallUs: number;
}

/** CPU and wall microseconds per call of `body` over `n` calls. */
async function timed(n: number, body: () => Promise<void> | void): Promise<Cost> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  await body();
  const used = process.cpuUsage(cpu);
  return { cpuUs: (used.user + used.system) / n, wallUs: ((performance.now() - t) * 1000) / n };
}

const CALLS = {
  read: {
    async: async (files: string[]) => {
      for (const f of files) await readFile(f);
    },
    sync: (files: string[]) => {
      for (const f of files) readFileSync(f);
    },
  },
  stat: {
    async: async (files: string[]) => {
      for (const f of files) await stat(f);
    },
    sync: (files: string[]) => {
      for (const f of files) statSync(f);
    },
  },
  write: {
    async: async (files: string[]) => {
      for (const f of files) await writeFile(f, 'x'.repeat(200));
    },
    sync: (files: string[]) => {
      for (const f of files) writeFileSync(f, 'x'.repeat(200));
    },
  },
} as const;

async function benchCalls(runs: number, n: number): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-bench-store-'));
  try {
    const files = Array.from({ length: n }, (_, i) => join(dir, `f-${i}.csv`));
    for (const f of files) writeFileSync(f, 'x'.repeat(200));
    const lines = [
      '| call | async CPU µs | sync CPU µs | ratio | async wall µs | sync wall µs | ratio |',
      '|---|---:|---:|---:|---:|---:|---:|',
    ];
    for (const [name, pair] of Object.entries(CALLS)) {
      const a: Cost[] = [];
      const s: Cost[] = [];
      for (let r = 0; r < runs; r++) {
        // Alternate which goes first, so neither always meets a warm cache.
        const order = r % 2 ? (['sync', 'async'] as const) : (['async', 'sync'] as const);
        for (const which of order) (which === 'async' ? a : s).push(await timed(n, () => pair[which](files)));
      }
      const ac = median(a.map((c) => c.cpuUs));
      const sc = median(s.map((c) => c.cpuUs));
      const aw = median(a.map((c) => c.wallUs));
      const sw = median(s.map((c) => c.wallUs));
      lines.push(
        `| ${name} | ${ac.toFixed(1)} | ${sc.toFixed(1)} | ${(ac / sc).toFixed(1)}× | ${aw.toFixed(1)} | ${sw.toFixed(1)} | ${(aw / sw).toFixed(1)}× |`,
      );
    }
    return lines;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** In a child: one load-mode stream with `root`'s modules; prints its own CPU and wall. */
async function child(root: string, files: number): Promise<void> {
  const { runStream } = (await import(pathToFileURL(join(root, 'bench/stream-commit.ts')).href)) as {
    runStream: (o: { mode: 'load'; files: number; seed: number }) => Promise<{ rows: number; problems: string[] }>;
  };
  const t = performance.now();
  const run = await runStream({ mode: 'load', files, seed: 1 });
  if (run.problems.length) throw new Error(run.problems.join('\n'));
  const used = process.cpuUsage();
  process.stdout.write(
    JSON.stringify({ cpuS: (used.user + used.system) / 1e6, wallS: (performance.now() - t) / 1000, rows: run.rows }) +
      '\n',
  );
}

function runChild(root: string, files: number): { cpuS: number; wallS: number; rows: number } {
  const out = spawnSync(
    process.execPath,
    [fileURLToPath(import.meta.url), '--child', `--root=${root}`, `--stream=${files}`],
    {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    },
  );
  if (out.status !== 0) throw new Error(`stream child (${root}) failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').pop()!) as { cpuS: number; wallS: number; rows: number };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'boolean' },
      root: { type: 'string' },
      runs: { type: 'string', default: '5' },
      files: { type: 'string', default: '2000' },
      stream: { type: 'string', default: '500' },
      base: { type: 'string', default: 'c11c45c' },
    },
  });
  const stream = Number(values.stream);
  if (values.child) return child(values.root!, stream);
  const runs = Number(values.runs);
  const files = Number(values.files);
  const out = [
    `- machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}, Node ${process.version}`,
    `- command: \`npm run bench:store -- --runs=${runs} --files=${files} --stream=${stream} --base=${values.base}\``,
    '',
    `Calls on ${files} files of 200 bytes, medians of ${runs} interleaved rounds:`,
    '',
    ...(await benchCalls(runs, files)),
  ];
  console.log(out.join('\n'));
  const base = extractRevision(ROOT, values.base!, ['shared', 'bench', 'test/helpers']);
  try {
    const now: { cpuS: number; wallS: number }[] = [];
    const old: { cpuS: number; wallS: number }[] = [];
    for (let r = 0; r < runs; r++) {
      for (const which of r % 2 ? ['base', 'now'] : ['now', 'base']) {
        const m = runChild(which === 'now' ? ROOT : base.dir, stream);
        (which === 'now' ? now : old).push(m);
        process.stderr.write(`${which} run ${r + 1}: ${m.cpuS.toFixed(2)} s CPU, ${m.wallS.toFixed(2)} s wall\n`);
      }
    }
    const nc = median(now.map((m) => m.cpuS));
    const oc = median(old.map((m) => m.cpuS));
    const nw = median(now.map((m) => m.wallS));
    const ow = median(old.map((m) => m.wallS));
    console.log(
      [
        '',
        `The stream (load mode, ${stream} files, seed 1), medians of ${runs} interleaved child processes:`,
        '',
        '| tree | CPU s | wall s |',
        '|---|---:|---:|',
        `| ${base.commit} (asynchronous store and lock) | ${oc.toFixed(2)} | ${ow.toFixed(2)} |`,
        `| this tree | ${nc.toFixed(2)} | ${nw.toFixed(2)} |`,
        `| ratio (this / base) | ${(nc / oc).toFixed(2)} | ${(nw / ow).toFixed(2)} |`,
      ].join('\n'),
    );
  } finally {
    rmSync(base.dir, { recursive: true, force: true });
  }
}

await main();
