/**
 * Lazily loaded project modules: a project module that the project's own code loads with
 * `import('./x.ts')` gets a file of its own, lazy/_<path>.cjs, read only when that import runs
 * (esbuild's CommonJS output would keep it in index.js). One copy of every module: whatever the
 * chunk imports that index.js also carries (error classes, the state codec, claims.ts...) it takes
 * from index.js, which publishes exactly those modules' namespaces in a registry keyed by its own
 * folder; so `instanceof` and module state are the same on both sides. A dynamic import stays in
 * index.js (esbuild's ordinary lazy evaluation) when splitting it would copy a module: when the
 * module is also imported statically, when it pulls in a package, or when another chunk already
 * holds one of its modules; and all of them stay when index.js with its registry would be no
 * smaller than without (the registry keeps every export of the modules it publishes).
 * Lazy project files get no code cache (code-cache.ts): running their top level needs index.js.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import * as esbuild from 'esbuild';
import type { BuildOptions, BuildResult, Metafile, Plugin } from 'esbuild';
import { BuildError } from './common.ts';
import type { FunctionEntry } from './discover.ts';

const CHUNK_NAMESPACE = 'tidemark-chunk';
const HOST_NAMESPACE = 'tidemark-host';
/** The registry's global key: a Symbol.for, so index.js and its chunks agree without sharing code. */
const REGISTRY_KEY = 'tidemark.bundle-modules';

/** `shared/core/bisect.ts` -> `lazy/_shared-core-bisect.cjs` (the underscore: no npm package name starts with one, so no lazyFileName() clashes). */
export function chunkFileName(module: string): string {
  return `lazy/_${module.replace(/\.[cm]?[jt]s$/, '').replace(/[^A-Za-z0-9._-]+/g, '-')}.cjs`;
}

/** One lazily loaded project module: its file, its metafile, and the index.js modules it uses. */
export interface ProjectChunk {
  module: string;
  file: string;
  metafile: Metafile;
  host: string[];
  outputFiles: esbuild.OutputFile[];
}

const rel = (root: string, file: string) => relative(root, file).split(sep).join('/');
const isProjectImport = (args: esbuild.OnResolveArgs) =>
  args.kind === 'dynamic-import' && args.namespace === 'file' && !args.importer.includes(`${sep}node_modules${sep}`);

/**
 * The index.js side: records every project module loaded with import() in `seen`, replaces those
 * in `split` (or all, when `split` is undefined) by a require of their file, and appends to the
 * entry the registry of `host` modules the chunks take from index.js.
 */
function indexPlugin(
  root: string,
  fn: FunctionEntry,
  split: Set<string> | undefined,
  seen: Set<string>,
  host: readonly string[],
): Plugin {
  return {
    name: 'tidemark-project-chunks',
    setup(b) {
      b.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (!isProjectImport(args)) return undefined;
        const module = rel(root, resolve(args.resolveDir, args.path));
        seen.add(module);
        return split && !split.has(module) ? undefined : { path: module, namespace: CHUNK_NAMESPACE };
      });
      b.onLoad({ filter: /.*/, namespace: CHUNK_NAMESPACE }, (args) => ({
        contents: `module.exports = require(${JSON.stringify(`./${chunkFileName(args.path)}`)});`,
        loader: 'js',
      }));
      b.onResolve({ filter: /^\.\/lazy\//, namespace: CHUNK_NAMESPACE }, (args) => ({
        path: args.path,
        external: true,
      }));
      if (!host.length) return;
      const entry = resolve(root, fn.entry);
      b.onLoad({ filter: new RegExp(`^${entry.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`) }, () => {
        const imports = host
          .map((m, i) => `import * as __tidemarkHost${i} from ${JSON.stringify(resolve(root, m))};`)
          .join('\n');
        const entries = host.map((m, i) => `${JSON.stringify(m)}: __tidemarkHost${i}`).join(', ');
        const registry = `((globalThis as any)[Symbol.for(${JSON.stringify(REGISTRY_KEY)})] ??= {})[__dirname] = { ${entries} };`;
        return { contents: `${readFileSync(entry, 'utf8')}\n${imports}\n${registry}\n`, loader: 'ts' };
      });
    },
  };
}

