/** scripts/build/bundle.ts: esbuild options and the files lazily imported packages go to. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bundleOptions, lazyFileName } from '../../scripts/build/bundle.ts';
import { FRAMEWORK } from '../../scripts/build/common.ts';
import { discoverFunctions } from '../../scripts/build/discover.ts';

describe('bundle options', () => {
  const names: [string, string][] = [
    ['@google-cloud/pubsub', 'lazy/google-cloud-pubsub.cjs'],
    ['@google-cloud/storage', 'lazy/google-cloud-storage.cjs'],
    ['google-auth-library', 'lazy/google-auth-library.cjs'],
    ['a/b@c', 'lazy/a-b-c.cjs'],
  ];
  for (const [pkg, file] of names) it(`puts import('${pkg}') in ${file}`, () => assert.equal(lazyFileName(pkg), file));

  it('bundles for the platform: node 22, minified, source maps, functions-framework external, the function as index', () => {
    const fn = discoverFunctions(process.cwd())[0]!;
    const o = bundleOptions('/root', fn, '/out/x');
    assert.deepEqual(
      [o.platform, o.target, o.bundle, o.minify, o.sourcemap, o.external, o.entryPoints, o.outdir],
      ['node', 'node22', true, true, 'linked', [FRAMEWORK], { index: fn.entry }, '/out/x'],
    );
    assert.deepEqual(
      o.plugins?.map((p) => p.name),
      ['tidemark-forbidden-packages', 'tidemark-unreachable-on-node22', 'tidemark-lazy-packages'],
    );
  });
});
