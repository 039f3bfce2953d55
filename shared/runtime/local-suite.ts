/**
 * The deployed topology, in one process: the in-process bus with the backfill and audit topics
 * subscribed by the same handlers the functions run, a dead-letter topic for backfills,
 * (optionally) the audit schedule, and, when some table commits in mode dml, the commit topic
 * with its tick (Cloud Scheduler's every-minute job, here every `commitTickPeriodMs`). Used by
 * `npm start` and the CLI's local backend.
 */
import { LocalBus } from '../backends/local/bus.ts';
import type { BusMessage } from '../backends/local/bus.ts';
import type { AuditDeps } from '../core/audit.ts';
import type { Clock } from '../core/ports.ts';
import type { Config } from '../config/types.ts';
import { onCommitTick } from '../handlers/commit-tick.ts';
import type { CommitFn } from '../handlers/commit-tick.ts';
import { MESSAGE_PUBLISHED } from '../events/pubsub-event.ts';
import { onAuditMessage } from '../handlers/audit.ts';
import { onBackfillMessage, planBudgetWait } from '../handlers/backfill.ts';
import { onObjectFinalized } from '../handlers/object-finalized.ts';
import { BudgetExhaustedError } from '../core/errors.ts';
import type { Engine } from '../core/sync.ts';
import type { BackfillOutcome } from '../handlers/backfill.ts';
import type { Acknowledged } from '../handlers/settle-event.ts';
import type { LocalEngine } from './local.ts';

/** A bus message as the CloudEvent functions-framework makes of a Pub/Sub push. */
export function toPubSubCloudEvent(msg: BusMessage, topic: string) {
  return {
    specversion: '1.0',
    id: msg.id,
    type: MESSAGE_PUBLISHED,
    source: `//pubsub.googleapis.com/projects/local/topics/${topic}`,
    time: msg.publishTime,
    data: {
      message: {
        data: msg.data.toString('base64'),
        messageId: msg.id,
        publishTime: msg.publishTime,
        attributes: msg.attributes,
      },
      subscription: `projects/local/subscriptions/${topic}-local`,
    },
  };
}

export interface LocalSuite {
  bus: LocalBus;
  deps: AuditDeps;
  /** Resolves when every published message has been handled (or dead-lettered), including those waiting for budget. */
  drain(): Promise<void>;
  close(): void;
}

export interface LocalSuiteOptions {
  deadLetterFile?: string;
  /** Called after each backfill message is handled (progress bars). */
  onBackfill?: (outcome: Acknowledged<BackfillOutcome> | { error: unknown }) => void;
  /** Deliveries before a backfill is dead-lettered (Pub/Sub's max-delivery-attempts). */
  maxDeliveryAttempts?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Tests: the bus's clock (timers of held messages and retries); default real timers. */
  clock?: Clock;
  /** Subscribe the audit topic too (npm start); the CLI runs audits directly. */
  subscribeAudit?: boolean;
  /** Tests: what a commit tick runs (default commitTables). */
  commit?: CommitFn;
}

/** The local tick never waits longer than this, so a local dml table is as fresh as a deployed one or fresher. */
export const MAX_LOCAL_TICK_MS = 10_000;

/**
 * How often the local suite ticks the committer: the shortest `commit.interval` of the dml
 * tables, at most MAX_LOCAL_TICK_MS (commitTables itself skips a table committed less than its
 * interval ago); null when no table commits in mode dml (no tick at all).
 */
export function commitTickPeriodMs(config: Pick<Config, 'tables'>): number | null {
  const intervals = config.tables.filter((t) => t.commit.mode === 'dml').map((t) => t.commit.intervalMs);
  return intervals.length ? Math.min(MAX_LOCAL_TICK_MS, ...intervals) : null;
}

/**
 * Calls `tick` every `periodMs` on `clock` (real timers when absent) until the returned function
 * is called. A sleep on the clock, not a message held by the bus's publishAt: a held message counts
 * as pending, and bus.drain(), which npm start, its status page and the CLI wait on, would never
 * resolve while the next tick waits.
 */
