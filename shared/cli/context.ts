/**
 * What every CLI command starts from: global options parsed into a config and an engine on the
 * chosen backend. The environment is read here (the CLI's edge) and passed down.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/types.ts';
import { ConfigError } from '../core/errors.ts';
import type { Engine } from '../core/sync.ts';
import { createLogger } from '../log.ts';
import type { Logger } from '../log.ts';
import { defaultLocalPaths } from '../runtime/local-paths.ts';
import type { LocalPaths } from '../runtime/local-paths.ts';
import type { LocalEngine } from '../runtime/local.ts';

export interface GlobalOptions {
  config?: string;
  backend: 'local' | 'gcp';
  lake?: string;
  warehouse?: string;
  verbose?: boolean;
}

export type Env = Record<string, string | undefined>;

export interface CliContext {
  options: GlobalOptions;
  env: Env;
  cwd: string;
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Where the demo config lives when the project has none of its own. */
export const DEMO_CONFIG = '.tidemark/demo/tidemark.config.yaml';

/** The config file this invocation uses: --config, TIDEMARK_CONFIG, ./tidemark.config.yaml, or the demo's. */
export function configPath(ctx: CliContext): string {
  const explicit = ctx.options.config ?? ctx.env.TIDEMARK_CONFIG;
  if (explicit) return resolve(ctx.cwd, explicit);
  const own = resolve(ctx.cwd, 'tidemark.config.yaml');
  if (existsSync(own)) return own;
  return resolve(ctx.cwd, DEMO_CONFIG);
}

export function readConfig(ctx: CliContext): Config {
  const file = configPath(ctx);
  if (!existsSync(file)) {
    throw new ConfigError(file, [
      {
        path: '',
        message:
          'file not found (write tidemark.config.yaml, pass --config, or run `npm start` once to create the demo)',
      },
    ]);
  }
  return loadConfig({ file, env: ctx.env, cwd: ctx.cwd });
}

/** `arg` as one POSIX shell word: unchanged when safe, else single-quoted. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * A tidemark command line to print as a hint, carrying the global flags in effect (--config,
 * --backend, --lake, --warehouse) so it does the same thing when pasted in the same folder.
 * Paths are shown relative to the working directory when inside it.
 */
export function commandLine(ctx: CliContext, args: string[]): string {
  const path = (p: string) => {
    const abs = resolve(ctx.cwd, p);
    const rel = relative(ctx.cwd, abs);
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : abs;
  };
  const flags: string[] = [];
  if (ctx.options.config ?? ctx.env.TIDEMARK_CONFIG) flags.push('--config', path(configPath(ctx)));
  if (ctx.options.backend === 'gcp') flags.push('--backend', 'gcp');
  if (ctx.options.lake) flags.push('--lake', path(ctx.options.lake));
  if (ctx.options.warehouse) flags.push('--warehouse', path(ctx.options.warehouse));
  return ['npx', 'tidemark', ...flags, ...args].map(shellQuote).join(' ');
}

export function localPaths(ctx: CliContext): LocalPaths {
  return defaultLocalPaths(ctx.cwd, {
    ...(ctx.options.lake ? { lakeDir: ctx.options.lake } : {}),
    ...(ctx.options.warehouse ? { warehouseFile: ctx.options.warehouse } : {}),
  });
}

/** Human-facing log lines for the CLI: only warnings and errors unless --verbose. */
export function cliLogger(ctx: CliContext): Logger {
  return createLogger(
    (e) => {
      const { severity, message, ...fields } = e;
      const detail = Object.entries(fields)
        .filter(([, v]) => v !== undefined && v !== null && v !== '')
        .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
        .join(' ');
      ctx.err(`${severity.padEnd(7)} ${message}${detail ? `  ${detail}` : ''}`);
    },
    {},
    ctx.options.verbose ? 'DEBUG' : 'WARNING',
  );
}

/** An engine on the chosen backend. Close it when done (releases the local warehouse). */
export async function openEngine(
  ctx: CliContext,
  config: Config,
  log: Logger = cliLogger(ctx),
  holder = 'tidemark CLI',
): Promise<Engine & { close(): Promise<void> }> {
  if (ctx.options.backend === 'gcp') {
    const { createGcpEngine } = await import('../runtime/gcp.ts');
    return { ...createGcpEngine(ctx.env, config), log, close: async () => {} };
  }
  return openLocalEngine(ctx, config, log, holder);
}

/** The engine on the embedded backends; runtime/local.ts (DuckDB) is imported only here. */
export async function openLocalEngine(
  ctx: CliContext,
  config: Config,
  log: Logger = cliLogger(ctx),
  holder = 'tidemark CLI',
): Promise<LocalEngine> {
  const { createLocalEngine } = await import('../runtime/local.ts');
  return createLocalEngine(config, { paths: localPaths(ctx), log, holder });
}
