/**
 * `tidemark infra plan` and `tidemark infra apply`: `pulumi preview` and `pulumi up` of the
 * Pulumi program in infra/ for this config, through Pulumi's Automation API (which drives the
 * Pulumi CLI). Without the CLI installed, one line says how to install it and what to run.
 * The Automation API loads only when one of these runs.
 */
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Command } from 'commander';
import type {
  ConfigMap,
  LocalProgramArgs,
  LocalWorkspaceOptions,
  OpMap,
  PreviewOptions,
  UpOptions,
} from '@pulumi/pulumi/automation/index.js';
import { loadDeploySettings } from '../../../infra/deploy-config.ts';
import { INFRA_DIR } from '../../../infra/paths.ts';
import type { Config } from '../../config/types.ts';
import { readConfig } from '../context.ts';
import type { CliContext, Env } from '../context.ts';
import { toJson } from '../format.ts';
import type { CommandHost } from '../main.ts';

export interface InfraOptions {
  project?: string;
  region?: string;
  lakeRegion?: string;
  stack: string;
  pulumiBackend?: string;
  json?: boolean;
}

/** The part of a Pulumi Automation API stack this command uses. */
export interface PulumiStack {
  setAllConfig(config: ConfigMap): Promise<void>;
  preview(opts?: PreviewOptions): Promise<{ changeSummary: OpMap }>;
  up(opts?: UpOptions): Promise<{ summary: { resourceChanges?: OpMap } }>;
}

/** The part of `@pulumi/pulumi/automation` this command uses (tests pass a stub). */
export interface Automation {
  LocalWorkspace: { createOrSelectStack(args: LocalProgramArgs, opts?: LocalWorkspaceOptions): Promise<PulumiStack> };
}

/** What the command needs from outside. */
export interface InfraDeps {
  readConfig: (ctx: CliContext) => Config;
  /** The Pulumi CLI's path, or undefined when it is not installed. */
  findPulumi: (env: Env) => string | undefined;
  loadAutomation: () => Promise<Automation>;
}

/** PATH, then the installer's default place (~/.pulumi/bin). */
export function findPulumi(env: Env): string | undefined {
  const dirs = [...(env.PATH ?? '').split(delimiter), ...(env.HOME ? [join(env.HOME, '.pulumi', 'bin')] : [])];
  for (const dir of dirs) {
    if (dir && existsSync(join(dir, 'pulumi'))) return join(dir, 'pulumi');
  }
  return undefined;
}

const defaultDeps: InfraDeps = {
  readConfig,
  findPulumi,
  loadAutomation: async () => (await import('@pulumi/pulumi/automation/index.js')) as unknown as Automation,
};

/** The one line printed when the Pulumi CLI is missing. */
export function pulumiMissingMessage(mode: 'plan' | 'apply'): string {
  return `tidemark infra ${mode} runs the Pulumi CLI, which is not installed: install it (curl -fsSL https://get.pulumi.com | sh, or see https://www.pulumi.com/docs/install/), run \`pulumi login gs://<state bucket>\`, then run \`tidemark infra ${mode}\` again (or \`pulumi ${mode === 'plan' ? 'preview' : 'up'} --cwd infra\`).`;
}

export function registerInfraCommands(program: Command, host: CommandHost, deps: Partial<InfraDeps> = {}): void {
  const resolved: InfraDeps = { ...defaultDeps, ...deps };
  const infra = program
    .command('infra')
    .description('create or repair the Google Cloud resources tidemark needs (a Pulumi program)');
  for (const mode of ['plan', 'apply'] as const) {
    infra
      .command(mode)
      .description(
        mode === 'plan'
          ? 'pulumi preview: show what apply would change (reads only)'
          : 'pulumi up: create or update what the plan shows; safe to repeat',
      )
      .option('--project <id>', 'Google Cloud project (default: project in the config)')
      .option('--region <region>', 'region of the functions and the scheduler job (default: deploy.region)')
      .option('--lake-region <region>', "the lake bucket's region (default: deploy.lakeRegion)")
      .option('--stack <name>', 'Pulumi stack', 'prod')
      .option(
        '--pulumi-backend <url>',
        'Pulumi state backend, e.g. gs://my-project-pulumi-state (default: the one `pulumi login` chose)',
      )
      .option('--json', 'print the change summary as JSON')
      .action(host.run((ctx, opts: InfraOptions) => runInfra(ctx, mode, opts, resolved)));
  }
}

/** Previews (plan) or applies (apply) the Pulumi program for the config; returns the exit code. */
export async function runInfra(
  ctx: CliContext,
  mode: 'plan' | 'apply',
  opts: InfraOptions,
  deps: InfraDeps = defaultDeps,
): Promise<number> {
  const config = deps.readConfig(ctx);
  // Validates deploy: before Pulumi starts, so a bad value is a ConfigError naming the key.
  loadDeploySettings(config.file, { region: opts.region, lakeRegion: opts.lakeRegion });
  if (!deps.findPulumi(ctx.env)) {
    ctx.err(pulumiMissingMessage(mode));
    return 2;
  }
  const { LocalWorkspace } = await deps.loadAutomation();
  const envVars: Record<string, string> = {};
  const backend = opts.pulumiBackend ?? ctx.env.PULUMI_BACKEND_URL;
  if (backend) envVars.PULUMI_BACKEND_URL = backend;
  const stack = await LocalWorkspace.createOrSelectStack({ stackName: opts.stack, workDir: INFRA_DIR }, { envVars });
  const settings: ConfigMap = { 'tidemark:config': { value: config.file } };
  if (opts.project) settings['tidemark:project'] = { value: opts.project };
  if (opts.region) settings['tidemark:region'] = { value: opts.region };
  if (opts.lakeRegion) settings['tidemark:lakeRegion'] = { value: opts.lakeRegion };
  await stack.setAllConfig(settings);

  const lines = lineWriter(opts.json ? ctx.err : ctx.out);
  const changes =
    mode === 'plan'
      ? (await stack.preview({ onOutput: lines.write })).changeSummary
      : ((await stack.up({ onOutput: lines.write })).summary.resourceChanges ?? {});
  lines.flush();
  if (opts.json) ctx.out(toJson({ project: opts.project ?? config.project, stack: opts.stack, mode, changes }));
  return 0;
}

/** Pulumi's output arrives in chunks; the context prints lines. */
function lineWriter(print: (line: string) => void): { write: (chunk: string) => void; flush: () => void } {
  let pending = '';
  return {
    write: (chunk) => {
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop()!;
      for (const line of parts) print(line);
    },
    flush: () => {
      if (pending) print(pending);
      pending = '';
    },
  };
}
