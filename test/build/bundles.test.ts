/**
 * The deployable bundles, end to end. `scripts/build.ts --outdir --config` runs once into a temp
 * folder; then for every functions/<name>/ the test checks the esbuild metafile for anything
 * local-only, checks the folder is deployable as it stands, and starts it under
 * functions-framework the way the runtime does to post real CloudEvents to it: a
 * storage-finalized CloudEvent for loadOnFinalize; for the Pub/Sub functions (backfillPartition,
 * auditGaps) a push delivered by the real Pub/Sub emulator (one per file, started alongside the
 * build), through a push subscription to the bundle's URL in the /projects/P/topics/T form, so
 * functions-framework turns it into a messagePublished CloudEvent as it does in Cloud Functions;
 * plus the same messagePublished CloudEvent posted directly, the binary-mode shape Eventarc
 * delivers, to see its HTTP status. Without the emulator the push tests skip loudly, and fail
 * under CI=true (test/helpers/pubsub-emulator.ts).
 *
 * The dist folders have no node_modules (the buildpack installs functions-framework on deploy),
 * so each gets node_modules/@google-cloud/functions-framework as a symlink to the installed
 * package: exactly what `npm install` would make resolvable, and nothing else (NODE_PATH would
 * expose every package in the repo, hiding a bundle that needs one it does not carry). main.js is
 * started through the symlink; Node resolves both it and the bundle's require() to the same real
 * file, so they share one function registry.
 *
 * Where the bundles' clients go: STORAGE_EMULATOR_HOST and BIGQUERY_EMULATOR_HOST (read by the
 * installed @google-cloud/storage and @google-cloud/bigquery themselves) point at a local fake
 * that answers 403 to every API call, GCE_METADATA_HOST points google-auth-library's metadata
 * server at the same fake (it hands out a fake token, as the real runtime's does), and
 * HTTPS_PROXY/HTTP_PROXY point at a tripwire that fails the test if any request tries to leave.
 * For the push tests PUBSUB_EMULATOR_HOST points at the emulator; otherwise at the fake.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { builtinModules } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { PubSub } from '@google-cloud/pubsub';
import type { Metafile } from 'esbuild';
import {
  BuildError,
  checkHygiene,
  discoverFunctions,
  entryPointName,
  FRAMEWORK,
  installedFrameworkVersion,
  metafilePath,
  parseBuildArgs,
  registersEntryPoint,
  resolveConfigFile,
} from '../../scripts/build.ts';
import { loadConfig } from '../../shared/config/load.ts';
import { readResolvedConfig, RESOLVED_CONFIG_FILE } from '../../shared/config/resolved.ts';
import { emulatorClient, emulatorSuite, pullUntil, startPubSubEmulator } from '../helpers/pubsub-emulator.ts';
import type { PubSubEmulator } from '../helpers/pubsub-emulator.ts';
import { freePort, portAnswers } from '../helpers/net.ts';
import { binaryCloudEvent } from '../helpers/http-event.ts';
import type { HttpEvent } from '../helpers/http-event.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FUNCTIONS = discoverFunctions(ROOT);
const PROJECT = 'tidemark-test';
const LAKE = 'tidemark-test-lake';
const FAKE_TOKEN = 'fake-metadata-token';
/** `{}` when the Pub/Sub emulator is installed or CI=true; else `{ skip }`, announced loudly. */
const PUSH = emulatorSuite();
/** The shortest retry policy the emulator takes: a refused push comes back after about 1 s. */
const RETRY_POLICY = { minimumBackoff: { seconds: 0 }, maximumBackoff: { seconds: 1 } };
/** How long an acknowledged push is watched for a redelivery. */
const CONFIG = `project: ${PROJECT}
location: US
lake: { bucket: ${LAKE} }
tables:
  - name: events
    source: { pattern: "events/dt={yyyy}-{mm}-{dd}/hr={hh}/*.json.gz", timeZone: UTC }
    format: NEWLINE_DELIMITED_JSON
    schema: schemas/events.json
    target: { dataset: lake_us, table: events }
    partitioning: { type: HOUR }
  - name: orders
    source: { pattern: "orders/{yyyy}/{mm}/{dd}/*.json.gz", timeZone: UTC }
    format: NEWLINE_DELIMITED_JSON
    schema: schemas/events.json
    target: { dataset: lake_us, table: orders }
    partitioning: { type: DAY }
    commit: { mode: dml, interval: 60s }
`;
const SCHEMA = JSON.stringify(
  [
    { name: 'id', type: 'STRING' },
    { name: 'ts', type: 'TIMESTAMP' },
  ],
  null,
  2,
);

