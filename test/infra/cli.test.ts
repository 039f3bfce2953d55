/**
 * `tidemark infra plan|apply` end to end: the command parses its flags, reads the config and its
 * `deploy:` section, and drives the real clients: Pub/Sub on the emulator, Scheduler, BigQuery
 * and the IAM APIs on local fakes. Plus the plan's text form, table-driven.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BigQuery } from '@google-cloud/bigquery';
import type { BigQueryOptions } from '@google-cloud/bigquery';
import { CloudSchedulerClient } from '@google-cloud/scheduler';
import { Command } from 'commander';
import type { Change, InfraClients } from '../../infra/plan.ts';
import { GoogleRest } from '../../infra/rest.ts';
import { formatPlan, registerInfraCommands } from '../../shared/cli/commands/infra.ts';
import type { InfraDeps } from '../../shared/cli/commands/infra.ts';
import type { CliContext } from '../../shared/cli/context.ts';
import type { CommandHost } from '../../shared/cli/main.ts';
import { ConfigError } from '../../shared/core/errors.ts';
import { emulatorSuite, withEmulator } from '../helpers/pubsub-emulator.ts';
import { FakeApi, fixedTokenAuth } from './fake-http.ts';
import { FakeBigQuery, FakeIam, FakeScheduler } from './fakes.ts';
import { PROJECT, testConfig } from './fixtures.ts';

/** Runs one CLI invocation of the infra commands, the way main.ts hosts them. */
async function runCli(argv: string[], deps: Partial<InfraDeps>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  let code = 0;
  const program = new Command('tidemark')
    .option('--backend <backend>', 'where to run') // cloudbuild passes it as a global option
    .exitOverride()
    .configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (err += s) });
  const host: CommandHost = {
    run:
      (action) =>
      async (...args) => {
        const ctx: CliContext = { options: { backend: 'gcp' }, env: {}, cwd: '/', out: (s) => (out += s + '\n'), err: (s) => (err += s + '\n') };
        code = await action(ctx, ...args);
      },
  };
  registerInfraCommands(program, host, deps);
  await program.parseAsync(['node', 'tidemark', ...argv]);
  return { code, out, err };
}

describe('formatPlan', () => {
  const topic = { kind: 'topic', name: 'tidemark-audit' } as const;
  const cases: { name: string; change: Change; line: string }[] = [
    { name: 'a creation', change: { resource: { kind: 'topic', name: 'tidemark-backfill' }, action: 'create', detail: '' }, line: '+ create topic tidemark-backfill' },
    { name: 'a creation with detail', change: { resource: { kind: 'dataset', dataset: 'lake_us', location: 'US' }, action: 'create', detail: 'in US' }, line: '+ create dataset lake_us (in US)' },
    {
      name: 'an update',
      change: { resource: { kind: 'deliveryPolicy', topic: 't', subscription: 'eventarc-x', deadLetterTopic: 'projects/p/topics/d', maxDeliveryAttempts: 10, minBackoffSeconds: 10, maxBackoffSeconds: 600 }, action: 'update', detail: 'deadLetterPolicy none -> d/10' },
      line: '~ update subscription eventarc-x: deadLetterPolicy none -> d/10',
    },
    { name: 'no change', change: { resource: topic, action: 'noop', detail: '' }, line: '= topic tidemark-audit (no change)' },
    { name: 'a wait', change: { resource: topic, action: 'noop', detail: 'waiting: x' }, line: '= topic tidemark-audit (waiting: x)' },
  ];
  for (const { name, change, line } of cases) it(`renders ${name}`, () => assert.equal(formatPlan([change], 'p').split('\n')[0], line));

  it('ends with counts', () => {
    const text = formatPlan(cases.map((c) => c.change), 'p');
    assert.equal(text.split('\n').at(-1), 'Plan for p: 2 to create, 1 to update, 2 unchanged (1 waiting for the deploy: run infra apply again after it).');
  });
});

