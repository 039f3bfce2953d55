/**
 * Loaded first in every test process (package.json's test script): keeps what Node's type
 * stripping makes of each TypeScript file, so a test process does not strip the engine again.
 *
 * Node 22 strips types in every process anew (its compile cache keeps bytecode, not the stripped
 * source): starting its stripper and stripping the ~60 files a test imports cost ~0.6 s of CPU in
 * each of the suite's ~100 test processes, a sixth of the suite (BENCHMARKS.md, "Test suite").
 * This hook asks Node's own stripper (`module.stripTypeScriptTypes`: the same call, whitespace in
 * place of types so lines and columns stay) once per file content and keeps the result under
 * node_modules/.cache, keyed by the source's hash and the Node version: an edited file is
 * stripped again, nothing is stale. What runs is byte for byte what Node would have run.
 *
 * It also turns on Node's compile cache (V8 bytecode) for the process, under node_modules/.cache.
 *
 * JavaScript, not TypeScript: a .ts file here would start the stripper it exists to avoid.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { enableCompileCache, registerHooks, stripTypeScriptTypes } from 'node:module';
import { join } from 'node:path';

const CACHE = join(import.meta.dirname, '..', '..', 'node_modules', '.cache', 'tidemark-ts', process.version);
mkdirSync(CACHE, { recursive: true });
// And V8's bytecode of what they load (the stripped files, DuckDB's and yaml's CommonJS files):
// ~45 ms less CPU per test process here. V8 checks each entry against its source.
enableCompileCache(join(import.meta.dirname, '..', '..', 'node_modules', '.cache', 'tidemark-v8'));

/**
 * What Node's stripping makes of `source`, from the cache when it is there.
 * @param {string} source
 * @returns {string}
 */
export function stripped(source) {
  const file = join(CACHE, createHash('sha256').update(source).digest('hex').slice(0, 40) + '.js');
  try {
    return readFileSync(file, 'utf8');
  } catch {
    const js = quietly(() => stripTypeScriptTypes(source));
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, js);
    renameSync(temp, file); // whole or absent: processes filling the cache at once never see half
    return js;
  }
}

/**
 * Runs `fn` without its ExperimentalWarning (Node's own stripping prints none either).
 * @template T
 * @param {() => T} fn
 * @returns {T}
 */
function quietly(fn) {
  const emit = process.emitWarning;
  process.emitWarning = () => {};
  try {
    return fn();
  } finally {
    process.emitWarning = emit;
  }
}

registerHooks({
  load(url, context, nextLoad) {
    const loaded = nextLoad(url, context);
    if (loaded.format !== 'module-typescript' || loaded.source == null) return loaded;
    return { ...loaded, format: 'module', source: stripped(String(loaded.source)) };
  },
});
