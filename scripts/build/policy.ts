/**
 * What may be in a bundle: inputs that must stay local (DuckDB, local backends, the CLI, tests,
 * firebase, chokidar, commander, cli-progress, and the config loader with zod and yaml, which run
 * at build time), externals the platform will not provide, each reported with the import chain
 * that pulls it in; and the check that a bundle registers its entry point.
 */
import { builtinModules } from 'node:module';
import type { Metafile, Plugin } from 'esbuild';
import { FRAMEWORK } from './common.ts';
import type { FunctionEntry } from './discover.ts';

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
  {
    pattern: /(^|\/)node_modules\/zod\/|^zod(\/|$)/,
    why: 'zod validates the config at build time; the functions read the resolved tidemark.config.json',
  },
  {
    pattern: /(^|\/)node_modules\/yaml\/|^yaml(\/|$)/,
    why: 'the YAML is parsed at build time; the functions read the resolved tidemark.config.json',
  },
  {
    pattern: /^shared\/config\/(load|schema|resolve)\.ts$/,
    why: 'the config loader runs at build time; the functions read the resolved tidemark.config.json',
  },
];

/** Bare specifiers of forbidden packages: resolved as external so esbuild never opens them (DuckDB ships a native addon). */
export const FORBIDDEN_PACKAGES = /^(@duckdb\/|@?firebase|chokidar(\/|$)|commander(\/|$)|cli-progress(\/|$))/;

/** Resolves forbidden bare packages as external, so esbuild never opens them; the walk then reports them. */
export const forbiddenPackagesExternal: Plugin = {
  name: 'tidemark-forbidden-packages',
  setup(b) {
    b.onResolve({ filter: FORBIDDEN_PACKAGES }, (args) => ({ path: args.path, external: true }));
  },
};

export const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/**
 * The bundle's own lazily loaded package files: external, but shipped in lazy/. index.js names
 * them `./lazy/x.cjs`, a lazy file names a shared package beside it `./x.cjs`.
 */
export const LAZY_FILE = /^\.\/(lazy\/)?[^/]+\.cjs$/;

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
    if (
      external &&
      !BUILTINS.has(node) &&
      node !== FRAMEWORK &&
      !node.startsWith(`${FRAMEWORK}/`) &&
      !LAZY_FILE.test(node)
    ) {
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

/** The problems of one function as one message, at most 8 chains shown. */
export function describeProblems(fn: FunctionEntry, problems: HygieneProblem[]): string {
  const shown = 8;
  const lines = problems.slice(0, shown).map((p) => `  ${p.input} (${p.why})\n    ${p.chain.join('\n      -> ')}`);
  if (problems.length > shown)
    lines.push(
      `  ... and ${problems.length - shown} more: ${problems
        .slice(shown)
        .map((p) => p.input)
        .join(', ')}`,
    );
  return `functions/${fn.name}: the bundle must not contain:\n${lines.join('\n')}`;
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
      if (imported === 'cloudEvent' || imported === 'http')
        callees.push(String.raw`(?<![\w$.])${esc(local ?? imported)}`);
    }
  }
  for (const m of code.matchAll(new RegExp(String.raw`import\s*\*\s*as\s*([\w$]+)\s*${from}`, 'g')))
    callees.push(String.raw`(?<![\w$.])${esc(m[1]!)}\.(?:cloudEvent|http)`);
  return new RegExp(String.raw`(?:${callees.join('|')})\(\s*(["'\`])${esc(entryPoint)}\1`).test(code);
}
