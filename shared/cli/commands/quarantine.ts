/** `tidemark quarantine`: the files excluded from loads, with the error that put them there. */
import type { Command } from 'commander';
import { listQuarantine } from '../../core/quarantine.ts';
import { formatTable, toJson } from '../format.ts';
import { openEngine, readConfig } from '../context.ts';
import type { CommandHost } from '../main.ts';

export function registerQuarantineCommand(program: Command, host: CommandHost): void {
  program
    .command('quarantine')
    .description(
      'list quarantined source files (rejected by the warehouse, excluded until rewritten or force-reloaded)',
    )
    .option('--table <name>', 'only this table')
    .option('--json', 'print as JSON')
    .action(
      host.run(async (ctx, opts: { table?: string; json?: boolean }) => {
        const config = readConfig(ctx);
        const tables = opts.table ? config.tables.filter((t) => t.name === opts.table) : config.tables;
        if (opts.table && tables.length === 0) {
          ctx.err(`unknown table "${opts.table}"`);
          return 2;
        }
        const engine = await openEngine(ctx, config);
        try {
          const entries = await listQuarantine(
            engine.store,
            config.state,
            tables.map((t) => t.name),
          );
          if (opts.json) ctx.out(toJson(entries));
          else if (entries.length === 0) ctx.out('no quarantined files');
          else
            ctx.out(
              formatTable(
                entries.map((e) => ({
                  table: e.table,
                  partition: e.partition,
                  object: e.name,
                  generation: e.generation,
                  since: new Date(e.at).toISOString(),
                  error: e.error.replace(/\s+/g, ' '),
                })),
                undefined,
                'full text: --json',
              ),
            );
          return 0;
        } finally {
          await engine.close();
        }
      }),
    );
}
