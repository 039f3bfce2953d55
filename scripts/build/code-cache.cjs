'use strict';
/**
 * Loads a bundle's lazy files (lazy/*.cjs) with V8's code cache, built with the bundle: shipped in
 * every function folder as lazy/_code-cache.cjs (scripts/build/code-cache.ts), and required by
 * index.js's import() wrappers instead of the lazy file itself.
 *
 * Why: the first API call of a function loads Storage or BigQuery and google-auth-library (about
 * 1 MiB of minified JavaScript). Compiling it costs CPU on every cold start; V8 can instead
 * deserialize the bytecode it produced at build time (`<file>.v8cache`, written by `--produce`
 * below after running the file's top level, so the functions that ran are in it too).
 *
 * Safe by construction, never required for correctness:
 *   - the cache starts with the SHA-256 of the exact source it was made from; another source
 *     (a file edited after the build) is compiled as usual. V8's own check compares only the
 *     source's length, so this hash is what makes a stale cache impossible to use;
 *   - V8 refuses a cache made by another V8 version or with other flags (`cachedDataRejected`):
 *     the file is then compiled as usual. The deployed runtime's Node must be the build's Node
 *     for the cache to be used at all;
 *   - a missing cache file: compiled as usual.
 * So that the deployed Node is the one that made the cache, the deployed package.json runs
 * `--refresh` below as its `gcp-build` script: the buildpack runs it on the runtime's Node before
 * the function starts (the caches from the build stay when that fails).
 * Each lazy file runs as a CommonJS module, once, registered in require.cache under its own path;
 * its require of a sibling lazy file (./google-auth-library.cjs) goes through this loader too, so
 * there is still one copy of it (one GoogleAuth class for Storage and BigQuery).
 *
 * Plain CommonJS, no dependencies: it runs inside the deployed bundle.
 */
const { createHash } = require('node:crypto');
const { readFileSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { basename, dirname, join } = require('node:path');
const vm = require('node:vm');

const HASH_BYTES = 32;
// The source runs inside the same wrapper as Node's own CommonJS modules; the newline and
// lineOffset -1 keep the file's own line numbers in stack traces.
const WRAPPER_HEAD = '(function (exports, require, module, __filename, __dirname) {\n';

/** What happened to each file's cache, by base name: used | rejected | stale | missing | source-maps. */
const outcomes = new Map();
/** file -> { module, script } of every file loaded here. */
const loaded = new Map();

function cacheFileOf(file) {
  return `${file}.v8cache`;
}

function cachedDataFor(file, hash) {
  let data;
  try {
    data = readFileSync(cacheFileOf(file));
  } catch {
    return { outcome: 'missing' };
  }
  if (data.length <= HASH_BYTES || !data.subarray(0, HASH_BYTES).equals(hash)) return { outcome: 'stale' };
  return { outcome: 'used', cachedData: data.subarray(HASH_BYTES) };
}

/** True while `produce` runs: caches are made whatever the process's options. */
let producing = false;

/** Runs `file` (absolute) as a CommonJS module once and returns its exports. */
function load(file) {
  const known = loaded.get(file);
  if (known) return known.module.exports;
  // Node maps stack traces through source maps only for files its own loader compiled: with
  // --enable-source-maps (debugging, see scripts/build.ts) the file is required as usual, uncached.
  if (process.sourceMapsEnabled && !producing) {
    outcomes.set(basename(file), 'source-maps');
    return require(file);
  }
  const bytes = readFileSync(file);
  const hash = createHash('sha256').update(bytes).digest();
  const { outcome, cachedData } = cachedDataFor(file, hash);
  const script = new vm.Script(`${WRAPPER_HEAD}${bytes.toString('utf8')}\n})`, {
    filename: file,
    lineOffset: -1,
    cachedData,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  outcomes.set(basename(file), cachedData && script.cachedDataRejected ? 'rejected' : outcome);
  const mod = new Module(file, module);
  mod.filename = file;
  mod.paths = Module._nodeModulePaths(dirname(file));
  loaded.set(file, { module: mod, script, hash });
  Module._cache[file] = mod;
  const dir = dirname(file);
  const nodeRequire = Module.createRequire(file);
  // A sibling lazy file (a shared package) through this loader; anything else (builtins) as usual.
  const requireHere = Object.assign(
    (id) => (/^\.\/[^/]+\.cjs$/.test(id) ? load(join(dir, id)) : nodeRequire(id)),
    nodeRequire,
  );
  try {
    script.runInThisContext().call(mod.exports, mod.exports, requireHere, mod, file, dir);
  } catch (err) {
    loaded.delete(file);
    delete Module._cache[file];
    throw err;
  }
  mod.loaded = true;
  return mod.exports;
}

/**
 * Build time: runs each file's top level, then writes `<file>.v8cache` (the source's hash, then
 * V8's data) for it and every file it loaded through here. Run in a child process of the Node
 * the functions will run on.
 */
function produce(files) {
  producing = true;
  for (const file of files) load(file);
  const written = [];
  for (const [file, { script, hash }] of loaded) {
    const data = script.createCachedData();
    writeFileSync(cacheFileOf(file), Buffer.concat([hash, data]));
    written.push({ file, bytes: HASH_BYTES + data.length });
  }
  return written;
}

module.exports = load;
module.exports.outcomes = outcomes;
module.exports.produce = produce;

if (require.main === module) {
  const [mode, ...files] = process.argv.slice(2);
  const absolute = files.map((f) => require('node:path').resolve(f));
  if (mode === '--produce') {
    // The build (code-cache.ts): any failure fails it.
    process.stdout.write(JSON.stringify(produce(absolute)));
  } else if (mode === '--refresh') {
    // The deploy's buildpack (`gcp-build`), on the runtime's own Node: caches that Node accepts
    // even when it is not the build's. Never fails the deploy: on any error the build's caches stay.
    try {
      const written = produce(absolute);
      process.stdout.write(
        `tidemark: code caches made by Node ${process.version}: ${written.map((w) => `${basename(w.file)} ${w.bytes} B`).join(', ')}\n`,
      );
    } catch (err) {
      process.stderr.write(
        `tidemark: code caches not refreshed (${err && err.message}); the build's stay, used only if this Node is the build's\n`,
      );
    }
  } else {
    process.stderr.write('usage: _code-cache.cjs --produce|--refresh FILE...\n');
    process.exitCode = 2;
  }
}
