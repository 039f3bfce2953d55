/**
 * Bundles every deployable function. Each folder functions/<name>/ with an index.ts becomes
 * dist/<name>/, a folder `gcloud functions deploy --source` takes as it stands:
 *
 *   index.js              esbuild: CommonJS, minified, node22, everything but functions-framework
 *   lazy/<package>.cjs    a package the project's code loads with import(): its own file, read
 *                         and parsed only when that import() runs (Google's cold-start advice)
 *   *.map                 source maps; not loaded at run time (see "Stack traces" below)
 *   package.json          "type": "commonjs", main index.js, engines node 22, one dependency:
 *                         @google-cloud/functions-framework at the installed version, kept out of
 *                         the bundle (a bundled copy has its own registry and the runtime reports
 *                         "Function 'x' is not defined"). No scripts: the buildpack would run
 *                         `build`. No lockfile: the buildpack then runs `npm install`, which
 *                         resolves that one pinned package (a hand-made lockfile would pin its
 *                         transitive versions too, but would have to be regenerated with it).
 *   tidemark.config.yaml  the config (--config, TIDEMARK_CONFIG or ./tidemark.config.yaml),
 *   schemas/...           validated with the functions' own loader, plus every file it reads
 *   bundle-report.json    sizes and the largest inputs
 *
 * and dist/<name>.meta.json, esbuild's metafile, beside the folder (not deployed).
 *
 * Functions are discovered from the folders, never from a list; the entry point is the folder's
 * camelCase, and the build checks the bundle registers it. The build fails, naming the import
 * chain, when a bundle pulls in something that must stay local (DuckDB, the local backends and
 * runtime, the CLI, tests, firebase, chokidar, commander, cli-progress) or a package the
 * platform will not install.
 *
 * Stack traces: the platform runs node without --enable-source-maps, so a trace names
 * index.js:line:column. To read original files and lines, either deploy with
 * `--update-env-vars=NODE_OPTIONS=--enable-source-maps` while debugging (start-up cost is within
 * noise here, but the first stack trace printed took ~170 ms longer: the map is parsed then), or
 * map a position offline with the .map of the same build:
 *   node -p "new (require('node:module').SourceMap)(JSON.parse(require('node:fs')
 *     .readFileSync('dist/load-on-finalize/index.js.map','utf8'))).findEntry(LINE-1, COL-1)"
 *
 *   npm run build [-- --outdir=DIR] [--config=FILE] [--allow-no-config] [--quiet]
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import type { BuildOptions, Metafile, Plugin } from 'esbuild';
import { parseConfig } from '../shared/config/load.ts';
import { ConfigError } from '../shared/core/errors.ts';

export type Env = Record<string, string | undefined>;

/** The one package a bundle may import at run time; the buildpack installs it. */
export const FRAMEWORK = '@google-cloud/functions-framework';

/** What the platform's Node runtime is. */
export const NODE_MAJOR = 22;

/** A failure the build reports as one clear message, without a stack. */
export class BuildError extends Error {
  override readonly name = 'BuildError';
}

/** One deployable function. */
export interface FunctionEntry {
  /** Folder name under functions/ (kebab-case); also the dist folder and the deployed name. */
  name: string;
  /** The registered function name, camelCase of the folder: the --entry-point. */
  entryPoint: string;
  /** index.ts, relative to the project root (as in the esbuild metafile). */
  entry: string;
}

