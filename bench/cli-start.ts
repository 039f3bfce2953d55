/**
 * Start-up of the `tidemark` command through npx, against `npx node -e 0` (npx's own cost plus
 * an empty Node: the floor). Each round runs every variant once, in turn; medians of the wall
 * time from spawn to exit are printed (and appended to BENCHMARKS.md unless --no-write).
 *
 *   npm run bench:cli [-- --runs=15] [--before=DIR] [--no-write]
 *
 * --before=DIR adds the same commands run in DIR, an extracted older tree whose node_modules
 * links to this one's (how the "before" figures in BENCHMARKS.md were taken).
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './stats.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CONFIG = `project: tidemark-bench
location: US
lake: { bucket: tidemark-bench-lake }
tables:
  - name: events
    source: { pattern: "events/dt={yyyy}-{mm}-{dd}/hr={hh}/*.json.gz", timeZone: UTC }
    format: NEWLINE_DELIMITED_JSON
    schema: schemas/events.json
    target: { dataset: lake_us, table: events }
    partitioning: { type: HOUR }
`;

const { values } = parseArgs({
  options: { runs: { type: 'string' }, before: { type: 'string' }, 'no-write': { type: 'boolean' } },
});
const runs = Math.max(5, Number(values.runs ?? 15));
const work = mkdtempSync(join(tmpdir(), 'tidemark-cli-bench-'));
mkdirSync(join(work, 'schemas'));
writeFileSync(join(work, 'tidemark.config.yaml'), CONFIG);
writeFileSync(join(work, 'schemas', 'events.json'), JSON.stringify([{ name: 'id', type: 'STRING' }]));
const config = join(work, 'tidemark.config.yaml');

const variants: { label: string; cwd: string; args: string[]; ms: number[] }[] = [
  { label: 'npx node -e 0 (floor)', cwd: ROOT, args: ['node', '-e', '0'], ms: [] },
  { label: 'npx tidemark --help', cwd: ROOT, args: ['tidemark', '--help'], ms: [] },
  { label: 'npx tidemark config check', cwd: ROOT, args: ['tidemark', '--config', config, 'config', 'check'], ms: [] },
];
if (values.before) {
  const before = resolve(values.before);
  variants.push({ label: 'before: npx tidemark --help', cwd: before, args: ['tidemark', '--help'], ms: [] });
  variants.push({
    label: 'before: npx tidemark config check',
    cwd: before,
    args: ['tidemark', '--config', config, 'config', 'check'],
    ms: [],
  });
}
const load = [loadavg()[0]!];
try {
  for (let i = -1; i < runs; i++) {
    for (const v of variants) {
      const started = performance.now();
      const r = spawnSync('npx', v.args, { cwd: v.cwd, encoding: 'utf8' });
      const ms = performance.now() - started;
      if (r.status !== 0) throw new Error(`${v.label}: exit ${r.status}\n${r.stderr}`);
      if (r.stderr.trim()) throw new Error(`${v.label} printed to stderr:\n${r.stderr}`);
      if (i >= 0) v.ms.push(ms); // round -1 warms the file cache
    }
    process.stderr.write(`run ${i + 1}/${runs}\r`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
load.push(loadavg()[0]!);
const floor = median(variants[0]!.ms);
const section = [
  `## CLI start-up: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  '',
  `- machine: nproc ${cpus().length}, Node ${process.version}; load average ${load.map((l) => l.toFixed(1)).join(' -> ')} (before -> after)`,
  `- command: \`npm run bench:cli${values.runs ? ` -- --runs=${values.runs}` : ''}${values.before ? ' --before=DIR' : ''}\` (bench/cli-start.ts); ${runs} rounds, variants interleaved; wall ms from spawn to exit, nothing on stderr`,
  '',
  '| command | median ms (min-max) | × floor |',
  '|---|---:|---:|',
  ...variants.map(
    (v) =>
      `| ${v.label} | ${median(v.ms).toFixed(0)} (${Math.min(...v.ms).toFixed(0)}-${Math.max(...v.ms).toFixed(0)}) | ${(median(v.ms) / floor).toFixed(2)} |`,
  ),
  '',
].join('\n');
process.stdout.write(`\n${section}\n`);
if (!values['no-write']) appendFileSync(join(ROOT, 'BENCHMARKS.md'), `\n${section}`);
