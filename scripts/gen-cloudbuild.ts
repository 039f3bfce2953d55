/**
 * Writes cloudbuild.yaml: install, checks, bundles, `tidemark infra apply`, one
 * `gcloud functions deploy` per function folder (in parallel), infra again, optional live tests.
 *
 * The deploy steps are generated, not hand-kept, so the flags every function shares (runtime,
 * --gen2, --no-allow-unauthenticated, the env, waitFor) are written once, and the names come
 * from infra/ (function and service account `<prefix>-<role>`, which `tidemark infra` grants
 * roles to). What differs per function is the DEPLOYS table below. A function folder without a
 * row fails generation; test/build/cloudbuild.test.ts fails when cloudbuild.yaml is stale.
 *
 *   npm run gen:cloudbuild            rewrite cloudbuild.yaml
 *   npm run gen:cloudbuild -- --check exit 1 if cloudbuild.yaml is not what would be written
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Document } from 'yaml';
import { parseDeploySettings } from '../infra/deploy-config.ts';
import { functionNames } from '../infra/desired.ts';
import type { FunctionRole } from '../infra/iam.ts';
import { discoverFunctions } from './build.ts';
import type { FunctionEntry } from './build.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export type Trigger = { kind: 'storage-finalized' } | { kind: 'topic'; topic: string } | { kind: 'http' };

/** How one function is deployed, beyond what every function shares. */
export interface DeploySpec {
  /** Names the function and its service account: `tidemark-<role>` (infra/iam.ts; `ingest`: shared/deploy/functions.ts). */
  role: FunctionRole | 'ingest';
  /** The storage trigger must run in the bucket's region; the rest in $_REGION. */
  region: '$_REGION' | '$_LAKE_REGION';
  trigger: Trigger;
  /** Redeliver failed events (transient errors are thrown for exactly this). */
  retry: boolean;
  memory: string;
  timeoutSeconds: number;
  maxInstances: number;
}

/** infra's defaults for the `deploy:` section, so both read the same numbers. */
const infra = parseDeploySettings(undefined, '(defaults)');

/** Per function folder. Topic names are the config's defaults (TopicsConfig). */
export const DEPLOYS: Record<string, DeploySpec> = {
  'load-on-finalize': {
    role: 'loader',
    region: '$_LAKE_REGION',
    trigger: { kind: 'storage-finalized' },
    retry: true,
    memory: infra.loader.memory,
    timeoutSeconds: infra.loader.timeoutSeconds,
    maxInstances: infra.loader.maxInstances,
  },
  'audit-gaps': {
    role: 'auditor',
    region: '$_REGION',
    trigger: { kind: 'topic', topic: 'tidemark-audit' },
    // The next scheduled audit covers a failed one.
    retry: false,
    memory: infra.auditor.memory,
    timeoutSeconds: infra.auditor.timeoutSeconds,
    // One audit at a time: Scheduler never overlaps runs, and a redelivery must not either.
    maxInstances: 1,
  },
  'backfill-partition': {
    role: 'backfill',
    region: '$_REGION',
    trigger: { kind: 'topic', topic: 'tidemark-backfill' },
    // Retried with backoff; after the delivery policy's attempts, dead-lettered.
    retry: true,
    memory: infra.loader.memory,
    timeoutSeconds: infra.loader.timeoutSeconds,
    maxInstances: infra.backfill.maxInstances,
  },
  'ingest-events': {
    role: 'ingest',
    // Beside the lake bucket and the stream topics' storage region.
    region: '$_LAKE_REGION',
    trigger: { kind: 'http' },
    // HTTP: the caller retries (a 503 tells it to).
    retry: false,
    memory: infra.loader.memory,
    timeoutSeconds: 60,
    maxInstances: infra.loader.maxInstances,
  },
};

/** Substitutions and their defaults (`gcloud builds submit --substitutions=_REGION=...`). */
export const SUBSTITUTIONS: Record<string, string> = {
  _REGION: 'asia-northeast3',
  _LAKE_REGION: 'asia-northeast3',
  _LAKE_BUCKET: '${PROJECT_ID}-lake',
  _BQ_LOCATION: 'US',
  _RUN_LIVE_TESTS: 'false',
  _LIVE_BUCKET: '${PROJECT_ID}-tidemark-live',
  _CONFIG: 'tidemark.config.yaml',
};

const NODE_IMAGE = 'node:22';
const GCLOUD_IMAGE = 'gcr.io/google.com/cloudsdktool/cloud-sdk';

export function deployStepId(fn: FunctionEntry): string {
  return `deploy-${fn.name}`;
}

