/**
 * `--backend gcp` without credentials: every command that reaches Google Cloud fails with one
 * line (what is missing, how to fix it) and exit code 1, no stack trace and no wait on the
 * metadata server. Each command runs as the `tidemark` command (bin/tidemark.js) in a child
 * process with an empty HOME, no key file and a metadata host nobody answers on, as on a laptop
 * that never ran gcloud.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { mayUseMetadataServer } from '../../../shared/cli/gcp-credentials.ts';
import { EVENTS_YAML } from '../../helpers/local-env.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'tidemark-gcp-creds-'));
const home = join(dir, 'home');
mkdirSync(home);
writeFileSync(join(dir, 'tidemark.config.yaml'), EVENTS_YAML);
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const p = spawn(
      process.execPath,
      [join(ROOT, 'bin/tidemark.js'), '--config', join(dir, 'tidemark.config.yaml'), '--backend', 'gcp', ...args],
      {
        cwd: dir,
        env: { PATH: process.env.PATH ?? '', HOME: home, GCE_METADATA_HOST: '127.0.0.1:1', ...extraEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b));
    p.stderr.on('data', (b: Buffer) => (stderr += b));
    p.on('error', fail);
    p.on('close', (code) => done({ code, stdout, stderr }));
  });
}

const commands: [string, string[]][] = [
  ['audit', ['audit']],
  ['sync', ['sync', '--table', 'events', '--partition', '2026112410']],
  ['reload', ['reload', '--table', 'events', '--partition', '2026112410']],
  ['backfill', ['backfill', '--table', 'events', '--from', '2026112410', '--to', '2026112411']],
  ['dlq', ['dlq']],
  ['quarantine', ['quarantine']],
  ['infra plan', ['infra', 'plan']],
];

describe('--backend gcp without credentials', () => {
  for (const [name, args] of commands) {
    it(`${name}: exits 1 with one line saying what is missing and how to fix it`, { timeout: 60_000 }, async () => {
      const r = await cli(args);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '');
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /^tidemark: --backend gcp: no Google Cloud credentials found/);
      assert.match(lines[0]!, /gcloud auth application-default login/);
      assert.match(lines[0]!, /GOOGLE_APPLICATION_CREDENTIALS/);
    });
  }

  it('a GOOGLE_APPLICATION_CREDENTIALS that names no file: one line naming it', { timeout: 60_000 }, async () => {
    const r = await cli(['audit'], { GOOGLE_APPLICATION_CREDENTIALS: join(dir, 'missing-key.json') });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /cannot use GOOGLE_APPLICATION_CREDENTIALS=.*missing-key\.json/);
  });

  it('commands that stay local do not ask for credentials', { timeout: 60_000 }, async () => {
    const r = await cli(['config', 'check']);
    assert.equal(r.code, 0, r.stderr);
  });
});

it(
  "runCli: a rejection nobody awaits (a client library's) ends the CLI with one line and exit 1",
  { timeout: 60_000 },
  async () => {
    const code = `const { runCli } = await import(${JSON.stringify(join(ROOT, 'shared/cli/main.ts'))});
    setTimeout(() => void Promise.reject(new Error('stub failed\\n    at somewhere (x.js:1:1)')), 0);
    await runCli(['node', 'tidemark', '--config', ${JSON.stringify(join(dir, 'tidemark.config.yaml'))}, 'config', 'check'], {});
    await new Promise((r) => setTimeout(r, 60_000));`;
    const r = await new Promise<{ code: number | null; stderr: string }>((done, fail) => {
      const p = spawn(process.execPath, ['--input-type=module', '-e', code], {
        cwd: dir,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      p.stderr.on('data', (b: Buffer) => (stderr += b));
      p.on('error', fail);
      p.on('close', (c) => done({ code: c, stderr }));
    });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, 'tidemark: stub failed\n');
  },
);

describe('mayUseMetadataServer', () => {
  const cases: [string, Record<string, string>, boolean, boolean][] = [
    ['a laptop', {}, false, false],
    ['a GCE VM', {}, true, true],
    ['Cloud Run / Functions', { K_SERVICE: 'x' }, false, true],
    ['METADATA_SERVER_DETECTION=none on GCE', { METADATA_SERVER_DETECTION: 'none' }, true, false],
    [
      'METADATA_SERVER_DETECTION=assume-present on a laptop',
      { METADATA_SERVER_DETECTION: 'assume-present' },
      false,
      true,
    ],
  ];
  for (const [what, env, onGce, expected] of cases)
    it(what, () =>
      assert.equal(
        mayUseMetadataServer(env, () => onGce),
        expected,
      ),
    );
});
