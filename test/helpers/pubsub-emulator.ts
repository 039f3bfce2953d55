/**
 * The real Pub/Sub emulator for tests: the launcher that `gcloud beta emulators pubsub start` runs
 * (`<sdk>/platform/pubsub-emulator/bin/cloud-pubsub-emulator --host= --port=`), started directly
 * on a free port in its own process group (killing the launcher alone would leave the Java
 * emulator running), ready once its REST endpoint answers. Going around gcloud saves a Python
 * start-up (~1.4 s of CPU) per suite; the SDK is found from the `gcloud` on PATH, as gcloud's own
 * wrapper finds it.
 *
 * Suites call `withEmulator()` inside `describe`: one emulator per file. When the emulator is
 * not installed the suite is skipped with a loud message saying how to install it, except under
 * CI=true, where it fails instead.
 *
 * For end-to-end suites: `pullOnce`/`pullUntil` (synchronous pulls), `gcloudForEmulator` (the
 * real CLI on a throwaway config) and `servePushEndpoint` (a registered function served for
 * push subscriptions).
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { PubSub } from '@google-cloud/pubsub';
import { OAuth2Client } from 'google-auth-library';
import { findOnPath, gcloudSdk } from './which.ts';

export interface PubSubEmulator {
  /** `127.0.0.1:PORT`, what PUBSUB_EMULATOR_HOST would hold. */
  host: string;
  projectId: string;
  /** Kills the emulator's process group, waits for it to go, removes its data dir. */
  stop(): Promise<void>;
}

export const INSTALL_HINT =
  'install it with `gcloud components install pubsub-emulator beta` (or `apt-get install google-cloud-cli-pubsub-emulator`); it needs Java 11+';

const READY_TIMEOUT_MS = 30_000;
/** JVM flags for the emulator (its launcher reads CLOUD_PUBSUB_EMULATOR_OPTS; a user's value wins). */
const JVM_OPTS = '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC';
/** The emulator keeps nothing worth a graceful shutdown: SIGKILL after this. */
const STOP_TIMEOUT_MS = 1_000;

/**
 * The Pub/Sub emulator's launcher in the SDK of the `gcloud` on PATH (`<sdk>/bin/gcloud`, through
 * any symlinks), or why there is none.
 */
export function emulatorLauncher(): { launcher: string } | { why: string } {
  const gcloud = findOnPath('gcloud');
  if (!gcloud) return { why: 'gcloud is not on PATH' };
  const { root } = gcloudSdk(gcloud);
  const home = join(root, 'platform', 'pubsub-emulator');
  const lib = join(home, 'lib');
  if (!existsSync(lib) || !readdirSync(lib).some((f) => f.endsWith('.jar')))
    return { why: `no Pub/Sub emulator jar under ${lib}` };
  const launcher = join(home, 'bin', 'cloud-pubsub-emulator');
  if (!existsSync(launcher)) return { why: `no Pub/Sub emulator launcher at ${launcher}` };
  return { launcher };
}

/** Whether `gcloud`, its Pub/Sub emulator component and `java` are installed (no Python start-up). */
export function emulatorAvailable(): { ok: boolean; why?: string } {
  const found = emulatorLauncher();
  if ('why' in found) return { ok: false, why: found.why };
  const java = spawnSync('java', ['-version'], { encoding: 'utf8', timeout: 10_000 });
  if (java.error || java.status !== 0) return { ok: false, why: 'java is not on PATH' };
  return { ok: true };
}

