/** scripts/build/project-chunks.ts: project modules loaded with import() in lazy files of their own, one copy of every module. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundleOptions, unreachableOnNode22 } from '../../scripts/build/bundle.ts';
import type { FunctionEntry } from '../../scripts/build/discover.ts';
import { forbiddenPackagesExternal } from '../../scripts/build/policy.ts';
import { bundleWithProjectChunks, chunkFileName } from '../../scripts/build/project-chunks.ts';

/**
 * A small project: the entry imports errors.ts (a class, module state) and loads three modules
 * with import(): rare.ts (uses errors.ts, and a big string only it needs), also-static.ts (also
 * imported statically) and a.ts/b.ts (both use helper.ts, which index.js does not).
 */
const FILES: Record<string, string> = {
  'lib/errors.ts': `export class AppError extends Error {}\nexport let created = 0;\nexport function make(m: string) { created++; return new AppError(m); }\n`,
  'lib/rare.ts': `import { make } from './errors.ts';\nexport const BIG = 'RARE-MARKER-${'x'.repeat(4000)}';\nexport function fail(): never { throw make('rare'); }\n`,
  'lib/also-static.ts': `export const STATIC_MARKER = 'STATIC-MARKER';\n`,
  'lib/helper.ts': `export const HELPER = 'HELPER-MARKER-${'y'.repeat(2000)}';\n`,
  'lib/a.ts': `import { HELPER } from './helper.ts';\nexport const A = 'A:' + HELPER.length;\n`,
  'lib/b.ts': `import { HELPER } from './helper.ts';\nexport const B = 'B:' + HELPER.length;\n`,
  'functions/demo/index.ts': [
    `import { AppError, make } from '../../lib/errors.ts';`,
    `import * as errors from '../../lib/errors.ts';`,
    `import { STATIC_MARKER } from '../../lib/also-static.ts';`,
    `export async function run() {`,
    `  make('first');`,
    `  const rare = await import('../../lib/rare.ts');`,
    `  let sameClass = false;`,
    `  try { rare.fail(); } catch (e) { sameClass = e instanceof AppError; }`,
    `  const s = await import('../../lib/also-static.ts');`,
    `  const a = await import('../../lib/a.ts');`,
    `  const b = await import('../../lib/b.ts');`,
    `  return { sameClass, created: errors.created, big: rare.BIG.length, s: s.STATIC_MARKER === STATIC_MARKER, a: a.A, b: b.B };`,
    `}`,
    ``,
  ].join('\n'),
};

describe('project chunks', () => {
  let root: string;
  let dir: string;
  let chunks: Awaited<ReturnType<typeof bundleWithProjectChunks>>['chunks'];
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'tidemark-chunks-'));
    for (const [file, text] of Object.entries(FILES)) {
      mkdirSync(join(root, file, '..'), { recursive: true });
      writeFileSync(join(root, file), text);
    }
    dir = join(root, 'dist', 'demo');
    const fn = {
      name: 'demo',
      entryPoint: 'demo',
      entry: 'functions/demo/index.ts',
      row: {},
    } as unknown as FunctionEntry;
    ({ chunks } = await bundleWithProjectChunks(root, fn, dir, bundleOptions(root, fn, dir), [
      forbiddenPackagesExternal,
      unreachableOnNode22,
    ]));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('puts a module only import() needs in its own file, out of index.js', () => {
    const index = readFileSync(join(dir, 'index.js'), 'utf8');
    assert.equal(chunkFileName('lib/rare.ts'), 'lazy/_lib-rare.cjs');
    assert.ok(chunks.some((c) => c.module === 'lib/rare.ts'));
    assert.ok(existsSync(join(dir, 'lazy/_lib-rare.cjs')));
    assert.ok(!index.includes('RARE-MARKER'), 'rare.ts is not in index.js');
    assert.ok(readFileSync(join(dir, 'lazy/_lib-rare.cjs'), 'utf8').includes('RARE-MARKER'));
  });

  it('keeps in index.js what splitting would copy: a module also imported statically, a module two chunks share', () => {
    const index = readFileSync(join(dir, 'index.js'), 'utf8');
    assert.ok(!chunks.some((c) => c.module === 'lib/also-static.ts'));
    // a.ts and b.ts both need helper.ts: one of them stays in index.js, so helper.ts has one copy.
    const helperCopies = [index, ...chunks.map((c) => readFileSync(join(dir, c.file), 'utf8'))].filter((t) =>
      t.includes('HELPER-MARKER'),
    ).length;
    assert.equal(helperCopies, 1);
    for (const c of chunks)
      assert.ok(!Object.keys(c.metafile.inputs).includes('lib/errors.ts'), `${c.file} takes errors.ts from index.js`);
  });

  it('runs with one copy of every module: the chunk throws the class index.js catches, and shares its module state', () => {
    const run = spawnSync(
      process.execPath,
      ['-e', `require(${JSON.stringify(join(dir, 'index.js'))}).run().then((r) => console.log(JSON.stringify(r)))`],
      { encoding: 'utf8' },
    );
    assert.equal(run.status, 0, run.stderr);
    const r = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.deepEqual(r, { sameClass: true, created: 2, big: 4012, s: true, a: 'A:2014', b: 'B:2014' });
  });
});
