/**
 * `tidemark backfill --table T --from A --to B [--force]` and `tidemark reload --table T
 * --partition P`: one backfill message per partition. With --backend gcp they are published to
 * tidemark-backfill (the deployed backfillPartition function does the work); locally they are
 * delivered in this process through the same handler, with a progress bar.
 */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { openEngine, readConfig } from '../context.ts';
import type { CliContext } from '../context.ts';
import type { CommandHost } from '../main.ts';
import { resolveSelection } from './sync.ts';
import { createLocalSuite } from '../../runtime/local-suite.ts';
import type { LocalEngine } from '../../runtime/local.ts';
import { formatTable } from '../format.ts';

export function registerBackfillCommands(program: Command, host: CommandHost): void {
  program
    .command('backfill')
    .description('publish one backfill message per partition in a range')
    .requiredOption('--table <name>', 'table name from the config')
    .requiredOption('--from <id>', 'first partition (id or ISO time)')
    .requiredOption('--to <id>', 'last partition, inclusive')
    .option('--force', 'reload even unchanged partitions (and retry quarantined files)')
    .action(host.run((ctx, opts: { table: string; from: string; to: string; force?: boolean }) => publishBackfills(ctx, opts.table, { from: opts.from, to: opts.to }, !!opts.force, opts.force ? 'manual-force' : 'manual')));
  program
    .command('reload')
    .description('force-reload one partition (a backfill message with force: true)')
    .requiredOption('--table <name>', 'table name from the config')
    .requiredOption('--partition <id>', 'partition id (2026112413, 20261124) or ISO time')
    .action(host.run((ctx, opts: { table: string; partition: string }) => publishBackfills(ctx, opts.table, { partition: opts.partition }, true, 'reload')));
}

async function publishBackfills(ctx: CliContext, tableName: string, sel: { partition?: string; from?: string; to?: string }, force: boolean, reason: string): Promise<number> {
  const config = readConfig(ctx);
  const selection = resolveSelection(config, tableName, sel);
  if ('usage' in selection) {
    ctx.err(selection.usage);
    return 2;
  }
  const { table, partitions } = selection;
  const messages = partitions.map((partition) => ({ table: table.name, partition, force, reason }));
  const bar = process.stderr.isTTY && partitions.length > 1 ? new cliProgress.SingleBar({ format: '{task} {bar} {value}/{total}', stream: process.stderr }, cliProgress.Presets.shades_classic) : null;

  if (ctx.options.backend === 'gcp') {
    const { gcpBus } = await import('../../runtime/gcp.ts');
    const bus = gcpBus(config);
    bar?.start(messages.length, 0, { task: 'publish' });
    const ids: string[] = [];
    for (let i = 0; i < messages.length; i += 500) {
      ids.push(...(await bus.publish(config.topics.backfill, messages.slice(i, i + 500), { origin: 'cli' })));
      bar?.update(ids.length);
    }
    bar?.stop();
    ctx.out(`published ${ids.length} message(s) to ${config.topics.backfill} (project ${config.project}); the backfillPartition function loads them.`);
    return 0;
  }

  const engine = (await openEngine(ctx, config)) as LocalEngine;
  const outcomes: Record<string, number> = {};
  let failures = 0;
  const suite = createLocalSuite(engine, {
    deadLetterFile: engine.paths.deadLetterFile,
    maxBackoffMs: 5_000,
    onBackfill: (o) => {
      if ('error' in o) return;
      const key = o.ok ? (o.value.action === 'synced' ? o.value.result.outcome : 'requeued') : 'rejected';
      if (!o.ok) failures++;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      bar?.increment();
    },
  });
  try {
    await engine.warehouse.ensureTable(table.spec);
    bar?.start(messages.length, 0, { task: 'backfill' });
    await suite.bus.publish(config.topics.backfill, messages, { origin: 'cli' });
    await suite.drain();
    bar?.stop();
    const dead = suite.bus.deadLetters(config.topics.backfill).length;
    ctx.out(formatTable([{ table: table.name, partitions: partitions.length, ...outcomes, dead_lettered: dead }]));
    if (dead) ctx.err(`${dead} message(s) dead-lettered: see \`tidemark dlq\``);
    return failures || dead ? 1 : 0;
  } finally {
    suite.close();
    await engine.close();
  }
}
