/**
 * cloudbuild.yaml as Cloud Build will read it: generated from the function folders, one deploy
 * step per function running the gcloud arguments the manifest step computed from the config,
 * deploys in parallel after the bundles and `pulumi up`, a default for every substitution; and
 * every `gcloud functions deploy` the manifest writes (for the example config) accepted by the
 * installed gcloud's own argument parser.
 *
 * gcloud parses a command's flags before it needs credentials, so with a throwaway config dir
 * (no account) a well-formed deploy exits 1 asking for an account, while a malformed one exits 2
 * naming the argument. Nothing reaches the network either way. The test proves it can tell the
 * two apart by breaking a command on purpose.
 */
import { BACKFILL_DELIVERY } from '../../infra/delivery.ts';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { discoverFunctions } from '../../scripts/build.ts';
import { argsFile, cloudbuildPath, renderCloudbuild, skipFile } from '../../scripts/gen-cloudbuild.ts';
import { afterDeployScript, deployCommands, skippedDeploys } from '../../infra/deploy-commands.ts';
import { loadDeploySettings } from '../../infra/deploy-config.ts';
import { loadConfig } from '../../shared/config/load.ts';
import type { StreamConfig } from '../../shared/config/types.ts';
import { gcloudBatch } from '../helpers/gcloud-batch.ts';
import type { GcloudOutcome } from '../helpers/gcloud-batch.ts';
import { findOnPath } from '../helpers/which.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FUNCTIONS = discoverFunctions(ROOT);
const TEXT = readFileSync(cloudbuildPath(ROOT), 'utf8');

interface Step {
  id: string;
  name: string;
  entrypoint?: string;
  args?: string[];
  env?: string[];
  waitFor?: string[];
}

interface CloudBuild {
  steps: Step[];
  substitutions: Record<string, string>;
  options: Record<string, unknown>;
}

const BUILD = parse(TEXT) as CloudBuild;
const DEPLOY_STEPS = BUILD.steps.filter((s) => s.id.startsWith('deploy-') && s.id !== 'deploy-manifest');

/**
 * The deploy commands the manifest step writes for the example config (examples/tidemark.config.yaml),
 * with its events table in commit mode dml so that every function is deployed (the committer
 * only is with a dml table).
 */
const EXAMPLE_FILE = join(ROOT, 'examples/tidemark.config.yaml');
const EXAMPLE_LOAD = loadConfig({ file: EXAMPLE_FILE });
const EXAMPLE = {
  ...EXAMPLE_LOAD,
  tables: EXAMPLE_LOAD.tables.map((t) =>
    t.name === 'events' ? { ...t, commit: { ...t.commit, mode: 'dml' as const } } : t,
  ),
};
const COMMANDS = deployCommands({ ...EXAMPLE, project: 'tidemark-sample' }, loadDeploySettings(EXAMPLE_FILE));
const AFTER_DEPLOY = afterDeployScript({ ...EXAMPLE, project: 'tidemark-sample' }, loadDeploySettings(EXAMPLE_FILE));

/**
 * Runs the after-deploy script with a fake `gcloud` first on PATH that records each invocation
 * (NUL-separated arguments, one file per call) and answers the two lookups the way gcloud would.
 */
