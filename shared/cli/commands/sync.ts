/**
 * `tidemark sync --table T (--partition P | --from A --to B)`: runs the engine now for each
 * partition, waits, prints a summary. A partition busy with another job is waited for.
 */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { BudgetExhaustedError, errorMessage, PartitionBusyError } from '../../core/errors.ts';
import { commitTables } from '../../core/commit.ts';
import { readState } from '../../core/state.ts';
import { syncPartition } from '../../core/sync.ts';
import type { Engine, JobRead, SyncResult } from '../../core/sync.ts';
import { normalizePartition, partitionsInRange, partitionStart, partitionEnd } from '../../routing/partition.ts';
import { formatBytes, formatTable, toJson } from '../format.ts';
import { openEngine, readConfig } from '../context.ts';
import type { CliContext } from '../context.ts';
import type { CommandHost } from '../main.ts';
import type { Config, TableConfig } from '../../config/types.ts';

export interface SyncOptions {
  table: string;
  partition?: string;
  from?: string;
  to?: string;
  force?: boolean;
  json?: boolean;
}

/** Partition ids a --partition or --from/--to (inclusive) selection names. */
export function selectPartitions(
  granularity: 'HOUR' | 'DAY',
  opts: { partition?: string; from?: string; to?: string },
): string[] {
  if (opts.partition) return [normalizePartition(opts.partition, granularity)];
  if (!opts.from || !opts.to) throw new UsageError('give --partition P, or --from A and --to B');
  const from = normalizePartition(opts.from, granularity);
  const to = normalizePartition(opts.to, granularity);
  if (to < from) throw new UsageError(`--to ${opts.to} is before --from ${opts.from}`);
  return partitionsInRange(partitionStart(from), partitionEnd(to), granularity);
}

export class UsageError extends Error {}

/** One partition's outcome as the CLI prints it: the engine's result, or why it failed. */
export type SyncRow = SyncResult | { table: string; partition: string; outcome: 'failed'; error: string };

/** Files and bytes the jobs of one partition's sync read from the lake. */
export function lakeRead(jobs: readonly JobRead[] | undefined): { files: number; bytes: number } {
  return (jobs ?? []).reduce((t, j) => ({ files: t.files + j.filesRead, bytes: t.bytes + j.bytesRead }), {
    files: 0,
    bytes: 0,
  });
}

/** "read 3 files, 1.2 MiB" (what a partition's jobs read from the lake); "-" when it ran none. */
export function readLabel(jobs: readonly JobRead[] | undefined): string {
  if (!jobs?.length) return '-';
  const { files, bytes } = lakeRead(jobs);
  return `read ${files} file${files === 1 ? '' : 's'}, ${formatBytes(bytes)}`;
}

/**
 * What `tidemark sync` (and a local `backfill`/`reload`) prints: with --json the results as
 * they are (each with `jobs`: every job run and its filesRead / bytesRead); as text one line per
 * partition, with what its jobs read from the lake, and the total.
 */
export function formatSyncResults(results: readonly SyncRow[], opts: { json?: boolean; max?: number } = {}): string {
  if (opts.json) return toJson(results);
  const max = opts.max ?? Infinity;
  const rows = results.slice(0, max).map((r) =>
    'error' in r
      ? { partition: r.partition, outcome: r.outcome, detail: r.error }
      : {
          partition: r.partition,
          outcome: r.outcome,
          objects: r.objects,
          rows: r.rows,
          bytes: formatBytes(r.bytes),
          jobs: r.jobsSubmitted,
          read: readLabel(r.jobs),
          quarantined: r.quarantined.length,
          jobId: r.jobId,
        },
  );
  const lines = [formatTable(rows)];
  if (results.length > max) lines.push(`... and ${results.length - max} more (use --json)`);
  const jobs = results.flatMap((r) => ('jobs' in r ? r.jobs : []));
  if (jobs.length) {
    const { files, bytes } = lakeRead(jobs);
    lines.push(`${jobs.length} job(s) read ${files} file(s), ${formatBytes(bytes)} from the lake.`);
  }
  return lines.join('\n');
}

/** The table named on the command line and the partitions selected, or a usage message. */
export function resolveSelection(
  config: Config,
  tableName: string,
  sel: { partition?: string; from?: string; to?: string },
): { table: TableConfig; partitions: string[] } | { usage: string } {
  const table = config.tables.find((t) => t.name === tableName);
  if (!table) return { usage: `unknown table "${tableName}"; tables: ${config.tables.map((t) => t.name).join(', ')}` };
  try {
    return { table, partitions: selectPartitions(table.partitioning.type, sel) };
  } catch (err) {
    return { usage: errorMessage(err) };
  }
}

/**
 * Runs a commit of `table` now and turns its queued rows into what the commit did: loaded
 * (with the commit's job and what it read for that partition), up to date, or failed.
 */
