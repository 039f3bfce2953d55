/**
 * `tidemark infra plan` and `tidemark infra apply`: what the Google Cloud project needs for this
 * config (topics, subscriptions, the audit schedule, datasets, tables, service accounts, IAM),
 * compared with what is there. The cloud clients load only when one of these runs.
 */
import type { Command } from 'commander';
import { loadDeploySettings } from '../../../infra/deploy-config.ts';
import type { DeploySettings } from '../../../infra/deploy-config.ts';
import { describeResource, desiredState } from '../../../infra/desired.ts';
import { applyInfra, planInfra } from '../../../infra/plan.ts';
import type { Change, InfraClients } from '../../../infra/plan.ts';
import type { Config } from '../../config/types.ts';
import { readConfig } from '../context.ts';
import type { CliContext, Env } from '../context.ts';
import { toJson } from '../format.ts';
import type { CommandHost } from '../main.ts';

export interface InfraOptions {
  project?: string;
  region?: string;
  lakeRegion?: string;
  json?: boolean;
}

/** What the command needs from outside; tests replace the clients. */
export interface InfraDeps {
  readConfig: (ctx: CliContext) => Config;
  createClients: (project: string, env: Env) => Promise<InfraClients & { close?(): Promise<void> }>;
}

const defaultDeps: InfraDeps = {
  readConfig,
  createClients: async (project, env) => (await import('../../../infra/clients.ts')).createInfraClients(project, env),
};

export function registerInfraCommands(program: Command, host: CommandHost, deps: Partial<InfraDeps> = {}): void {
  const resolved: InfraDeps = { ...defaultDeps, ...deps };
  const infra = program.command('infra').description('create or repair the Google Cloud resources tidemark needs');
  for (const mode of ['plan', 'apply'] as const) {
    infra
      .command(mode)
      .description(mode === 'plan' ? 'show what apply would change (reads only)' : 'create or update what the plan shows; safe to repeat')
      .option('--project <id>', 'Google Cloud project (default: project in the config)')
      .option('--region <region>', 'region of the functions and the scheduler job (default: deploy.region)')
      .option('--lake-region <region>', "the lake bucket's region, where the loader runs (default: deploy.lakeRegion)")
      .option('--json', 'print the changes as JSON')
      .action(host.run((ctx, opts: InfraOptions) => runInfra(ctx, mode, opts, resolved)));
  }
}

/** Plans (and for `apply`, applies) the infra for the config; returns the exit code. */
export async function runInfra(ctx: CliContext, mode: 'plan' | 'apply', opts: InfraOptions, deps: InfraDeps = defaultDeps): Promise<number> {
  const loaded = deps.readConfig(ctx);
  const config: Config = opts.project ? { ...loaded, project: opts.project } : loaded;
  const deploy: DeploySettings = loadDeploySettings(config.file, { region: opts.region, lakeRegion: opts.lakeRegion });
  const desired = desiredState(config, deploy);
  const clients = await deps.createClients(config.project, ctx.env);
  try {
    const changes = await planInfra(desired, clients);
    if (mode === 'plan' || !changes.some((c) => c.action !== 'noop')) {
      ctx.out(opts.json ? toJson({ project: config.project, changes: changes.map(changeJson) }) : formatPlan(changes, config.project));
      return 0;
    }
    if (!opts.json) ctx.out(formatPlan(changes, config.project));
    let applied = 0;
    await applyInfra(changes, clients, {
      onApplied: (change) => {
        applied++;
        if (!opts.json) ctx.err(`${MARK[change.action]} ${describeResource(change.resource)}: done`);
      },
    });
    ctx.out(opts.json ? toJson({ project: config.project, changes: changes.map(changeJson), applied }) : `Applied ${applied} change${applied === 1 ? '' : 's'}.`);
    return 0;
  } finally {
    await clients.close?.();
  }
}

const MARK: Record<Change['action'], string> = { create: '+', update: '~', noop: '=' };

/**
 * The plan as people read it, one line per resource:
 * `+ create topic tidemark-backfill`, `~ update subscription s: deadLetterPolicy ...`,
 * `= topic tidemark-audit (no change)`, then a count.
 */
export function formatPlan(changes: Change[], project: string): string {
  const lines = changes.map((c) => {
    const subject = describeResource(c.resource);
    switch (c.action) {
      case 'create':
        return `+ create ${subject}${c.detail ? ` (${c.detail})` : ''}`;
      case 'update':
        return `~ update ${subject}: ${c.detail}`;
      case 'noop':
        return `= ${subject} (${c.detail || 'no change'})`;
    }
  });
  const count = (action: Change['action']) => changes.filter((c) => c.action === action).length;
  const waiting = changes.filter((c) => c.action === 'noop' && c.detail.startsWith('waiting:')).length;
  const summary =
    `Plan for ${project}: ${count('create')} to create, ${count('update')} to update, ${count('noop')} unchanged` +
    (waiting ? ` (${waiting} waiting for the deploy: run infra apply again after it)` : '') +
    '.';
  return [...lines, '', summary].join('\n');
}

function changeJson(c: Change) {
  return { action: c.action, kind: c.resource.kind, subject: describeResource(c.resource), detail: c.detail, resource: c.resource };
}
