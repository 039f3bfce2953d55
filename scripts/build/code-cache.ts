/**
 * V8 code caches for a bundle's lazy files, made at build time: each function folder gets the
 * loader scripts/build/code-cache.cjs as lazy/_code-cache.cjs (index.js's import() wrappers
 * require the lazy files through it) and, beside each lazy file, `<file>.v8cache`. The loader
 * says when a cache is used and why it is safe; this file writes them.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BuildError } from './common.ts';

/** The loader's place in a function folder. A leading underscore: no npm package name has one, so no lazyFileName() can clash. */
export const CODE_CACHE_LOADER = 'lazy/_code-cache.cjs';

const LOADER_SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'code-cache.cjs');

/** What index.js's wrapper for a lazy file says: load it through the loader, by its absolute path. */
export function lazyWrapperSource(lazyFile: string): string {
  return `module.exports = require(${JSON.stringify(`./${CODE_CACHE_LOADER}`)})(require("node:path").join(__dirname, ${JSON.stringify(lazyFile)}));`;
}

/**
 * The deployed package.json's `gcp-build` script: Google's Node.js buildpack runs it at deploy,
 * with the runtime's own Node, which then remakes the caches (V8 takes a cache only from its own
 * version; the build's Node may be another 22.x). It cannot fail the deploy (see the loader).
 */
export function refreshCachesScript(lazyFiles: readonly string[]): string {
  return ['node', CODE_CACHE_LOADER, '--refresh', ...lazyFiles].join(' ');
}

/**
 * Copies the loader into `dir` and writes a code cache for each of `lazyFiles` (paths relative to
 * dir) and for the shared files they load. Runs them in a child process of this Node: the cache
 * is only used by the same Node version, so build with the runtime's Node (NODE_MAJOR; the
 * `node` devDependency). Returns the files written, relative to dir.
 */
export function writeCodeCaches(
  dir: string,
  lazyFiles: readonly string[],
  node = process.execPath,
): { file: string; bytes: number }[] {
  mkdirSync(join(dir, 'lazy'), { recursive: true });
  copyFileSync(LOADER_SOURCE, join(dir, CODE_CACHE_LOADER));
  if (!lazyFiles.length) return [];
  // An empty environment: the files' top levels run, and none of them may reach for credentials or a network.
  const child = spawnSync(node, [join(dir, CODE_CACHE_LOADER), '--produce', ...lazyFiles.map((f) => join(dir, f))], {
    cwd: dir,
    env: {},
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (child.status !== 0)
    throw new BuildError(
      `${dir}: writing the code caches of ${lazyFiles.join(', ')} failed (exit ${child.status ?? child.signal}):\n${child.stderr}`,
    );
  const written = JSON.parse(child.stdout) as { file: string; bytes: number }[];
  return written.map((w) => ({
    file: `${w.file
      .slice(dir.length + 1)
      .split('\\')
      .join('/')}.v8cache`,
    bytes: w.bytes,
  }));
}
