/** scripts/build/package.ts: the resolved config and the deployed package.json. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BuildError, FRAMEWORK } from '../../scripts/build/common.ts';
import { discoverFunctions } from '../../scripts/build/discover.ts';
import { deployPackageJson, resolveConfigForBuild, writeResolvedConfig } from '../../scripts/build/package.ts';
import { loadConfig } from '../../shared/config/load.ts';
import { readResolvedConfig } from '../../shared/config/resolved.ts';
import { ConfigError } from '../../shared/core/errors.ts';
import { EVENTS_YAML } from '../helpers/local-env.ts';

describe('the config a bundle carries', () => {
  it('is the config the CLI resolves, as tidemark.config.json and nothing else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-package-'));
    try {
      writeFileSync(join(dir, 'tidemark.config.yaml'), EVENTS_YAML);
      mkdirSync(join(dir, 'out'));
      const config = resolveConfigForBuild(join(dir, 'tidemark.config.yaml'));
      assert.equal(writeResolvedConfig(config, join(dir, 'out'), dir), 'tidemark.config.json');
      assert.deepEqual(readdirSync(join(dir, 'out')), ['tidemark.config.json']);
      const read = readResolvedConfig(join(dir, 'out', 'tidemark.config.json'));
      assert.deepEqual({ ...read, file: '' }, { ...loadConfig({ file: join(dir, 'tidemark.config.yaml') }), file: '' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails the build with the messages `tidemark config check` prints', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-package-'));
    try {
      const file = join(dir, 'tidemark.config.yaml');
      writeFileSync(file, EVENTS_YAML.replace(/project: .*/, 'project: Bad_Project'));
      let checkMessage = '';
      try {
        loadConfig({ file });
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        checkMessage = err.message;
      }
      assert.match(checkMessage, /project/);
      assert.throws(
        () => resolveConfigForBuild(file),
        (err: unknown) => err instanceof BuildError && err.message.startsWith(checkMessage),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('deployPackageJson', () => {
  it('pins functions-framework only, CommonJS, node 22, no scripts', () => {
    const fn = discoverFunctions(process.cwd()).find((f) => f.name === 'audit-gaps')!;
    assert.deepEqual(deployPackageJson(fn, '1.2.3', '5.0.0'), {
      name: 'tidemark-audit-gaps',
      version: '1.2.3',
      private: true,
      description: 'tidemark auditGaps, bundled by scripts/build.ts (do not edit)',
      type: 'commonjs',
      main: 'index.js',
      engines: { node: '22' },
      dependencies: { [FRAMEWORK]: '5.0.0' },
    });
  });
  it("with lazy files, a gcp-build script (the buildpack's, not `build`) remakes their code caches on the runtime's Node", () => {
    const fn = discoverFunctions(process.cwd()).find((f) => f.name === 'audit-gaps')!;
    const pkg = deployPackageJson(fn, '1.2.3', '5.0.0', [
      'lazy/google-cloud-storage.cjs',
      'lazy/google-auth-library.cjs',
    ]);
    assert.deepEqual(pkg.scripts, {
      'gcp-build': 'node lazy/_code-cache.cjs --refresh lazy/google-cloud-storage.cjs lazy/google-auth-library.cjs',
    });
  });
});