export function startTicker(tick: () => Promise<void>, periodMs: number, clock?: Clock): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const sleep = (ms: number) =>
    clock
      ? clock.sleep(ms)
      : new Promise<void>((resolve) => {
          timer = setTimeout(resolve, ms);
          timer.unref();
        });
  void (async () => {
    while (!stopped) {
      await sleep(periodMs);
      if (!stopped) await tick();
    }
  })();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}

export function createLocalSuite(engine: LocalEngine, opts: LocalSuiteOptions = {}): LocalSuite {
  const { topics } = engine.config;
  const bus = new LocalBus({
    ...(opts.deadLetterFile ? { deadLetterFile: opts.deadLetterFile } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    log: engine.log,
  });
  const deps: AuditDeps = { ...engine, bus };
  bus.subscribe(
    topics.backfill,
    async (msg) => {
      try {
        const outcome = await onBackfillMessage(deps, toPubSubCloudEvent(msg, topics.backfill) as never);
        opts.onBackfill?.(outcome);
      } catch (error) {
        opts.onBackfill?.({ error });
        throw error;
      }
    },
    {
      deadLetterTopic: topics.backfillDlq,
      maxDeliveryAttempts: opts.maxDeliveryAttempts ?? 10,
      minBackoffMs: opts.minBackoffMs ?? 500,
      maxBackoffMs: opts.maxBackoffMs ?? 30_000,
      concurrency: 2,
    },
  );
  if (opts.subscribeAudit) {
    bus.subscribe(
      topics.audit,
      async (msg) => void (await onAuditMessage(deps, toPubSubCloudEvent(msg, topics.audit) as never)),
      { maxDeliveryAttempts: 1, concurrency: 1 },
    );
  }
  const stopTicks = subscribeCommits(engine, bus, opts);
  return {
    bus,
    deps,
    drain: () => bus.drain(),
    close: () => {
      stopTicks();
      bus.close();
    },
  };
}

/**
 * With a dml table: the commit topic served by the committer's handler, and a tick published
 * every commitTickPeriodMs on the bus's clock. A tick is published only once the previous one
 * was handled (a slow commit does not pile ticks up), and a failed tick is logged and dropped,
 * as Pub/Sub drops a failed delivery to the function deployed without retry: the next tick is
 * the retry. Returns what stops the ticks.
 */
function subscribeCommits(engine: LocalEngine, bus: LocalBus, opts: LocalSuiteOptions): () => void {
  const period = commitTickPeriodMs(engine.config);
  if (period === null) return () => {};
  const topic = engine.config.topics.commit;
  let ticking = false;
  bus.subscribe(
    topic,
    async (msg) => {
      try {
        await onCommitTick(engine, toPubSubCloudEvent(msg, topic) as never, opts.commit);
      } catch {
        // settleEvent logged it; the next tick commits what this one could not.
      } finally {
        if (msg.attributes.origin === 'tick') ticking = false;
      }
    },
    { maxDeliveryAttempts: 1, concurrency: 1 },
  );
  return startTicker(
    async () => {
      if (ticking) return;
      ticking = true;
      try {
        await bus.publish(topic, [{}], { origin: 'tick' });
      } catch {
        ticking = false; // the bus closed under the tick
      }
    },
    period,
    opts.clock,
  );
}

/**
 * Handles one finalize event delivered by the local bus (npm start's folder watcher). A spent job
 * budget is not a failed delivery: the event is held on `topic` until the next token is due
 * (planBudgetWait), so it never reaches the dead-letter list. Other errors are thrown (retried).
 * Returns 'handled' or 'waiting'.
 */
export async function deliverFinalizeEvent(
  engine: Engine,
  bus: LocalBus,
  topic: string,
  event: unknown,
): Promise<'handled' | 'waiting'> {
  try {
    await onObjectFinalized(engine, event as never);
    return 'handled';
  } catch (err) {
    if (!(err instanceof BudgetExhaustedError)) throw err;
    const now = engine.clock.now();
    const wait = planBudgetWait({ now, retryAfterMs: err.fields.retryAfterMs, requeueAfterMs: 0, canSchedule: true });
    await bus.publishAt(topic, [event], wait.kind === 'schedule' ? wait.notBefore : now);
    return 'waiting';
  }
}