/** `load-on-finalize` -> `loadOnFinalize`. */
export function entryPointName(folder: string): string {
  return folder.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Every functions/<name>/ with an index.ts, sorted by name. */
export function discoverFunctions(root: string): FunctionEntry[] {
  const dir = join(root, 'functions');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'index.ts')))
    .map((d) => {
      if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(d.name)) {
        throw new BuildError(`functions/${d.name}: folder names are kebab-case (the entry point is their camelCase)`);
      }
      return { name: d.name, entryPoint: entryPointName(d.name), entry: `functions/${d.name}/index.ts` };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

// ---------------------------------------------------------------------------------------------
// Bundle hygiene

/** Inputs that must never reach a deployed bundle, as metafile paths or bare import specifiers. */
export const FORBIDDEN: readonly { pattern: RegExp; why: string }[] = [
  { pattern: /(^|\/)node_modules\/@duckdb\/|^@duckdb\//, why: 'DuckDB is the local warehouse' },
  { pattern: /^shared\/backends\/local\//, why: 'local backends are for npm start, the CLI and tests' },
  { pattern: /^shared\/runtime\/local/, why: 'the local runtime wires the local backends' },
  { pattern: /^shared\/cli\//, why: 'the CLI is not deployed' },
  { pattern: /^test\//, why: 'test code' },
  { pattern: /(^|\/)node_modules\/@?firebase[^/]*\/|^@?firebase/, why: 'firebase is a test dependency' },
  { pattern: /(^|\/)node_modules\/chokidar\/|^chokidar(\/|$)/, why: 'chokidar is the local file watcher' },
  { pattern: /(^|\/)node_modules\/commander\/|^commander(\/|$)/, why: 'commander is the CLI parser' },
  { pattern: /(^|\/)node_modules\/cli-progress\/|^cli-progress(\/|$)/, why: 'cli-progress is for the CLI' },
];

/** Bare specifiers of forbidden packages: resolved as external so esbuild never opens them (DuckDB ships a native addon). */
const FORBIDDEN_PACKAGES = /^(@duckdb\/|@?firebase|chokidar(\/|$)|commander(\/|$)|cli-progress(\/|$))/;

/**
 * zod's `z.locales` namespace re-exports the error messages of ~60 languages (about 260 KiB that
 * every cold start would parse). tidemark uses only the English messages, which zod imports on
 * its own, so the namespace is bundled empty.
 */
const zodWithoutLocales: Plugin = {
  name: 'zod-without-locales',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]/.test(args.importer) ? { path: 'zod-locales', namespace: 'zod-without-locales' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'zod-without-locales' }, () => ({ contents: 'export {};', loader: 'js' }));
  },
};

const forbiddenPackagesExternal: Plugin = {
  name: 'tidemark-forbidden-packages',
  setup(b) {
    b.onResolve({ filter: FORBIDDEN_PACKAGES }, (args) => ({ path: args.path, external: true }));
  },
};

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** The bundle's own lazily loaded package files (see lazyPackages): external, but shipped beside index.js. */
const LAZY_FILE = /^\.\/lazy\/[^/]+\.cjs$/;

/** A problem found in a bundle's metafile: what, why, and the import chain from the entry. */
export interface HygieneProblem {
  input: string;
  why: string;
  chain: string[];
}

/**
 * Walks the metafile's import graph from `entry` and reports every forbidden input and every
 * external import the platform would not provide, each with the chain that pulls it in.
 */
export function checkHygiene(metafile: Metafile, entry: string): HygieneProblem[] {
  const parent = new Map<string, string | null>([[entry, null]]);
  const queue = [entry];
  const problems: HygieneProblem[] = [];
  const chainTo = (node: string): string[] => {
    const chain: string[] = [];
    for (let n: string | null | undefined = node; n != null; n = parent.get(n)) chain.unshift(n);
    return chain;
  };
  const judge = (node: string, external: boolean): string | undefined => {
    const rule = FORBIDDEN.find((f) => f.pattern.test(node));
    if (rule) return rule.why;
    if (external && !BUILTINS.has(node) && node !== FRAMEWORK && !node.startsWith(`${FRAMEWORK}/`) && !LAZY_FILE.test(node)) {
      return `external import: the deployed folder installs only ${FRAMEWORK}`;
    }
    return undefined;
  };
  while (queue.length) {
    const node = queue.shift()!;
    for (const imp of metafile.inputs[node]?.imports ?? []) {
      // `<runtime>`: esbuild's own helpers (keepNames' __name), not a package.
      if (parent.has(imp.path) || imp.path === '<runtime>') continue;
      parent.set(imp.path, node);
      const why = judge(imp.path, imp.external === true);
      if (why) problems.push({ input: imp.path, why, chain: chainTo(imp.path) });
      // Walk on through forbidden inputs too, so what they pull in gets its full chain.
      if (!imp.external) queue.push(imp.path);
    }
  }
  // Inputs the walk did not reach (esbuild bundles nothing unreachable, but be exact).
  for (const input of Object.keys(metafile.inputs)) {
    if (!parent.has(input)) {
      const why = judge(input, false);
      if (why) problems.push({ input, why, chain: [input] });
    }
  }
  return problems;
}

/** The import chain from `entry` to `target` in a metafile (shortest), or undefined. */
export function importChain(metafile: Metafile, entry: string, target: string): string[] | undefined {
  const parent = new Map<string, string | null>([[entry, null]]);
  const queue = [entry];
  while (queue.length) {
    const node = queue.shift()!;
    if (node === target) {
      const chain: string[] = [];
      for (let n: string | null | undefined = node; n != null; n = parent.get(n)) chain.unshift(n);
      return chain;
    }
    for (const imp of metafile.inputs[node]?.imports ?? []) {
      if (!parent.has(imp.path)) {
        parent.set(imp.path, node);
        queue.push(imp.path);
      }
    }
  }
  return undefined;
}

function describeProblems(fn: FunctionEntry, problems: HygieneProblem[]): string {
  const shown = 8;
  const lines = problems.slice(0, shown).map((p) => `  ${p.input} (${p.why})\n    ${p.chain.join('\n      -> ')}`);
  if (problems.length > shown) lines.push(`  ... and ${problems.length - shown} more: ${problems.slice(shown).map((p) => p.input).join(', ')}`);
  return `functions/${fn.name}: the bundle must not contain:\n${lines.join('\n')}`;
}

// ---------------------------------------------------------------------------------------------
// Config

export interface ConfigChoice {
  /** Absolute path, or undefined when none exists and --allow-no-config was given. */
  file: string | undefined;
  /** Where the name came from, for messages. */
  from: '--config' | 'TIDEMARK_CONFIG' | 'default';
  /** The path that was looked for. */
  tried: string;
}

/** --config, else TIDEMARK_CONFIG, else ./tidemark.config.yaml. A missing file is a BuildError unless allowed. */
export function resolveConfigFile(opts: { config?: string | undefined; env: Env; cwd: string; allowNoConfig?: boolean }): ConfigChoice {
  const named = opts.config ? { name: opts.config, from: '--config' as const } : opts.env.TIDEMARK_CONFIG ? { name: opts.env.TIDEMARK_CONFIG, from: 'TIDEMARK_CONFIG' as const } : { name: 'tidemark.config.yaml', from: 'default' as const };
  const tried = resolve(opts.cwd, named.name);
  if (existsSync(tried) && statSync(tried).isFile()) return { file: tried, from: named.from, tried };
  if (opts.allowNoConfig) return { file: undefined, from: named.from, tried };
  throw new BuildError(
    `no config: ${tried} (from ${named.from}) does not exist. Every bundle carries its config next to index.js: ` +
      `write tidemark.config.yaml, or pass --config=FILE or TIDEMARK_CONFIG=FILE (--allow-no-config builds without one, for tests).`,
  );
}

/**
 * Validates the config with the functions' own loader and returns the files it reads besides
 * the config (table schemas), relative to the config's folder. Recording what the loader reads,
 * rather than guessing keys, keeps this right when the config grows new file references.
 */
export function referencedFiles(configFile: string): string[] {
  const dir = dirname(configFile);
  const read: string[] = [];
  try {
    parseConfig(readFileSync(configFile, 'utf8'), configFile, (path) => {
      read.push(path);
      return readFileSync(path, 'utf8');
    });
  } catch (err) {
    if (err instanceof ConfigError) throw new BuildError(`${err.message}\n(the functions would refuse this config at start-up)`);
    throw err;
  }
  return [...new Set(read)].map((abs) => {
    const rel = relative(dir, resolve(dir, abs));
    if (rel.startsWith('..') || isAbsolute(rel)) {
      throw new BuildError(`${configFile}: ${abs} is outside the config's folder, so the deployed function could not read it. Keep schema files beside the config.`);
    }
    return rel.split(sep).join('/');
  });
}

/** Copies the config as tidemark.config.yaml plus its schemas, keeping their relative paths. */
export function copyConfigInto(configFile: string, dest: string, refs: string[] = referencedFiles(configFile)): string[] {
  const copied = ['tidemark.config.yaml'];
  copyFileSync(configFile, join(dest, 'tidemark.config.yaml'));
  for (const rel of refs) {
    mkdirSync(dirname(join(dest, rel)), { recursive: true });
    copyFileSync(join(dirname(configFile), rel), join(dest, rel));
    copied.push(rel);
  }
  return copied;
}

// ---------------------------------------------------------------------------------------------
// Bundling

/**
 * The CommonJS wrapper that stands for a lazily loaded package inside index.js: esbuild turns
 * the project's `import('pkg')` into `Promise.resolve().then(() => __toESM(require_wrapper()))`,
 * so the package's own file is read, parsed and run only when that import runs, and the
 * importer sees its named exports exactly as in an unsplit bundle (or in Node).
 */
const LAZY_NAMESPACE = 'tidemark-lazy';

/** `@google-cloud/pubsub` -> `lazy/google-cloud-pubsub.cjs`. */
export function lazyFileName(pkg: string): string {
  return `lazy/${pkg.replace(/^@/, '').replace(/[^A-Za-z0-9._-]+/g, '-')}.cjs`;
}

/**
 * Every bare package the project's own code imports with import() becomes its own file, found
 * here and bundled by buildLazyPackages. Dynamic imports inside node_modules stay in index.js
 * (esbuild's ordinary lazy evaluation), and so does a package that is also imported statically.
 */
function lazyPackages(found: Map<string, string>): Plugin {
  return {
    name: 'tidemark-lazy-packages',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.kind !== 'dynamic-import' || args.namespace !== 'file' || args.importer.includes('/node_modules/')) return undefined;
        if (BUILTINS.has(args.path) || args.path === FRAMEWORK || FORBIDDEN_PACKAGES.test(args.path)) return undefined;
        found.set(args.path, lazyFileName(args.path));
        return { path: args.path, namespace: LAZY_NAMESPACE };
      });
      b.onLoad({ filter: /.*/, namespace: LAZY_NAMESPACE }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(`./${found.get(args.path)!}`)});`,
        loader: 'js',
      }));
      b.onResolve({ filter: /^\.\/lazy\//, namespace: LAZY_NAMESPACE }, (args) => ({ path: args.path, external: true }));
    },
  };
}

/** What every output file shares: Node 22, CommonJS, minified, with source maps. */
function commonOptions(root: string): BuildOptions {
  return {
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    target: `node${NODE_MAJOR}`,
    // CommonJS: functions-framework require()s it directly, the Google clients are CommonJS,
    // and esbuild's CommonJS interop is the well-trodden path. (ESM with splitting would also
    // split lazy imports into files, but a split dynamic import of a CommonJS package yields
    // only `default`, esbuild#3245, which breaks gaxios's import('https-proxy-agent').)
    format: 'cjs',
    minify: true,
    // Error classes set `this.name = new.target.name`; the logs' errorType needs real names.
    keepNames: true,
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'linked',
    external: [FRAMEWORK],
    metafile: true,
    logLevel: 'silent',
  };
}

/**
 * esbuild options for one function's index.js in `dir`; `lazy` collects the packages the
 * project imports dynamically. The benchmark reuses these for its unbundled baseline.
 */
export function bundleOptions(root: string, fn: FunctionEntry, dir: string, lazy = new Map<string, string>()): BuildOptions & { metafile: true } {
  return {
    ...commonOptions(root),
    entryPoints: { index: fn.entry },
    outdir: dir,
    plugins: [forbiddenPackagesExternal, zodWithoutLocales, lazyPackages(lazy)],
    metafile: true,
  };
}

/** Bundles each lazily imported package into its own file beside index.js. */
async function buildLazyPackages(root: string, dir: string, lazy: Map<string, string>): Promise<{ pkg: string; file: string; metafile: Metafile; entry: string }[]> {
  return Promise.all(
    [...lazy].map(async ([pkg, file]) => {
      const result = await esbuild.build({ ...commonOptions(root), entryPoints: [pkg], outfile: join(dir, file), plugins: [forbiddenPackagesExternal], metafile: true });
      const entry = Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.entryPoint ?? pkg;
      return { pkg, file, metafile: result.metafile, entry };
    }),
  );
}

/** What one bundle came to. */
export interface BundleResult {
  fn: FunctionEntry;
  dir: string;
  bytes: {
    /** index.js: read and parsed at every cold start. */
    eager: number;
    /** index.js and the lazily loaded package files. */
    total: number;
    /** Source maps. */
    maps: number;
  };
  /** Top inputs of index.js by bytes. */
  inputs: { path: string; bytes: number }[];
  /** Top packages of index.js by bytes. */
  packages: { name: string; bytes: number }[];
  /** Package files loaded by the import() that needs them. */
  lazy: { pkg: string; file: string; bytes: number }[];
  files: string[];
  warnings: string[];
}

/** The npm package an input belongs to (`@scope/name` or `name`), or `(project)`. */
export function packageOf(input: string): string {
  const at = input.lastIndexOf('node_modules/');
  if (at < 0) return '(project)';
  const [first = '', second = ''] = input.slice(at + 'node_modules/'.length).split('/');
  return first.startsWith('@') ? `${first}/${second}` : first;
}

/** The exact functions-framework version in node_modules: what the deployed package.json pins. */
export function installedFrameworkVersion(root: string): string {
  // The package's `exports` hides package.json: resolve its main and walk up to the manifest.
  for (let dir = dirname(createRequire(join(root, 'package.json')).resolve(FRAMEWORK)); dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === FRAMEWORK && pkg.version) return pkg.version;
  }
  throw new BuildError(`${FRAMEWORK} is not installed (npm ci)`);
}

/**
 * The deployed folder's package.json: CommonJS, one exact dependency, and no scripts (the
 * buildpack would run a `build` script). With no lockfile the buildpack runs `npm install`,
 * which resolves that one pinned package.
 */
export function deployPackageJson(fn: FunctionEntry, version: string, frameworkVersion: string): Record<string, unknown> {
  return {
    name: `tidemark-${fn.name}`,
    version,
    private: true,
    description: `tidemark ${fn.entryPoint}, bundled by scripts/build.ts (do not edit)`,
    type: 'commonjs',
    main: 'index.js',
    engines: { node: String(NODE_MAJOR) },
    dependencies: { [FRAMEWORK]: frameworkVersion },
  };
}

/**
 * Whether `code` registers `entryPoint` with cloudEvent() (or http(), the status page). Minified CommonJS reads
 * `(0,x.cloudEvent)("auditGaps",`; minified ESM imports the function under another name
 * (`import{cloudEvent as R}from"@google-cloud/functions-framework"` then `R("auditGaps",`).
 */
export function registersEntryPoint(code: string, entryPoint: string): boolean {
  const esc = (s: string) => s.replace(/[$]/g, '\\$&');
  const from = String.raw`from\s*["']@google-cloud/functions-framework["']`;
  const callees = [String.raw`\b(?:cloudEvent|http)\)?`];
  for (const m of code.matchAll(new RegExp(String.raw`import\s*\{([^}]*)\}\s*${from}`, 'g'))) {
    for (const spec of m[1]!.split(',')) {
      const [imported, local] = spec.trim().split(/\s+as\s+/);
      if (imported === 'cloudEvent' || imported === 'http') callees.push(String.raw`(?<![\w$.])${esc(local ?? imported)}`);
    }
  }
  for (const m of code.matchAll(new RegExp(String.raw`import\s*\*\s*as\s*([\w$]+)\s*${from}`, 'g'))) callees.push(String.raw`(?<![\w$.])${esc(m[1]!)}\.(?:cloudEvent|http)`);
  return new RegExp(String.raw`(?:${callees.join('|')})\(\s*(["'\`])${esc(entryPoint)}\1`).test(code);
}

export interface BuildRunOptions {
  root: string;
  outdir: string;
  /** From resolveConfigFile; undefined: no config in the bundles. */
  configFile: string | undefined;
  /** referencedFiles(configFile), computed once by buildAll. */
  configRefs?: string[];
}

/** Where the build leaves a function's esbuild metafile: outdir/<name>.meta.json. */
export function metafilePath(outdir: string, fn: Pick<FunctionEntry, 'name'>): string {
  return join(outdir, `${fn.name}.meta.json`);
}

function topBy<K extends string>(entries: Map<string, number>, key: K, n: number): ({ [P in K]: string } & { bytes: number })[] {
  return [...entries]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, bytes]) => ({ [key]: name, bytes }) as { [P in K]: string } & { bytes: number });
}