/** Starts an emulator and resolves once it answers HTTP. */
export async function startPubSubEmulator(options: { projectId?: string } = {}): Promise<PubSubEmulator> {
  const projectId = options.projectId ?? 'tidemark-test';
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-pubsub-'));
  const host = `127.0.0.1:${port}`;
  const found = emulatorLauncher();
  const launcher = 'launcher' in found ? found.launcher : 'cloud-pubsub-emulator';
  const child = spawn(launcher, ['--host=127.0.0.1', `--port=${port}`], {
    cwd: dir, // whatever it writes goes there and is removed with it
    detached: true, // its own process group: the Java child dies with it
    stdio: ['ignore', 'pipe', 'pipe'],
    // A short-lived test server: the quick JIT and the serial collector start it with ~40% less
    // CPU (5.6 -> 3.4 s to ready and 20 topics here) and it never runs long enough to miss C2.
    env: { ...process.env, CLOUD_PUBSUB_EMULATOR_OPTS: process.env.CLOUD_PUBSUB_EMULATOR_OPTS ?? JVM_OPTS },
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-8_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  // A missing launcher is a spawn 'error', not an exit: report it as the emulator failing to start.
  child.once('error', (err) => keep(Buffer.from(`cannot start ${launcher}: ${err.message}\n`)));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });

  const stop = async () => {
    await killGroup(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilReady(host, exited, () => output);
  } catch (err) {
    await stop();
    throw err;
  }
  return { host, projectId, stop };
}

export interface EmulatorHandle {
  /** The running emulator (inside tests and hooks of the suite). */
  readonly emulator: PubSubEmulator;
  /** A client on the emulator; closed when the suite ends. */
  pubsub(): PubSub;
}

/**
 * Registers before/after hooks in the current `describe` that start one emulator for it and
 * stop it. Pair with `emulatorSuite()` for the suite's skip option.
 */
export function withEmulator(options: { projectId?: string } = {}): EmulatorHandle {
  let emulator: PubSubEmulator | undefined;
  const clients: PubSub[] = [];
  before(async () => {
    emulator = await startPubSubEmulator(options);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await emulator?.stop();
  });
  return {
    get emulator() {
      if (!emulator) throw new Error('the emulator starts in before(): use it inside tests');
      return emulator;
    },
    pubsub() {
      const client = emulatorClient(this.emulator);
      clients.push(client);
      return client;
    },
  };
}

/** A Pub/Sub client on `emulator` (the caller closes it). */
export function emulatorClient(emulator: PubSubEmulator): PubSub {
  // An auth client with no credentials: the emulator needs none, and without one the library
  // probes the GCE metadata server.
  return new PubSub({
    projectId: emulator.projectId,
    apiEndpoint: emulator.host,
    emulatorMode: true,
    authClient: new OAuth2Client(),
  });
}

/**
 * Options for a suite that needs the emulator: `{}` when it is installed (or under CI=true,
 * where a missing emulator must fail the run, not skip it); `{ skip }` with a loud message
 * otherwise. `check` and `warn` are replaceable for the helper's own tests.
 */
export function emulatorSuite(
  options: {
    env?: Record<string, string | undefined>;
    check?: () => { ok: boolean; why?: string };
    warn?: (text: string) => void;
  } = {},
): { skip?: string } {
  const { env = process.env, check = emulatorAvailable, warn = (text) => void process.stderr.write(text) } = options;
  const available = check();
  if (available.ok) return {};
  const message = `Pub/Sub emulator unavailable: ${available.why}; ${INSTALL_HINT}`;
  if (env.CI === 'true') {
    warn(`\n!!! ${message}\n!!! CI=true: the emulator tests fail instead of skipping.\n\n`);
    return {};
  }
  warn(`\n${'!'.repeat(100)}\n!!! SKIPPING Pub/Sub emulator tests. ${message}\n${'!'.repeat(100)}\n\n`);
  return { skip: message };
}

/** gcloud with no prompts and a throwaway config dir (nothing global changes). */
function gcloudEnv(configDir: string): NodeJS.ProcessEnv {
  return { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1', CLOUDSDK_CONFIG: configDir };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilReady(host: string, exited: Promise<number | null>, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let gone: number | null | undefined;
  void exited.then((code) => (gone = code));
  while (Date.now() < deadline) {
    if (gone !== undefined)
      throw new Error(`the Pub/Sub emulator exited (code ${gone}) before answering:\n${output()}`);
    try {
      const response = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(1_000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the Pub/Sub emulator did not answer on ${host} within ${READY_TIMEOUT_MS} ms:\n${output()}`);
}

/** SIGTERM to the whole group, SIGKILL if it lingers; resolves when no member is left. */
async function killGroup(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const signal = (sig: NodeJS.Signals | 0) => {
    try {
      process.kill(-pid, sig);
      return true;
    } catch {
      return false; // ESRCH: the group is gone
    }
  };
  // gcloud may be gone while Java still shuts down: wait for the whole group, not the child.
  const gone = async (ms: number) => {
    const deadline = Date.now() + ms;
    while (signal(0)) {
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return true;
  };
  if (!signal('SIGTERM')) return;
  if (await gone(STOP_TIMEOUT_MS)) return;
  signal('SIGKILL');
  if (!(await gone(5_000))) throw new Error(`the Pub/Sub emulator's process group ${pid} would not die`);
}

// ---- end-to-end helpers: pull, the gcloud CLI, push endpoints ----------------------------------

/** A message as a pull returns it, its payload decoded. */
export interface PulledMessage {
  messageId: string;
  text: string;
  attributes: Record<string, string>;
}

/**
 * One synchronous pull of up to `max` messages, acknowledged at once. REST with
 * `returnImmediately`: without it the emulator holds an empty pull open for about 90 s.
 */
export async function pullOnce(emulator: PubSubEmulator, subscription: string, max = 100): Promise<PulledMessage[]> {
  const base = `http://${emulator.host}/v1/projects/${emulator.projectId}/subscriptions/${subscription}`;
  const post = async (verb: string, body: unknown) => {
    const response = await fetch(`${base}:${verb}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) throw new Error(`${verb} on ${subscription}: HTTP ${response.status} ${await response.text()}`);
    return response.json() as Promise<{
      receivedMessages?: {
        ackId: string;
        message: { messageId: string; data?: string; attributes?: Record<string, string> };
      }[];
    }>;
  };
  const { receivedMessages = [] } = await post('pull', { maxMessages: max, returnImmediately: true });
  if (receivedMessages.length) await post('acknowledge', { ackIds: receivedMessages.map((m) => m.ackId) });
  return receivedMessages.map(({ message }) => ({
    messageId: message.messageId,
    text: Buffer.from(message.data ?? '', 'base64').toString('utf8'),
    attributes: message.attributes ?? {},
  }));
}

/** Pulls until at least `count` messages arrived; fails after `timeoutMs` naming what did arrive. */
export async function pullUntil(
  emulator: PubSubEmulator,
  subscription: string,
  options: { count?: number; timeoutMs?: number } = {},
): Promise<PulledMessage[]> {
  const { count = 1, timeoutMs = 20_000 } = options;
  const pulled: PulledMessage[] = [];
  for (const deadline = Date.now() + timeoutMs; pulled.length < count;) {
    if (Date.now() > deadline)
      throw new Error(
        `${pulled.length}/${count} message(s) on ${subscription} after ${timeoutMs} ms: ${JSON.stringify(pulled)}`,
      );
    const batch = await pullOnce(emulator, subscription);
    pulled.push(...batch);
    if (!batch.length) await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return pulled;
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface GcloudCli {
  /** Runs `gcloud ...args` (asynchronously: the test process may be serving the push endpoint). */
  run(args: string[]): Promise<CommandResult>;
  /** Runs a shell command line (a README's, quoting and all) with the same gcloud config. */
  shell(command: string): Promise<CommandResult>;
  /** Removes the throwaway config dir. */
  dispose(): void;
}

/**
 * The real gcloud CLI aimed at the emulator, as a reader of the README would aim it, on a
 * throwaway CLOUDSDK_CONFIG so nothing global changes: `auth/disable_credentials` and
 * `api_endpoint_overrides/pubsub` set as gcloud reads any property from the environment
 * (`CLOUDSDK_<SECTION>_<NAME>`, the same as `gcloud config set` without two more Python start-ups).
 */
export function gcloudForEmulator(emulator: PubSubEmulator): GcloudCli {
  const configDir = mkdtempSync(join(tmpdir(), 'tidemark-gcloud-'));
  const env = {
    ...gcloudEnv(configDir),
    CLOUDSDK_AUTH_DISABLE_CREDENTIALS: 'true',
    CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB: `http://${emulator.host}/`,
  };
  const exec = (file: string, args: string[]) =>
    new Promise<CommandResult>((resolve, reject) => {
      const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c));
      child.stderr.on('data', (c: Buffer) => (stderr += c));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
  return {
    run: (args) => exec('gcloud', args),
    shell: (command) => exec('sh', ['-c', command]),
    dispose: () => rmSync(configDir, { recursive: true, force: true }),
  };
}

export interface PushEndpoint {
  /** The URL for a push subscription on `topic`: functions-framework reads the topic from the path into the CloudEvent's source. */
  url(topic: string): string;
  /** Every push answered so far, in order: the message id (from the raw body) and the HTTP status. */
  readonly deliveries: { messageId: string; status: number }[];
  close(): Promise<void>;
}

/**
 * Serves a function registered with functions-framework's `cloudEvent()` on 127.0.0.1 (its
 * `getTestServer`, the same express app the runtime uses), for the emulator to push to.
 */
export async function servePushEndpoint(functionName: string, projectId: string): Promise<PushEndpoint> {
  const server = getTestServer(functionName);
  const deliveries: { messageId: string; status: number }[] = [];
  server.on('request', (req: IncomingMessage & { rawBody?: Buffer }, res: ServerResponse) => {
    res.once('finish', () => {
      let messageId = '?';
      try {
        messageId = String(
          (JSON.parse(req.rawBody?.toString('utf8') ?? '{}') as { message?: { messageId?: string } }).message
            ?.messageId ?? '?',
        );
      } catch {
        // not a push body
      }
      deliveries.push({ messageId, status: res.statusCode });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (topic) => `http://127.0.0.1:${port}/projects/${projectId}/topics/${topic}`,
    deliveries,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
