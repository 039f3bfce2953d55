/**
 * `tidemark dlq [--replay]`: lists the backfill messages that ran out of delivery attempts, and
 * replays them. Locally they are in .tidemark/dead-letters.json (written by the in-process bus);
 * with --backend gcp they are pulled from the tidemark-backfill-dlq subscription.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { readDeadLetterFile } from '../../backends/local/bus.ts';
import { reportBudgetWaits } from './backfill.ts';
import { formatTable, toJson } from '../format.ts';
import { localPaths, openEngine, readConfig } from '../context.ts';
import type { CliContext } from '../context.ts';
import type { CommandHost } from '../main.ts';
import { createLocalSuite } from '../../runtime/local-suite.ts';
import type { LocalEngine } from '../../runtime/local.ts';

export function registerDlqCommand(program: Command, host: CommandHost): void {
  program
    .command('dlq')
    .description('list dead-lettered backfill messages; --replay publishes them again')
    .option('--replay', 'send them back to the backfill topic')
    .option('--json', 'print as JSON')
    .action(host.run((ctx, opts: { replay?: boolean; json?: boolean }) => runDlq(ctx, opts)));
}

async function runDlq(ctx: CliContext, opts: { replay?: boolean; json?: boolean }): Promise<number> {
  const config = readConfig(ctx);
  if (ctx.options.backend === 'gcp') {
    const { pullDeadLetters } = await import('../../runtime/gcp-dlq.ts');
    const result = await pullDeadLetters(config, { replay: !!opts.replay });
    ctx.out(
      opts.json ? toJson(result.messages) : result.messages.length ? formatTable(result.messages) : 'no dead letters',
    );
    if (opts.replay) ctx.out(`replayed ${result.replayed} message(s) to ${config.topics.backfill}`);
    return 0;
  }
  const file = localPaths(ctx).deadLetterFile;
  const dead = (await readDeadLetterFile(file)).filter((d) => d.topic === config.topics.backfill);
  const rows = dead.map((d) => ({
    id: d.id,
    data: d.data,
    attempts: d.deliveryAttempts,
    error: d.reason,
    published: d.publishTime,
  }));
  ctx.out(opts.json ? toJson(rows) : rows.length ? formatTable(rows) : 'no dead letters');
  if (!opts.replay || dead.length === 0) return 0;
  const engine = (await openEngine(ctx, config)) as LocalEngine;
  const suite = createLocalSuite(engine, { deadLetterFile: `${file}.replay` });
  try {
    // Remove them from the file first: a replay that fails again is dead-lettered afresh.
    const rest = (await readDeadLetterFile(file)).filter((d) => d.topic !== config.topics.backfill);
    writeFileSync(file, JSON.stringify(rest, null, 2));
    for (const d of dead) await suite.bus.publish(config.topics.backfill, [JSON.parse(d.data)], { replayOf: d.id });
    await suite.bus.settled();
    reportBudgetWaits(ctx, config, suite.bus);
    await suite.drain();
    const again = suite.bus.deadLetters(config.topics.backfill);
    if (again.length) writeFileSync(file, JSON.stringify([...rest, ...again], null, 2));
    ctx.out(
      `replayed ${dead.length} message(s): ${dead.length - again.length} handled, ${again.length} dead-lettered again`,
    );
    return again.length ? 1 : 0;
  } finally {
    suite.close();
    await engine.close();
  }
}
