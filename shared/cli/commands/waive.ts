/**
 * `tidemark waive`: accepted gaps. Records partitions the producer will never deliver (with who,
 * when and why) so the auditor classifies them `waived` and the watermark passes them; lists and
 * revokes them. The records live beside the state objects (core/waivers.ts), on the chosen
 * backend's store.
 *
 *   tidemark waive --table T (--partition P | --from A --to B) --reason "..."
 *   tidemark waive --list [--table T] [--json]
 *   tidemark waive --revoke --table T (--partition P | --from A --to B)
 */
import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import { addWaivers, MAX_WAIVER_PARTITIONS, readWaivers, revokeWaivers } from '../../core/waivers.ts';
import type { Waiver } from '../../core/waivers.ts';
import { formatTable, toJson } from '../format.ts';
import { openEngine, readConfig } from '../context.ts';
import type { CliContext } from '../context.ts';
import type { CommandHost } from '../main.ts';
import { resolveSelection } from './sync.ts';

interface WaiveOptions {
  table?: string;
  partition?: string;
  from?: string;
  to?: string;
  reason?: string;
  list?: boolean;
  revoke?: boolean;
  json?: boolean;
}

export function registerWaiveCommand(program: Command, host: CommandHost): void {
  program
    .command('waive')
    .description(
      'accept a gap the producer will never fill: the audit reports it as waived and the watermark passes it',
    )
    .option('--table <name>', 'table name from the config')
    .option('--partition <id>', 'partition id (2026112413, 20261124) or ISO time')
    .option('--from <id>', 'first partition of a range (inclusive)')
    .option('--to <id>', 'last partition of a range (inclusive)')
    .option('--reason <text>', 'why the gap is accepted (required to waive)')
    .option('--list', 'list accepted gaps (of --table, or of every table)')
    .option('--revoke', 'remove the waivers of the selected partitions')
    .option('--json', 'print as JSON (with --list)')
    .action(host.run((ctx, opts: WaiveOptions) => runWaive(ctx, opts)));
}

/** Who is recording a waiver: user@host, from the environment the CLI runs in. */
export function waiverAuthor(ctx: CliContext): string {
  let user = ctx.env.USER ?? ctx.env.USERNAME;
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown';
    }
  }
  return `${user}@${hostname()}`;
}

async function runWaive(ctx: CliContext, opts: WaiveOptions): Promise<number> {
  const usage = (message: string) => {
    ctx.err(`tidemark waive: ${message}`);
    return 2;
  };
  if (opts.list && opts.revoke) return usage('give --list or --revoke, not both');
  const config = readConfig(ctx);
  if (opts.list) {
    if (opts.partition || opts.from || opts.to || opts.reason) return usage('--list takes only --table and --json');
    const tables = opts.table ? config.tables.filter((t) => t.name === opts.table) : config.tables;
    if (opts.table && tables.length === 0)
      return usage(`unknown table "${opts.table}"; tables: ${config.tables.map((t) => t.name).join(', ')}`);
    const engine = await openEngine(ctx, config);
    try {
      const rows: (Waiver & { table: string })[] = [];
      for (const t of tables)
        for (const w of (await readWaivers(engine.store, config.state, t.name)).set.waivers)
          rows.push({ table: t.name, ...w });
      if (opts.json) ctx.out(toJson(rows));
      else if (rows.length === 0) ctx.out('no accepted gaps');
      else
        ctx.out(
          formatTable(
            rows.map((w) => ({
              table: w.table,
              partition: w.partition,
              since: new Date(w.at).toISOString(),
              by: w.by,
              reason: w.reason,
            })),
          ),
        );
      return 0;
    } finally {
      await engine.close();
    }
  }
  if (!opts.table) return usage('give --table T with --partition P or --from A --to B (or --list)');
  if (!opts.revoke && !opts.reason?.trim()) return usage('give --reason "..." (why the gap is accepted)');
  if (opts.revoke && opts.reason) return usage('--revoke takes no --reason');
  const selection = resolveSelection(config, opts.table, opts);
  if ('usage' in selection) return usage(selection.usage);
  const { table, partitions } = selection;
  if (partitions.length > MAX_WAIVER_PARTITIONS)
    return usage(`${partitions.length} partitions selected; at most ${MAX_WAIVER_PARTITIONS} at once`);
  const engine = await openEngine(ctx, config);
  try {
    if (opts.revoke) {
      const removed = await revokeWaivers(engine.store, config.state, table.name, partitions);
      ctx.out(
        `revoked ${removed} waiver(s) of ${table.name}${removed < partitions.length ? ` (${partitions.length - removed} selected partition(s) had none)` : ''}`,
      );
      return 0;
    }
    const by = waiverAuthor(ctx);
    await addWaivers(engine.store, config.state, table.name, partitions, {
      reason: opts.reason!.trim(),
      by,
      at: engine.clock.now(),
    });
    ctx.out(
      `waived ${partitions.length} partition(s) of ${table.name} (${partitions[0]}${partitions.length > 1 ? `..${partitions[partitions.length - 1]}` : ''}) by ${by}: ${opts.reason!.trim()}`,
    );
    return 0;
  } finally {
    await engine.close();
  }
}
