/** `tidemark query "SQL"`: runs SQL on the local warehouse (DuckDB; datasets are schemas). */
import type { Command } from 'commander';
import { formatTable, toJson } from '../format.ts';
import { commandLine, localPaths } from '../context.ts';
import type { CommandHost } from '../main.ts';
import { DuckDbWarehouse } from '../../backends/local/duckdb-warehouse.ts';
import { existsSync } from 'node:fs';

export function registerQueryCommand(program: Command, host: CommandHost): void {
  program
    .command('query')
    .description('run read-only SQL on the local warehouse, e.g. tidemark query "SELECT count(*) FROM lake_us.events"')
    .argument('<sql>', 'SQL (DuckDB dialect; tables are dataset.table)')
    .option('--json', 'print rows as JSON')
    .action(
      host.run(async (ctx, sql: string, opts: { json?: boolean }) => {
        if (ctx.options.backend !== 'local') {
          ctx.err('tidemark query runs on the local warehouse only; use the BigQuery console or bq for --backend gcp');
          return 2;
        }
        const paths = localPaths(ctx);
        if (!existsSync(paths.warehouseFile)) {
          ctx.err(
            `no local warehouse at ${paths.warehouseFile} yet: run \`${commandLine(ctx, ['start'])}\` (or \`${commandLine(ctx, ['sync', '--help'])}\`) first`,
          );
          return 1;
        }
        // A config is not needed to query; the warehouse file is enough. Read-only: a query answers
        // and changes nothing (jobs a dead process left RUNNING wait for the next engine).
        const warehouse = new DuckDbWarehouse({
          file: paths.warehouseFile,
          holder: `tidemark query (pid ${process.pid})`,
          readOnly: true,
        });
        try {
          const rows = await warehouse.query(sql);
          ctx.out(opts.json ? toJson(rows) : formatTable(rows));
          return 0;
        } finally {
          await warehouse.close();
        }
      }),
    );
}
