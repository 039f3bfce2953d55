/**
 * Writes cloudbuild.yaml: install, checks, bundles, the deploy manifest, `pulumi up`, one
 * `gcloud functions deploy` per function folder (in parallel), the after-deploy step, optional
 * live tests.
 *
 * cloudbuild.yaml holds no name from the config: it is one file for every config. The names
 * (topics, accounts, regions, sizes) are computed in the build from `_CONFIG`, the same file the
 * bundles carry and `pulumi up` reads: scripts/deploy-manifest.ts writes each deploy's gcloud
 * arguments to dist/deploy/<folder>.args and the after-deploy script, and the steps here run
 * them (infra/deploy-commands.ts says why). What this file fixes per function is only its folder,
 * from the function table (shared/deploy/functions.ts): a folder without a row fails generation.
 *
 *   npm run gen:cloudbuild            rewrite cloudbuild.yaml
 *   npm run gen:cloudbuild -- --check exit 1 if cloudbuild.yaml is not what would be written
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Document } from 'yaml';
import { functionRow } from '../shared/deploy/functions.ts';
import { discoverFunctions } from './build.ts';
import type { FunctionEntry } from './build.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Substitutions and their defaults (`gcloud builds submit --substitutions=_CONFIG=...`). */
export const SUBSTITUTIONS: Record<string, string> = {
  _CONFIG: 'tidemark.config.yaml',
  _PULUMI_BACKEND: 'gs://${PROJECT_ID}-pulumi-state',
  _PULUMI_STACK: 'prod',
  _RUN_LIVE_TESTS: 'false',
  _LIVE_BUCKET: '${PROJECT_ID}-tidemark-live',
  _BQ_LOCATION: 'US',
};

const NODE_IMAGE = 'node:22';
const GCLOUD_IMAGE = 'gcr.io/google.com/cloudsdktool/cloud-sdk';
/** The CLI release of the @pulumi/pulumi SDK in package.json (they are versioned together). */
export const PULUMI_IMAGE = 'pulumi/pulumi-nodejs:3.276.0';

export function deployStepId(fn: FunctionEntry): string {
  return `deploy-${fn.name}`;
}

/** Where the manifest step writes a function's gcloud arguments. */
export function argsFile(fn: FunctionEntry): string {
  return `dist/deploy/${fn.name}.args`;
}

/** Where the manifest step writes why a function is not deployed with this config (instead of its arguments). */
export function skipFile(fn: FunctionEntry): string {
  return `dist/deploy/${fn.name}.skip`;
}

/** A deploy step's script: the function's gcloud arguments, or the line saying why this config skips it. */
export function deployScript(fn: FunctionEntry): string {
  return `if [ -f ${skipFile(fn)} ]; then cat ${skipFile(fn)}; else mapfile -t args < ${argsFile(fn)} && gcloud "$\${args[@]}"; fi`;
}

interface Step {
  id: string;
  name: string;
  entrypoint: string;
  args: string[];
  dir?: string;
  env?: string[];
  waitFor?: string[];
}

function npm(id: string, args: string[], waitFor?: string[]): Step {
  return { id, name: NODE_IMAGE, entrypoint: 'npm', args, ...(waitFor ? { waitFor } : {}) };
}

/**
 * `pulumi up` on infra/ with its state in the `_PULUMI_BACKEND` bucket. node_modules/.bin goes
 * first on PATH: Node 22 (the `node` devDependency) and tsx, which infra/Pulumi.yaml runs the
 * program with. `$$` is a literal `$` for the shell (Cloud Build substitutes `$NAME`).
 */
const PULUMI_UP = [
  'set -euo pipefail',
  'export PATH="$$PWD/node_modules/.bin:$$PATH"',
  'pulumi login "$_PULUMI_BACKEND"',
  'pulumi stack select --create "$_PULUMI_STACK" --cwd infra',
  'pulumi up --yes --skip-preview --cwd infra --stack "$_PULUMI_STACK" --config "tidemark:config=$_CONFIG" --config "tidemark:project=$PROJECT_ID"',
].join('\n');

