/**
 * `tidemark infra plan|apply`: without the Pulumi CLI, one line saying how to install it and what
 * to run (exit 2); with it, the Automation API wiring (stack, work dir, backend, config, preview
 * or up, output) checked against a stub of the API's shape.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Command } from 'commander';
import { INFRA_DIR } from '../../infra/paths.ts';
import { findPulumi, pulumiMissingMessage, registerInfraCommands } from '../../shared/cli/commands/infra.ts';
import type { Automation, InfraDeps, PulumiStack } from '../../shared/cli/commands/infra.ts';
import type { CliContext } from '../../shared/cli/context.ts';
import type { CommandHost } from '../../shared/cli/main.ts';
import { ConfigError } from '../../shared/core/errors.ts';
import { testConfig } from './fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'tidemark-infra-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function configFile(deploy = 'deploy:\n  region: europe-west1\n'): string {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, `project: tidemark-test\n${deploy}`);
  return file;
}

/** Runs one CLI invocation of the infra commands, the way main.ts hosts them. */
async function runCli(
  argv: string[],
  deps: Partial<InfraDeps>,
  env: Record<string, string> = {},
): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  let code = 0;
  const program = new Command('tidemark').option('--backend <backend>', 'where to run').exitOverride();
  const host: CommandHost = {
    run:
      (action) =>
      async (...args) => {
        const ctx: CliContext = {
          options: { backend: 'gcp' },
          env,
          cwd: '/',
          out: (s) => out.push(s),
          err: (s) => err.push(s),
        };
        code = await action(ctx, ...args);
      },
  };
  registerInfraCommands(program, host, deps);
  await program.parseAsync(['node', 'tidemark', ...argv]);
  return { code, out, err };
}

/** An Automation API stand-in that records every call and answers like Pulumi would. */
function stubAutomation() {
  const calls: unknown[][] = [];
  const stack: PulumiStack = {
    async setAllConfig(config) {
      calls.push(['setAllConfig', config]);
    },
    async preview(opts) {
      calls.push(['preview']);
      opts?.onOutput?.('Previewing update (prod):\n  + gcp:pubsub:Topic topic-au');
      opts?.onOutput?.('dit create\nResources: 1 to create\n');
      return { changeSummary: { create: 1 } };
    },
    async up(opts) {
      calls.push(['up']);
      opts?.onOutput?.('Updating (prod):\nResources: 1 created\n');
      return { summary: { resourceChanges: { create: 1 } } };
    },
  };
  const automation: Automation = {
    LocalWorkspace: {
      async createOrSelectStack(args, opts) {
        calls.push(['createOrSelectStack', args, opts]);
        return stack;
      },
    },
  };
  return { calls, automation };
}

describe('tidemark infra without the Pulumi CLI', () => {
  for (const mode of ['plan', 'apply'] as const) {
    it(`${mode}: one line on how to install it and what to run, exit 2, nothing run`, async () => {
      const file = configFile();
      let loaded = false;
      const res = await runCli(['infra', mode], {
        readConfig: () => ({ ...testConfig(), file }),
        findPulumi: () => undefined,
        loadAutomation: async () => {
          loaded = true;
          return stubAutomation().automation;
        },
      });
      assert.equal(res.code, 2);
      assert.deepEqual(res.err, [pulumiMissingMessage(mode)]);
      assert.equal(res.out.length, 0);
      assert.ok(!loaded, 'the Automation API is not loaded');
      assert.ok(!pulumiMissingMessage(mode).includes('\n'), 'one line');
      assert.match(pulumiMissingMessage(mode), /get\.pulumi\.com/);
      assert.match(pulumiMissingMessage(mode), new RegExp(`pulumi ${mode === 'plan' ? 'preview' : 'up'} --cwd infra`));
    });
  }

  it('findPulumi looks on PATH, then in ~/.pulumi/bin, and finds nothing when neither has it', () => {
    const bin = join(dir, 'bin');
    const home = join(dir, 'home');
    mkdirSync(bin, { recursive: true });
    mkdirSync(join(home, '.pulumi', 'bin'), { recursive: true });
    const empty = join(dir, 'empty');
    mkdirSync(empty, { recursive: true });
    writeFileSync(join(bin, 'pulumi'), '#!/bin/sh\n');
    chmodSync(join(bin, 'pulumi'), 0o755);
    writeFileSync(join(home, '.pulumi', 'bin', 'pulumi'), '#!/bin/sh\n');
    const cases = [
      { env: { PATH: `${empty}:${bin}` }, found: join(bin, 'pulumi') },
      { env: { PATH: empty, HOME: home }, found: join(home, '.pulumi', 'bin', 'pulumi') },
      { env: { PATH: empty, HOME: empty }, found: undefined },
      { env: {}, found: undefined },
    ];
    for (const c of cases) assert.equal(findPulumi(c.env), c.found, JSON.stringify(c.env));
  });
});