/** The `gcloud` arguments that deploy one function. */
export function deployArgs(fn: FunctionEntry, spec: DeploySpec): string[] {
  // functionNames only joins prefix and role; the ingest role is not one of infra's (yet).
  const names = functionNames('$PROJECT_ID', { serviceAccountPrefix: 'tidemark' }, spec.role as FunctionRole);
  const trigger =
    spec.trigger.kind === 'storage-finalized'
      ? [
          '--trigger-event-filters=type=google.cloud.storage.object.v1.finalized',
          '--trigger-event-filters=bucket=$_LAKE_BUCKET',
          '--trigger-location=$_LAKE_REGION',
        ]
      : spec.trigger.kind === 'topic'
        ? [`--trigger-topic=${spec.trigger.topic}`]
        : ['--trigger-http'];
  return [
    'functions',
    'deploy',
    names.function,
    '--gen2',
    '--runtime=nodejs22',
    '--project=$PROJECT_ID',
    `--region=${spec.region}`,
    `--source=dist/${fn.name}`,
    `--entry-point=${fn.entryPoint}`,
    `--service-account=${names.serviceAccountEmail}`,
    `--memory=${spec.memory}`,
    `--timeout=${spec.timeoutSeconds}s`,
    `--max-instances=${spec.maxInstances}`,
    // Every bundle carries its config as tidemark.config.yaml beside index.js (scripts/build.ts).
    '--set-env-vars=TIDEMARK_CONFIG=tidemark.config.yaml,TIDEMARK_LOG_LEVEL=info',
    ...trigger,
    // Its own account invokes it (infra grants run.invoker on the function to it alone); an HTTP
    // function is invoked by its callers (run.invoker granted to them).
    ...(spec.trigger.kind === 'http' ? [] : [`--trigger-service-account=${names.serviceAccountEmail}`]),
    ...(spec.retry ? ['--retry'] : []),
    '--no-allow-unauthenticated',
  ];
}

interface Step {
  id: string;
  name: string;
  entrypoint: string;
  args: string[];
  env?: string[];
  waitFor?: string[];
}

function npm(id: string, args: string[], waitFor?: string[]): Step {
  return { id, name: NODE_IMAGE, entrypoint: 'npm', args, ...(waitFor ? { waitFor } : {}) };
}

function infraApply(id: string, waitFor: string[]): Step {
  return {
    id,
    name: NODE_IMAGE,
    entrypoint: 'npx',
    args: ['tidemark', 'infra', 'apply', '--backend', 'gcp', '--project', '$PROJECT_ID', '--region', '$_REGION', '--lake-region', '$_LAKE_REGION'],
    env: ['TIDEMARK_CONFIG=$_CONFIG'],
    waitFor,
  };
}

/** cloudbuild.yaml for these functions. Throws naming a folder that has no DEPLOYS row. */
export function renderCloudbuild(fns: FunctionEntry[]): string {
  const missing = fns.filter((fn) => !DEPLOYS[fn.name]);
  if (missing.length) {
    throw new Error(`no deploy settings for ${missing.map((f) => `functions/${f.name}`).join(', ')}: add a row to DEPLOYS in scripts/gen-cloudbuild.ts`);
  }
  const deploys = fns.map((fn) => ({ id: deployStepId(fn), name: GCLOUD_IMAGE, entrypoint: 'gcloud', args: deployArgs(fn, DEPLOYS[fn.name]!), waitFor: ['build', 'infra'] }));
  const steps: Step[] = [
    npm('install', ['ci']),
    // No separate linter: `npm run typecheck` (tsc --noEmit, strict) is the static check.
    npm('typecheck', ['run', 'typecheck'], ['install']),
    npm('test', ['test'], ['install']),
    npm('build', ['run', 'build', '--', '--config=$_CONFIG'], ['typecheck', 'test']),
    infraApply('infra', ['build']),
    ...deploys,
    // Eventarc creates the backfill trigger's subscription at deploy: now its dead-letter
    // policy can be set, and run.invoker granted on the new services.
    infraApply('infra-after-deploy', deploys.map((d) => d.id)),
    {
      id: 'live-tests',
      name: NODE_IMAGE,
      entrypoint: 'bash',
      args: ['-c', 'if [ "$_RUN_LIVE_TESTS" = "true" ]; then npm run test:live; else echo "live tests skipped (_RUN_LIVE_TESTS=$_RUN_LIVE_TESTS)"; fi'],
      // test-live/pipeline.test.ts: a scratch dataset in the project, objects under a random
      // prefix of a scratch bucket (not the lake: the deployed loader watches that one).
      env: ['TIDEMARK_LIVE_PROJECT=$PROJECT_ID', 'TIDEMARK_LIVE_BUCKET=$_LIVE_BUCKET', 'TIDEMARK_LIVE_LOCATION=$_BQ_LOCATION'],
      waitFor: ['infra-after-deploy'],
    },
  ];
  const doc = new Document({
    steps,
    substitutions: SUBSTITUTIONS,
    options: {
      logging: 'CLOUD_LOGGING_ONLY',
      // _LAKE_BUCKET's and _LIVE_BUCKET's defaults refer to ${PROJECT_ID}.
      dynamicSubstitutions: true,
    },
    timeout: '3600s',
  });
  doc.commentBefore =
    ' GENERATED by scripts/gen-cloudbuild.ts from the functions/ folders: do not edit by hand.\n' +
    ' Change DEPLOYS there and run `npm run gen:cloudbuild`; test/build/cloudbuild.test.ts checks this file.';
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
