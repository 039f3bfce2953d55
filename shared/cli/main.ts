/**
 * The `tidemark` command line. `main(argv, env)` parses, runs one command and returns the exit
 * code: 0 ok, 1 something failed, 2 usage or config error.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, errorMessage } from '../core/errors.ts';
import { checkGcpCredentials } from './gcp-credentials.ts';
import type { CliContext, Env, GlobalOptions } from './context.ts';

/** Registers one command module's commands on the program. */
type Register = (program: Command, host: CommandHost) => void;

/**
 * Every command module, with the top-level commands it adds and their one-line summaries. Only
 * the module of the command being run is imported (the others pull in DuckDB, chokidar, the
 * Google clients); for top-level help the rest appear as these summaries. A test checks they
 * match the modules' own descriptions.
 */
export const COMMAND_MODULES: readonly { commands: Record<string, string>; load: () => Promise<Register> }[] = [
  {
    commands: { config: 'inspect the configuration' },
    load: async () => (await import('./commands/config.ts')).registerConfigCommands,
  },
  {
    commands: { route: 'say which table and partition an object goes to, or why none (exit 0 routed, 1 not)' },
    load: async () => (await import('./commands/route.ts')).registerRouteCommand,
  },
  {
    commands: { sync: 'sync partitions now through the engine and wait for the result' },
    load: async () => (await import('./commands/sync.ts')).registerSyncCommand,
  },
  {
    commands: { commit: 'commit the dirty partitions of commit-mode dml tables now, in one transaction per table' },
    load: async () => (await import('./commands/commit.ts')).registerCommitCommand,
  },
  {
    commands: {
      query: 'run read-only SQL on the local warehouse, e.g. tidemark query "SELECT count(*) FROM lake_us.events"',
    },
    load: async () => (await import('./commands/query.ts')).registerQueryCommand,
  },
  {
    commands: {
      quarantine:
        'list quarantined source files (rejected by the warehouse, excluded until rewritten or force-reloaded)',
    },
    load: async () => (await import('./commands/quarantine.ts')).registerQuarantineCommand,
  },
  {
    commands: {
      audit:
        'compare lake and warehouse now, publish backfills for missing/stale/failed partitions, print the classification',
    },
    load: async () => (await import('./commands/audit.ts')).registerAuditCommand,
  },
  {
    commands: {
      backfill: 'publish one backfill message per partition in a range',
      reload: 'force-reload one partition (a backfill message with force: true)',
    },
    load: async () => (await import('./commands/backfill.ts')).registerBackfillCommands,
  },
  {
    commands: { dlq: 'list dead-lettered backfill messages; --replay publishes them again' },
    load: async () => (await import('./commands/dlq.ts')).registerDlqCommand,
  },
  {
    commands: {
      waive: 'accept a gap the producer will never fill: the audit reports it as waived and the watermark passes it',
    },
    load: async () => (await import('./commands/waive.ts')).registerWaiveCommand,
  },
  {
    commands: {
      status: 'every table at a glance: freshness, watermark, partition classes, job budget, quarantine, dead letters',
    },
    load: async () => (await import('./commands/status.ts')).registerStatusCommand,
  },
  {
    commands: { infra: 'create or repair the Google Cloud resources tidemark needs (a Pulumi program)' },
    load: async () => (await import('./commands/infra.ts')).registerInfraCommands,
  },
  {
    commands: { start: 'run the suite locally: demo lake, folder watcher, loader (what `npm start` runs)' },
    load: async () => (await import('./commands/start.ts')).registerStartCommand,
  },
];

/** Global options that take a value (their value is not the command name). */
const VALUED_OPTIONS = new Set(['--config', '--backend', '--lake', '--warehouse']);

/** The command named in argv (after `help`, the command help is asked for), or undefined. */
export function commandIn(argv: readonly string[]): string | undefined {
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (VALUED_OPTIONS.has(a)) i++;
    else if (!a.startsWith('-')) return a === 'help' ? (args.slice(i + 1).find((x) => !x.startsWith('-')) ?? a) : a;
  }
  return undefined;
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Commands that never call Google Cloud, whatever --backend says. */
const LOCAL_ONLY_COMMANDS = new Set(['config', 'query', 'start', 'route', 'help']);

/** A command's action: returns its exit code. */
export type Action<A extends unknown[]> = (ctx: CliContext, ...args: A) => Promise<number>;

export interface CommandHost {
  /** Wraps an action so it gets the context and its exit code is kept. */
  run<A extends unknown[]>(action: Action<A>): (...args: A) => Promise<void>;
}

/**
 * The program for `argv`: the module of the command it names is loaded and registered; every
 * other command is a stub carrying its summary, enough for help and for commander's errors.
 * `loadAll` registers every module (tests of the whole surface).
 */
export async function buildProgram(
  env: Env,
  io: { out: (s: string) => void; err: (s: string) => void },
  cwd = process.cwd(),
  argv: readonly string[] = [],
  loadAll = false,
): Promise<{ program: Command; exitCode: () => number }> {
  let code: number = EXIT.ok;
  const program = new Command('tidemark')
    .description('Keeps BigQuery partitions in step with a data lake bucket.')
    .addOption(
      new Option(
        '--config <file>',
        'config file (default: $TIDEMARK_CONFIG, ./tidemark.config.yaml, or the demo config)',
      ),
    )
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
        const ctx: CliContext = {
          options,
          env,
          cwd,
          out: (s) => io.out(s.endsWith('\n') ? s : s + '\n'),
          err: (s) => io.err(s.endsWith('\n') ? s : s + '\n'),
        };
        code = await action(ctx, ...args);
      },
  };
  // --backend gcp: credentials are checked once, before any command builds a client.
  program.hook('preAction', async (_root, command) => {
    let top = command;
    while (top.parent && top.parent !== program) top = top.parent;
    if (program.opts<GlobalOptions>().backend === 'gcp' && !LOCAL_ONLY_COMMANDS.has(top.name()))
      await checkGcpCredentials(env);
  });
  const wanted = commandIn(argv);
  for (const mod of COMMAND_MODULES) {
    if (loadAll || (wanted !== undefined && Object.hasOwn(mod.commands, wanted))) (await mod.load())(program, host);
    else for (const [name, summary] of Object.entries(mod.commands)) program.command(name).description(summary);
  }
  return { program, exitCode: () => code };
}

/** Runs the CLI; returns the exit code instead of exiting (tests call this directly). */
export async function main(
  argv: string[],
  env: Env,
  io = { out: (s: string) => void process.stdout.write(s), err: (s: string) => void process.stderr.write(s) },
  cwd = process.cwd(),
): Promise<number> {
  const { program, exitCode } = await buildProgram(env, io, cwd, argv);
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

/**
 * The process entry (bin/tidemark.js, `npm start`): runs main and sets the exit code. A client
 * library's promise that nobody awaits ends the CLI with one line and exit 1, not a stack trace.
 */
export async function runCli(argv: string[] = process.argv, env: Env = process.env): Promise<void> {
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`tidemark: ${errorMessage(err).split('\n')[0]}\n`);
    process.exit(EXIT.failed);
  });
  process.exitCode = await main(argv, env);
}

if (import.meta.url === `file://${process.argv[1]}`) await runCli();
