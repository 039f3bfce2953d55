/**
 * `tidemark commit [--table T] [--json]`: commits the dirty partitions of commit-mode dml tables
 * now, on the chosen backend, ignoring their `commit.interval` (what the deployed tick does at
 * most once per interval), and prints one line per table.
 */
import type { Command } from 'commander';
import type { Config } from '../../config/types.ts';
import { commitTables } from '../../core/commit.ts';
import type { CommitResult } from '../../core/commit.ts';
import { errorMessage } from '../../core/errors.ts';
import type { CommitFn } from '../../handlers/commit-tick.ts';
import { formatBytes, formatTable, toJson } from '../format.ts';
import { openEngine, readConfig } from '../context.ts';
import type { CliContext } from '../context.ts';
import type { CommandHost } from '../main.ts';

export interface CommitOptions {
  table?: string;
  json?: boolean;
}

/** The dml tables a `--table` selection names (all of them without one), or a usage message. */
export function selectCommitTables(config: Pick<Config, 'tables'>, table?: string): string[] | { usage: string } {
  const dml = config.tables.filter((t) => t.commit.mode === 'dml').map((t) => t.name);
  if (table === undefined) return dml.length ? dml : { usage: 'no table has commit.mode dml: nothing commits' };
  const found = config.tables.find((t) => t.name === table);
  if (!found) return { usage: `unknown table "${table}"; tables: ${config.tables.map((t) => t.name).join(', ')}` };
  if (found.commit.mode !== 'dml')
    return {
      usage: `table "${table}" has commit.mode ${found.commit.mode}: its loads apply as they come (tidemark sync runs one now)`,
    };
  return [table];
}

/** One row per table: outcome, partitions, what it read from the lake, the jobs and statements it ran. */
export function commitRows(results: readonly CommitResult[]): Record<string, unknown>[] {
  return results.map((r) => ({
    table: r.table,
    outcome: r.outcome,
    partitions: r.partitions.length,
    files: r.filesRead,
    read: formatBytes(r.bytesRead),
    billed: r.bytesBilled === null ? '-' : formatBytes(r.bytesBilled),
    loads: r.loadJobs,
    dml: r.dmlStatements,
    jobId: r.jobId ?? '-',
    ...(r.message ? { detail: r.message } : {}),
  }));
}

export function registerCommitCommand(program: Command, host: CommandHost): void {
  program
    .command('commit')
    .description('commit the dirty partitions of commit-mode dml tables now, in one transaction per table')
    .option('--table <name>', 'one table (default: every table with commit.mode dml)')
    .option('--json', 'print the results as JSON')
    .action(host.run((ctx, opts: CommitOptions) => runCommit(ctx, opts)));
}

/** Runs the commit; exit 0 when every table committed or had nothing to do, 1 when one aborted or failed. */
export async function runCommit(
  ctx: CliContext,
  opts: CommitOptions,
  commit: CommitFn = commitTables,
): Promise<number> {
  const config = readConfig(ctx);
  const tables = selectCommitTables(config, opts.table);
  if ('usage' in tables) {
    ctx.err(tables.usage);
    return 2;
  }
  const engine = await openEngine(ctx, config);
  let results: CommitResult[];
  try {
    results = await commit(engine, { tables, now: true });
  } catch (err) {
    ctx.err(`commit failed: ${errorMessage(err)}`);
    return 1;
  } finally {
    await engine.close();
  }
  ctx.out(opts.json ? toJson(results) : formatTable(commitRows(results)));
  return results.some((r) => r.outcome === 'aborted') ? 1 : 0;
}
