/**
 * `tidemark backfill --table T --from A --to B [--force]` and `tidemark reload --table T
 * --partition P`: one backfill message per partition. With --backend gcp they are published to
 * tidemark-backfill (the deployed backfillPartition function does the work); locally they are
 * delivered in this process through the same handler, with a progress bar.
 */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { commandLine, configPath, openEngine, readConfig } from '../context.ts';
import type { CliContext } from '../context.ts';
import type { CommandHost } from '../main.ts';
import { commitQueued, formatSyncResults, resolveSelection } from './sync.ts';
import type { SyncRow } from './sync.ts';
import { createLocalSuite } from '../../runtime/local-suite.ts';
import type { LocalEngine } from '../../runtime/local.ts';
import { formatTable, toJson } from '../format.ts';
import type { LocalBus } from '../../backends/local/bus.ts';
import type { Config } from '../../config/types.ts';

export function registerBackfillCommands(program: Command, host: CommandHost): void {
  program
    .command('backfill')
    .description('publish one backfill message per partition in a range')
    .requiredOption('--table <name>', 'table name from the config')
    .requiredOption('--from <id>', 'first partition (id or ISO time)')
    .requiredOption('--to <id>', 'last partition, inclusive')
    .option('--force', 'reload even unchanged partitions (and retry quarantined files)')
    .option('--json', 'print the outcome as JSON (locally: every partition synced, with its jobs and what they read)')
    .action(
      host.run((ctx, opts: { table: string; from: string; to: string; force?: boolean; json?: boolean }) =>
        publishBackfills(
          ctx,
          opts.table,
          { from: opts.from, to: opts.to },
          !!opts.force,
          opts.force ? 'manual-force' : 'manual',
          !!opts.json,
        ),
      ),
    );
  program
    .command('reload')
    .description('force-reload one partition (a backfill message with force: true)')
    .requiredOption('--table <name>', 'table name from the config')
    .requiredOption('--partition <id>', 'partition id (2026112413, 20261124) or ISO time')
    .option('--json', 'print the outcome as JSON (locally: the sync, with its jobs and what they read)')
    .action(
      host.run((ctx, opts: { table: string; partition: string; json?: boolean }) =>
        publishBackfills(ctx, opts.table, { partition: opts.partition }, true, 'reload', !!opts.json),
      ),
    );
}

const DAY_MS = 86_400_000;

/** "1 h 5 min", "4 min 48 s", "12 s". */
function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  return `${s} s`;
}

/**
 * What the CLI says when partitions wait for the table's job budget: how many, at which pace, when
 * the last runs if this command keeps running, and which setting makes it faster.
 */
export function budgetWaitLine(
  table: { name: string; jobBudget: number; jobBurst: number },
  waiting: number,
  firstAt: number,
  now: number,
  configFile: string,
): string {
  const pace = DAY_MS / table.jobBudget;
  const lastAt = firstAt + (waiting - 1) * pace;
  const hhmm = (t: number) => new Date(t).toISOString().slice(11, 19);
  return (
    `${waiting} partition(s) wait for the job budget of table ${table.name} (jobBudget ${table.jobBudget}/day: one job every ${formatDuration(pace)} after a burst of ${table.jobBurst}). ` +
    `At this pace they run from ${hhmm(firstAt)} to ${hhmm(lastAt)} UTC (about ${formatDuration(lastAt - now)}${waiting > table.jobBudget ? `, and past the daily cap of ${table.jobBudget} jobs: tomorrow or later` : ''}); ` +
    `keep this command running (nothing is dead-lettered), or raise jobBudget/jobBurst of ${table.name} in ${configFile} to go faster.`
  );
}

/** Most partitions a local backfill lists in text (the summary counts them all; --json has every one). */
const MAX_LISTED = 200;

/**
 * What a local backfill or reload prints once done: the summary per table, then each partition
 * that ran a job or failed, with what its jobs read from the lake (formatSyncResults). With
 * --json, the same as one object.
 */
export function formatBackfillOutcome(
  summary: { table: string; partitions: number; outcomes: Record<string, number>; deadLettered: number },
  results: readonly SyncRow[],
  json: boolean,
): string {
  if (json) return toJson({ ...summary, results });
  const lines = [
    formatTable([
      {
        table: summary.table,
        partitions: summary.partitions,
        ...summary.outcomes,
        dead_lettered: summary.deadLettered,
      },
    ]),
  ];
  const worked = results.filter((r) => 'error' in r || r.jobs.length > 0 || r.jobsSubmitted > 0);
  if (worked.length) lines.push('', formatSyncResults(worked, { max: MAX_LISTED }));
  return lines.join('\n');
}

