/**
 * What the `tidemark` command loads: bin/tidemark.js runs the CLI bundled into
 * node_modules/.cache/tidemark-cli (rebuilt when a source changes), or the sources with Node's own
 * type stripping (TIDEMARK_CLI_NO_BUNDLE=1); never tsx. A command imports only its own module, so
 * `--help` and `config check` never load DuckDB, the Google clients or the file watcher. Checked
 * in a child process with a resolve hook recording every module it loads.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildProgram, commandIn, COMMAND_MODULES } from '../../../shared/cli/main.ts';
import { EVENTS_YAML } from '../../helpers/local-env.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = join(ROOT, 'bin', 'tidemark.js');

/** Runs bin/tidemark.js with `args` under plain node; returns the exit code, output and every module URL loaded. */
function runBin(
  cwd: string,
  args: string[],
  extraEnv: Record<string, string> = {},
): { status: number | null; stdout: string; stderr: string; loaded: string[] } {
  const hook = `
    import { registerHooks } from 'node:module';
    import { writeSync } from 'node:fs';
    const seen = [];
    registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); seen.push(r.url); return r; } });
    process.on('exit', () => writeSync(3, JSON.stringify(seen)));
  `;
  const r = spawnSync(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, BIN, ...args],
    {
      cwd,
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: cwd, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    },
  );
  return {
    status: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    loaded: JSON.parse((r.output[3] as string | null) || '[]') as string[],
  };
}

const HEAVY = /node_modules\/(@duckdb|@google-cloud|google-auth-library|chokidar|cli-progress|tsx)\//;

describe('tidemark command start-up', () => {
  const modes: [string, Record<string, string>, string, RegExp][] = [
    // [mode, env, the module that must load, other command modules that must not]
    [
      'bundled',
      {},
      'node_modules/.cache/tidemark-cli/main.mjs',
      /node_modules\/\.cache\/tidemark-cli\/(audit|backfill|dlq|infra|quarantine|query|start|sync)-[^/]*\.mjs$/,
    ],
    [
      'type-stripped sources',
      { TIDEMARK_CLI_NO_BUNDLE: '1' },
      'shared/cli/main.ts',
      /shared\/cli\/commands\/(?!config\.ts$)[^/]+$/,
    ],
  ];
  for (const [mode, env, mainModule, otherCommands] of modes) {
    for (const [what, args] of [
      ['--help', ['--help']],
      ['config check', ['config', 'check']],
    ] as const) {
      it(`${what} (${mode}): no tsx, nothing on stderr, no DuckDB, Google client, watcher or other command`, () => {
        const dir = mkdtempSync(join(tmpdir(), 'tidemark-startup-'));
        try {
          writeFileSync(join(dir, 'tidemark.config.yaml'), EVENTS_YAML);
          runBin(dir, ['--help'], env); // a first call (re)builds the bundle if a source changed
          const r = runBin(dir, [...args], env);
          assert.equal(r.status, 0, r.stderr);
          assert.equal(r.stderr, '');
          assert.ok(r.loaded.includes(pathToFileURL(join(ROOT, mainModule)).href), `loaded ${mainModule}`);
          assert.deepEqual(
            r.loaded.filter((u) => HEAVY.test(u)),
            [],
          );
          assert.deepEqual(
            r.loaded.filter((u) => otherCommands.test(u)),
            [],
            'no other command module',
          );
          if (mode === 'bundled')
            assert.deepEqual(
              r.loaded.filter((u) => u.endsWith('.ts')),
              [],
              'no TypeScript loaded',
            );
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  }

  it('rebuilds the bundle when a source it was built from changes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-startup-'));
    try {
      runBin(dir, ['--help']);
      const inputs = join(ROOT, 'node_modules/.cache/tidemark-cli/inputs.json');
      const recorded = JSON.parse(readFileSync(inputs, 'utf8')) as { inputs: Record<string, number> };
      assert.ok(
        recorded.inputs['shared/cli/main.ts'] !== undefined &&
          recorded.inputs['shared/cli/commands/config.ts'] !== undefined,
      );
      // Pretend config.ts changed since the build: the recorded time no longer matches.
      writeFileSync(inputs, JSON.stringify({ inputs: { ...recorded.inputs, 'shared/cli/commands/config.ts': 1 } }));
      const r = runBin(dir, ['--help']);
      assert.equal(r.status, 0, r.stderr);
      const rebuilt = JSON.parse(readFileSync(inputs, 'utf8')) as { inputs: Record<string, number> };
      assert.equal(
        rebuilt.inputs['shared/cli/commands/config.ts'],
        statSync(join(ROOT, 'shared/cli/commands/config.ts')).mtimeMs,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("bundles commander, zod and yaml into the CLI, and checks freshness against npm's record of node_modules, not each of their files", () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-startup-'));
    try {
      writeFileSync(join(dir, 'tidemark.config.yaml'), EVENTS_YAML);
      runBin(dir, ['--help']);
      const r = runBin(dir, ['config', 'check']);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(
        r.loaded.filter((u) => /node_modules\/(commander|zod|yaml|croner|picomatch|ms)\//.test(u)),
        [],
      );
      const { inputs } = JSON.parse(
        readFileSync(join(ROOT, 'node_modules/.cache/tidemark-cli/inputs.json'), 'utf8'),
      ) as { inputs: Record<string, number> };
      assert.deepEqual(
        Object.keys(inputs).filter((f) => f.includes('node_modules')),
        ['node_modules/.package-lock.json'],
      );
      assert.ok('bin/tidemark.js' in inputs, 'the build options live in bin/tidemark.js: an edit there rebuilds');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rebuilds a bundle recorded by an older bin/tidemark.js (no record of itself)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-startup-'));
    try {
      runBin(dir, ['--help']);
      const file = join(ROOT, 'node_modules/.cache/tidemark-cli/inputs.json');
      const { inputs } = JSON.parse(readFileSync(file, 'utf8')) as { inputs: Record<string, number> };
      delete inputs['bin/tidemark.js'];
      writeFileSync(file, JSON.stringify({ inputs }));
      assert.equal(runBin(dir, ['--help']).status, 0);
      assert.ok(
        'bin/tidemark.js' in (JSON.parse(readFileSync(file, 'utf8')) as { inputs: Record<string, number> }).inputs,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const commands: [string[], string | undefined][] = [
    [['node', 'tidemark'], undefined],
    [['node', 'tidemark', '--help'], undefined],
    [['node', 'tidemark', 'config', 'check'], 'config'],
    [['node', 'tidemark', '--config', 'sync', 'query', 'x'], 'query'],
    [['node', 'tidemark', '--backend', 'gcp', '-v', 'audit'], 'audit'],
    [['node', 'tidemark', 'help', 'reload'], 'reload'],
    [['node', 'tidemark', 'help'], 'help'],
  ];
  for (const [argv, expected] of commands) {
    it(`finds the command in ${argv.slice(2).join(' ') || '(nothing)'}: ${expected ?? 'none'}`, () =>
      assert.equal(commandIn(argv), expected));
  }

  it("the summaries shown for commands not loaded are the command modules' own descriptions", async () => {
    const io = { out: () => {}, err: () => {} };
    const { program } = await buildProgram({}, io, ROOT, [], true);
    const real = Object.fromEntries(program.commands.map((c) => [c.name(), c.description()]));
    const summaries = Object.assign({}, ...COMMAND_MODULES.map((m) => m.commands)) as Record<string, string>;
    assert.deepEqual(summaries, real);
  });
});
