/**
 * esbuild options and plugins for one function: index.js plus, for each package the project's
 * own code loads with import(), a file of its own under lazy/ read only when that import runs.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import * as esbuild from 'esbuild';
import type { BuildOptions, Metafile, Plugin } from 'esbuild';
import { lazyWrapperSource } from './code-cache.ts';
import { BuildError, FRAMEWORK, NODE_MAJOR } from './common.ts';
import type { FunctionEntry } from './discover.ts';
import { BUILTINS, FORBIDDEN_PACKAGES, forbiddenPackagesExternal } from './policy.ts';

/**
 * The CommonJS wrapper that stands for a lazily loaded package inside index.js: esbuild turns
 * the project's `import('pkg')` into `Promise.resolve().then(() => __toESM(require_wrapper()))`,
 * so the package's own file is read, compiled (from its code cache, code-cache.ts) and run only
 * when that import runs, and the importer sees its named exports exactly as in an unsplit bundle (or in Node).
 */
export const LAZY_NAMESPACE = 'tidemark-lazy';

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
        if (args.kind !== 'dynamic-import' || args.namespace !== 'file' || args.importer.includes('/node_modules/'))
          return undefined;
        if (BUILTINS.has(args.path) || args.path === FRAMEWORK || FORBIDDEN_PACKAGES.test(args.path)) return undefined;
        found.set(args.path, lazyFileName(args.path));
        return { path: args.path, namespace: LAZY_NAMESPACE };
      });
      // Through the code-cache loader (code-cache.ts): the lazy file's compiled code comes from the build.
      b.onLoad({ filter: /.*/, namespace: LAZY_NAMESPACE }, (args) => ({
        contents: lazyWrapperSource(found.get(args.path)!),
        loader: 'js',
      }));
      b.onResolve({ filter: /^\.\/lazy\//, namespace: LAZY_NAMESPACE }, (args) => ({
        path: args.path,
        external: true,
      }));
    },
  };
}

/**
 * Packages only a Node older than 22 runs, left out of the bundles: each becomes a module that
 * throws, naming itself, if it is ever evaluated. web-streams-polyfill (72 KiB in every file
 * that carries node-fetch) is required by fetch-blob only when `globalThis.ReadableStream` is
 * missing, which Node 22 always has.
 */
export const UNREACHABLE_ON_NODE22: readonly string[] = ['web-streams-polyfill'];

export const unreachableOnNode22: Plugin = {
  name: 'tidemark-unreachable-on-node22',
  setup(b) {
    const filter = new RegExp(`^(${UNREACHABLE_ON_NODE22.join('|')})(/|$)`);
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'tidemark-unreachable' }));
    b.onLoad({ filter: /.*/, namespace: 'tidemark-unreachable' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path} is left out of the bundle: Node ${NODE_MAJOR} provides what it polyfills (scripts/build/bundle.ts)`)});`,
      loader: 'js',
    }));
  },
};

/**
 * Files of a package that the package only re-exports for its users, never runs itself, and that
 * tidemark does not use: each is replaced by an object that throws, naming the file, when a
 * property of it is read. @google-cloud/pubsub's index.js re-exports `protos`, 736 KiB of
 * generated protobuf classes that @google-cloud/pubsub-api carries again for the actual calls.
 */
export const UNUSED_REEXPORTS: readonly { importer: RegExp; path: string }[] = [
  { importer: /[\\/]@google-cloud[\\/]pubsub[\\/]build[\\/]src[\\/]index\.js$/, path: '../protos/protos' },
];

const unusedReexports: Plugin = {
  name: 'tidemark-unused-reexports',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      const hit = UNUSED_REEXPORTS.find((u) => u.path === args.path && u.importer.test(args.importer));
      return hit ? { path: `${args.importer} -> ${args.path}`, namespace: 'tidemark-unused' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'tidemark-unused' }, (args) => ({
      contents: `module.exports = new Proxy({}, { get(_, key) { if (typeof key === 'symbol') return undefined; throw new Error(${JSON.stringify(`${args.path} is left out of the bundle (scripts/build/bundle.ts, UNUSED_REEXPORTS): read `)} + String(key)); } });`,
      loader: 'js',
    }));
  },
};

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
export function bundleOptions(
  root: string,
  fn: FunctionEntry,
  dir: string,
  lazy = new Map<string, string>(),
): BuildOptions & { metafile: true } {
  return {
    ...commonOptions(root),
    entryPoints: { index: fn.entry },
    outdir: dir,
    plugins: [forbiddenPackagesExternal, unreachableOnNode22, lazyPackages(lazy)],
    metafile: true,
  };
}

