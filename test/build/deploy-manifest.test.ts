/**
 * scripts/deploy-manifest.ts: the files the build writes from the config, read back the way the
 * cloudbuild deploy steps read them (`mapfile -t args < F && gcloud "${args[@]}"`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { afterDeployScript, deployCommands, skippedDeploys } from '../../infra/deploy-commands.ts';
import { loadDeploySettings } from '../../infra/deploy-config.ts';
import { loadConfig } from '../../shared/config/load.ts';
import { writeDeployManifest } from '../../scripts/deploy-manifest.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tidemark-manifest-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of the example config with `edit` applied to its text. */
function config(edit: (text: string) => string): string {
  const folder = mkdtempSync(join(dir, 'c-'));
  mkdirSync(join(folder, 'schemas'));
  copyFileSync(join(EXAMPLES, 'schemas/events.json'), join(folder, 'schemas/events.json'));
  const file = join(folder, 'tidemark.config.yaml');
  writeFileSync(file, edit(readFileSync(join(EXAMPLES, 'tidemark.config.yaml'), 'utf8')));
  return file;
}

/** The arguments bash hands gcloud, as the deploy step reads them. */
function bashArgs(file: string): string[] {
  const run = spawnSync('bash', ['-c', `mapfile -t args < "$1" && printf '%s\\0' "\${args[@]}"`, 'bash', file], {
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.split('\0').slice(0, -1);
}

describe('the deploy manifest', () => {
  it("writes each function's gcloud arguments, read back by bash exactly, and the after-deploy script, for the config given", () => {
    const file = config((t) =>
      `${t}\ntopics: { backfill: team-backfill, audit: team-audit }\n`.replace(
        'lakeRegion: asia-northeast3',
        'lakeRegion: asia-northeast3\n  serviceAccountPrefix: team',
      ),
    );
    const out = join(dir, 'out1');
    const written = writeDeployManifest({ config: file, project: 'p-123', out });
    const cfg = { ...loadConfig({ file }), project: 'p-123' };
    const deploy = loadDeploySettings(file);
    const commands = deployCommands(cfg, deploy);
    // The example has no commit-mode dml table: the committer gets a .skip file saying so.
    assert.deepEqual(
      written.sort(),
      [
        ...commands.map((c) => join(out, `${c.folder}.args`)),
        join(out, 'commit-tables.skip'),
        join(out, 'after-deploy.sh'),
      ].sort(),
    );
    assert.equal(readFileSync(join(out, 'commit-tables.skip'), 'utf8'), `${skippedDeploys(cfg)[0]!.reason}\n`);
    for (const c of commands) assert.deepEqual(bashArgs(join(out, `${c.folder}.args`)), c.args);
    const backfill = bashArgs(join(out, 'backfill-partition.args'));
    assert.ok(backfill.includes('--trigger-topic=team-backfill'));
    assert.ok(
      backfill.includes('team-backfill') &&
        backfill.includes('--service-account=team-backfill@p-123.iam.gserviceaccount.com'),
    );
    assert.equal(readFileSync(join(out, 'after-deploy.sh'), 'utf8'), afterDeployScript(cfg, deploy));
    assert.ok(statSync(join(out, 'after-deploy.sh')).mode & 0o100, 'executable');
  });

  it("with a commit-mode dml table, writes the committer's arguments and removes a skip file left from before", () => {
    const out = join(dir, 'out3');
    writeDeployManifest({ config: config((t) => t), out });
    assert.ok(statSync(join(out, 'commit-tables.skip')).isFile());
    const file = config((t) =>
      t.replace('schema: schemas/events.json', 'schema: schemas/events.json\n    commit: { mode: dml }'),
    );
    writeDeployManifest({ config: file, project: 'p-123', out });
    assert.throws(() => statSync(join(out, 'commit-tables.skip')));
    const args = bashArgs(join(out, 'commit-tables.args'));
    assert.ok(args.includes('--trigger-topic=tidemark-commit'));
    assert.ok(args.includes('--service-account=tidemark-committer@p-123.iam.gserviceaccount.com'));
    assert.ok(!args.includes('--retry'));
  });

  it('a bad deploy: value stops it with the key named, writing nothing', () => {
    const file = config((t) => t.replace('region: asia-northeast3', 'region: nowhere'));
    const out = join(dir, 'out2');
    assert.throws(() => writeDeployManifest({ config: file, out }), /deploy\.region/);
    assert.throws(() => statSync(out));
  });
});
