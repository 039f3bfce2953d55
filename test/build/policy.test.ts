/** scripts/build/policy.ts: what may be in a bundle, with the chain that pulls a problem in. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Metafile } from 'esbuild';
import { checkHygiene, describeProblems } from '../../scripts/build/policy.ts';
import { discoverFunctions } from '../../scripts/build/discover.ts';

const input = (...imports: { path: string; external?: boolean }[]) => ({
  bytes: 1,
  imports: imports.map((i) => ({ kind: 'import-statement' as const, ...i })),
});

describe('checkHygiene', () => {
  it('refuses zod, yaml and the config loader in a bundle, naming the chain (the config is resolved at build time)', () => {
    const metafile: Metafile = {
      inputs: {
        'functions/f/index.ts': input({ path: 'shared/runtime/gcp.ts' }),
        'shared/runtime/gcp.ts': input({ path: 'shared/config/load.ts' }, { path: 'shared/config/resolved.ts' }),
        'shared/config/resolved.ts': input({ path: 'node:fs', external: true }),
        'shared/config/load.ts': input(
          { path: 'node_modules/yaml/dist/index.js' },
          { path: 'shared/config/schema.ts' },
        ),
        'shared/config/schema.ts': input({ path: 'node_modules/zod/v4/classic/external.js' }),
        'node_modules/yaml/dist/index.js': input(),
        'node_modules/zod/v4/classic/external.js': input(),
      },
      outputs: {},
    };
    const problems = checkHygiene(metafile, 'functions/f/index.ts');
    assert.deepEqual(
      problems.map((p) => [p.input, p.chain.join(' > ')]),
      [
        ['shared/config/load.ts', 'functions/f/index.ts > shared/runtime/gcp.ts > shared/config/load.ts'],
        [
          'node_modules/yaml/dist/index.js',
          'functions/f/index.ts > shared/runtime/gcp.ts > shared/config/load.ts > node_modules/yaml/dist/index.js',
        ],
        [
          'shared/config/schema.ts',
          'functions/f/index.ts > shared/runtime/gcp.ts > shared/config/load.ts > shared/config/schema.ts',
        ],
        [
          'node_modules/zod/v4/classic/external.js',
          'functions/f/index.ts > shared/runtime/gcp.ts > shared/config/load.ts > shared/config/schema.ts > node_modules/zod/v4/classic/external.js',
        ],
      ],
    );
    const fn = discoverFunctions(process.cwd())[0]!;
    assert.match(
      describeProblems(fn, problems),
      /node_modules\/zod\/v4\/classic\/external\.js \(zod validates the config at build time; the functions read the resolved tidemark\.config\.json\)/,
    );
  });

  it('accepts the runtime config reader and node builtins', () => {
    const metafile: Metafile = {
      inputs: {
        'functions/f/index.ts': input({ path: 'shared/config/resolved.ts' }),
        'shared/config/resolved.ts': input({ path: 'node:fs', external: true }, { path: 'node:path', external: true }),
      },
      outputs: {},
    };
    assert.deepEqual(checkHygiene(metafile, 'functions/f/index.ts'), []);
  });
});
