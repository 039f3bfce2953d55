/**
 * What goes into a function's folder besides the code: the resolved config (validated with the
 * same loader as `tidemark config check`, written as tidemark.config.json) and the deployed
 * package.json pinning functions-framework.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { loadConfig } from '../../shared/config/load.ts';
import { RESOLVED_CONFIG_FILE, serializeConfig } from '../../shared/config/resolved.ts';
import type { Config } from '../../shared/config/types.ts';
import { ConfigError } from '../../shared/core/errors.ts';
import { refreshCachesScript } from './code-cache.ts';
import { BuildError, FRAMEWORK, NODE_MAJOR } from './common.ts';
import type { Env } from './common.ts';
import type { FunctionEntry } from './discover.ts';

export interface ConfigChoice {
  /** Absolute path, or undefined when none exists and --allow-no-config was given. */
  file: string | undefined;
  /** Where the name came from, for messages. */
  from: '--config' | 'TIDEMARK_CONFIG' | 'default';
  /** The path that was looked for. */
  tried: string;
}

/** --config, else TIDEMARK_CONFIG, else ./tidemark.config.yaml. A missing file is a BuildError unless allowed. */
export function resolveConfigFile(opts: {
  config?: string | undefined;
  env: Env;
  cwd: string;
  allowNoConfig?: boolean;
}): ConfigChoice {
  const named = opts.config
    ? { name: opts.config, from: '--config' as const }
    : opts.env.TIDEMARK_CONFIG
      ? { name: opts.env.TIDEMARK_CONFIG, from: 'TIDEMARK_CONFIG' as const }
      : { name: 'tidemark.config.yaml', from: 'default' as const };
  const tried = resolve(opts.cwd, named.name);
  if (existsSync(tried) && statSync(tried).isFile()) return { file: tried, from: named.from, tried };
  if (opts.allowNoConfig) return { file: undefined, from: named.from, tried };
  throw new BuildError(
    `no config: ${tried} (from ${named.from}) does not exist. Every bundle carries its config next to index.js: ` +
      `write tidemark.config.yaml, or pass --config=FILE or TIDEMARK_CONFIG=FILE (--allow-no-config builds without one, for tests).`,
  );
}

/**
 * Validates and resolves the config with the same loader as `tidemark config check` (schema
 * files read and inlined); a config the CLI would refuse fails the build with the same messages.
 */
export function resolveConfigForBuild(configFile: string): Config {
  try {
    return loadConfig({ file: configFile });
  } catch (err) {
    if (err instanceof ConfigError) throw new BuildError(`${err.message}\n(tidemark config check reports the same)`);
    throw err;
  }
}

/** Writes the resolved config into a function's folder as tidemark.config.json; returns its name. */
export function writeResolvedConfig(config: Config, dest: string, root: string): string {
  const source = relative(root, config.file).split(sep).join('/');
  writeFileSync(
    join(dest, RESOLVED_CONFIG_FILE),
    serializeConfig(config, source.startsWith('..') ? config.file : source),
  );
  return RESOLVED_CONFIG_FILE;
}

/** The exact functions-framework version in node_modules: what the deployed package.json pins. */
export function installedFrameworkVersion(root: string): string {
  // The package's `exports` hides package.json: resolve its main and walk up to the manifest.
  for (
    let dir = dirname(createRequire(join(root, 'package.json')).resolve(FRAMEWORK));
    dir !== dirname(dir);
    dir = dirname(dir)
  ) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === FRAMEWORK && pkg.version) return pkg.version;
  }
  throw new BuildError(`${FRAMEWORK} is not installed (npm ci)`);
}

/**
 * The deployed folder's package.json: CommonJS, one exact dependency, and no `build` script (the
 * buildpack would run it). With no lockfile the buildpack runs `npm install`, which resolves that
 * one pinned package. With lazy files, a `gcp-build` script (run by the buildpack instead of
 * `build`) remakes their code caches with the runtime's Node (code-cache.ts).
 */
export function deployPackageJson(
  fn: FunctionEntry,
  version: string,
  frameworkVersion: string,
  lazyFiles: readonly string[] = [],
): Record<string, unknown> {
  return {
    name: `tidemark-${fn.name}`,
    version,
    private: true,
    description: `tidemark ${fn.entryPoint}, bundled by scripts/build.ts (do not edit)`,
    type: 'commonjs',
    main: 'index.js',
    engines: { node: String(NODE_MAJOR) },
    ...(lazyFiles.length ? { scripts: { 'gcp-build': refreshCachesScript(lazyFiles) } } : {}),
    dependencies: { [FRAMEWORK]: frameworkVersion },
  };
}