/** The chunk side: every import of a module in `host` (index.js's inputs) reads index.js's registry. */
function hostPlugin(root: string, host: ReadonlySet<string>): Plugin {
  return {
    name: 'tidemark-chunk-host',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.kind === 'entry-point' || args.namespace !== 'file' || args.pluginData?.tidemarkHost) return undefined;
        const r = await b.resolve(args.path, {
          kind: args.kind,
          resolveDir: args.resolveDir,
          importer: args.importer,
          pluginData: { tidemarkHost: true },
        });
        if (r.errors.length || r.external || r.namespace !== 'file') return undefined;
        const module = rel(root, r.path);
        return host.has(module) ? { path: module, namespace: HOST_NAMESPACE } : { path: r.path };
      });
      b.onLoad({ filter: /.*/, namespace: HOST_NAMESPACE }, (args) => ({
        contents:
          `const m = globalThis[Symbol.for(${JSON.stringify(REGISTRY_KEY)})]?.[require("node:path").join(__dirname, "..")]?.[${JSON.stringify(args.path)}];\n` +
          `if (!m) throw new Error(${JSON.stringify(`${args.path}: index.js beside this lazy file did not publish it (scripts/build/project-chunks.ts)`)});\n` +
          `module.exports = m;`,
        loader: 'js',
      }));
    },
  };
}

/** Inputs of a metafile's outputs that are modules of their own (not a plugin's stand-in or esbuild's runtime). */
function ownInputs(metafile: Metafile): Set<string> {
  return new Set(
    Object.values(metafile.outputs)
      .flatMap((o) => Object.keys(o.inputs))
      .filter((i) => !i.includes(':') && i !== '<runtime>'),
  );
}

/**
 * Builds index.js with the project modules it loads with import() split into lazy files where
 * that copies nothing (see the header). `options` are bundleOptions(); `common` the options the
 * chunks share with it (without entry, output or plugins).
 */
export async function bundleWithProjectChunks(
  root: string,
  fn: FunctionEntry,
  dir: string,
  options: BuildOptions & { metafile: true },
  chunkPlugins: Plugin[],
): Promise<{ result: BuildResult<{ metafile: true }>; chunks: ProjectChunk[] }> {
  const build = (split: Set<string> | undefined, seen: Set<string>, host: readonly string[] = []) =>
    esbuild.build({ ...options, plugins: [...(options.plugins ?? []), indexPlugin(root, fn, split, seen, host)] });
  const seen = new Set<string>();
  await build(undefined, seen);
  let split = new Set(seen);
  let chunks: ProjectChunk[] = [];
  // Each round only removes candidates, so this ends; removing one can grow index.js, hence the rounds.
  for (;;) {
    if (!split.size) return { result: await build(split, new Set()), chunks: [] };
    const index = ownInputs((await build(split, new Set())).metafile);
    chunks = [];
    const owned = new Set<string>();
    for (const module of [...split].sort()) {
      const file = chunkFileName(module);
      const { entryPoints: _e, outdir: _o, ...rest } = options;
      // Not written yet: a candidate may still be dropped.
      const { metafile, outputFiles } = await esbuild.build({
        ...rest,
        entryPoints: [module],
        outfile: join(dir, file),
        write: false,
        plugins: [...chunkPlugins, hostPlugin(root, index)],
      });
      const own = ownInputs(metafile);
      const host = Object.keys(metafile.inputs)
        .filter((i) => i.startsWith(`${HOST_NAMESPACE}:`))
        .map((i) => i.slice(HOST_NAMESPACE.length + 1));
      const copies =
        index.has(module) || [...own].some((i) => i.includes('node_modules/') || owned.has(i) || index.has(i));
      if (copies) continue;
      for (const i of own) owned.add(i);
      chunks.push({ module, file, metafile, host, outputFiles });
    }
    // index.js was built with every candidate split: any dropped one changes it, so build again.
    if (chunks.length === split.size) break;
    split = new Set(chunks.map((c) => c.module));
  }
  const host = [...new Set(chunks.flatMap((c) => c.host))].sort();
  // The registry keeps every export of the host modules (no tree shaking through a namespace):
  // when that outweighs what the chunks take out, index.js is smaller without them.
  const bytes = (r: BuildResult<{ metafile: true }>) =>
    Object.entries(r.metafile.outputs).reduce((n, [out, o]) => n + (out.endsWith('.js') ? o.bytes : 0), 0);
  const inline = await build(new Set(), new Set());
  const result = await build(split, new Set(), host);
  if (bytes(inline) <= bytes(result)) return { result: await build(new Set(), new Set()), chunks: [] };
  const index = ownInputs(result.metafile);
  for (const c of chunks) {
    const copied = [...ownInputs(c.metafile)].filter((i) => index.has(i));
    const missing = c.host.filter((h) => !index.has(h));
    if (copied.length || missing.length)
      throw new BuildError(
        `functions/${fn.name}: ${c.file} (import('${c.module}')) ${copied.length ? `copies ${copied.join(', ')} from index.js` : `needs ${missing.join(', ')}, which index.js lacks`}`,
      );
  }
  for (const o of chunks.flatMap((c) => c.outputFiles)) {
    mkdirSync(dirname(o.path), { recursive: true });
    writeFileSync(o.path, o.contents);
  }
  return { result, chunks };
}
