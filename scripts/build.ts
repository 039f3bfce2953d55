/**
 * Bundles every deployable function. Each folder functions/<name>/ with an index.ts becomes
 * dist/<name>/, a folder `gcloud functions deploy --source` takes as it stands:
 *
 *   index.js              esbuild: CommonJS, minified, node22, everything but functions-framework
 *   lazy/<package>.cjs    a package the project's code loads with import(): its own file, read
 *                         and parsed only when that import() runs (Google's cold-start advice)
 *   lazy/*.cjs.v8cache    V8's code cache of each lazy file, made at build time by running its
 *                         top level (build/code-cache.ts), and lazy/_code-cache.cjs, the loader
 *                         index.js requires lazy files through: bytecode deserialized instead of
 *                         compiled on the first API call, when the runtime's Node is the build's
 *   *.map                 source maps; not loaded at run time (see "Stack traces" below)
 *   package.json          "type": "commonjs", main index.js, engines node 22, one dependency:
 *                         @google-cloud/functions-framework at the installed version, kept out of
 *                         the bundle (a bundled copy has its own registry and the runtime reports
 *                         "Function 'x' is not defined"). No scripts: the buildpack would run
 *                         `build`. No lockfile: the buildpack then runs `npm install`, which
 *                         resolves that one pinned package (a hand-made lockfile would pin its
 *                         transitive versions too, but would have to be regenerated with it).
 *   tidemark.config.json  the config (--config, TIDEMARK_CONFIG or ./tidemark.config.yaml)
 *                         validated and resolved by the loader `tidemark config check` uses,
 *                         schema files inlined: the functions read it with JSON.parse, without
 *                         a YAML parser or zod (neither may be in a bundle)
 *   bundle-report.json    sizes and the largest inputs
 *
 * and dist/<name>.meta.json, esbuild's metafile, beside the folder (not deployed).
 *
 * Functions are discovered from the folders, each matched to its row of the function table
 * (shared/deploy/functions.ts; a folder without a row fails the build); the entry point is the
 * folder's camelCase, and the build checks the bundle registers it. The build fails, naming the import
 * chain, when a bundle pulls in something that must stay local (DuckDB, the local backends and
 * runtime, the CLI, tests, firebase, chokidar, commander, cli-progress, zod, yaml) or a package the
 * platform will not install.
 *
 * Stack traces: the platform runs node without --enable-source-maps, so a trace names
 * index.js:line:column. To read original files and lines, either deploy with
 * `--update-env-vars=NODE_OPTIONS=--enable-source-maps` while debugging (start-up cost is within
 * noise here, but the first stack trace printed took ~170 ms longer: the map is parsed then; the
 * lazy files are then compiled from source, not from their code caches, so that Node maps them), or
 * map a position offline with the .map of the same build:
 *   node -p "new (require('node:module').SourceMap)(JSON.parse(require('node:fs')
 *     .readFileSync('dist/load-on-finalize/index.js.map','utf8'))).findEntry(LINE-1, COL-1)"
 *
 *   npm run build [-- --outdir=DIR] [--config=FILE] [--allow-no-config] [--quiet]
 *
 * The parts, one job each, under scripts/build/: discover.ts (folders matched to the function
 * table), bundle.ts (esbuild options, lazy package files), policy.ts (what may be in a bundle),
 * package.ts (resolved config, deployed package.json), report.ts (sizes), run.ts (one function,
 * all of them). This file is the command line and re-exports them.
 */
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { BuildError } from './build/common.ts';
import type { Env } from './build/common.ts';
import { resolveConfigFile } from './build/package.ts';
import { formatSizeTable } from './build/report.ts';
import { buildAll } from './build/run.ts';

// The parts, re-exported: gen-cloudbuild, infra, the benchmark and the tests import them from here.
export { BuildError, FRAMEWORK, NODE_MAJOR } from './build/common.ts';
export type { Env } from './build/common.ts';
export { discoverFunctions, entryPointName } from './build/discover.ts';
export type { FunctionEntry } from './build/discover.ts';
export { checkHygiene, describeProblems, FORBIDDEN, importChain, registersEntryPoint } from './build/policy.ts';
export type { HygieneProblem } from './build/policy.ts';
export { bundleOptions, lazyFileName } from './build/bundle.ts';
export {
  deployPackageJson,
  installedFrameworkVersion,
  resolveConfigFile,
  resolveConfigForBuild,
  writeResolvedConfig,
} from './build/package.ts';
export type { ConfigChoice } from './build/package.ts';
export { formatBytes, formatSizeTable, metafilePath, packageOf } from './build/report.ts';
export type { BundleResult } from './build/report.ts';
export { buildAll, buildFunction } from './build/run.ts';
export type { BuildRunOptions } from './build/run.ts';

// ---------------------------------------------------------------------------------------------
// Command line

export interface CliOptions {
  outdir: string;
  config: string | undefined;
  allowNoConfig: boolean;
  quiet: boolean;
}

/** Parses build.ts's arguments (argv without node and the script). */
export function parseBuildArgs(args: string[]): CliOptions {
  try {
    const { values } = parseArgs({
      args,
      options: {
        outdir: { type: 'string' },
        config: { type: 'string' },
        'allow-no-config': { type: 'boolean' },
        quiet: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    });
    return {
      outdir: values.outdir ?? 'dist',
      config: values.config,
      allowNoConfig: values['allow-no-config'] ?? false,
      quiet: values.quiet ?? false,
    };
  } catch (err) {
    throw new BuildError(
      `${(err as Error).message}\nusage: build.ts [--outdir=DIR] [--config=FILE] [--allow-no-config] [--quiet]`,
    );
  }
}

/** The build as a command: returns the exit code. */
export async function main(
  args: string[],
  env: Env,
  cwd: string,
  out = (s: string) => process.stdout.write(s + '\n'),
  err = (s: string) => process.stderr.write(s + '\n'),
): Promise<number> {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  try {
    const cli = parseBuildArgs(args);
    const choice = resolveConfigFile({ config: cli.config, env, cwd, allowNoConfig: cli.allowNoConfig });
    if (!choice.file) err(`warning: no config at ${choice.tried}; the bundles carry none (--allow-no-config)`);
    const started = performance.now();
    const results = await buildAll({ root, outdir: resolve(cwd, cli.outdir), configFile: choice.file });
    if (!cli.quiet) {
      for (const r of results) for (const w of r.warnings) err(`warning (${r.fn.name}): ${w}`);
      out(formatSizeTable(results));
      const shown = (p: string) => (relative(cwd, p).startsWith('..') ? p : relative(cwd, p) || '.');
      out(
        `built ${results.length} function(s) into ${shown(resolve(cwd, cli.outdir))} in ${Math.round(performance.now() - started)} ms` +
          (choice.file ? ` with config ${shown(choice.file)}` : ''),
      );
    }
    return 0;
  } catch (e) {
    if (e instanceof BuildError) {
      err(`build failed: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2), process.env, process.cwd());
}