function esbuildFailure(fn: FunctionEntry, err: unknown): Promise<never> {
  const failure = err as esbuild.BuildFailure;
  if (!failure.errors) throw err;
  return esbuild.formatMessages(failure.errors, { kind: 'error' }).then((text) => {
    throw new BuildError(`functions/${fn.name}: esbuild failed:\n${text.join('')}`);
  });
}

/** Builds one function into outdir/<name>/ (the folder is replaced). */
export async function buildFunction(opts: BuildRunOptions, fn: FunctionEntry, frameworkVersion: string, version: string): Promise<BundleResult> {
  const dir = join(opts.outdir, fn.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const lazyFound = new Map<string, string>();
  const result = await esbuild.build(bundleOptions(opts.root, fn, dir, lazyFound)).catch((err: unknown) => esbuildFailure(fn, err));
  const { metafile } = result;
  // Only the lazy packages whose import() survived tree shaking get a file.
  const kept = new Set(Object.values(metafile.outputs).flatMap((o) => Object.keys(o.inputs)));
  for (const pkg of lazyFound.keys()) if (!kept.has(`${LAZY_NAMESPACE}:${pkg}`)) lazyFound.delete(pkg);
  const lazy = await buildLazyPackages(opts.root, dir, lazyFound).catch((err: unknown) => esbuildFailure(fn, err));

  const problems = checkHygiene(metafile, fn.entry);
  for (const l of lazy) {
    // Report a lazy package's problems with the chain through the import() that loads it.
    const importer = Object.entries(metafile.inputs).find(([, i]) => i.imports.some((imp) => imp.path === `${LAZY_NAMESPACE}:${l.pkg}`))?.[0];
    const via = [...(importer ? (importChain(metafile, fn.entry, importer) ?? [importer]) : [fn.entry]), `import('${l.pkg}') -> ${l.file}`];
    for (const p of checkHygiene(l.metafile, l.entry)) problems.push({ ...p, chain: [...via, ...p.chain] });
  }
  if (problems.length) throw new BuildError(describeProblems(fn, problems));

  if (!registersEntryPoint(readFileSync(join(dir, 'index.js'), 'utf8'), fn.entryPoint)) {
    throw new BuildError(
      `functions/${fn.name}: the bundle does not register "${fn.entryPoint}" (expected cloudEvent('${fn.entryPoint}', ...) in ${fn.entry}); ` +
        `the deploy uses --entry-point=${fn.entryPoint}, derived from the folder name.`,
    );
  }

  writeFileSync(join(dir, 'package.json'), JSON.stringify(deployPackageJson(fn, version, frameworkVersion), null, 2) + '\n');
  const configFiles = opts.configFile ? copyConfigInto(opts.configFile, dir, opts.configRefs) : [];

  const inDir = (out: string) => relative(dir, resolve(opts.root, out)).split(sep).join('/');
  const sizeOf = (m: Metafile, ext: string) => Object.entries(m.outputs).reduce((n, [out, o]) => n + (out.endsWith(ext) ? o.bytes : 0), 0);
  const eager = sizeOf(metafile, '.js');
  const warnings = (await esbuild.formatMessages(result.warnings, { kind: 'warning' })).map((w) => w.trim());
  const byInput = new Map<string, number>();
  const byPackage = new Map<string, number>();
  for (const o of Object.values(metafile.outputs)) {
    for (const [input, i] of Object.entries(o.inputs)) {
      byInput.set(input, (byInput.get(input) ?? 0) + i.bytesInOutput);
      byPackage.set(packageOf(input), (byPackage.get(packageOf(input)) ?? 0) + i.bytesInOutput);
    }
  }
  for (const l of lazy) {
    if (byPackage.has(l.pkg)) warnings.push(`${l.pkg} is imported both statically and with import(): the import() loads a second copy (${l.file}); make every import of it one kind`);
  }
  const lazySizes = lazy.map((l) => ({ pkg: l.pkg, file: l.file, bytes: sizeOf(l.metafile, '.cjs') }));
  const bytes = {
    eager,
    total: eager + lazySizes.reduce((n, l) => n + l.bytes, 0),
    maps: sizeOf(metafile, '.map') + lazy.reduce((n, l) => n + sizeOf(l.metafile, '.map'), 0),
  };
  const outputs = [...Object.keys(metafile.outputs), ...lazy.flatMap((l) => Object.keys(l.metafile.outputs))].map(inDir);
  const legal = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.LEGAL.txt'));
  const bundle: BundleResult = {
    fn,
    dir,
    bytes,
    inputs: topBy(byInput, 'path', 20),
    packages: topBy(byPackage, 'name', 20),
    lazy: lazySizes,
    files: [...new Set([...outputs, ...legal.map((f) => f.split(sep).join('/')), 'package.json', ...configFiles])].sort(),
    warnings,
  };
  const report = {
    function: fn.name,
    entryPoint: fn.entryPoint,
    format: 'cjs',
    framework: `${FRAMEWORK}@${frameworkVersion} (external, installed by the buildpack)`,
    bytes,
    topInputs: bundle.inputs,
    topPackages: bundle.packages,
    lazyPackages: lazySizes,
    files: bundle.files,
    warnings,
  };
  writeFileSync(join(dir, 'bundle-report.json'), JSON.stringify(report, null, 2) + '\n');
  // The whole metafile (index.js and the lazy files merged), beside the deployed folder, not in
  // it: for the tests and for esbuild's bundle analyzer.
  const merged: Metafile = { inputs: { ...metafile.inputs }, outputs: { ...metafile.outputs } };
  for (const l of lazy) Object.assign(merged.inputs, l.metafile.inputs), Object.assign(merged.outputs, l.metafile.outputs);
  writeFileSync(metafilePath(opts.outdir, fn), JSON.stringify(merged));
  return bundle;
}

/** Builds every discovered function. */
export async function buildAll(opts: BuildRunOptions): Promise<BundleResult[]> {
  const fns = discoverFunctions(opts.root);
  if (!fns.length) throw new BuildError(`no functions: no functions/<name>/index.ts under ${opts.root}`);
  const frameworkVersion = installedFrameworkVersion(opts.root);
  const version = (JSON.parse(readFileSync(join(opts.root, 'package.json'), 'utf8')) as { version: string }).version;
  // Validate the config once, before any bundling: a config the functions would refuse fails here.
  const configRefs = opts.configFile ? referencedFiles(opts.configFile) : [];
  mkdirSync(opts.outdir, { recursive: true });
  // Build them all, then report every failure, not only the first.
  const settled = await Promise.allSettled(fns.map((fn) => buildFunction({ ...opts, configRefs }, fn, frameworkVersion, version)));
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  if (failures.length) {
    const plain = failures.every((f) => f instanceof BuildError);
    throw plain ? new BuildError(failures.map((f) => (f as BuildError).message).join('\n\n')) : failures[0];
  }
  return settled.map((s) => (s as PromiseFulfilledResult<BundleResult>).value);
}

export function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

/** The size table printed after a build. */
export function formatSizeTable(results: BundleResult[]): string {
  const rows = [
    ['function', 'entry point', 'index.js', 'with lazy files', 'maps', 'largest package in index.js', 'loaded by import()'],
    ...results.map((r) => [
      r.fn.name,
      r.fn.entryPoint,
      formatBytes(r.bytes.eager),
      formatBytes(r.bytes.total),
      formatBytes(r.bytes.maps),
      r.packages[0] ? `${r.packages[0].name} ${formatBytes(r.packages[0].bytes)}` : '',
      r.lazy.map((l) => `${l.pkg} ${formatBytes(l.bytes)}`).join(', '),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

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
    return { outdir: values.outdir ?? 'dist', config: values.config, allowNoConfig: values['allow-no-config'] ?? false, quiet: values.quiet ?? false };
  } catch (err) {
    throw new BuildError(`${(err as Error).message}\nusage: build.ts [--outdir=DIR] [--config=FILE] [--allow-no-config] [--quiet]`);
  }
}

/** The build as a command: returns the exit code. */
export async function main(args: string[], env: Env, cwd: string, out = (s: string) => process.stdout.write(s + '\n'), err = (s: string) => process.stderr.write(s + '\n')): Promise<number> {
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
      out(`built ${results.length} function(s) into ${shown(resolve(cwd, cli.outdir))} in ${Math.round(performance.now() - started)} ms` + (choice.file ? ` with config ${shown(choice.file)}` : ''));
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