/**
 * Packages that each lazy file would otherwise carry a copy of, built once into a file of their
 * own beside the lazy files and required from there. google-auth-library (with its gaxios,
 * gcp-metadata, gtoken) is in Storage, BigQuery and Pub/Sub alike; sharing one copy also makes
 * one GoogleAuth class, so the one auth client shared/runtime/gcp.ts creates is accepted as
 * `authClient` by both Storage and BigQuery (@google-cloud/common checks `instanceof GoogleAuth`).
 * Only the bare package name is shared: a subpath import would load a second copy (none of the
 * clients does that today; the report's duplicate warning would show it).
 */
export const SHARED_PACKAGES: readonly string[] = ['google-auth-library'];

/** Resolves a shared package, from a lazy file, to its own file beside it. */
function sharedPackagesExternal(except: string): Plugin {
  const filter = new RegExp(`^(${SHARED_PACKAGES.map((p) => p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})$`);
  return {
    name: 'tidemark-shared-packages',
    setup(b) {
      b.onResolve({ filter }, (args) =>
        args.path === except
          ? undefined
          : { path: `./${lazyFileName(args.path).slice('lazy/'.length)}`, external: true },
      );
    },
  };
}

/** A lazy package's file as built: its esbuild metafile, the input it starts from, the folder it was built in. */
export interface LazyBuild {
  pkg: string;
  file: string;
  metafile: Metafile;
  entry: string;
}

/**
 * Lazy files already built in this build, by package and file name: a lazy file depends only on
 * the package, so the functions of one build bundle it once and copy it (see buildLazyPackages).
 */
export type LazyBuilds = Map<string, Promise<LazyBuild & { dir: string }>>;

/**
 * Bundles each lazily imported package into its own file beside index.js, and each shared
 * package one of them requires (SHARED_PACKAGES) into one more. With `built` (one per build),
 * a package another function already bundled is copied from that function's folder with its
 * map and legal notices: the bytes are the same (the same options, and every function folder
 * is at the same depth, so the maps' relative source paths are too).
 */
export async function buildLazyPackages(
  root: string,
  dir: string,
  lazy: Map<string, string>,
  built: LazyBuilds = new Map(),
): Promise<LazyBuild[]> {
  const bundleOne = async (pkg: string, file: string) => {
    const result = await esbuild.build({
      ...commonOptions(root),
      entryPoints: [pkg],
      outfile: join(dir, file),
      plugins: [forbiddenPackagesExternal, unreachableOnNode22, unusedReexports, sharedPackagesExternal(pkg)],
      metafile: true,
    });
    const entry = Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.entryPoint ?? pkg;
    return { pkg, file, metafile: result.metafile, entry, dir };
  };
  const one = async (pkg: string, file: string): Promise<LazyBuild> => {
    const key = `${pkg}\0${file}`;
    const first = built.get(key);
    if (!first) {
      const building = bundleOne(pkg, file);
      built.set(key, building);
      const { dir: _dir, ...own } = await building;
      return own;
    }
    const made = await first;
    const outputs: Metafile['outputs'] = {};
    for (const [out, o] of Object.entries(made.metafile.outputs)) {
      const to = join(dir, relative(made.dir, resolve(root, out)));
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(resolve(root, out), to);
      outputs[relative(root, to).split(sep).join('/')] = o;
    }
    return { pkg, file, metafile: { inputs: made.metafile.inputs, outputs }, entry: made.entry };
  };
  const done = await Promise.all([...lazy].map(([pkg, file]) => one(pkg, file)));
  const needed = SHARED_PACKAGES.filter(
    (pkg) =>
      !lazy.has(pkg) &&
      done.some((b) =>
        Object.values(b.metafile.inputs).some((i) =>
          i.imports.some((imp) => imp.external && imp.path === `./${lazyFileName(pkg).slice('lazy/'.length)}`),
        ),
      ),
  );
  return [...done, ...(await Promise.all(needed.map((pkg) => one(pkg, lazyFileName(pkg)))))];
}

/** Turns esbuild's failure into a BuildError naming the function. */
export function esbuildFailure(fn: FunctionEntry, err: unknown): Promise<never> {
  const failure = err as esbuild.BuildFailure;
  if (!failure.errors) throw err;
  return esbuild.formatMessages(failure.errors, { kind: 'error' }).then((text) => {
    throw new BuildError(`functions/${fn.name}: esbuild failed:\n${text.join('')}`);
  });
}