/** What must never be inside a deployed bundle: metafile inputs (paths from the project root). */
const FORBIDDEN_INPUTS: [RegExp, string][] = [
  [/(^|\/)node_modules\/@duckdb\//, 'DuckDB'],
  [/^shared\/backends\/local\//, 'the local backends'],
  [/^test\//, 'test code'],
  [/(^|\/)node_modules\/@?firebase[^/]*\//, 'firebase'],
  [/(^|\/)node_modules\/chokidar\//, 'chokidar'],
  [/(^|\/)node_modules\/commander\//, 'commander'],
  [/(^|\/)node_modules\/cli-progress\//, 'cli-progress'],
  [/(^|\/)node_modules\/zod\//, 'zod (the config is validated at build time)'],
  [/(^|\/)node_modules\/yaml\//, 'yaml (the config is parsed at build time)'],
];
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

// ---- events: binary-mode CloudEvents (ce-* headers, data as the JSON body) ---------------------

function binaryEvent(type: string, source: string, data: unknown, subject?: string): HttpEvent {
  return binaryCloudEvent(type, source, data, subject, 'bundle-test');
}

let seq = 0;
function storageFinalized(name: string): HttpEvent {
  const data = {
    bucket: LAKE,
    name,
    generation: '1732453200000001',
    metageneration: '1',
    size: '42',
    contentType: 'application/gzip',
    timeCreated: new Date().toISOString(),
    updated: new Date().toISOString(),
  };
  return binaryEvent(
    'google.cloud.storage.object.v1.finalized',
    `//storage.googleapis.com/projects/_/buckets/${LAKE}`,
    data,
    `objects/${name}`,
  );
}

function messagePublished(topic: string, payload: unknown): HttpEvent {
  const messageId = String(Date.now() + ++seq);
  const data = {
    message: {
      data: Buffer.from(JSON.stringify(payload)).toString('base64'),
      messageId,
      publishTime: new Date().toISOString(),
      attributes: {},
    },
    subscription: `projects/${PROJECT}/subscriptions/eventarc-${topic}-sub`,
  };
  return binaryEvent(
    'google.cloud.pubsub.topic.v1.messagePublished',
    `//pubsub.googleapis.com/projects/${PROJECT}/topics/${topic}`,
    data,
  );
}

interface LogLine {
  severity: string;
  message: string;
  [field: string]: unknown;
}

interface Output {
  stdout: LogLine[];
  stderr: LogLine[];
}

interface FunctionCase {
  /** An event the function acknowledges without calling any API, and what it must log. */
  acked: { what: string; event: () => HttpEvent; check: (out: Output, event: HttpEvent) => void };
  /** An event whose handling calls Cloud Storage or BigQuery: it must reach the local fake. */
  callsApi: { what: string; event: () => HttpEvent };
  /** For a Pub/Sub function: the same two payloads, published on `topic` and pushed by the emulator. */
  pushed?: PushCase;
}

interface PushCase {
  topic: string;
  /** Acknowledged without any API call: one ERROR line (InvalidMessageError, retry:false), no redelivery. */
  acked: { what: string; payload: unknown };
  /** Calls Storage or BigQuery, whose 403 is a transient failure here: answered 5xx, so delivered again. */
  callsApi: { what: string; payload: unknown };
}

/** A Pub/Sub function's case: its payloads as directly posted CloudEvents and as emulator pushes. */
function pubsubCase(topic: string, acked: PushCase['acked'], callsApi: PushCase['callsApi']): FunctionCase {
  return {
    acked: {
      what: `a messagePublished CloudEvent ${acked.what}`,
      event: () => messagePublished(topic, acked.payload),
      check: ({ stdout, stderr }, event) => {
        permanentlyRejected(stderr, event.id);
        assert.deepEqual(stdout, []);
      },
    },
    callsApi: { what: callsApi.what, event: () => messagePublished(topic, callsApi.payload) },
    pushed: { topic, acked, callsApi },
  };
}

/** Per registered function; a function not listed here is only started. */
const CASES: Record<string, FunctionCase> = {
  loadOnFinalize: {
    acked: {
      what: 'a storage-finalized event for an object outside every route',
      event: () => storageFinalized('outside/every-route.txt'),
      check: ({ stdout, stderr }, event) => {
        // An object no table matches is a WARNING (stderr), so a producer's path drift is seen.
        assert.equal(stderr.length, 1, `one JSON log line on stderr, got ${JSON.stringify(stderr)}`);
        const [line] = stderr;
        assert.equal(line!.severity, 'WARNING');
        assert.match(line!.message, /^unrouted object/);
        assert.equal(line!.object, 'outside/every-route.txt');
        assert.equal(line!.eventId, event.id);
        assert.deepEqual(stdout, []);
      },
    },
    callsApi: {
      what: 'an object of table events',
      event: () => storageFinalized('events/dt=2026-11-24/hr=13/part-0001.json.gz'),
    },
  },
  auditGaps: pubsubCase(
    'tidemark-audit',
    { what: 'asking to audit an unknown table', payload: { tables: ['no_such_table'] } },
    { what: 'an audit of every table', payload: {} },
  ),
  backfillPartition: pubsubCase(
    'tidemark-backfill',
    { what: 'naming an unknown table', payload: { table: 'no_such_table', partition: '2026112413' } },
    {
      what: 'a backfill of events$2026112413',
      payload: { table: 'events', partition: '2026112413', reason: 'missing' },
    },
  ),
  commitTables: pubsubCase(
    'tidemark-commit',
    { what: 'naming an unknown table', payload: { tables: ['no_such_table'] } },
    { what: 'a tick committing every dml table', payload: {} },
  ),
};

/** One ERROR line for the event: acknowledged, not retried, with the error class's real (unminified) name. */
function permanentlyRejected(stderr: LogLine[], eventId: string): void {
  assert.equal(stderr.length, 1, `one JSON log line on stderr, got ${JSON.stringify(stderr)}`);
  const [line] = stderr;
  assert.equal(line!.severity, 'ERROR');
  assert.match(line!.message, /^acknowledged without retry: .*no_such_table/);
  assert.equal(line!.retry, false);
  assert.equal(line!.errorType, 'InvalidMessageError', 'keepNames: class names survive minification');
  assert.equal(line!.eventId, eventId);
}

/** The API calls the fake saw: Storage or BigQuery paths only, BigQuery's with the metadata server's token. */
function checkApiCalls(made: Recorded[], output: () => string): void {
  assert.ok(made.length > 0, `expected a Storage or BigQuery call at the fake:\n${output()}`);
  for (const r of made) {
    assert.match(
      r.path,
      /^\/(b\/|upload\/|projects\/)/,
      `a Storage (/b/...) or BigQuery (/projects/...) path: ${r.method} ${r.path}`,
    );
    if (r.path.startsWith('/projects/'))
      assert.equal(r.authorization, `Bearer ${FAKE_TOKEN}`, 'BigQuery authenticated through the fake metadata server');
  }
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

// ---- local stand-ins ---------------------------------------------------------------------------

interface Recorded {
  method: string;
  path: string;
  authorization: string | undefined;
}

/** Cloud Storage, BigQuery and the metadata server on 127.0.0.1: every API call gets 403. */
class FakeGoogle {
  readonly requests: Recorded[] = [];
  private readonly server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (path.startsWith('/computeMetadata/')) {
        res.setHeader('Metadata-Flavor', 'Google');
        if (path.endsWith('/token'))
          return void res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ access_token: FAKE_TOKEN, expires_in: 3600, token_type: 'Bearer' }));
        if (path.endsWith('/project-id')) return void res.writeHead(200, { 'content-type': 'text/plain' }).end(PROJECT);
        if (path === '/computeMetadata/v1/instance' || path === '/computeMetadata/v1/instance/')
          return void res.writeHead(200, { 'content-type': 'text/plain' }).end('');
        return void res.writeHead(404).end();
      }
      this.requests.push({ method: req.method ?? 'GET', path, authorization: req.headers.authorization });
      const error = {
        code: 403,
        message: 'denied by the bundle test fake',
        errors: [{ reason: 'forbidden', message: 'denied by the bundle test fake' }],
      };
      res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ error }));
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((ok) => this.server.listen(0, '127.0.0.1', ok));
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((ok) => this.server.close(() => ok()));
  }
}

/** An HTTP(S) proxy that lets nothing through and remembers who tried. */
class Tripwire {
  readonly attempts: string[] = [];
  private readonly server = http.createServer((req, res) => {
    this.attempts.push(`${req.method} ${req.url}`);
    res.writeHead(502).end();
  });

  async start(): Promise<string> {
    this.server.on('connect', (req, socket) => {
      this.attempts.push(`CONNECT ${req.url}`);
      socket.destroy();
    });
    await new Promise<void>((ok) => this.server.listen(0, '127.0.0.1', ok));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((ok) => this.server.close(() => ok()));
  }
}

// ---- processes ---------------------------------------------------------------------------------

const children = new Set<ChildProcess>();

async function stop(child: ChildProcess): Promise<void> {
  children.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((ok) => child.once('exit', ok));
  try {
    process.kill(-child.pid!, 'SIGKILL'); // its whole process group
  } catch {
    // already gone
  }
  await exited;
}

function run(
  cmd: string,
  args: string[],
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('error', fail);
    child.on('close', (code) => ok({ code, stdout, stderr }));
  });
}

/** A bundle served by functions-framework; its output split into lines as it arrives. */
class RunningFunction {
  private out = '';
  private err = '';
  readonly child: ChildProcess;
  readonly port: number;
  private constructor(child: ChildProcess, port: number) {
    this.child = child;
    this.port = port;
    child.stdout!.on('data', (c: Buffer) => (this.out += c));
    child.stderr!.on('data', (c: Buffer) => (this.err += c));
  }

  /** `node <dir>/node_modules/.../main.js --source <dir> --target <entryPoint> --signature-type cloudevent --port <free>`, cwd = dir. */
  static async start(dir: string, entryPoint: string, env: NodeJS.ProcessEnv): Promise<RunningFunction> {
    const port = await freePort();
    const main = join(dir, 'node_modules', FRAMEWORK, 'build', 'src', 'main.js');
    const child = spawn(
      process.execPath,
      [main, '--source', dir, '--target', entryPoint, '--signature-type', 'cloudevent', '--port', String(port)],
      {
        cwd: dir,
        env: {
          ...env,
          PORT: String(port),
          K_SERVICE: entryPoint,
          K_REVISION: `${entryPoint}-00001`,
          FUNCTION_TARGET: entryPoint,
          FUNCTION_SIGNATURE_TYPE: 'cloudevent',
        },
        detached: true, // its own process group, killed as one
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.add(child);
    const running = new RunningFunction(child, port);
    const deadline = Date.now() + 20_000;
    while (!(await portAnswers(port))) {
      if (child.exitCode !== null)
        throw new Error(`${entryPoint} exited with ${child.exitCode} before listening:\n${running.output()}`);
      if (Date.now() > deadline) throw new Error(`${entryPoint} did not listen within 20 s:\n${running.output()}`);
      await new Promise((ok) => setTimeout(ok, 10));
    }
    return running;
  }

  output(): string {
    return `--- stdout\n${this.out}--- stderr\n${this.err}`;
  }

  /** A position in the output, for `since`. */
  mark(): [number, number] {
    return [this.out.length, this.err.length];
  }

  /** The JSON log lines written since `mark`. */
  since([o, e]: [number, number]): Output {
    return { stdout: jsonLines(this.out.slice(o)), stderr: jsonLines(this.err.slice(e)) };
  }

  /** Waits (bounded) until the lines since `mark` satisfy `done`; fails naming `what` and the output. */
  async waitFor(
    what: string,
    mark: [number, number],
    done: (out: Output) => boolean,
    timeoutMs: number,
  ): Promise<Output> {
    for (const deadline = Date.now() + timeoutMs; ; await sleep(20)) {
      const out = this.since(mark);
      if (done(out)) return out;
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(`the function exited while waiting for ${what}:\n${this.output()}`);
      if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms:\n${this.output()}`);
    }
  }

  /** Posts the event; returns the status and the JSON log lines the function wrote meanwhile. */
  async post(event: HttpEvent): Promise<{ status: number; body: string } & Output> {
    const mark = this.mark();
    const res = await fetch(`http://127.0.0.1:${this.port}/`, {
      method: 'POST',
      headers: event.headers,
      body: event.body,
      signal: AbortSignal.timeout(30_000),
    });
    const body = await res.text();
    // The log line is written before the response, but the pipe may deliver it after: wait for it.
    const lines = () => this.since(mark).stdout.length + this.since(mark).stderr.length;
    for (const deadline = Date.now() + 3_000; lines() === 0 && Date.now() < deadline;) await sleep(10);
    await sleep(50); // and for any line after it
    return { status: res.status, body, ...this.since(mark) };
  }
}

/** The lines of one event (a pushed message's id is the CloudEvent's id), both streams in order of stream. */
function linesOf(out: Output, eventId: string): LogLine[] {
  return [...out.stdout, ...out.stderr].filter((l) => l.eventId === eventId);
}

/** The structured log lines among a function's output (functions-framework also prints plain text). */
function jsonLines(text: string): LogLine[] {
  return text
    .split('\n')
    .slice(0, -1) // complete lines only
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

// ---- the tests ---------------------------------------------------------------------------------

describe('deployable bundles (npm run build)', { timeout: 180_000 }, () => {
  let work: string;
  let dist: string;
  let configFile: string;
  let buildOutput: string;
  let env: NodeJS.ProcessEnv;
  const fake = new FakeGoogle();
  const tripwire = new Tripwire();
  /** The file's one Pub/Sub emulator, starting while the build runs; an Error if it could not. */
  let emulatorStart: Promise<PubSubEmulator | Error> | undefined;
  let pubsubClient: PubSub | undefined;
  const emulator = async (): Promise<PubSubEmulator> => {
    const started = await emulatorStart;
    if (!started) throw new Error('the Pub/Sub emulator was not started');
    if (started instanceof Error) throw started;
    return started;
  };
  const pubsub = async (): Promise<PubSub> => (pubsubClient ??= emulatorClient(await emulator()));

  before(async () => {
    if (!PUSH.skip)
      emulatorStart = startPubSubEmulator({ projectId: PROJECT }).catch((err: unknown) =>
        err instanceof Error ? err : new Error(String(err)),
      );
    work = mkdtempSync(join(tmpdir(), 'tidemark-bundles-'));
    dist = join(work, 'dist');
    configFile = join(work, 'config', 'tidemark.config.yaml');
    mkdirSync(join(work, 'config', 'schemas'), { recursive: true });
    writeFileSync(configFile, CONFIG);
    writeFileSync(join(work, 'config', 'schemas', 'events.json'), SCHEMA);
    const build = await run(process.execPath, ['scripts/build.ts', `--outdir=${dist}`, `--config=${configFile}`], ROOT);
    assert.equal(build.code, 0, `build failed:\n${build.stdout}${build.stderr}`);
    buildOutput = build.stdout;
    for (const fn of FUNCTIONS) {
      mkdirSync(join(dist, fn.name, 'node_modules', '@google-cloud'), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', FRAMEWORK), join(dist, fn.name, 'node_modules', FRAMEWORK), 'dir');
    }
    const google = await fake.start();
    const proxy = await tripwire.start();
    mkdirSync(join(work, 'home', 'gcloud'), { recursive: true });
    // Nothing inherited but PATH: no real credentials, project or emulator settings leak in.
    env = {
      PATH: process.env.PATH,
      HOME: join(work, 'home'),
      CLOUDSDK_CONFIG: join(work, 'home', 'gcloud'), // no application_default_credentials.json there
      GOOGLE_CLOUD_PROJECT: PROJECT,
      STORAGE_EMULATOR_HOST: `http://${google}`,
      BIGQUERY_EMULATOR_HOST: `http://${google}`,
      PUBSUB_EMULATOR_HOST: google,
      GCE_METADATA_HOST: google,
      HTTPS_PROXY: proxy,
      HTTP_PROXY: proxy,
      NO_PROXY: '127.0.0.1,localhost',
    };
  });

  after(async () => {
    await Promise.all([...children].map(stop));
    await pubsubClient?.close().catch(() => {});
    const started = await emulatorStart;
    if (started && !(started instanceof Error)) await started.stop();
    await fake.close();
    await tripwire.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('bundles every function folder and prints a size table', (t) => {
    assert.ok(FUNCTIONS.length > 0, 'no functions/<name>/index.ts found');
    for (const fn of FUNCTIONS) assert.match(buildOutput, new RegExp(`^${fn.name}\\s+${fn.entryPoint}\\s`, 'm'));
    for (const line of buildOutput.trimEnd().split('\n')) t.diagnostic(line);
  });

  it(
    "publishes through a bundle's own Pub/Sub file (protos re-export left out, shared google-auth-library)",
    PUSH,
    async () => {
      const fn = FUNCTIONS.find((f) => existsSync(join(dist, f.name, 'lazy', 'google-cloud-pubsub.cjs')));
      assert.ok(fn, 'a function with lazy/google-cloud-pubsub.cjs');
      const em = await emulator();
      const topic = `bundle-publish-${Date.now()}`;
      const [created] = await (await pubsub()).createTopic(topic);
      await created.createSubscription(`${topic}-sub`);
      const file = join(dist, fn.name, 'lazy', 'google-cloud-pubsub.cjs');
      const code = `const { PubSub } = require(${JSON.stringify(file)});
      new PubSub({ projectId: ${JSON.stringify(PROJECT)} }).topic(${JSON.stringify(topic)}).publishMessage({ json: { hello: 'bundle' } })
        .then((id) => { console.log(id); process.exit(0); }, (e) => { console.error(e); process.exit(1); });`;
      const child = spawnSync(process.execPath, ['-e', code], {
        env: { PATH: process.env.PATH, HOME: work, PUBSUB_EMULATOR_HOST: em.host },
        encoding: 'utf8',
        timeout: 60_000,
      });
      assert.equal(child.status, 0, child.stderr);
      const pulled = await pullUntil(em, `${topic}-sub`, { count: 1 });
      assert.deepEqual(
        pulled.map((m) => m.text),
        ['{"hello":"bundle"}'],
      );
    },
  );

  for (const fn of FUNCTIONS) {
    describe(`${fn.name} (${fn.entryPoint})`, () => {
      const dir = () => join(dist, fn.name);

      it('contains nothing local-only: no DuckDB, local backends, tests, firebase, chokidar, commander, cli-progress, zod, yaml', () => {
        const metafile = JSON.parse(readFileSync(metafilePath(dist, fn), 'utf8')) as Metafile;
        const inputs = Object.keys(metafile.inputs);
        assert.ok(inputs.includes(fn.entry), `the metafile has ${fn.entry}`);
        const found = inputs.flatMap((input) =>
          FORBIDDEN_INPUTS.filter(([re]) => re.test(input)).map(([, what]) => `${what}: ${input}`),
        );
        assert.deepEqual(found, []);
        // Externals of the modules that made it into an output (tree shaking may drop an importer).
        const emitted = new Set(Object.values(metafile.outputs).flatMap((o) => Object.keys(o.inputs)));
        const externals = Object.entries(metafile.inputs).flatMap(([input, i]) =>
          emitted.has(input) ? i.imports.filter((imp) => imp.external).map((imp) => imp.path) : [],
        );
        // `<runtime>` is esbuild's own helper module; ./lazy/*.cjs are the bundle's own lazily loaded files,
        // and ./*.cjs a shared package a lazy file requires from beside it (lazy/google-auth-library.cjs).
        const unexpected = [...new Set(externals)].filter(
          (p) =>
            !BUILTINS.has(p) &&
            p !== FRAMEWORK &&
            p !== '<runtime>' &&
            !(/^\.\/lazy\/[^/]+\.cjs$/.test(p) && existsSync(join(dir(), p))) &&
            !(/^\.\/[^/]+\.cjs$/.test(p) && existsSync(join(dir(), 'lazy', p))),
        );
        assert.deepEqual(unexpected, [], 'at run time a bundle may import only node builtins and functions-framework');
      });

      it('is a deployable folder: package.json, resolved config, source maps, report; index.js at most 100 KiB', (t) => {
        const pkg = JSON.parse(readFileSync(join(dir(), 'package.json'), 'utf8')) as Record<string, unknown>;
        assert.equal(pkg.main, 'index.js');
        assert.equal(pkg.type, 'commonjs');
        assert.deepEqual(pkg.engines, { node: '22' });
        assert.deepEqual(pkg.dependencies, { [FRAMEWORK]: installedFrameworkVersion(ROOT) });
        // No `build` (the buildpack would run it); gcp-build, with lazy files, only remakes their code caches.
        const lazyFiles = (
          JSON.parse(readFileSync(join(dir(), 'bundle-report.json'), 'utf8')) as { lazyPackages: { file: string }[] }
        ).lazyPackages.map((l) => l.file);
        assert.deepEqual(
          pkg.scripts,
          lazyFiles.length ? { 'gcp-build': `node lazy/_code-cache.cjs --refresh ${lazyFiles.join(' ')}` } : undefined,
        );
        assert.equal(pkg.devDependencies, undefined);
        // The config as the CLI resolves it, schema inlined; no YAML or schema files to parse at run time.
        const resolved = readResolvedConfig(join(dir(), RESOLVED_CONFIG_FILE));
        assert.deepEqual({ ...resolved, file: '' }, { ...loadConfig({ file: configFile }), file: '' });
        assert.deepEqual(resolved.tables[0]!.spec.schema, JSON.parse(SCHEMA));
        assert.ok(!existsSync(join(dir(), 'tidemark.config.yaml')) && !existsSync(join(dir(), 'schemas')));
        assert.match(readFileSync(join(dir(), 'index.js'), 'utf8'), /\n\/\/# sourceMappingURL=index\.js\.map\n?$/);
        assert.ok(existsSync(join(dir(), 'index.js.map')));
        const report = JSON.parse(readFileSync(join(dir(), 'bundle-report.json'), 'utf8')) as {
          bytes: { eager: number; total: number; maps: number };
          topInputs: unknown[];
          topPackages: { name: string; bytes: number }[];
          lazyPackages: { pkg: string; file: string; bytes: number }[];
        };
        assert.ok(report.bytes.eager > 0 && report.bytes.total >= report.bytes.eager);
        assert.ok(
          report.bytes.eager <= 100 * 1024,
          `index.js is ${report.bytes.eager} bytes, more than 100 KiB: every cold start reads and parses it`,
        );
        assert.ok(report.topInputs.length > 0 && report.topInputs.length <= 20);
        const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
        for (const l of report.lazyPackages) assert.ok(existsSync(join(dir(), l.file)), `lazy file ${l.file}`);
        t.diagnostic(
          `index.js ${kib(report.bytes.eager)}, with lazy files ${kib(report.bytes.total)}, maps ${kib(report.bytes.maps)}`,
        );
        t.diagnostic(
          `largest in index.js: ${report.topPackages
            .slice(0, 5)
            .map((p) => `${p.name} ${kib(p.bytes)}`)
            .join(', ')}`,
        );
        if (report.lazyPackages.length)
          t.diagnostic(`loaded by import(): ${report.lazyPackages.map((l) => `${l.pkg} ${kib(l.bytes)}`).join(', ')}`);
      });

      it('keeps one copy of every project module: a lazy project module shares none with index.js', () => {
        const report = JSON.parse(readFileSync(join(dir(), 'bundle-report.json'), 'utf8')) as {
          projectChunks: { module: string; file: string }[];
        };
        const metafile = JSON.parse(readFileSync(metafilePath(dist, fn), 'utf8')) as Metafile;
        const inputsOf = (file: string) =>
          Object.keys(
            Object.entries(metafile.outputs).find(([out]) => out.endsWith(`/${fn.name}/${file}`))?.[1].inputs ?? {},
          ).filter((i) => !i.includes(':') && i !== '<runtime>');
        const index = new Set(inputsOf('index.js'));
        assert.ok(index.size > 0);
        for (const c of report.projectChunks) {
          assert.ok(existsSync(join(dir(), c.file)), c.file);
          assert.ok(!index.has(c.module), `${c.module} is in index.js too`);
          assert.deepEqual(
            inputsOf(c.file).filter((i) => index.has(i)),
            [],
            `${c.file} copies modules of index.js`,
          );
        }
      });

      it('carries a code cache for each lazy file that this Node uses (lazy/_code-cache.cjs), remade by the gcp-build script', () => {
        const report = JSON.parse(readFileSync(join(dir(), 'bundle-report.json'), 'utf8')) as {
          lazyPackages: { file: string }[];
        };
        if (!report.lazyPackages.length) return;
        // As the buildpack would: the package.json's gcp-build, then the caches it made are the ones used.
        const script = (
          JSON.parse(readFileSync(join(dir(), 'package.json'), 'utf8')) as { scripts: Record<string, string> }
        ).scripts['gcp-build']!;
        const built = spawnSync('sh', ['-c', script], {
          cwd: dir(),
          env: { PATH: process.env.PATH, HOME: work },
          encoding: 'utf8',
        });
        assert.equal(built.status, 0, built.stderr);
        assert.equal(built.stderr, '');
        const code = `const load = require('./lazy/_code-cache.cjs');
          for (const f of ${JSON.stringify(report.lazyPackages.map((l) => l.file))}) load(require('node:path').join(process.cwd(), f));
          console.log(JSON.stringify(Object.fromEntries(load.outcomes)));`;
        const child = spawnSync(process.execPath, ['-e', code], {
          cwd: dir(),
          env: { PATH: process.env.PATH, HOME: work },
          encoding: 'utf8',
        });
        assert.equal(child.status, 0, child.stderr);
        const outcomes = JSON.parse(child.stdout) as Record<string, string>;
        assert.deepEqual(
          Object.keys(outcomes).sort(),
          report.lazyPackages.map((l) => l.file.slice('lazy/'.length)).sort(),
        );
        assert.deepEqual(
          Object.values(outcomes).filter((o) => o !== 'used'),
          [],
        );
      });

      if (fn.entryPoint === 'statusPage') {
        it('serves the page and its script from their lazy files, index.js carrying neither', async () => {
          const report = JSON.parse(readFileSync(join(dir(), 'bundle-report.json'), 'utf8')) as {
            projectChunks: { module: string }[];
          };
          assert.deepEqual(
            report.projectChunks
              .map((c) => c.module)
              .filter((m) => m.startsWith('shared/status-page/'))
              .sort(),
            ['shared/status-page/app-js.ts', 'shared/status-page/index-html.ts'],
          );
          const f = await RunningFunction.start(dir(), fn.entryPoint, env);
          try {
            const page = await fetch(`http://127.0.0.1:${f.port}/`);
            assert.equal(page.status, 200, f.output());
            assert.match(await page.text(), /^<!doctype html>/);
            const app = await fetch(`http://127.0.0.1:${f.port}/app.js`);
            assert.equal(app.status, 200, f.output());
            assert.match(app.headers.get('content-type') ?? '', /javascript/);
            assert.ok((await app.text()).includes('const COLORS'));
          } finally {
            await stop(f.child);
          }
        });
      }

      const tc = CASES[fn.entryPoint];
      if (!tc) {
        it('starts under functions-framework (no event builder for it in this test yet)', async (t) => {
          const f = await RunningFunction.start(dir(), fn.entryPoint, env);
          try {
            await new Promise((ok) => setTimeout(ok, 100));
            assert.equal(f.child.exitCode, null, f.output());
            t.diagnostic(`add a row for ${fn.entryPoint} to CASES in test/build/bundles.test.ts to post it an event`);
          } finally {
            await stop(f.child);
          }
        });
        return;
      }

      it(`starts under functions-framework and acknowledges ${tc.acked.what}, then sends ${tc.callsApi.what} to the local fakes only`, async (t) => {
        const f = await RunningFunction.start(dir(), fn.entryPoint, env);
        try {
          const seen = fake.requests.length;
          const event = tc.acked.event();
          const acked = await f.post(event);
          assert.ok(acked.status >= 200 && acked.status < 300, `HTTP ${acked.status}: ${acked.body}\n${f.output()}`);
          tc.acked.check(acked, event);
          assert.equal(fake.requests.length, seen, 'the acknowledged path calls no API');

          const calls = await f.post(tc.callsApi.event());
          const made = fake.requests.slice(seen);
          checkApiCalls(made, () => f.output());
          assert.deepEqual(tripwire.attempts, [], 'nothing tried to leave 127.0.0.1');
          t.diagnostic(`API path: HTTP ${calls.status} after ${made.map((r) => `${r.method} ${r.path}`).join(', ')}`);
        } finally {
          await stop(f.child);
        }
      });

      const push = tc.pushed;
      if (!push) return;
      it(
        `handles pushes from the Pub/Sub emulator on ${push.topic}: acknowledges a message ${push.acked.what} once, and sends ${push.callsApi.what} to the local fakes, refused so it comes again`,
        { skip: PUSH.skip },
        async (t) => {
          const emu = await emulator();
          const client = await pubsub();
          const f = await RunningFunction.start(dir(), fn.entryPoint, { ...env, PUBSUB_EMULATOR_HOST: emu.host });
          // Stands in for the one `gcloud functions deploy --trigger-topic` makes; the full path
          // is how functions-framework learns the topic for the CloudEvent's source.
          const subscription = client.subscription(`eventarc-${push.topic}-sub`);
          try {
            const [topic] = await client.createTopic(push.topic);
            const pushEndpoint = `http://127.0.0.1:${f.port}/projects/${PROJECT}/topics/${push.topic}`;
            await topic.createSubscription(subscription.name, {
              pushConfig: { pushEndpoint },
              ackDeadlineSeconds: 30,
              retryPolicy: RETRY_POLICY,
            });

            // Acknowledged: one ERROR line and no API call.
            const seen = fake.requests.length;
            const mark = f.mark();
            const ackedId = await topic.publishMessage({ json: push.acked.payload });
            await f.waitFor(
              `log line for pushed message ${ackedId}`,
              mark,
              (out) => linesOf(out, ackedId).length > 0,
              15_000,
            );
            assert.equal(fake.requests.length, seen, 'the acknowledged path calls no API');

            // Calls the fakes, whose 403 it takes as transient: answered 5xx, so the emulator delivers it again.
            const first = Date.now();
            const callsId = await topic.publishMessage({ json: push.callsApi.payload });
            const retried = (out: Output) =>
              linesOf(out, callsId).filter((l) => l.severity === 'WARNING' && l.retry === true);
            await f.waitFor(`first delivery of message ${callsId}`, mark, (out) => retried(out).length >= 1, 15_000);
            const firstSeen = Date.now();
            const out = await f.waitFor(
              `redelivery of message ${callsId}`,
              mark,
              (o) => retried(o).length >= 2,
              15_000,
            );
            const againAfter = Date.now() - firstSeen;
            assert.match(retried(out)[0]!.message, /^will be retried: /);
            // No redelivery of the acknowledged message: judged once a message refused after it has
            // come back, so that a refusal of the first would have brought it back too (no fixed wait).
            const others = (lines: LogLine[]) => lines.filter((l) => l.eventId !== callsId);
            permanentlyRejected(others(out.stderr), ackedId);
            assert.deepEqual(others(out.stdout), []);
            const made = fake.requests.slice(seen);
            checkApiCalls(made, () => f.output());
            assert.deepEqual(tripwire.attempts, [], 'nothing tried to leave 127.0.0.1');
            t.diagnostic(
              `pushed: first delivery ${firstSeen - first} ms after publishing, delivered again ${againAfter} ms later; API calls ${[...new Set(made.map((r) => `${r.method} ${r.path}`))].join(', ')}`,
            );
          } finally {
            await subscription.delete().catch(() => {}); // no more pushes to a stopped bundle
            await stop(f.child);
          }
        },
      );
    });
  }

  // Last, because it trips the wire on purpose: proves the tripwire sees a request that would
  // leave, and that the bundle's proxy support (gaxios loads https-proxy-agent with import()) works.
  it('negative control: without the emulator variables a bundle heads for googleapis.com and the tripwire catches it', async (t) => {
    const fn = FUNCTIONS.find((f) => f.entryPoint === 'loadOnFinalize');
    if (!fn) return t.skip('no loadOnFinalize');
    const { STORAGE_EMULATOR_HOST: _s, BIGQUERY_EMULATOR_HOST: _b, ...leaky } = env;
    const before = tripwire.attempts.length;
    const f = await RunningFunction.start(join(dist, fn.name), fn.entryPoint, leaky);
    try {
      const pending = f.post(CASES.loadOnFinalize!.callsApi.event()).catch(() => undefined);
      for (const deadline = Date.now() + 15_000; tripwire.attempts.length === before && Date.now() < deadline;)
        await new Promise((ok) => setTimeout(ok, 20));
      const caught = tripwire.attempts.slice(before);
      assert.ok(
        caught.some((a) => /^CONNECT storage\.googleapis\.com:443$/.test(a)),
        `the tripwire saw ${JSON.stringify(caught)}\n${f.output()}`,
      );
      t.diagnostic(`caught: ${caught[0]}`);
      void pending;
    } finally {
      await stop(f.child);
      tripwire.attempts.length = before;
    }
  });
});

// ---- the build's own checks, on inputs made up to break them -----------------------------------

describe('scripts/build.ts checks', () => {
  it('derives entry points from folder names (kebab -> camel)', () => {
    const cases: [string, string][] = [
      ['load-on-finalize', 'loadOnFinalize'],
      ['audit-gaps', 'auditGaps'],
      ['backfill-partition', 'backfillPartition'],
      ['x', 'x'],
      ['v2-sync', 'v2Sync'],
    ];
    for (const [folder, name] of cases) assert.equal(entryPointName(folder), name, folder);
  });

  it('finds the registration in minified ESM, namespace imports and CommonJS, and nothing else', () => {
    const cases: [string, string, boolean][] = [
      ['import{cloudEvent as R}from"@google-cloud/functions-framework";R("auditGaps",async e=>{})', 'auditGaps', true],
      [
        'import{http as h,cloudEvent as $e}from"@google-cloud/functions-framework";$e("auditGaps",f)',
        'auditGaps',
        true,
      ],
      [
        'import * as ff from "@google-cloud/functions-framework"; ff.cloudEvent(\'loadOnFinalize\', f)',
        'loadOnFinalize',
        true,
      ],
      [
        'var o=require("@google-cloud/functions-framework");(0,o.cloudEvent)("loadOnFinalize",async t=>{})',
        'loadOnFinalize',
        true,
      ],
      // http(): the HTTP functions (statusPage, ingestEvents) register this way
      [
        'import{cloudEvent as R,http as H}from"@google-cloud/functions-framework";H("statusPage",f)',
        'statusPage',
        true,
      ],
      ['import * as ff from "@google-cloud/functions-framework"; ff.http(\'ingestEvents\', f)', 'ingestEvents', true],
      [
        'var o=require("@google-cloud/functions-framework");(0,o.http)("ingestEvents",async(q,s)=>{})',
        'ingestEvents',
        true,
      ],
      ['import{cloudEvent as R}from"@google-cloud/functions-framework";R("auditGap",f)', 'auditGaps', false],
      ['import{http as H}from"@google-cloud/functions-framework";H("statusPages",f)', 'statusPage', false],
      ['import{cloudEvent as R}from"@google-cloud/functions-framework";xR("auditGaps",f)', 'auditGaps', false],
      ['import{http as H}from"@google-cloud/functions-framework";xH("statusPage",f)', 'statusPage', false],
      // another module's http, under a local name, is not the framework's
      ['import{http as H}from"node:http";H("statusPage",f)', 'statusPage', false],
    ];
    for (const [code, name, expected] of cases) assert.equal(registersEntryPoint(code, name), expected, code);
  });

  it('fails naming the import chain of every forbidden input, and unexpected externals', () => {
    const input = (...imports: { path: string; external?: boolean }[]) => ({
      bytes: 1,
      imports: imports.map((i) => ({ kind: 'import-statement' as const, ...i })),
    });
    const metafile = {
      inputs: {
        'functions/x/index.ts': input(
          { path: 'shared/runtime/gcp.ts' },
          { path: '@google-cloud/functions-framework', external: true },
        ),
        'shared/runtime/gcp.ts': input(
          { path: 'shared/cli/context.ts' },
          { path: 'node:fs', external: true },
          { path: 'left-pad', external: true },
        ),
        'shared/cli/context.ts': input({ path: 'shared/backends/local/duckdb-warehouse.ts' }),
        'shared/backends/local/duckdb-warehouse.ts': input({ path: '@duckdb/node-api', external: true }),
      },
      outputs: {},
    } as unknown as Metafile;
    const problems = checkHygiene(metafile, 'functions/x/index.ts');
    const byInput = Object.fromEntries(problems.map((p) => [p.input, p.chain]));
    assert.deepEqual(Object.keys(byInput).sort(), [
      '@duckdb/node-api',
      'left-pad',
      'shared/backends/local/duckdb-warehouse.ts',
      'shared/cli/context.ts',
    ]);
    assert.deepEqual(byInput['@duckdb/node-api'], [
      'functions/x/index.ts',
      'shared/runtime/gcp.ts',
      'shared/cli/context.ts',
      'shared/backends/local/duckdb-warehouse.ts',
      '@duckdb/node-api',
    ]);
    assert.deepEqual(byInput['left-pad'], ['functions/x/index.ts', 'shared/runtime/gcp.ts', 'left-pad']);
  });

  it('takes the config from --config, else TIDEMARK_CONFIG, else ./tidemark.config.yaml; none is an error unless --allow-no-config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-config-choice-'));
    try {
      writeFileSync(join(dir, 'a.yaml'), 'x');
      writeFileSync(join(dir, 'tidemark.config.yaml'), 'x');
      const pick = (config: string | undefined, env: Record<string, string>, allowNoConfig = false) =>
        resolveConfigFile({ config, env, cwd: dir, allowNoConfig });
      assert.equal(pick('a.yaml', { TIDEMARK_CONFIG: 'missing.yaml' }).file, join(dir, 'a.yaml'));
      assert.equal(pick(undefined, { TIDEMARK_CONFIG: 'a.yaml' }).from, 'TIDEMARK_CONFIG');
      assert.equal(pick(undefined, {}).file, join(dir, 'tidemark.config.yaml'));
      assert.throws(
        () => pick('missing.yaml', {}),
        (e: unknown) => e instanceof BuildError && /missing\.yaml \(from --config\) does not exist/.test(e.message),
      );
      assert.equal(pick('missing.yaml', {}, true).file, undefined);
      rmSync(join(dir, 'tidemark.config.yaml'));
      assert.throws(
        () => pick(undefined, {}),
        (e: unknown) => e instanceof BuildError && /--allow-no-config/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('parses its arguments strictly', () => {
    assert.deepEqual(parseBuildArgs(['--outdir=/tmp/x', '--config', 'c.yaml']), {
      outdir: '/tmp/x',
      config: 'c.yaml',
      allowNoConfig: false,
      quiet: false,
    });
    assert.deepEqual(parseBuildArgs([]), { outdir: 'dist', config: undefined, allowNoConfig: false, quiet: false });
    assert.throws(() => parseBuildArgs(['--out=x']), BuildError);
  });
});