/** cloudbuild.yaml for these functions. Throws naming a folder that has no row in the function table. */
export function renderCloudbuild(fns: FunctionEntry[]): string {
  for (const fn of fns) functionRow(fn.name);
  const deploys: Step[] = fns.map((fn) => ({
    id: deployStepId(fn),
    name: GCLOUD_IMAGE,
    entrypoint: 'bash',
    // One argument per line, written by the manifest step from the config; or a .skip file when
    // the config does not deploy this function (the committer without a commit-mode dml table).
    args: ['-c', deployScript(fn)],
    waitFor: ['build', 'deploy-manifest', 'infra'],
  }));
  const steps: Step[] = [
    npm('install', ['ci']),
    // No separate linter: `npm run typecheck` (tsc --noEmit, strict) is the static check.
    npm('typecheck', ['run', 'typecheck'], ['install']),
    npm('test', ['test'], ['install']),
    npm('build', ['run', 'build', '--', '--config=$_CONFIG'], ['typecheck', 'test']),
    // The deploy commands, from the same config the bundles carry (after build: it rewrites dist/).
    npm('deploy-manifest', ['run', 'deploy:manifest', '--', '--config=$_CONFIG', '--project=$PROJECT_ID'], ['build']),
    {
      id: 'infra',
      name: PULUMI_IMAGE,
      entrypoint: 'bash',
      args: ['-c', PULUMI_UP],
      env: ['PULUMI_CONFIG_PASSPHRASE=', 'PULUMI_SKIP_UPDATE_CHECK=true'],
      waitFor: ['typecheck', 'test'],
    },
    ...deploys,
    // What only a deploy creates: run.invoker on each function's service, and the dead-letter
    // policy and service-agent grant on the subscription Eventarc made for the backfill trigger.
    {
      id: 'after-deploy',
      name: GCLOUD_IMAGE,
      entrypoint: 'bash',
      args: ['dist/deploy/after-deploy.sh'],
      env: ['PROJECT_NUMBER=$PROJECT_NUMBER'],
      waitFor: deploys.map((d) => d.id),
    },
    {
      id: 'live-tests',
      name: NODE_IMAGE,
      entrypoint: 'bash',
      args: [
        '-c',
        'if [ "$_RUN_LIVE_TESTS" = "true" ]; then npm run test:live; else echo "live tests skipped (_RUN_LIVE_TESTS=$_RUN_LIVE_TESTS)"; fi',
      ],
      // test-live/pipeline.test.ts: a scratch dataset in the project, objects under a random
      // prefix of a scratch bucket (not the lake: the deployed loader watches that one).
      env: [
        'TIDEMARK_LIVE_PROJECT=$PROJECT_ID',
        'TIDEMARK_LIVE_BUCKET=$_LIVE_BUCKET',
        'TIDEMARK_LIVE_LOCATION=$_BQ_LOCATION',
      ],
      waitFor: ['after-deploy'],
    },
  ];
  const doc = new Document({
    steps,
    substitutions: SUBSTITUTIONS,
    options: {
      logging: 'CLOUD_LOGGING_ONLY',
      // Defaults refer to ${PROJECT_ID}.
      dynamicSubstitutions: true,
    },
    timeout: '3600s',
  });
  doc.commentBefore =
    ' GENERATED by scripts/gen-cloudbuild.ts from the functions/ folders: do not edit by hand.\n' +
    ' Run `npm run gen:cloudbuild`; test/build/cloudbuild.test.ts checks this file. Names come from _CONFIG at build time.';
  return doc.toString({ lineWidth: 0 });
}

export function cloudbuildPath(root = ROOT): string {
  return join(root, 'cloudbuild.yaml');
}

function main(args: string[]): number {
  const text = renderCloudbuild(discoverFunctions(ROOT));
  const file = cloudbuildPath();
  if (args.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current === text) return 0;
    process.stderr.write(`${file} is stale: run npm run gen:cloudbuild\n`);
    return 1;
  }
  writeFileSync(file, text);
  process.stdout.write(`wrote ${file}\n`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = main(process.argv.slice(2));
}