describe('tidemark infra through the Automation API', () => {
  it("plan: selects or creates the stack on infra/, passes the config, backend and flags, previews, prints Pulumi's lines", async () => {
    const file = configFile();
    const { calls, automation } = stubAutomation();
    const res = await runCli(
      [
        'infra',
        'plan',
        '--stack',
        'staging',
        '--project',
        'other',
        '--region',
        'europe-west1',
        '--pulumi-backend',
        'gs://p-pulumi-state',
      ],
      {
        readConfig: () => ({ ...testConfig(), file }),
        findPulumi: () => '/usr/bin/pulumi',
        loadAutomation: async () => automation,
      },
    );
    assert.equal(res.code, 0);
    assert.deepEqual(calls, [
      [
        'createOrSelectStack',
        { stackName: 'staging', workDir: INFRA_DIR },
        { envVars: { PULUMI_BACKEND_URL: 'gs://p-pulumi-state' } },
      ],
      [
        'setAllConfig',
        {
          'tidemark:config': { value: file },
          'tidemark:project': { value: 'other' },
          'tidemark:region': { value: 'europe-west1' },
        },
      ],
      ['preview'],
    ]);
    assert.deepEqual(res.out, [
      'Previewing update (prod):',
      '  + gcp:pubsub:Topic topic-audit create',
      'Resources: 1 to create',
    ]);
  });

  it("apply: runs up (not preview), backend from PULUMI_BACKEND_URL; --json prints the change summary and sends Pulumi's lines to stderr", async () => {
    const file = configFile();
    const { calls, automation } = stubAutomation();
    const res = await runCli(
      ['infra', 'apply', '--json'],
      {
        readConfig: () => ({ ...testConfig(), file }),
        findPulumi: () => '/usr/bin/pulumi',
        loadAutomation: async () => automation,
      },
      { PULUMI_BACKEND_URL: 'gs://x' },
    );
    assert.equal(res.code, 0);
    assert.deepEqual(
      calls.map((c) => c[0]),
      ['createOrSelectStack', 'setAllConfig', 'up'],
    );
    assert.deepEqual((calls[0]![2] as { envVars: unknown }).envVars, { PULUMI_BACKEND_URL: 'gs://x' });
    assert.deepEqual(JSON.parse(res.out.join('\n')), {
      project: 'tidemark-test',
      stack: 'prod',
      mode: 'apply',
      changes: { create: 1 },
    });
    assert.deepEqual(res.err, ['Updating (prod):', 'Resources: 1 created']);
  });

  it('a bad deploy: section is a ConfigError naming the key, before Pulumi runs', async () => {
    const file = configFile('deploy:\n  region: Mars\n');
    const { calls, automation } = stubAutomation();
    await assert.rejects(
      runCli(['infra', 'plan'], {
        readConfig: () => ({ ...testConfig(), file }),
        findPulumi: () => '/usr/bin/pulumi',
        loadAutomation: async () => automation,
      }),
      (err: unknown) => err instanceof ConfigError && /deploy\.region/.test(err.message),
    );
    assert.equal(calls.length, 0);
  });

  it('the default loader returns the real Automation API, whose LocalWorkspace has the method the command calls', async () => {
    const real = (await import('@pulumi/pulumi/automation/index.js')) as unknown as Automation;
    assert.equal(typeof real.LocalWorkspace.createOrSelectStack, 'function');
  });
});