function recordAfterDeploy(
  env: Record<string, string>,
  script = AFTER_DEPLOY,
): { code: number | null; stderr: string; calls: string[][] } {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-after-'));
  try {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(
      join(bin, 'gcloud'),
      [
        '#!/usr/bin/env bash',
        `n=$(ls ${dir}/calls 2>/dev/null | wc -l); mkdir -p ${dir}/calls`,
        `printf '%s\\0' "$@" > ${dir}/calls/$(printf %03d "$n")`,
        'if [ "$1 $2" = "functions describe" ]; then echo projects/tidemark-sample/locations/asia-northeast3/triggers/backfill-123; fi',
        'if [ "$1 $2 $3" = "eventarc triggers describe" ]; then echo projects/tidemark-sample/subscriptions/eventarc-asia-northeast3-backfill-123-sub-1; fi',
      ].join('\n'),
    );
    chmodSync(join(bin, 'gcloud'), 0o755);
    writeFileSync(join(dir, 'after-deploy.sh'), script);
    const run = spawnSync('bash', [join(dir, 'after-deploy.sh')], {
      env: { PATH: `${bin}${delimiter}${process.env.PATH}`, ...env },
      encoding: 'utf8',
    });
    const callDir = join(dir, 'calls');
    const calls = existsSync(callDir)
      ? readdirSync(callDir)
          .sort()
          .map((f) => readFileSync(join(callDir, f), 'utf8').split('\0').slice(0, -1))
      : [];
    return { code: run.status, stderr: run.stderr, calls };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const AFTER = recordAfterDeploy({ PROJECT_NUMBER: '123456789' });

/** The flag's values (`--x=v`), in order. */
function flag(args: string[], name: string): string[] {
  return args.filter((a) => a.startsWith(`${name}=`)).map((a) => a.slice(name.length + 1));
}

/** What the brief fixes per function: trigger, region, retry. Independent of the generator's table. */
const TRIGGERS: Record<string, { region: string; trigger: string[]; retry: boolean }> = {
  loadOnFinalize: {
    region: 'asia-northeast3',
    trigger: [
      '--trigger-event-filters=type=google.cloud.storage.object.v1.finalized',
      '--trigger-event-filters=bucket=lake-seoul',
      '--trigger-location=asia-northeast3',
    ],
    retry: true,
  },
  auditGaps: { region: 'asia-northeast3', trigger: ['--trigger-topic=tidemark-audit'], retry: false },
  backfillPartition: { region: 'asia-northeast3', trigger: ['--trigger-topic=tidemark-backfill'], retry: true },
  commitTables: { region: 'asia-northeast3', trigger: ['--trigger-topic=tidemark-commit'], retry: false },
};
const TRIGGER_FLAGS = [
  '--trigger-event-filters',
  '--trigger-location',
  '--trigger-topic',
  '--trigger-http',
  '--trigger-bucket',
  '--trigger-resource',
  '--trigger-event',
];

/** Cloud Build's built-in substitutions this file may use. */
const BUILTINS: Record<string, string> = {
  PROJECT_ID: 'tidemark-sample',
  BUILD_ID: 'b-1',
  PROJECT_NUMBER: '123456789',
  LOCATION: 'global',
};

/** Every `$NAME` / `${NAME}` Cloud Build substitutes (`$$` is a literal `$` for the shell). */
function references(text: string): string[] {
  return [...text.replace(/\$\$/g, '').matchAll(/\$\{?([A-Z_][A-Z0-9_]*)\}?/g)].map((m) => m[1]!);
}

describe('cloudbuild.yaml', () => {
  it('is what scripts/gen-cloudbuild.ts writes for the function folders (run npm run gen:cloudbuild)', () => {
    assert.equal(TEXT, renderCloudbuild(FUNCTIONS));
  });

  it('names nothing the config names: no topic, account, region or bucket is written into it', () => {
    for (const word of [
      'tidemark-audit',
      'tidemark-backfill',
      'tidemark-loader',
      'iam.gserviceaccount.com',
      'asia-northeast3',
      'lake-seoul',
      '--trigger-topic',
      '--max-instances',
    ]) {
      assert.ok(!TEXT.includes(word), `cloudbuild.yaml contains ${word}: it belongs in the deploy manifest`);
    }
  });

  it('a function folder without a row in the function table fails generation, naming the folder and the table', () => {
    assert.throws(
      () =>
        renderCloudbuild([
          ...FUNCTIONS,
          {
            name: 'new-thing',
            entryPoint: 'newThing',
            entry: 'functions/new-thing/index.ts',
          } as unknown as (typeof FUNCTIONS)[number],
        ]),
      /functions\/new-thing has no entry in the function table: add a row to FUNCTION_TABLE in shared\/deploy\/functions\.ts/,
    );
  });

  it('has exactly one deploy step per function folder, each running the gcloud arguments the manifest wrote for it', () => {
    assert.ok(FUNCTIONS.length > 0);
    assert.equal(DEPLOY_STEPS.length, FUNCTIONS.length);
    for (const fn of FUNCTIONS) {
      const steps = DEPLOY_STEPS.filter((s) => s.args?.join(' ').includes(` < ${argsFile(fn)} `));
      assert.equal(steps.length, 1, `deploy steps reading ${argsFile(fn)}`);
      assert.equal(steps[0]!.name, 'gcr.io/google.com/cloudsdktool/cloud-sdk');
      assert.deepEqual(steps[0]!.args, [
        '-c',
        `if [ -f ${skipFile(fn)} ]; then cat ${skipFile(fn)}; else mapfile -t args < ${argsFile(fn)} && gcloud "$\${args[@]}"; fi`,
      ]);
    }
    assert.deepEqual(
      COMMANDS.map((c) => c.folder).sort(),
      FUNCTIONS.map((f) => f.name).sort(),
      'one command per folder',
    );
  });

  it('without a commit-mode dml table, the committer is skipped (its step prints why) and every other function deployed', () => {
    const load = deployCommands({ ...EXAMPLE_LOAD, project: 'tidemark-sample' }, loadDeploySettings(EXAMPLE_FILE));
    const skipped = skippedDeploys(EXAMPLE_LOAD);
    assert.deepEqual(
      skipped.map((s) => s.folder),
      ['commit-tables'],
    );
    assert.match(skipped[0]!.reason, /not deployed with this config: no table has commit\.mode dml/);
    assert.deepEqual(
      [...load.map((c) => c.folder), ...skipped.map((s) => s.folder)].sort(),
      FUNCTIONS.map((f) => f.name).sort(),
    );
    assert.deepEqual(skippedDeploys(EXAMPLE), []);
  });

  it('a deploy step runs the arguments, or prints the skip file instead, as bash reads them', () => {
    const fn = FUNCTIONS.find((f) => f.name === 'commit-tables')!;
    const step = DEPLOY_STEPS.find((s) => s.id === `deploy-${fn.name}`)!;
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-step-'));
    try {
      const bin = join(dir, 'bin');
      mkdirSync(join(dir, 'dist/deploy'), { recursive: true });
      mkdirSync(bin);
      writeFileSync(join(bin, 'gcloud'), '#!/usr/bin/env bash\nprintf "gcloud %s\\n" "$*"\n');
      chmodSync(join(bin, 'gcloud'), 0o755);
      // Cloud Build turns `$$` into `$` before bash sees the script.
      const script = step.args![1]!.replace(/\$\$/g, '$');
      const run = () =>
        spawnSync('bash', ['-c', script], {
          cwd: dir,
          env: { PATH: `${bin}${delimiter}${process.env.PATH}` },
          encoding: 'utf8',
        });
      writeFileSync(join(dir, argsFile(fn)), 'functions\ndeploy\ntidemark-committer\n');
      assert.equal(run().stdout, 'gcloud functions deploy tidemark-committer\n');
      writeFileSync(join(dir, skipFile(fn)), 'not deployed\n');
      assert.equal(run().stdout, 'not deployed\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const fn of FUNCTIONS) {
    it(`deploys ${fn.name} as ${fn.entryPoint}: gen2, nodejs22, private, its own service account, its trigger`, () => {
      const args = COMMANDS.find((c) => c.folder === fn.name)!.args;
      assert.deepEqual(args.slice(0, 2), ['functions', 'deploy']);
      assert.deepEqual(flag(args, '--source'), [`dist/${fn.name}`]);
      assert.deepEqual(flag(args, '--entry-point'), [fn.entryPoint]);
      assert.deepEqual(flag(args, '--runtime'), ['nodejs22']);
      assert.deepEqual(flag(args, '--project'), ['tidemark-sample']);
      assert.ok(args.includes('--gen2'));
      assert.ok(args.includes('--no-allow-unauthenticated'));
      assert.ok(
        !args.some((a) => a === '--allow-unauthenticated' || a.startsWith('--allow-unauthenticated=')),
        'never public',
      );
      for (const f of ['--memory', '--timeout', '--max-instances']) assert.equal(flag(args, f).length, 1, f);
      const env = flag(args, '--set-env-vars');
      assert.equal(env.length, 1);
      assert.ok(
        env[0]!.split(',').includes('TIDEMARK_CONFIG=tidemark.config.yaml'),
        'the config the bundle carries beside index.js',
      );

      const [account] = flag(args, '--service-account');
      assert.match(account ?? '', /^tidemark-[a-z]+@tidemark-sample\.iam\.gserviceaccount\.com$/);
      const others = COMMANDS.filter((c) => c.folder !== fn.name).flatMap((c) => flag(c.args, '--service-account'));
      assert.ok(!others.includes(account!), `${account} is used by another function`);
      // Event functions are invoked by their own account; an HTTP function by its callers.
      assert.deepEqual(
        flag(args, '--trigger-service-account'),
        args.includes('--trigger-http') ? [] : [account],
        'its own account invokes it',
      );

      const expected = TRIGGERS[fn.entryPoint];
      if (!expected) return; // a new function: the basics above, and gcloud's parse below
      assert.deepEqual(flag(args, '--region'), [expected.region]);
      const triggerArgs = args.filter((a) => TRIGGER_FLAGS.some((f) => a.startsWith(`${f}=`)));
      assert.deepEqual(triggerArgs.sort(), [...expected.trigger].sort());
      assert.equal(args.includes('--retry'), expected.retry, '--retry');
    });
  }

  it('writes the manifest after the bundles, runs pulumi up after the checks, deploys in parallel after both, then after-deploy and the optional live tests', () => {
    const byId = new Map(BUILD.steps.map((s) => [s.id, s]));
    assert.equal(byId.size, BUILD.steps.length, 'step ids are unique');
    const deployIds = DEPLOY_STEPS.map((s) => s.id);
    for (const s of DEPLOY_STEPS)
      assert.deepEqual(
        [...(s.waitFor ?? [])].sort(),
        ['build', 'deploy-manifest', 'infra'],
        `${s.id} waits for build, manifest and infra`,
      );
    assert.deepEqual(byId.get('build')?.args, ['run', 'build', '--', '--config=$_CONFIG']);
    assert.deepEqual(byId.get('deploy-manifest')?.args, [
      'run',
      'deploy:manifest',
      '--',
      '--config=$_CONFIG',
      '--project=$PROJECT_ID',
    ]);
    assert.deepEqual(
      byId.get('deploy-manifest')?.waitFor,
      ['build'],
      'build rewrites dist/: the manifest comes after it',
    );
    const infra = byId.get('infra')!;
    assert.match(infra.name, /^pulumi\/pulumi-nodejs:/);
    assert.deepEqual([...(infra.waitFor ?? [])].sort(), ['test', 'typecheck']);
    const script = infra.args!.join(' ');
    assert.match(script, /pulumi login "\$_PULUMI_BACKEND"/);
    assert.match(
      script,
      /pulumi up --yes .*--cwd infra .*tidemark:config=\$_CONFIG/,
      'pulumi reads the same config as the build',
    );
    assert.deepEqual([...(byId.get('after-deploy')?.waitFor ?? [])].sort(), [...deployIds].sort());
    assert.deepEqual(byId.get('after-deploy')?.args, ['dist/deploy/after-deploy.sh']);
    assert.ok(byId.get('after-deploy')?.env?.includes('PROJECT_NUMBER=$PROJECT_NUMBER'));
    for (const id of ['install', 'typecheck', 'test', 'build'])
      assert.equal(byId.get(id)?.name, 'node:22', `${id} runs on node:22`);
    const live = byId.get('live-tests');
    assert.deepEqual(live?.waitFor, ['after-deploy']);
    assert.match(live?.args?.join(' ') ?? '', /if \[ "\$_RUN_LIVE_TESTS" = "true" \]; then npm run test:live;/);
    // The live suite skips unless these are set: a step without them would test nothing.
    for (const v of ['TIDEMARK_LIVE_PROJECT=$PROJECT_ID', 'TIDEMARK_LIVE_BUCKET=$_LIVE_BUCKET'])
      assert.ok(live?.env?.includes(v), `live-tests sets ${v}`);
    assert.equal(BUILD.options.logging, 'CLOUD_LOGGING_ONLY');
  });

  it('has a default for every substitution it uses, and uses every one it defines', () => {
    const used = new Set(references(TEXT.replace(/^#.*$/gm, '')));
    for (const name of [
      '_CONFIG',
      '_PULUMI_BACKEND',
      '_PULUMI_STACK',
      '_BQ_LOCATION',
      '_RUN_LIVE_TESTS',
      '_LIVE_BUCKET',
    ]) {
      assert.ok(
        typeof BUILD.substitutions[name] === 'string' && BUILD.substitutions[name] !== '',
        `${name} has a default`,
      );
    }
    assert.equal(BUILD.substitutions._CONFIG, 'tidemark.config.yaml');
    assert.match(BUILD.substitutions._PULUMI_BACKEND!, /^gs:\/\//);
    assert.equal(BUILD.substitutions._RUN_LIVE_TESTS, 'false');
    for (const name of used)
      assert.ok(name in BUILTINS || name in BUILD.substitutions, `$${name} is neither built in nor defined`);
    for (const name of Object.keys(BUILD.substitutions)) assert.ok(used.has(name), `${name} is defined but never used`);
    if (Object.values(BUILD.substitutions).some((v) => references(v).length))
      assert.equal(
        BUILD.options.dynamicSubstitutions,
        true,
        'defaults that refer to other variables need dynamicSubstitutions',
      );
  });
});

describe('the after-deploy script (what only a deploy creates)', () => {
  const SUB = 'projects/tidemark-sample/subscriptions/eventarc-asia-northeast3-backfill-123-sub-1';
  it('finds the subscription Eventarc made for the backfill trigger, sets its dead-letter and retry policy, grants the Pub/Sub agent on it, and run.invoker per function', () => {
    assert.equal(AFTER.code, 0, AFTER.stderr);
    const lines = AFTER.calls.map((c) => c.join(' '));
    const invokers = AFTER.calls.filter((c) => c[1] === 'add-invoker-policy-binding');
    assert.deepEqual(invokers.map((c) => [c[2], flag(c, '--region')[0], flag(c, '--member')[0]]).sort(), [
      [
        'tidemark-auditor',
        'asia-northeast3',
        'serviceAccount:tidemark-auditor@tidemark-sample.iam.gserviceaccount.com',
      ],
      [
        'tidemark-backfill',
        'asia-northeast3',
        'serviceAccount:tidemark-backfill@tidemark-sample.iam.gserviceaccount.com',
      ],
      [
        'tidemark-committer',
        'asia-northeast3',
        'serviceAccount:tidemark-committer@tidemark-sample.iam.gserviceaccount.com',
      ],
      ['tidemark-loader', 'asia-northeast3', 'serviceAccount:tidemark-loader@tidemark-sample.iam.gserviceaccount.com'],
    ]);
    assert.ok(
      lines.includes(
        'functions describe tidemark-backfill --gen2 --project=tidemark-sample --region=asia-northeast3 --format=value(eventTrigger.trigger)',
      ),
      lines.join('\n'),
    );
    assert.ok(
      lines.includes(
        'eventarc triggers describe projects/tidemark-sample/locations/asia-northeast3/triggers/backfill-123 --format=value(transport.pubsub.subscription)',
      ),
    );
    const update = AFTER.calls.find((c) => c.slice(0, 3).join(' ') === 'pubsub subscriptions update')!;
    assert.equal(update[3], SUB);
    assert.deepEqual(
      [
        flag(update, '--dead-letter-topic'),
        flag(update, '--max-delivery-attempts'),
        flag(update, '--min-retry-delay'),
        flag(update, '--max-retry-delay'),
      ],
      [
        ['projects/tidemark-sample/topics/tidemark-backfill-dlq'],
        ['10'],
        [`${BACKFILL_DELIVERY.minBackoffSeconds}s`],
        ['600s'],
      ],
    );
    const grant = AFTER.calls.find((c) => c.slice(0, 3).join(' ') === 'pubsub subscriptions add-iam-policy-binding')!;
    assert.deepEqual(
      [grant[3], flag(grant, '--member')[0], flag(grant, '--role')[0]],
      [SUB, 'serviceAccount:service-123456789@gcp-sa-pubsub.iam.gserviceaccount.com', 'roles/pubsub.subscriber'],
    );
    // The audit and commit triggers do not retry: their subscriptions are left as Eventarc made them.
    assert.ok(!lines.some((l) => l.includes('functions describe tidemark-auditor')));
    assert.ok(!lines.some((l) => l.includes('functions describe tidemark-committer')));
  });

  it('grants run.invoker on the HTTP functions to the callers the config lists, and to nobody when it lists none', () => {
    // The example lists no callers: the status and ingest services get no invoker at all.
    assert.ok(
      !AFTER.calls.some((c) => c[1] === 'add-invoker-policy-binding' && /tidemark-(status|ingest)$/.test(c[2]!)),
    );
    const stream: StreamConfig = {
      name: 'clicks',
      table: 'events',
      topic: 'tidemark-stream-clicks',
      deadLetterTopic: 'tidemark-stream-clicks-dlq',
      subscription: 'tidemark-stream-clicks-gcs',
      files: {
        prefix: 'streams/clicks/',
        datetimeFormat: 'YYYY-MM-DD/hh/mm_ssZ',
        suffix: '.ndjson',
        maxDurationMs: 60_000,
        maxBytes: 1_000_000,
        localMaxDurationMs: 2_000,
      },
      unknownFields: 'reject',
      limits: { maxBodyBytes: 1_000_000, maxRecords: 500 },
      invokers: ['serviceAccount:producer@apps.iam.gserviceaccount.com', 'group:devices@example.com'],
      schema: [],
    };
    const withCallers = {
      ...EXAMPLE,
      project: 'tidemark-sample',
      streams: [stream, { ...stream, name: 'taps', invokers: ['group:devices@example.com'] }],
      statusPage: { operators: ['user:alice@example.com'], invokers: ['domain:example.com', 'user:alice@example.com'] },
    };
    const run = recordAfterDeploy(
      { PROJECT_NUMBER: '123456789' },
      afterDeployScript(withCallers, loadDeploySettings(EXAMPLE_FILE)),
    );
    assert.equal(run.code, 0, run.stderr);
    const http = run.calls.filter(
      (c) => c[1] === 'add-invoker-policy-binding' && /tidemark-(status|ingest)$/.test(c[2]!),
    );
    assert.deepEqual(http.map((c) => [c[2], flag(c, '--region')[0], flag(c, '--member')[0]]).sort(), [
      ['tidemark-ingest', 'asia-northeast3', 'group:devices@example.com'],
      ['tidemark-ingest', 'asia-northeast3', 'serviceAccount:producer@apps.iam.gserviceaccount.com'],
      ['tidemark-status', 'asia-northeast3', 'domain:example.com'],
      ['tidemark-status', 'asia-northeast3', 'user:alice@example.com'],
    ]);
  });

  it('stops before changing anything without PROJECT_NUMBER', () => {
    const run = recordAfterDeploy({});
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /PROJECT_NUMBER/);
    assert.ok(!run.calls.some((c) => c[2] === 'add-iam-policy-binding' || c[2] === 'update'), 'no subscription change');
  });
});

// ---- gcloud's own argument parsing ---------------------------------------------------------

type Outcome = GcloudOutcome;

/** A flag gcloud rejected while parsing. */
const PARSE_ERROR =
  /unrecognized arguments|ERROR: \(gcloud\.[\w.-]+\) argument |Invalid choice|expected one argument|At most one of|Bad syntax for dict arg|must be specified/;
/** Parsing passed; the command stopped where it first needs an account. */
const NEEDS_CREDENTIALS =
  /You do not currently have an active account selected|does not have any valid credentials|gcloud auth login/;

function classify(o: Outcome): 'parsed' | 'rejected' | 'unclear' {
  if (o.code === 2 || PARSE_ERROR.test(o.stderr)) return 'rejected';
  if (o.code === 1 && NEEDS_CREDENTIALS.test(o.stderr)) return 'parsed';
  return 'unclear';
}

/** gcloud with no account, no project and nothing global touched. */
function gcloudEnv(configDir: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: configDir,
    CLOUDSDK_CONFIG: configDir,
    CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
    CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: 'true',
    CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: 'true',
  };
}

/** One `gcloud ...args --quiet` process, as a user would run it. */
function gcloud(bin: string, args: string[], configDir: string): Promise<Outcome> {
  return new Promise((ok, fail) => {
    const child = spawn(bin, [...args, '--quiet'], {
      cwd: ROOT,
      env: gcloudEnv(configDir),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 40_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      ok({ code, stderr });
    });
  });
}

describe('gcloud accepts every deploy and after-deploy command the manifest writes', { timeout: 300_000 }, () => {
  it('each `gcloud functions deploy` passes argument parsing and stops only for want of credentials; broken copies do not', async (t) => {
    const bin = findOnPath('gcloud');
    if (!bin) {
      const why = 'gcloud is not installed: the deploy commands were NOT checked against its parser';
      if (process.env.CI === 'true') assert.fail(`${why} (CI=true)`);
      process.stderr.write(`\nWARNING: ${why}\n`);
      t.diagnostic(why);
      t.skip(why);
      return;
    }
    const configDir = mkdtempSync(join(tmpdir(), 'tidemark-gcloud-'));
    try {
      const commands = [
        ...COMMANDS.map((c) => ({ id: c.folder, args: c.args })),
        ...AFTER.calls.map((args, i) => ({ id: `after-deploy #${i + 1} (${args.slice(0, 3).join(' ')})`, args })),
      ];
      assert.ok(AFTER.calls.length >= 6, 'the after-deploy calls were recorded');
      // Copies broken on purpose: if these are not told apart from the real ones, the check is blind.
      const first = commands[0]!.args;
      const broken = [
        {
          why: 'an unknown flag',
          args: [...first, '--no-such-flag'],
          expect: /unrecognized arguments: --no-such-flag/,
        },
        {
          why: 'a malformed duration',
          args: first.map((a) => (a.startsWith('--timeout=') ? '--timeout=soon' : a)),
          expect: /argument --timeout/,
        },
        {
          why: 'two kinds of trigger',
          args: [...first, '--trigger-http'],
          expect: /At most one of|argument --trigger/,
        },
      ];
      // All in one gcloud process (its CLI loaded once: ~2.4 s of CPU per start-up saved per
      // command); beside it, the first command as its own `gcloud` process, which must come out the
      // same: the batch is gcloud's parsing, not a stand-in for it.
      const all = [...commands.map((c) => c.args), ...broken.map((b) => b.args)];
      const [outcomes, alone] = await Promise.all([
        gcloudBatch(
          bin,
          all.map((args) => [...args, '--quiet']),
          gcloudEnv(configDir),
        ),
        gcloud(bin, first, configDir),
      ]);
      assert.equal(
        classify(alone),
        classify(outcomes[0]!),
        `alone:\n${alone.stderr}\nin the batch:\n${outcomes[0]!.stderr}`,
      );
      assert.equal(alone.stderr.split('\n')[0], outcomes[0]!.stderr.split('\n')[0]);
      const real = outcomes.slice(0, commands.length);
      const wrong = outcomes.slice(commands.length);
      commands.forEach((c, i) => {
        const o = real[i]!;
        assert.equal(classify(o), 'parsed', `${c.id}: gcloud ${c.args.join(' ')}\nexit ${o.code}\n${o.stderr}`);
        t.diagnostic(`${c.id}: parsed; stopped at: ${o.stderr.split('\n')[0]}`);
      });
      broken.forEach((b, i) => {
        const o = wrong[i]!;
        assert.equal(classify(o), 'rejected', `${b.why} should fail parsing: exit ${o.code}\n${o.stderr}`);
        assert.match(o.stderr, b.expect);
      });
    } finally {
      rmSync(configDir, { recursive: true, force: true });
    }
  });
});
