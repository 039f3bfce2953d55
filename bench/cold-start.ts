/**
 * Cold start of each function, bundled vs unbundled: from spawning functions-framework the way
 * the runtime does (cwd = the deployed folder) to the response to the first event. Medians of
 * alternating runs are appended to BENCHMARKS.md.
 *
 * The baseline is fair on purpose: the same entry through the same esbuild options, but with
 * every package left in node_modules (`packages: 'external'`), which is what deploying the
 * compiled TypeScript with a full `npm install` would load. tsx is not involved. The framework
 * floor row is functions-framework serving an empty function: no bundling can go below it.
 *
 * Two first events per function, each on a fresh process:
 *   - "no API": an object outside every route / a message naming an unknown table. Loading,
 *     instance set-up (config, clients) and the handler; nothing waits on a network.
 *   - "API": an event whose handling calls Cloud Storage or BigQuery first. A local fake answers
 *     that call with 403 at once (the handler gives up: a transient error), so the row adds what
 *     the first real call costs to load and set up (client code, auth via a fake metadata
 *     server), without the network time a real call would add.
 * Every client is aimed at 127.0.0.1; HTTPS_PROXY points at a port that hangs up.
 *
 * Besides wall time, each run records the child's CPU time (all threads, from
 * /proc/<pid>/task/<tid>/schedstat) when the response arrives; "CPU above floor" subtracts the floor
 * row's median from the same run, which is tidemark's own start-up cost and, unlike wall time,
 * hardly moves with the machine's load.
 *
 * --base=DIR adds a row per API event for the bundles of another tree (DIR: an extracted older
 * revision whose node_modules links to this one's, built with its own scripts/build.ts), run in
 * the same rounds, so "before" and "after" share the machine's state.
 *
 *   npm run bench:cold-start [-- --runs=9] [--config=FILE] [--base=DIR] [--note=TEXT] [--no-write]
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import {
  buildAll,
  bundleOptions,
  resolveConfigForBuild,
  writeResolvedConfig,
  deployPackageJson,
  discoverFunctions,
  formatBytes,
  FRAMEWORK,
  installedFrameworkVersion,
} from '../scripts/build.ts';
import type { FunctionEntry } from '../scripts/build.ts';
import { freePort, portAnswers } from '../test/helpers/net.ts';
import { binaryCloudEvent } from '../test/helpers/http-event.ts';
import type { HttpEvent } from '../test/helpers/http-event.ts';
import { median } from './stats.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** A config every function accepts: one hourly table, its schema in a file beside it. */
const SAMPLE_CONFIG = `project: tidemark-bench
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
const SAMPLE_SCHEMA = JSON.stringify([{ name: 'id', type: 'STRING' }]);

function benchEvent(type: string, source: string, data: unknown, subject?: string): HttpEvent {
  return binaryCloudEvent(type, source, data, subject, `bench-${process.pid}`);
}

function messagePublished(topic: string, payload: unknown): HttpEvent {
  return benchEvent(
    'google.cloud.pubsub.topic.v1.messagePublished',
    `//pubsub.googleapis.com/projects/tidemark-bench/topics/${topic}`,
    {
      message: {
        data: Buffer.from(JSON.stringify(payload)).toString('base64'),
        messageId: '1',
        publishTime: new Date().toISOString(),
        attributes: {},
      },
      subscription: `projects/tidemark-bench/subscriptions/${topic}-sub`,
    },
  );
}

/** The first events per registered function: [path, event]. */
const EVENTS: Record<string, [string, () => HttpEvent][]> = {
  loadOnFinalize: [
    [
      'no API: object outside every route',
      () =>
        benchEvent(
          'google.cloud.storage.object.v1.finalized',
          '//storage.googleapis.com/projects/_/buckets/tidemark-bench-lake',
          {
            bucket: 'tidemark-bench-lake',
            name: 'outside/every-route.txt',
            generation: '1',
            metageneration: '1',
            size: '3',
            contentType: 'text/plain',
          },
          'objects/outside/every-route.txt',
        ),
    ],
    [
      'API: object of a table',
      () =>
        benchEvent(
          'google.cloud.storage.object.v1.finalized',
          '//storage.googleapis.com/projects/_/buckets/tidemark-bench-lake',
          {
            bucket: 'tidemark-bench-lake',
            name: 'events/dt=2026-11-24/hr=13/part-0.json.gz',
            generation: '2',
            metageneration: '1',
            size: '30',
            contentType: 'application/gzip',
          },
          'objects/events/dt=2026-11-24/hr=13/part-0.json.gz',
        ),
    ],
  ],
  auditGaps: [
    ['no API: unknown table', () => messagePublished('tidemark-audit', { tables: ['no_such_table'] })],
    ['API: audit every table', () => messagePublished('tidemark-audit', {})],
  ],
  backfillPartition: [
    [
      'no API: unknown table',
      () => messagePublished('tidemark-backfill', { table: 'no_such_table', partition: '2026112400' }),
    ],
    [
      'API: backfill a partition',
      () => messagePublished('tidemark-backfill', { table: 'events', partition: '2026112413', reason: 'missing' }),
    ],
  ],
};

