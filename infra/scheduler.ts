/**
 * The Cloud Scheduler job that starts each audit: publishes `{}` to the audit topic on the
 * configured cron and time zone. Read with the official client, created when missing, updated
 * (every managed field, one updateMask) when any of them differs.
 */
import type { CloudSchedulerClient, protos } from '@google-cloud/scheduler';
import type { SchedulerJobResource } from './desired.ts';
import { grpcCode } from './pubsub.ts';
import type { Change } from './plan.ts';

type Job = protos.google.cloud.scheduler.v1.IJob;

const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;
/** The fields tidemark owns (proto names, as updateMask wants them). */
const MANAGED_FIELDS = ['description', 'schedule', 'time_zone', 'pubsub_target', 'retry_config'];

export function jobName(project: string, r: SchedulerJobResource): string {
  return `projects/${project}/locations/${r.region}/jobs/${r.name}`;
}

export async function planSchedulerJob(r: SchedulerJobResource, scheduler: CloudSchedulerClient, project: string): Promise<Change> {
  let current: Job;
  try {
    [current] = await scheduler.getJob({ name: jobName(project, r) });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    return { resource: r, action: 'create', detail: `"${r.schedule}" ${r.timeZone} -> ${r.topic.split('/').pop()}` };
  }
  const drift = jobDrift(current, r);
  const paused = current.state === 'PAUSED' || current.state === 2 ? ' (job is PAUSED: resume it with `gcloud scheduler jobs resume`)' : '';
  return drift.length ? { resource: r, action: 'update', detail: drift.join(', ') + paused } : { resource: r, action: 'noop', detail: paused.trim() };
}

export async function applySchedulerJob(change: Change & { resource: SchedulerJobResource }, scheduler: CloudSchedulerClient, project: string): Promise<void> {
  const r = change.resource;
  if (change.action === 'noop') return;
  const job = toJob(project, r);
  if (change.action === 'create') {
    try {
      await scheduler.createJob({ parent: `projects/${project}/locations/${r.region}`, job });
      return;
    } catch (err) {
      if (grpcCode(err) !== ALREADY_EXISTS) throw err; // created meanwhile: make it ours
    }
  }
  await scheduler.updateJob({ job, updateMask: { paths: MANAGED_FIELDS } });
}

/** The job as the API takes it. */
export function toJob(project: string, r: SchedulerJobResource): Job {
  return {
    name: jobName(project, r),
    description: r.description,
    schedule: r.schedule,
    timeZone: r.timeZone,
    pubsubTarget: { topicName: r.topic, data: Buffer.from(r.data, 'utf8') },
    retryConfig: {
      retryCount: r.retry.retryCount,
      minBackoffDuration: { seconds: r.retry.minBackoffSeconds },
      maxBackoffDuration: { seconds: r.retry.maxBackoffSeconds },
      maxDoublings: r.retry.maxDoublings,
    },
  };
}

/** Human-readable differences between the job there and the one wanted; [] when equal. */
export function jobDrift(current: Job, r: SchedulerJobResource): string[] {
  const drift: string[] = [];
  const diff = (field: string, have: unknown, want: unknown) => {
    if (have !== want) drift.push(`${field} ${JSON.stringify(have ?? null)} -> ${JSON.stringify(want)}`);
  };
  diff('schedule', current.schedule, r.schedule);
  diff('timeZone', current.timeZone, r.timeZone);
  diff('description', current.description || undefined, r.description);
  const target = current.pubsubTarget;
  if (!target) drift.push('target -> Pub/Sub');
  else {
    diff('pubsubTarget.topicName', target.topicName, r.topic);
    diff('pubsubTarget.data', target.data ? Buffer.from(target.data).toString('utf8') : '', r.data);
    if (target.attributes && Object.keys(target.attributes).length) drift.push(`pubsubTarget.attributes ${JSON.stringify(target.attributes)} -> {}`);
  }
  const retry = current.retryConfig;
  diff('retryConfig.retryCount', retry?.retryCount ?? 0, r.retry.retryCount);
  diff('retryConfig.minBackoffDuration', seconds(retry?.minBackoffDuration), r.retry.minBackoffSeconds);
  diff('retryConfig.maxBackoffDuration', seconds(retry?.maxBackoffDuration), r.retry.maxBackoffSeconds);
  diff('retryConfig.maxDoublings', retry?.maxDoublings ?? 0, r.retry.maxDoublings);
  return drift;
}

function seconds(duration: { seconds?: unknown } | null | undefined): number | undefined {
  return duration?.seconds == null ? undefined : Number(duration.seconds);
}

function isNotFound(err: unknown): boolean {
  return grpcCode(err) === NOT_FOUND || (err as { httpStatusCode?: unknown } | null)?.httpStatusCode === 404;
}
