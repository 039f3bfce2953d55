/**
 * The audit job at the HTTP boundary: the real @google-cloud/scheduler client in REST mode
 * (`fallback: true`) talks to a local server that keeps jobs in memory and answers like the
 * Cloud Scheduler v1 REST API. Create when missing, update when anything managed differs,
 * nothing when equal.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { CloudSchedulerClient } from '@google-cloud/scheduler';
import { desiredState } from '../../infra/desired.ts';
import type { SchedulerJobResource } from '../../infra/desired.ts';
import { applyInfra, isConverged, planInfra } from '../../infra/plan.ts';
import { FakeApi, fixedTokenAuth } from './fake-http.ts';
import { FakeScheduler } from './fakes.ts';
import { PROJECT, testConfig, testDeploy } from './fixtures.ts';

const JOB = `projects/${PROJECT}/locations/asia-northeast3/jobs/tidemark-audit`;

const schedulerJob = (audit: Partial<ReturnType<typeof testConfig>['audit']> = {}): SchedulerJobResource => {
  const config = testConfig();
  const job = desiredState({ ...config, audit: { ...config.audit, ...audit } }, testDeploy()).find((r) => r.kind === 'schedulerJob');
  assert.ok(job?.kind === 'schedulerJob');
  return job;
};

describe('Cloud Scheduler job over REST', () => {
  const api = new FakeApi();
  const fake = new FakeScheduler();
  let scheduler: CloudSchedulerClient;

  before(async () => {
    await api.start();
    api.handlers.push(fake.handle);
    scheduler = new CloudSchedulerClient({ fallback: true, apiEndpoint: '127.0.0.1', port: api.port, protocol: 'http', authClient: fixedTokenAuth() });
  });
  after(async () => {
    await scheduler.close();
    await api.close();
  });
  beforeEach(() => {
    api.requests.length = 0;
  });

  it('creates the job when it is missing: Pub/Sub target, {} as base64, cron, zone and retries', async () => {
    const plan = await planInfra([schedulerJob()], { project: PROJECT, scheduler });
    assert.deepEqual(plan.map((c) => [c.action, c.detail]), [['create', '"*/5 * * * *" Asia/Seoul -> tidemark-audit']]);
    await applyInfra(plan, { project: PROJECT, scheduler });

    const post = api.requests.find((r) => r.method === 'POST')!;
    assert.equal(post.path, `/v1/projects/${PROJECT}/locations/asia-northeast3/jobs`);
    assert.equal(post.headers.authorization, 'Bearer test-token');
    assert.deepEqual(post.body, {
      name: JOB,
      description: 'tidemark gap audit (managed by tidemark infra)',
      schedule: '*/5 * * * *',
      timeZone: 'Asia/Seoul',
      pubsubTarget: { topicName: `projects/${PROJECT}/topics/tidemark-audit`, data: 'e30=', attributes: {} },
      retryConfig: { retryCount: 3, minBackoffDuration: '30s', maxBackoffDuration: '300s', maxDoublings: 3 },
    });
  });

  it('finds nothing to do when the job matches', async () => {
    const plan = await planInfra([schedulerJob()], { project: PROJECT, scheduler });
    assert.ok(isConverged(plan));
    await applyInfra(plan, { project: PROJECT, scheduler });
    assert.deepEqual(api.writes(), []);
  });

  const drifts: { name: string; audit: Partial<ReturnType<typeof testConfig>['audit']>; detail: string }[] = [
    { name: 'schedule', audit: { schedule: '*/10 * * * *' }, detail: 'schedule "*/5 * * * *" -> "*/10 * * * *"' },
    { name: 'time zone', audit: { timeZone: 'UTC' }, detail: 'timeZone "Asia/Seoul" -> "UTC"' },
  ];
  for (const { name, audit, detail } of drifts) {
    it(`updates the job when its ${name} differs, with one updateMask over the managed fields`, async () => {
      const before = fake.jobs.get(JOB)!;
      const plan = await planInfra([schedulerJob(audit)], { project: PROJECT, scheduler });
      assert.deepEqual(plan.map((c) => [c.action, c.detail]), [['update', detail]]);
      await applyInfra(plan, { project: PROJECT, scheduler });
      const patch = api.requests.find((r) => r.method === 'PATCH')!;
      assert.equal(patch.path, `/v1/${JOB}`);
      assert.equal(patch.query.get('updateMask'), 'description,schedule,time_zone,pubsub_target,retry_config');
      assert.ok(isConverged(await planInfra([schedulerJob(audit)], { project: PROJECT, scheduler })));
      fake.jobs.set(JOB, before); // back to the configured job for the next case
    });
  }

  it('notes a paused job, and still repairs what drifted', async () => {
    fake.jobs.set(JOB, { ...fake.jobs.get(JOB)!, state: 'PAUSED', retryConfig: { retryCount: 0 } });
    const [change] = await planInfra([schedulerJob()], { project: PROJECT, scheduler });
    assert.equal(change!.action, 'update');
    assert.match(change!.detail, /^retryConfig.retryCount 0 -> 3, retryConfig.minBackoffDuration null -> 30, .* \(job is PAUSED: resume it/);
  });

  it('takes over a job created between plan and apply (409 on create becomes an update)', async () => {
    fake.jobs.clear();
    const plan = await planInfra([schedulerJob()], { project: PROJECT, scheduler });
    assert.equal(plan[0]!.action, 'create');
    fake.raceOnCreate = true;
    await applyInfra(plan, { project: PROJECT, scheduler });
    assert.deepEqual(api.writes(), [`POST /v1/projects/${PROJECT}/locations/asia-northeast3/jobs`, `PATCH /v1/${JOB}`]);
    assert.ok(isConverged(await planInfra([schedulerJob()], { project: PROJECT, scheduler })));
  });

  it('puts the job in the deploy region', async () => {
    const job = desiredState(testConfig(), testDeploy({ region: 'us-central1' })).find((r) => r.kind === 'schedulerJob');
    assert.ok(job?.kind === 'schedulerJob');
    const [change] = await planInfra([job], { project: PROJECT, scheduler });
    assert.equal(change!.action, 'create');
    assert.equal(api.requests[0]!.path, `/v1/projects/${PROJECT}/locations/us-central1/jobs/tidemark-audit`);
  });
});