/** Storage, BigQuery and the metadata server on 127.0.0.1: a token for the asking, 403 for every API call. */
function fakeGoogle(): Server {
  return createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (path.startsWith('/computeMetadata/')) {
        res.setHeader('Metadata-Flavor', 'Google');
        if (path.endsWith('/token'))
          return void res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ access_token: 'bench', expires_in: 3600, token_type: 'Bearer' }));
        if (path.endsWith('/project-id')) return void res.writeHead(200).end('tidemark-bench');
        return void res.writeHead(path.replace(/\/$/, '') === '/computeMetadata/v1/instance' ? 200 : 404).end('');
      }
      res.writeHead(403, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          error: { code: 403, message: 'bench fake', errors: [{ reason: 'forbidden', message: 'bench fake' }] },
        }),
      );
    });
  });
}

/** Env that aims every client at the fake, and anything else at a port that hangs up. */
function isolatedEnv(fake: string, dead: string, home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    CLOUDSDK_CONFIG: home,
    GOOGLE_CLOUD_PROJECT: 'tidemark-bench',
    K_SERVICE: 'bench',
    STORAGE_EMULATOR_HOST: `http://${fake}`,
    BIGQUERY_EMULATOR_HOST: `http://${fake}`,
    PUBSUB_EMULATOR_HOST: dead,
    GCE_METADATA_HOST: fake,
    HTTPS_PROXY: `http://${dead}`,
    HTTP_PROXY: `http://${dead}`,
    NO_PROXY: '127.0.0.1,localhost',
  };
}

/** Kills the child's process group and waits for it. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((ok) => child.once('exit', ok));
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
  await exited;
}

/** One cold start: wall time from spawn to the response, and the child's CPU (user + system) by then. */
interface Sample {
  ms: number;
  cpuMs: number;
}

/**
 * CPU time of a live process in ms, every thread (JS, GC helpers, libuv pool): the sum of
 * /proc/<pid>/task/<tid>/schedstat's first field, nanoseconds on a CPU. The same quantity as
 * utime + stime in /proc/<pid>/stat, without its 10 ms ticks.
 */