/**
 * After the first pass of local backfills: one line per table whose partitions wait for job budget
 * (budgetWaitLine). Returns how many wait.
 */
export function reportBudgetWaits(ctx: CliContext, config: Config, bus: Pick<LocalBus, 'waiting'>): number {
  const waiting = bus.waiting(config.topics.backfill);
  const byTable = new Map<string, number[]>();
  for (const w of waiting) {
    const table = (JSON.parse(w.data) as { table?: unknown }).table;
    if (typeof table === 'string') byTable.set(table, [...(byTable.get(table) ?? []), Date.parse(w.notBefore)]);
  }
  for (const [name, times] of byTable) {
    const table = config.tables.find((t) => t.name === name);
    if (table) ctx.err(budgetWaitLine(table, times.length, Math.min(...times), Date.now(), configPath(ctx)));
  }
  return waiting.length;
}

async function publishBackfills(
  ctx: CliContext,
  tableName: string,
  sel: { partition?: string; from?: string; to?: string },
  force: boolean,
  reason: string,
  json = false,
): Promise<number> {
  const config = readConfig(ctx);
  const selection = resolveSelection(config, tableName, sel);
  if ('usage' in selection) {
    ctx.err(selection.usage);
    return 2;
  }
  const { table, partitions } = selection;
  const messages = partitions.map((partition) => ({ table: table.name, partition, force, reason }));
  const bar =
    process.stderr.isTTY && partitions.length > 1
      ? new cliProgress.SingleBar(
          { format: '{task} {bar} {value}/{total}', stream: process.stderr },
          cliProgress.Presets.shades_classic,
        )
      : null;

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
    ctx.out(
      json
        ? toJson({
            table: table.name,
            partitions: partitions.length,
            published: ids.length,
            topic: config.topics.backfill,
          })
        : `published ${ids.length} message(s) to ${config.topics.backfill} (project ${config.project}); the backfillPartition function loads them.`,
    );
    return 0;
  }

  const engine = (await openEngine(ctx, config)) as LocalEngine;
  const outcomes: Record<string, number> = {};
  // The last sync of each partition (a message can be requeued for budget, then synced).
  const results = new Map<string, SyncRow>();
  let failures = 0;
  const suite = createLocalSuite(engine, {
    deadLetterFile: engine.paths.deadLetterFile,
    maxBackoffMs: 5_000,
    onBackfill: (o) => {
      if ('error' in o) return;
      if (o.ok && o.value.action === 'requeued') return; // waits for budget: counted when it runs
      const key = o.ok ? (o.value.action === 'synced' ? o.value.result.outcome : 'requeued') : 'rejected';
      if (!o.ok) failures++;
      if (o.ok && o.value.action === 'synced') results.set(o.value.result.partition, o.value.result);
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      bar?.increment();
    },
  });
  try {
    await engine.warehouse.ensureTable(table.spec);
    bar?.start(messages.length, 0, { task: 'backfill' });
    await suite.bus.publish(config.topics.backfill, messages, { origin: 'cli' });
    await suite.bus.settled();
    const waiting = suite.bus.waiting(config.topics.backfill).length;
    if (waiting) {
      bar?.stop();
      reportBudgetWaits(ctx, config, suite.bus);
      bar?.start(messages.length, messages.length - waiting, { task: 'backfill' });
    }
    await suite.drain();
    bar?.stop();
    const dead = suite.bus.deadLetters(config.topics.backfill).length;
    const rows: SyncRow[] = partitions.flatMap((p) => results.get(p) ?? []);
    // A commit-mode dml table: the backfill only queued its partitions; commit them now.
    if (rows.some((r) => r.outcome === 'queued')) await commitQueued(ctx, engine, table.name, rows);
    ctx.out(
      formatBackfillOutcome(
        { table: table.name, partitions: partitions.length, outcomes, deadLettered: dead },
        rows,
        json,
      ),
    );
    if (dead) ctx.err(`${dead} message(s) dead-lettered: see \`${commandLine(ctx, ['dlq'])}\``);
    return failures || dead ? 1 : 0;
  } finally {
    suite.close();
    await engine.close();
  }
}
