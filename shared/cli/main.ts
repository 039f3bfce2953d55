/**
 * The `tidemark` command line. `main(argv, env)` parses, runs one command and returns the exit
 * code: 0 ok, 1 something failed, 2 usage or config error.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, errorMessage } from '../core/errors.ts';
import type { CliContext, Env, GlobalOptions } from './context.ts';
import { registerConfigCommands } from './commands/config.ts';
import { registerQueryCommand } from './commands/query.ts';
import { registerQuarantineCommand } from './commands/quarantine.ts';
import { registerStartCommand } from './commands/start.ts';
import { registerSyncCommand } from './commands/sync.ts';
import { registerAuditCommand } from './commands/audit.ts';
import { registerBackfillCommands } from './commands/backfill.ts';
import { registerDlqCommand } from './commands/dlq.ts';
import { registerInfraCommands } from './commands/infra.ts';
import { registerWaiveCommand } from './commands/waive.ts';
import { registerStatusCommand } from './commands/status.ts';

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A command's action: returns its exit code. */
export type Action<A extends unknown[]> = (ctx: CliContext, ...args: A) => Promise<number>;

export interface CommandHost {
  /** Wraps an action so it gets the context and its exit code is kept. */
  run<A extends unknown[]>(action: Action<A>): (...args: A) => Promise<void>;
}

export function buildProgram(env: Env, io: { out: (s: string) => void; err: (s: string) => void }, cwd = process.cwd()): { program: Command; exitCode: () => number } {
  let code: number = EXIT.ok;
  const program = new Command('tidemark')
    .description('Keeps BigQuery partitions in step with a data lake bucket.')
    .addOption(new Option('--config <file>', 'config file (default: $TIDEMARK_CONFIG, ./tidemark.config.yaml, or the demo config)'))
    .addOption(new Option('--backend <backend>', 'where to run').choices(['local', 'gcp']).default('local'))
    .addOption(new Option('--lake <dir>', 'local lake folder (one sub-folder per bucket)'))
    .addOption(new Option('--warehouse <file>', 'local DuckDB warehouse file'))
    .option('-v, --verbose', 'log every step')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError();

  const host: CommandHost = {
    run:
      <A extends unknown[]>(action: Action<A>) =>
      async (...args: A) => {
        const options = program.opts<GlobalOptions>();
        const ctx: CliContext = { options, env, cwd, out: (s) => io.out(s.endsWith('\n') ? s : s + '\n'), err: (s) => io.err(s.endsWith('\n') ? s : s + '\n') };
        code = await action(ctx, ...args);
      },
  };
  registerConfigCommands(program, host);
  registerSyncCommand(program, host);
  registerQueryCommand(program, host);
  registerQuarantineCommand(program, host);
  registerAuditCommand(program, host);
  registerBackfillCommands(program, host);
  registerDlqCommand(program, host);
  registerWaiveCommand(program, host);
  registerStatusCommand(program, host);
  registerInfraCommands(program, host);
  registerStartCommand(program, host);
  return { program, exitCode: () => code };
}

/** Runs the CLI; returns the exit code instead of exiting (tests call this directly). */
export async function main(argv: string[], env: Env, io = { out: (s: string) => void process.stdout.write(s), err: (s: string) => void process.stderr.write(s) }, cwd = process.cwd()): Promise<number> {
  const { program, exitCode } = buildProgram(env, io, cwd);
  try {
    await program.parseAsync(argv);
    return exitCode();
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof ConfigError) {
      io.err(`tidemark: ${err.message}\n`);
      return EXIT.usage;
    }
    io.err(`tidemark: ${errorMessage(err)}\n`);
    return EXIT.failed;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv, process.env);
}
