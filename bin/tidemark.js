#!/usr/bin/env node
// The `tidemark` command. It runs shared/cli/main.ts without compiling TypeScript at run time:
//
// 1. In a clone with esbuild installed, the CLI is bundled into node_modules/.cache/tidemark-cli/
//    (ESM, one chunk per command module, the small pure-JS packages bundled in, the others left in
//    node_modules) and that JavaScript is
//    run. The bundle is rebuilt (about 70 ms, once) when any source file it was built from has
//    changed, so edits take effect at the next call. This halves start-up CPU against 2.: Node's
//    type stripper (WebAssembly) costs about 60 ms per run for the ~40 files `config check` loads.
// 2. Otherwise, Node >= 22.18 runs the sources as they are (type stripping).
// 3. Node refuses to strip files under node_modules, and older Nodes cannot strip at all: only then
//    is tsx's loader registered.
//
// `npm link` / scripts/link-bin.js symlink this file, so its real path, and the sources', are the
// clone's.
import module from 'node:module';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// V8's code cache for the modules loaded below (in the OS temp folder): later starts skip
// compiling commander, yaml, zod and the CLI again.
module.enableCompileCache?.();

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'shared', 'cli', 'main.ts');
const cache = join(root, 'node_modules', '.cache', 'tidemark-cli');
/** This file, relative to root, as the bundle's inputs record it. */
const self = relative(root, fileURLToPath(import.meta.url))
  .split('\\')
  .join('/');

/**
 * The bundle's main.mjs if every file it records is unchanged, else undefined. It records the
 * project's own sources and, for the packages bundled in (BUNDLED_PACKAGES), npm's record of the
 * installed tree, node_modules/.package-lock.json, which every install rewrites: one stat instead
 * of one per file of zod, yaml and commander.
 */
function freshBundle() {
  try {
    const { inputs } = JSON.parse(readFileSync(join(cache, 'inputs.json'), 'utf8'));
    // A bundle built by an older bin/tidemark.js (which did not record itself) is rebuilt.
    if (!(self in inputs)) return undefined;
    for (const [file, mtimeMs] of Object.entries(inputs))
      if (statSync(join(root, file)).mtimeMs !== mtimeMs) return undefined;
    return join(cache, 'main.mjs');
  } catch {
    return undefined;
  }
}

/**
 * Pure-JavaScript packages `--help` and `config check` load, bundled into the CLI's chunks instead
 * of resolved from node_modules at run time: zod and yaml alone are about 120 ES modules, each
 * resolved, read and compiled by Node's ESM loader on every call. Everything else (DuckDB, the
 * Google clients, Pulumi: native code or large, loaded only by the commands that need them) stays
 * in node_modules.
 */
const BUNDLED_PACKAGES = ['commander', 'zod', 'yaml', 'croner', 'picomatch', 'ms'];
const INSTALLED_TREE = 'node_modules/.package-lock.json';

/** esbuild plugin: every bare import is external except BUNDLED_PACKAGES. */
const externalPackages = {
  name: 'tidemark-cli-external-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:')) return { path: args.path, external: true };
      const name = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0];
      return BUNDLED_PACKAGES.includes(name) ? undefined : { path: args.path, external: true };
    });
  },
};

/** Bundles the CLI into the cache (built aside, then renamed in); undefined without esbuild. */
async function buildBundle() {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    return undefined;
  }
  const tmp = `${cache}.${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { main: entry },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    plugins: [externalPackages],
    // The CommonJS packages bundled in (commander, picomatch, ms) require() Node's builtins.
    banner: {
      js: "import { createRequire as __tidemarkCreateRequire } from 'node:module'; const require = __tidemarkCreateRequire(import.meta.url);",
    },
    outdir: tmp,
    outExtension: { '.js': '.mjs' },
    metafile: true,
    logLevel: 'silent',
  });
  // This file too: it holds the build options.
  const inputs = { [self]: statSync(join(root, self)).mtimeMs };
  for (const file of Object.keys(result.metafile.inputs))
    if (!file.split('/').includes('node_modules')) inputs[file] = statSync(join(root, file)).mtimeMs;
  try {
    inputs[INSTALLED_TREE] = statSync(join(root, INSTALLED_TREE)).mtimeMs;
  } catch {
    // Not installed by npm: the bundled packages' own files are recorded instead.
    for (const file of Object.keys(result.metafile.inputs))
      if (file.split('/').includes('node_modules')) inputs[file] = statSync(join(root, file)).mtimeMs;
  }
  writeFileSync(join(tmp, 'inputs.json'), JSON.stringify({ inputs }));
  // Packages stay external: the chunks import them by name, resolved from the cache's node_modules parent.
  mkdirSync(dirname(cache), { recursive: true });
  try {
    rmSync(cache, { recursive: true, force: true });
    renameSync(tmp, cache);
  } catch {
    // Another call renamed its build in first: it is as fresh as this one.
    rmSync(tmp, { recursive: true, force: true });
  }
  return join(cache, 'main.mjs');
}

let runCli;
// TIDEMARK_CLI_NO_BUNDLE=1 runs the sources (2. or 3.), e.g. to debug with their own line numbers.
const bundle = process.env.TIDEMARK_CLI_NO_BUNDLE
  ? undefined
  : (freshBundle() ?? (await buildBundle().catch(() => undefined)));
if (bundle) {
  ({ runCli } = await import(pathToFileURL(bundle).href));
} else {
  const strips = process.features.typescript === 'strip' || process.features.typescript === 'transform';
  if (
    !strips ||
    relative(root, entry).split(/[\\/]/).includes('node_modules') ||
    root.split(/[\\/]/).includes('node_modules')
  ) {
    const { register } = await import('tsx/esm/api');
    register();
  }
  ({ runCli } = await import(pathToFileURL(entry).href));
}
await runCli(process.argv, process.env);