export async function commitQueued(ctx: CliContext, engine: Engine, table: string, rows: SyncRow[]): Promise<void> {
  const [c] = await commitTables(engine, { tables: [table], now: true });
  if (!c) return;
  ctx.err(
    `commit ${table}: ${c.outcome}${c.jobId ? ` (job ${c.jobId})` : ''}, ${c.partitions.length} partition(s), ${c.loadJobs} staging load(s), ${c.dmlStatements} DML statement(s)${c.message ? `: ${c.message}` : ''}`,
  );
  for (const [i, r] of rows.entries()) {
    if (r.outcome !== 'queued' || 'error' in r) continue;
    const read = c.reads[r.partition];
    if (c.outcome === 'committed' && c.partitions.includes(r.partition)) {
      // What the partition holds now, as a load's result says it.
      const { state } = await readState(engine.store, engine.config.state, table, r.partition, engine.clock.now());
      rows[i] = {
        ...r,
        outcome: 'loaded',
        jobId: c.jobId,
        objects: state.loaded?.objects ?? 0,
        bytes: state.loaded?.bytes ?? 0,
        rows: state.loaded?.rows ?? null,
        quarantined: state.quarantine,
        jobs: [{ jobId: c.jobId!, kind: 'commit', filesRead: read?.filesRead ?? 0, bytesRead: read?.bytesRead ?? 0 }],
      };
    } else if (c.outcome === 'aborted' && c.partitions.includes(r.partition))
      rows[i] = { table: r.table, partition: r.partition, outcome: 'failed', error: c.message ?? 'commit aborted' };
    else if (c.outcome === 'committed' || c.outcome === 'up-to-date') rows[i] = { ...r, outcome: 'up-to-date' };
  }
}

/** Syncs one partition, waiting while another sync holds it. */
export async function syncWaiting(
  engine: Engine,
  req: Parameters<typeof syncPartition>[1],
  waitMs = 10 * 60_000,
): Promise<SyncResult> {
  const deadline = Date.now() + waitMs;
  for (let delay = 200; ; delay = Math.min(delay * 2, 5_000)) {
    try {
      return await syncPartition(engine, req);
    } catch (err) {
      if (!(err instanceof PartitionBusyError) || Date.now() > deadline) throw err;
      await engine.clock.sleep(delay);
    }
  }
}

export function registerSyncCommand(program: Command, host: CommandHost): void {
  program
    .command('sync')
    .description('sync partitions now through the engine and wait for the result')
    .requiredOption('--table <name>', 'table name from the config')
    .option('--partition <id>', 'partition id (2026112413, 20261124) or ISO time')
    .option('--from <id>', 'first partition of a range (inclusive)')
    .option('--to <id>', 'last partition of a range (inclusive)')
    .option('--force', 'reload even if nothing changed (and retry quarantined files)')
    .option('--json', 'print the results as JSON')
    .action(host.run((ctx, opts: SyncOptions) => runSync(ctx, opts)));
}

async function runSync(ctx: CliContext, opts: SyncOptions): Promise<number> {
  const config = readConfig(ctx);
  const selection = resolveSelection(config, opts.table, opts);
  if ('usage' in selection) {
    ctx.err(selection.usage);
    return 2;
  }
  const { table, partitions } = selection;
  const engine = await openEngine(ctx, config);
  const bar =
    partitions.length > 1 && process.stderr.isTTY && !opts.json
      ? new cliProgress.SingleBar(
          { format: 'sync {bar} {value}/{total} partitions | {partition}', stream: process.stderr },
          cliProgress.Presets.shades_classic,
        )
      : null;
  bar?.start(partitions.length, 0, { partition: '' });
  const results: SyncRow[] = [];
  try {
    for (const partition of partitions) {
      bar?.update({ partition });
      try {
        await engine.warehouse.ensureTable(table.spec);
        results.push(
          await syncWaiting(engine, {
            table: table.name,
            partition,
            force: !!opts.force,
            forceToken: opts.force ? `cli-${Date.now()}` : undefined,
            retryFailed: true,
            reason: opts.force ? 'cli-reload' : 'cli-sync',
          }),
        );
      } catch (err) {
        const hint = err instanceof BudgetExhaustedError ? ' (the daily job budget; raise jobBudget or wait)' : '';
        results.push({ table: table.name, partition, outcome: 'failed', error: errorMessage(err) + hint });
      }
      bar?.increment();
    }
    // A commit-mode dml table: the syncs only queued its partitions; an operator's sync commits them now.
    if (results.some((r) => r.outcome === 'queued')) await commitQueued(ctx, engine, table.name, results);
  } finally {
    bar?.stop();
    await engine.close();
  }
  ctx.out(formatSyncResults(results, { json: !!opts.json }));
  return results.some((r) => r.outcome === 'failed') ? 1 : 0;
}
