/**
 * `tidemark route <object>`: which table and partition an object goes to, or exactly why none.
 * Exit 0 when it is routed, 1 when it is not (ignored, no table matches, or a date it cannot load).
 */
import type { Command } from 'commander';
import { explainRoute } from '../../routing/explain.ts';
import type { RouteExplanation } from '../../routing/explain.ts';
import { createRouter } from '../../routing/router.ts';
import { readConfig } from '../context.ts';
import type { CommandHost } from '../main.ts';

export function registerRouteCommand(program: Command, host: CommandHost): void {
  program
    .command('route')
    .description('say which table and partition an object goes to, or why none (exit 0 routed, 1 not)')
    .argument('<object>', 'object name in the lake bucket, or gs://bucket/name')
    .option('--json', 'print the explanation as JSON')
    .action(
      host.run(async (ctx, object: string, opts: { json?: boolean }) => {
        const config = readConfig(ctx);
        const m = /^gs:\/\/([^/]+)\/(.*)$/s.exec(object);
        const [bucket, name] = m ? [m[1]!, m[2]!] : [config.lake.bucket, object];
        const explained = explainRoute(config, createRouter(config), bucket, name);
        ctx.out(opts.json ? `${JSON.stringify(explained)}\n` : formatExplanation(bucket, name, explained));
        return explained.kind === 'routed' ? 0 : 1;
      }),
    );
}

/** The text `tidemark route` prints. */
export function formatExplanation(bucket: string, name: string, e: RouteExplanation): string {
  const head = `gs://${bucket}/${name}`;
  if (e.kind === 'routed') {
    return `${head}\n  table      ${e.table}\n  partition  ${e.partition} (UTC ${e.partitionStart})\n  path time  ${e.localTime}\n  loads into ${e.target}\n`;
  }
  if (e.kind === 'ignored') return `${head}\n  not routed: ${e.reason}\n`;
  return `${head}\n  not routed: no table takes it\n${e.tables.map((t) => `  ${t.table}: ${t.reason}\n`).join('')}`;
}