describe('tidemark infra plan|apply', emulatorSuite(), () => {
  const emu = withEmulator();
  const api = new FakeApi();
  const iam = new FakeIam(PROJECT, '123456789012');
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-infra-cli-'));
  const configFile = join(dir, 'tidemark.config.yaml');
  let deps: Partial<InfraDeps>;
  let scheduler: CloudSchedulerClient;
  const projects: string[] = [];

  before(async () => {
    const base = await api.start();
    const jobs = new FakeScheduler();
    api.handlers.push(jobs.handle, new FakeBigQuery(PROJECT).handle, iam.handle);
    iam.pubsubResourcesExist = true;
    iam.policies.set('project', { etag: iam.etag(), bindings: [] });
    for (const bucket of ['lake-seoul', 'orders-seoul']) iam.policies.set(`bucket/${bucket}`, { etag: iam.etag(), bindings: [] });
    // The file only matters for its deploy: section here; the rest of the config is given resolved.
    writeFileSync(configFile, 'project: tidemark-test\ndeploy:\n  region: us-central1\n  backfill: { maxDeliveryAttempts: 15 }\n');
    scheduler = new CloudSchedulerClient({ fallback: true, apiEndpoint: '127.0.0.1', port: api.port, protocol: 'http', authClient: fixedTokenAuth() });
    const rest = new GoogleRest({
      auth: fixedTokenAuth(),
      endpoints: { iam: `${base}/iam`, cloudresourcemanager: `${base}/crm`, cloudfunctions: `${base}/functions`, run: `${base}/run`, storage: `${base}/storage`, pubsub: `${base}/pubsub` },
    });
    const bigquery = new BigQuery({ projectId: PROJECT, apiEndpoint: base, authClient: fixedTokenAuth() as unknown as BigQueryOptions['authClient'] });
    deps = {
      readConfig: () => testConfig({ file: configFile }),
      createClients: async (project): Promise<InfraClients> => {
        projects.push(project);
        return { project, pubsub: emu.pubsub(), scheduler, bigquery, rest, sleep: async () => {} };
      },
    };
  });
  after(async () => {
    await scheduler.close();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('plan lists what a fresh project lacks and changes nothing', async () => {
    const { code, out } = await runCli(['infra', 'plan'], deps);
    assert.equal(code, 0);
    const lines = out.trim().split('\n');
    assert.ok(lines.includes('+ create topic tidemark-backfill'), out);
    assert.ok(lines.includes(`+ create service account tidemark-loader@${PROJECT}.iam.gserviceaccount.com`), out);
    assert.ok(lines.includes('+ create scheduler job tidemark-audit (us-central1) ("*/5 * * * *" Asia/Seoul -> tidemark-audit)'), out);
    assert.ok(lines.includes(`= binding roles/run.invoker for serviceAccount:tidemark-loader@${PROJECT}.iam.gserviceaccount.com on function tidemark-loader (asia-northeast3) (waiting: function tidemark-loader is not deployed yet: run infra apply again after deploying)`), out);
    assert.match(lines.at(-1)!, /^Plan for tidemark-test: \d+ to create, 0 to update, \d+ unchanged \(5 waiting for the deploy/);
    assert.deepEqual(api.writes(), []);
    const [topics] = await emu.pubsub().getTopics();
    assert.equal(topics.length, 0);
  });

  it('apply makes it, with the deploy: section and --region from the command line', async () => {
    const { code, out, err } = await runCli(['--backend', 'gcp', 'infra', 'apply', '--project', PROJECT, '--region', 'europe-west1'], deps);
    assert.equal(code, 0, err);
    assert.match(out, /\+ create scheduler job tidemark-audit \(europe-west1\)/);
    assert.match(out.trim().split('\n').at(-1)!, /^Applied \d+ changes\.$/);
    assert.match(err, /^\+ topic tidemark-backfill: done$/m);
    assert.ok(api.requests.some((r) => r.method === 'POST' && r.path === `/v1/projects/${PROJECT}/locations/europe-west1/jobs`));
    const [topics] = await emu.pubsub().getTopics();
    assert.equal(topics.length, 4);
  });

  it('plan --json afterwards: nothing to do but what waits for the deploy; maxDeliveryAttempts comes from the file', async () => {
    const { code, out } = await runCli(['infra', 'plan', '--json', '--region', 'europe-west1'], deps);
    assert.equal(code, 0);
    const plan = JSON.parse(out) as { project: string; changes: { action: string; kind: string; detail: string; resource: Record<string, unknown> }[] };
    assert.equal(plan.project, PROJECT);
    assert.deepEqual(plan.changes.filter((c) => c.action !== 'noop'), []);
    assert.equal(plan.changes.filter((c) => c.detail.startsWith('waiting:')).length, 5);
    assert.equal(plan.changes.find((c) => c.kind === 'deliveryPolicy')?.resource.maxDeliveryAttempts, 15);
  });

  it('--project replaces the config project', async () => {
    await assert.rejects(runCli(['infra', 'plan', '--project', 'other-project'], { ...deps, createClients: async (project) => (projects.push(project), Promise.reject(new Error('stop'))) }), /stop/);
    assert.equal(projects.at(-1), 'other-project');
  });

  it('an unknown key under deploy: is a config error naming it', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'deploy:\n  loader: { memroy: 1Gi }\n');
    await assert.rejects(runCli(['infra', 'plan'], { ...deps, readConfig: () => testConfig({ file: bad }) }), (err: unknown) => err instanceof ConfigError && err.issues[0]?.path === 'deploy.loader.memroy');
  });
});
