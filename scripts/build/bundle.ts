/**
 * esbuild options and plugins for one function: index.js plus, for each package the project's
 * own code loads with import(), a file of its own under lazy/ read only when that import runs.
 */
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import type { BuildOptions, Metafile, Plugin } from 'esbuild';
import { BuildError, FRAMEWORK, NODE_MAJOR } from './common.ts';
import type { FunctionEntry } from './discover.ts';
import { BUILTINS, FORBIDDEN_PACKAGES, forbiddenPackagesExternal } from './policy.ts';

/**
 * The CommonJS wrapper that stands for a lazily loaded package inside index.js: esbuild turns
 * the project's `import('pkg')` into `Promise.resolve().then(() => __toESM(require_wrapper()))`,
 * so the package's own file is read, parsed and run only when that import runs, and the
 * importer sees its named exports exactly as in an unsplit bundle (or in Node).
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
    plugins: [forbiddenPackagesExternal, lazyPackages(lazy)],
    metafile: true,
  };
}

/** Bundles each lazily imported package into its own file beside index.js. */
export async function buildLazyPackages(root: string, dir: string, lazy: Map<string, string>): Promise<{ pkg: string; file: string; metafile: Metafile; entry: string }[]> {
  return Promise.all(
    [...lazy].map(async ([pkg, file]) => {
      const result = await esbuild.build({ ...commonOptions(root), entryPoints: [pkg], outfile: join(dir, file), plugins: [forbiddenPackagesExternal], metafile: true });
      const entry = Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.entryPoint ?? pkg;
      return { pkg, file, metafile: result.metafile, entry };
    }),
  );
}

/** Turns esbuild's failure into a BuildError naming the function. */
export function esbuildFailure(fn: FunctionEntry, err: unknown): Promise<never> {
  const failure = err as esbuild.BuildFailure;
  if (!failure.errors) throw err;
  return esbuild.formatMessages(failure.errors, { kind: 'error' }).then((text) => {
    throw new BuildError(`functions/${fn.name}: esbuild failed:\n${text.join('')}`);
  });
}
