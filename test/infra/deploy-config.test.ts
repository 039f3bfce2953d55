/** The `deploy:` section: defaults, overrides from flags, and errors that name the key path. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadDeploySettings, parseDeploySettings } from '../../infra/deploy-config.ts';
import { ConfigError } from '../../shared/core/errors.ts';

const DEFAULTS = {
  region: 'asia-northeast3',
  lakeRegion: 'asia-northeast3',
  serviceAccountPrefix: 'tidemark',
  backfill: { maxDeliveryAttempts: 10, maxInstances: 10 },
  loader: { maxInstances: 20, memory: '512Mi', timeoutSeconds: 540 },
  auditor: { memory: '512Mi', timeoutSeconds: 540 },
};

describe('parseDeploySettings', () => {
  const valid: { name: string; raw: unknown; overrides?: Parameters<typeof parseDeploySettings>[2]; want: unknown }[] =
    [
      { name: 'no deploy section', raw: undefined, want: DEFAULTS },
      { name: 'an empty section', raw: null, want: DEFAULTS },
      {
        name: 'a nested value, others defaulted',
        raw: { loader: { memory: '1Gi' } },
        want: { ...DEFAULTS, loader: { ...DEFAULTS.loader, memory: '1Gi' } },
      },
      {
        name: '--region over the file',
        raw: { region: 'us-central1' },
        overrides: { region: 'europe-west1' },
        want: { ...DEFAULTS, region: 'europe-west1' },
      },
      {
        name: 'an undefined override leaves the file value',
        raw: { region: 'us-central1' },
        overrides: { region: undefined },
        want: { ...DEFAULTS, region: 'us-central1' },
      },
    ];
  for (const { name, raw, overrides, want } of valid) {
    it(`accepts ${name}`, () => assert.deepEqual(parseDeploySettings(raw, 'cfg.yaml', overrides), want));
  }

  const invalid: {
    name: string;
    raw: unknown;
    overrides?: Parameters<typeof parseDeploySettings>[2];
    issues: { path: string; message: RegExp }[];
  }[] = [
    {
      name: 'an unknown top-level key',
      raw: { regoin: 'x' },
      issues: [{ path: 'deploy.regoin', message: /unknown key/ }],
    },
    {
      name: 'an unknown nested key',
      raw: { loader: { memroy: '1Gi' } },
      issues: [{ path: 'deploy.loader.memroy', message: /unknown key/ }],
    },
    {
      name: 'too few delivery attempts',
      raw: { backfill: { maxDeliveryAttempts: 3 } },
      issues: [{ path: 'deploy.backfill.maxDeliveryAttempts', message: />=\s*5/ }],
    },
    {
      name: 'a timeout over 540 s',
      raw: { auditor: { timeoutSeconds: 900 } },
      issues: [{ path: 'deploy.auditor.timeoutSeconds', message: /<=\s*540/ }],
    },
    {
      name: 'a memory size without unit',
      raw: { loader: { memory: '512' } },
      issues: [{ path: 'deploy.loader.memory', message: /512Mi or 1Gi/ }],
    },
    {
      name: 'a bad --region',
      raw: {},
      overrides: { region: 'Seoul' },
      issues: [{ path: 'deploy.region', message: /Cloud region/ }],
    },
    {
      name: 'a prefix too long for service account ids',
      raw: { serviceAccountPrefix: 'a-very-long-prefix-for-ids' },
      issues: [{ path: 'deploy.serviceAccountPrefix', message: /3-20 characters/ }],
    },
    {
      // 21 + `-committer` would be a 31-character account id (the limit is 30).
      name: 'a 21-character prefix',
      raw: { serviceAccountPrefix: 'abcdefghij-klmnopqrst' },
      issues: [{ path: 'deploy.serviceAccountPrefix', message: /3-20 characters/ }],
    },
    { name: 'a list', raw: ['region'], issues: [{ path: 'deploy', message: /mapping/ }] },
  ];
  for (const { name, raw, overrides, issues } of invalid) {
    it(`rejects ${name}, naming the key`, () => {
      assert.throws(
        () => parseDeploySettings(raw, 'cfg.yaml', overrides),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.equal(err.file, 'cfg.yaml');
          assert.deepEqual(
            err.issues.map((i) => i.path),
            issues.map((i) => i.path),
          );
          err.issues.forEach((issue, n) => assert.match(issue.message, issues[n]!.message));
          return true;
        },
      );
    });
  }
});

describe('loadDeploySettings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-deploy-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads deploy: from the raw YAML and ignores the rest of the file', () => {
    const file = join(dir, 'tidemark.config.yaml');
    writeFileSync(
      file,
      'project: p\nlocation: US\ntables: []\ndeploy:\n  region: us-east1\n  backfill: { maxInstances: 3 }\n',
    );
    assert.deepEqual(loadDeploySettings(file, { region: 'us-west1' }), {
      ...DEFAULTS,
      region: 'us-west1',
      backfill: { ...DEFAULTS.backfill, maxInstances: 3 },
    });
  });

  it('reports YAML that does not parse as a ConfigError on the file', () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'deploy: [unclosed\n');
    assert.throws(
      () => loadDeploySettings(file),
      (err: unknown) => err instanceof ConfigError && err.file === file,
    );
  });
});
