/**
 * The real Pub/Sub emulator for tests: `gcloud beta emulators pubsub start` on a free port with a
 * throwaway data dir and gcloud config, in its own process group (killing gcloud alone would
 * leave the Java emulator running), ready once its REST endpoint answers.
 *
 * Suites call `withEmulator()` inside `describe`: one emulator per file. When the emulator is
 * not installed the suite is skipped with a loud message saying how to install it, except under
 * CI=true, where it fails instead.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import { OAuth2Client } from 'google-auth-library';

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
/** The emulator keeps nothing worth a graceful shutdown: SIGKILL after this. */
const STOP_TIMEOUT_MS = 1_000;

/** Whether `gcloud`, its Pub/Sub emulator component and `java` are installed (fast: no `gcloud components list`). */
export function emulatorAvailable(): { ok: boolean; why?: string } {
  const info = spawnSync('gcloud', ['info', '--format=value(installation.sdk_root)'], { encoding: 'utf8', timeout: 20_000, env: gcloudEnv() });
  if (info.error || info.status !== 0) return { ok: false, why: `gcloud is not on PATH or failed (${info.error?.message ?? info.stderr.trim()})` };
  const root = info.stdout.trim();
  const lib = join(root, 'platform', 'pubsub-emulator', 'lib');
  if (!existsSync(lib) || !readdirSync(lib).some((f) => f.endsWith('.jar'))) return { ok: false, why: `no Pub/Sub emulator jar under ${lib}` };
  const java = spawnSync('java', ['-version'], { encoding: 'utf8', timeout: 10_000 });
  if (java.error || java.status !== 0) return { ok: false, why: 'java is not on PATH' };
  return { ok: true };
}

/** Starts an emulator and resolves once it answers HTTP. */
export async function startPubSubEmulator(options: { projectId?: string } = {}): Promise<PubSubEmulator> {
  const projectId = options.projectId ?? 'tidemark-test';
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-pubsub-'));
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const host = `127.0.0.1:${port}`;
  const child = spawn('gcloud', ['beta', 'emulators', 'pubsub', 'start', `--host-port=${host}`, `--data-dir=${dataDir}`, '--quiet'], {
    detached: true, // its own process group: the Java child dies with it
    stdio: ['ignore', 'pipe', 'pipe'],
    env: gcloudEnv(join(dir, 'gcloud-config')),
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-8_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

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
      const { host, projectId } = this.emulator;
      // An auth client with no credentials: the emulator needs none, and without one the
      // library probes the GCE metadata server.
      const client = new PubSub({ projectId, apiEndpoint: host, emulatorMode: true, authClient: new OAuth2Client() });
      clients.push(client);
      return client;
    },
  };
}

/**
 * Options for a suite that needs the emulator: `{}` when it is installed (or under CI=true,
 * where a missing emulator must fail the run, not skip it); `{ skip }` with a loud message
 * otherwise. `check` and `warn` are replaceable for the helper's own tests.
 */
export function emulatorSuite(
  options: { env?: Record<string, string | undefined>; check?: () => { ok: boolean; why?: string }; warn?: (text: string) => void } = {},
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

/** gcloud with no prompts and, when given, a throwaway config dir (nothing global changes). */
function gcloudEnv(configDir?: string): NodeJS.ProcessEnv {
  return { ...process.env, CLOUDSDK_CORE_DISABLE_PROMPTS: '1', ...(configDir ? { CLOUDSDK_CONFIG: configDir } : {}) };
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
    if (gone !== undefined) throw new Error(`the Pub/Sub emulator exited (code ${gone}) before answering:\n${output()}`);
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