function cpuOf(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`))
    ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  return ns / 1e6;
}

/** Spawn -> port answers -> POST -> response, in ms, and the child's CPU. Throws with the child's output on failure. */
async function coldStart(
  dir: string,
  entryPoint: string,
  makeEvent: () => HttpEvent,
  env: NodeJS.ProcessEnv,
): Promise<Sample> {
  const port = await freePort();
  const main = join(dir, 'node_modules', FRAMEWORK, 'build/src/main.js');
  const event = makeEvent();
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [main, '--target', entryPoint, '--signature-type', 'cloudevent', '--port', String(port)],
    {
      cwd: dir,
      env: { ...env, PORT: String(port), FUNCTION_TARGET: entryPoint, FUNCTION_SIGNATURE_TYPE: 'cloudevent' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c));
  child.stderr!.on('data', (c: Buffer) => (output += c));
  try {
    while (!(await portAnswers(port))) {
      if (child.exitCode !== null)
        throw new Error(`${entryPoint} exited ${child.exitCode} before listening:\n${output}`);
      if (performance.now() - started > 30_000) throw new Error(`${entryPoint}: no port after 30 s:\n${output}`);
      await new Promise((ok) => setTimeout(ok, 2));
    }
    const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: event.headers, body: event.body });
    await res.arrayBuffer();
    const ms = performance.now() - started;
    const cpuMs = cpuOf(child.pid!);
    // 2xx: acknowledged; 500: a transient error thrown for the fake's 403 (the API rows).
    if (res.status !== 500 && res.status >= 300) throw new Error(`${entryPoint}: HTTP ${res.status}:\n${output}`);
    return { ms, cpuMs };
  } finally {
    await stop(child);
  }
}

/** The deployed folder after `npm install`: functions-framework only (its dependencies resolve from its real path). */
function linkFramework(dir: string): void {
  mkdirSync(join(dir, 'node_modules', '@google-cloud'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules', FRAMEWORK), join(dir, 'node_modules', FRAMEWORK), 'dir');
}

/** The baseline: same entry and options, packages resolved from the whole node_modules at run time. */
async function buildUnbundled(fn: FunctionEntry, dir: string, configFile: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await esbuild.build({ ...bundleOptions(ROOT, fn, dir), packages: 'external', plugins: [] });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify(deployPackageJson(fn, '0.0.0', installedFrameworkVersion(ROOT)), null, 2),
  );
  writeResolvedConfig(resolveConfigForBuild(configFile), dir, ROOT);
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
}

/** functions-framework serving a function that does nothing. */
function writeFloor(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'commonjs', main: 'index.js' }));
  writeFileSync(join(dir, 'index.js'), `require('${FRAMEWORK}').cloudEvent('floor', async () => {});\n`);
  linkFramework(dir);
}

interface Row {
  label: string;
  entryPoint: string;
  event: () => HttpEvent;
  bundledDir: string;
  unbundledDir: string | undefined;
  bundled: Sample[];
  unbundled: Sample[];
  bytes: string;
}

function spread(xs: number[]): string {
  return `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`;
}

function formatSection(
  rows: Row[],
  runs: number,
  command: string,
  note: string | undefined,
  load: number[],
  now = new Date(),
): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  const ms = (xs: Sample[]) => xs.map((x) => x.ms);
  const cpuMs = (xs: Sample[]) => xs.map((x) => x.cpuMs);
  const floor = rows.find((r) => r.entryPoint === 'floor');
  const floorCpu = floor ? median(cpuMs(floor.bundled)) : 0;
  return [
    `## ${now.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    ...(note ? [note, ''] : []),
    `- machine: nproc ${cpus().length} (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}/${process.arch}; load average ${load.map((l) => l.toFixed(1)).join(' -> ')} (before -> after)`,
    `- command: \`${command}\``,
    `- ${runs} alternating runs each (bundled, unbundled, bundled, ..., the floor in the same rounds) after one warm-up pair; spawn to the response to the first event; median (min-max) ms`,
    `- CPU: the child's CPU time, every thread (/proc/<pid>/task/*/schedstat: utime + stime in ns) when the response arrives; "above floor" subtracts the floor row's median CPU from the same run`,
    `- bundle size: index.js, read at every start; lazy files load on the import() that needs them`,
    '',
    '| function, first event | bundled median ms | unbundled median ms | ratio | bundled CPU ms | CPU above floor ms | unbundled CPU ms | bundle size |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => {
      const ratio = r.unbundled.length ? (median(ms(r.bundled)) / median(ms(r.unbundled))).toFixed(2) : '-';
      const above = r === floor ? '-' : (median(cpuMs(r.bundled)) - floorCpu).toFixed(0);
      return `| ${r.label} | ${spread(ms(r.bundled))} | ${r.unbundled.length ? spread(ms(r.unbundled)) : '-'} | ${ratio} | ${spread(cpuMs(r.bundled))} | ${above} | ${r.unbundled.length ? spread(cpuMs(r.unbundled)) : '-'} | ${r.bytes} |`;
    }),
    '',
  ].join('\n');
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      runs: { type: 'string' },
      config: { type: 'string' },
      base: { type: 'string' },
      note: { type: 'string' },
      'no-write': { type: 'boolean' },
    },
  });
  const loadBefore = loadavg()[0]!;
  const runs = Math.max(9, Number(values.runs ?? 9));
  const work = mkdtempSync(join(tmpdir(), 'tidemark-bench-'));
  // Accepts and hangs up: the address every client is pointed at.
  const dead = createServer((socket) => socket.destroy());
  const fake = fakeGoogle();
  try {
    let configFile = values.config ? resolve(values.config) : undefined;
    if (!configFile) {
      configFile = join(work, 'config', 'tidemark.config.yaml');
      mkdirSync(join(work, 'config', 'schemas'), { recursive: true });
      writeFileSync(configFile, SAMPLE_CONFIG);
      writeFileSync(join(work, 'config', 'schemas', 'events.json'), SAMPLE_SCHEMA);
    }
    const fns = discoverFunctions(ROOT).filter((fn) => {
      if (EVENTS[fn.entryPoint]) return true;
      process.stderr.write(`skipping ${fn.name}: no event for ${fn.entryPoint} in bench/cold-start.ts\n`);
      return false;
    });
    const bundles = await buildAll({ root: ROOT, outdir: join(work, 'bundled'), configFile });
    const rows: Row[] = [];
    for (const fn of fns) {
      const bundledDir = join(work, 'bundled', fn.name);
      const unbundledDir = join(work, 'unbundled', fn.name);
      linkFramework(bundledDir);
      await buildUnbundled(fn, unbundledDir, configFile);
      const { eager, total } = bundles.find((b) => b.fn.name === fn.name)!.bytes;
      const bytes = formatBytes(eager) + (total > eager ? ` (+${formatBytes(total - eager)} lazy)` : '');
      for (const [path, event] of EVENTS[fn.entryPoint]!) {
        rows.push({
          label: `${fn.entryPoint}, ${path}`,
          entryPoint: fn.entryPoint,
          event,
          bundledDir,
          unbundledDir,
          bundled: [],
          unbundled: [],
          bytes,
        });
      }
    }
    if (values.base) {
      const baseRoot = resolve(values.base);
      const built = spawnSync(
        process.execPath,
        [join(baseRoot, 'scripts', 'build.ts'), `--outdir=${join(work, 'base')}`, `--config=${configFile}`, '--quiet'],
        { cwd: baseRoot, encoding: 'utf8' },
      );
      if (built.status !== 0) throw new Error(`--base ${baseRoot}: its build failed:\n${built.stderr}`);
      for (const fn of fns) {
        const baseDir = join(work, 'base', fn.name);
        if (!existsSync(baseDir)) continue;
        linkFramework(baseDir);
        for (const [path, event] of EVENTS[fn.entryPoint]!) {
          if (!path.startsWith('API')) continue;
          rows.push({
            label: `base (${values.base}): ${fn.entryPoint}, ${path}`,
            entryPoint: fn.entryPoint,
            event,
            bundledDir: baseDir,
            unbundledDir: undefined,
            bundled: [],
            unbundled: [],
            bytes: '-',
          });
        }
      }
    }
    writeFloor(join(work, 'floor'));
    const floorEvent = () => messagePublished('floor', {});
    rows.push({
      label: '(framework floor: empty function)',
      entryPoint: 'floor',
      event: floorEvent,
      bundledDir: join(work, 'floor'),
      unbundledDir: undefined,
      bundled: [],
      unbundled: [],
      bytes: '-',
    });

    await Promise.all([
      new Promise<void>((ok) => dead.listen(0, '127.0.0.1', ok)),
      new Promise<void>((ok) => fake.listen(0, '127.0.0.1', ok)),
    ]);
    mkdirSync(join(work, 'home'));
    const address = (s: Server | ReturnType<typeof createServer>) => `127.0.0.1:${(s.address() as AddressInfo).port}`;
    const env = isolatedEnv(address(fake), address(dead), join(work, 'home'));
    // One warm-up pair so the OS file cache holds both variants' files.
    for (const row of rows) {
      await coldStart(row.bundledDir, row.entryPoint, row.event, env);
      if (row.unbundledDir) await coldStart(row.unbundledDir, row.entryPoint, row.event, env);
    }
    for (let i = 0; i < runs; i++) {
      for (const row of rows) {
        row.bundled.push(await coldStart(row.bundledDir, row.entryPoint, row.event, env));
        if (row.unbundledDir) row.unbundled.push(await coldStart(row.unbundledDir, row.entryPoint, row.event, env));
      }
      process.stderr.write(`run ${i + 1}/${runs}\r`);
    }
    process.stderr.write('\n');
    const shown = args.filter((a, i) => !a.startsWith('--note') && args[i - 1] !== '--note');
    const command = ['npm run bench:cold-start', ...(shown.length ? ['--', ...shown] : [])].join(' ');
    const section = formatSection(rows, runs, command, values.note, [loadBefore, loadavg()[0]!]);
    process.stdout.write(section + '\n');
    if (!values['no-write']) {
      const file = join(ROOT, 'BENCHMARKS.md');
      if (!existsSync(file)) {
        writeFileSync(
          file,
          '# Benchmarks\n\nWritten by `npm run bench:cold-start` (bench/cold-start.ts, which says what is measured and how). Newest last.\n\n',
        );
      }
      appendFileSync(file, section + '\n');
      process.stdout.write(`appended to ${file}\n`);
    }
  } finally {
    dead.close();
    fake.closeAllConnections();
    fake.close();
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main(process.argv.slice(2));
}
