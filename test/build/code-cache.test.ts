/** scripts/build/code-cache.{ts,cjs}: lazy files run from a code cache made at build time, never from a stale one. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CODE_CACHE_LOADER, lazyWrapperSource, writeCodeCaches } from '../../scripts/build/code-cache.ts';

// Two lazy files as the build lays them out: a.cjs requires its sibling b.cjs (a shared package) and a builtin.
const A = `'use strict';
const { Shared } = require('./b.cjs');
const { join } = require('node:path');
exports.value = 'a-1';
exports.Shared = Shared;
exports.joined = join('x', 'y');
exports.fail = function fail() {
  throw new Error('from a');
};
exports.later = async () => (await import('node:os')).EOL;
`;
const B = `'use strict';
class Shared {}
exports.Shared = Shared;
`;

/** Loads lazy/a.cjs through the loader in a fresh Node, as index.js does; what it saw, as JSON. */
function loadInChild(
  dir: string,
  nodeArgs: string[] = [],
): {
  value: string;
  sameShared: boolean;
  joined: string;
  failLine: string;
  eol: string;
  outcomes: Record<string, string>;
} {
  const code = `
    const load = require(${JSON.stringify(join(dir, CODE_CACHE_LOADER))});
    const a = load(${JSON.stringify(join(dir, 'lazy', 'a.cjs'))});
    const b = load(${JSON.stringify(join(dir, 'lazy', 'b.cjs'))});
    let failLine = '';
    try { a.fail(); } catch (e) { failLine = e.stack.split('\\n')[1].trim(); }
    a.later().then((eol) => console.log(JSON.stringify({ value: a.value, sameShared: a.Shared === b.Shared && require(${JSON.stringify(join(dir, 'lazy', 'b.cjs'))}) === b, joined: a.joined, failLine, eol, outcomes: Object.fromEntries(load.outcomes) })));`;
  const child = spawnSync(process.execPath, [...nodeArgs, '-e', code], { encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout);
}

describe('code caches of lazy files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tidemark-code-cache-'));
    writeCodeCaches(dir, []); // makes lazy/ and copies the loader
    writeFileSync(join(dir, 'lazy', 'a.cjs'), A);
    writeFileSync(join(dir, 'lazy', 'b.cjs'), B);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a cache for each lazy file and the sibling it loads, and the same Node uses them', () => {
    const written = writeCodeCaches(dir, ['lazy/a.cjs']);
    assert.deepEqual(written.map((w) => w.file).sort(), ['lazy/a.cjs.v8cache', 'lazy/b.cjs.v8cache']);
    const seen = loadInChild(dir);
    assert.deepEqual(seen.outcomes, { 'a.cjs': 'used', 'b.cjs': 'used' });
    assert.equal(seen.value, 'a-1');
    assert.equal(seen.joined, join('x', 'y'));
    assert.equal(seen.eol, '\n', 'import() of a builtin works inside a lazy file');
    assert.ok(seen.sameShared, 'one copy of the sibling: through the loader and through require()');
  });

  it('keeps the file’s own line numbers in stack traces', () => {
    writeCodeCaches(dir, ['lazy/a.cjs']);
    assert.match(loadInChild(dir).failLine, /a\.cjs:8:/);
  });

  it('never runs a stale cache: a file changed after the build, same length, runs its new code', () => {
    writeCodeCaches(dir, ['lazy/a.cjs']);
    // Same length on purpose: V8's own check compares only the source's length and would take this cache.
    writeFileSync(join(dir, 'lazy', 'a.cjs'), A.replace("'a-1'", "'a-2'"));
    const seen = loadInChild(dir);
    assert.equal(seen.value, 'a-2');
    assert.equal(seen.outcomes['a.cjs'], 'stale');
    assert.equal(seen.outcomes['b.cjs'], 'used');
  });

  it('compiles as usual without a cache, or with one V8 refuses', () => {
    writeCodeCaches(dir, ['lazy/a.cjs']);
    rmSync(join(dir, 'lazy', 'b.cjs.v8cache'));
    // The right source hash, then bytes that are not V8's: as from another Node version.
    const cache = readFileSync(join(dir, 'lazy', 'a.cjs.v8cache'));
    writeFileSync(
      join(dir, 'lazy', 'a.cjs.v8cache'),
      Buffer.concat([cache.subarray(0, 32), Buffer.alloc(cache.length - 32, 7)]),
    );
    const seen = loadInChild(dir);
    assert.deepEqual(seen.outcomes, { 'a.cjs': 'rejected', 'b.cjs': 'missing' });
    assert.equal(seen.value, 'a-1');
    assert.ok(seen.sameShared);
  });

  it('with --enable-source-maps, requires the files as usual so that Node maps their stack traces', () => {
    writeCodeCaches(dir, ['lazy/a.cjs']);
    const seen = loadInChild(dir, ['--enable-source-maps']);
    assert.deepEqual(seen.outcomes, { 'a.cjs': 'source-maps', 'b.cjs': 'source-maps' });
    assert.equal(seen.value, 'a-1');
    assert.ok(seen.sameShared);
    assert.match(seen.failLine, /a\.cjs:8:/);
  });

  it('fails the build, naming the files, when a lazy file cannot run its top level', () => {
    writeFileSync(join(dir, 'lazy', 'a.cjs'), "throw new Error('top level');\n");
    assert.throws(
      () => writeCodeCaches(dir, ['lazy/a.cjs']),
      /writing the code caches of lazy\/a\.cjs failed[\s\S]*top level/,
    );
  });

  it("--refresh (the deploy's gcp-build) remakes the caches from paths relative to the function folder", () => {
    const r = spawnSync(process.execPath, [CODE_CACHE_LOADER, '--refresh', 'lazy/a.cjs'], {
      cwd: dir,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /code caches made by Node v22[^:]*: a\.cjs \d+ B, b\.cjs \d+ B/);
    assert.deepEqual(loadInChild(dir).outcomes, { 'a.cjs': 'used', 'b.cjs': 'used' });
  });

  it("--refresh never fails the deploy: on an error it says so and the build's caches stay", () => {
    writeCodeCaches(dir, ['lazy/a.cjs']);
    const before = readFileSync(join(dir, 'lazy', 'a.cjs.v8cache'));
    writeFileSync(join(dir, 'lazy', 'c.cjs'), "throw new Error('top level');\n");
    const r = spawnSync(process.execPath, [CODE_CACHE_LOADER, '--refresh', 'lazy/a.cjs', 'lazy/c.cjs'], {
      cwd: dir,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0);
    assert.match(r.stderr, /code caches not refreshed \(top level\); the build's stay/);
    assert.deepEqual(readFileSync(join(dir, 'lazy', 'a.cjs.v8cache')), before);
  });

  it("index.js's wrapper requires the lazy file through the loader, by its path beside index.js", () => {
    assert.equal(
      lazyWrapperSource('lazy/x.cjs'),
      'module.exports = require("./lazy/_code-cache.cjs")(require("node:path").join(__dirname, "lazy/x.cjs"));',
    );
  });
});
