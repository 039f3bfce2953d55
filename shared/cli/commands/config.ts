/** `tidemark config check`: validates the config and prints each table's resolved route. */
import type { Command } from 'commander';
import { describeRoutes } from '../../config/describe.ts';
import { createRouter } from '../../routing/router.ts';
import { readConfig } from '../context.ts';
import type { CommandHost } from '../main.ts';

export function registerConfigCommands(program: Command, host: CommandHost): void {
  const config = program.command('config').description('inspect the configuration');
  config
    .command('check')
    .description('validate the config file and print each table route')
    .action(
      host.run(async (ctx) => {
        const cfg = readConfig(ctx);
        ctx.out(`${cfg.file}: OK (${cfg.tables.length} table${cfg.tables.length === 1 ? '' : 's'})\n`);
        ctx.out(describeRoutes(cfg, createRouter(cfg)));
        return 0;
      }),
    );
}
