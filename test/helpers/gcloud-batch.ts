/**
 * gcloud's real argument parsing for many command lines at the cost of one gcloud start-up
 * (~2.4 s of CPU each here, most of it loading the CLI): see gcloud-batch.py. The wrapper script
 * of the `gcloud` on PATH starts the driver, so the interpreter and its flags are gcloud's own.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gcloudSdk } from './which.ts';

export interface GcloudOutcome {
  code: number | null;
  stderr: string;
}

const DRIVER = join(dirname(fileURLToPath(import.meta.url)), 'gcloud-batch.py');
/** The wrapper's last line: the interpreter it chose, running lib/gcloud.py. */
const EXEC_LINE = /^exec "\$CLOUDSDK_PYTHON" \$CLOUDSDK_PYTHON_ARGS "\$\{CLOUDSDK_ROOT_DIR\}\/lib\/gcloud\.py" "\$@"$/m;

/**
 * Runs each of `commands` (gcloud's arguments, without `gcloud`) in one process and returns their
 * outcomes in order. `bin` is the `gcloud` on PATH; `env` the environment for all of them.
 */
export function gcloudBatch(
  bin: string,
  commands: string[][],
  env: NodeJS.ProcessEnv,
  timeoutMs = 120_000,
): Promise<GcloudOutcome[]> {
  const { wrapper, root } = gcloudSdk(bin);
  const lib = join(root, 'lib');
  const text = readFileSync(wrapper, 'utf8');
  if (!EXEC_LINE.test(text))
    return Promise.reject(
      new Error(`${wrapper} does not end in the exec line gcloud-batch expects: ${String(EXEC_LINE)}`),
    );
  const script = text.replace(EXEC_LINE, () => `exec "$CLOUDSDK_PYTHON" $CLOUDSDK_PYTHON_ARGS "$@"`);
  return new Promise((resolve, reject) => {
    // `sh -c script name args`: $0 is the wrapper's own path, from which it finds the SDK.
    const child = spawn('sh', ['-c', script, wrapper, DRIVER, lib], {
      env,
      stdio: ['pipe', 'ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let results = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c));
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (c: Buffer) => (results += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const outcomes = results
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as GcloudOutcome);
      if (outcomes.length !== commands.length)
        reject(
          new Error(
            `gcloud-batch answered ${outcomes.length} of ${commands.length} commands (exit ${code ?? signal}):\n${stderr}`,
          ),
        );
      else resolve(outcomes);
    });
    child.stdin!.end(commands.map((args) => JSON.stringify(args)).join('\n') + '\n');
  });
}
