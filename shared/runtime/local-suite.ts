/**
 * The deployed topology, in one process: the in-process bus with the backfill and audit topics
 * subscribed by the same handlers the functions run, a dead-letter topic for backfills, and
 * (optionally) the audit schedule. Used by `npm start` and the CLI's local backend.
 */
import { LocalBus } from '../backends/local/bus.ts';
import type { BusMessage } from '../backends/local/bus.ts';
import type { AuditDeps } from '../core/audit.ts';
import type { Clock } from '../core/ports.ts';
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
  return { bus, deps, drain: () => bus.drain(), close: () => bus.close() };
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
