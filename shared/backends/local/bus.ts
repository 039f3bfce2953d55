/**
 * An in-process message bus with Pub/Sub's delivery contract, so the local runtime and tests
 * exercise the same failure paths as the cloud: at-least-once delivery (a handler that throws
 * is retried with exponential backoff), dead-lettering after `maxDeliveryAttempts`, optional
 * duplicates and shuffled order, bounded concurrency.
 *
 * Topics and subscriptions:
 * - Each `subscribe` is its own subscription: it receives every message published after it
 *   (like a Pub/Sub subscription), independently of the others.
 * - A message published to a topic with no subscription is kept in the topic's backlog (at most
 *   `maxBacklog`, default 10,000; beyond that the oldest is dropped with a warning) and handed
 *   to the first subscription that arrives. (Pub/Sub would drop it; keeping it lets the local
 *   runtime publish before it subscribes.)
 * - `publishAt` holds a message until a not-before time, then delivers it as a first delivery:
 *   waiting is not a failed delivery, so it never counts towards dead-lettering (budget waits).
 *   `waiting()` lists held messages; `settled()` resolves when only held messages remain.
 * - Dead letters are kept in a list (`deadLetters`, `replayDeadLetters`), optionally mirrored to
 *   a JSON file another process can read (`readDeadLetterFile`), and published to the
 *   subscription's `deadLetterTopic` if it has one, with the original attributes plus
 *   `deadLetterReason` and `deadLetterSourceTopic`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BackendUnavailableError, errorMessage } from '../../core/errors.ts';
import type { Bus, Clock } from '../../core/ports.ts';
import { silentLogger } from '../../log.ts';
import type { Logger } from '../../log.ts';

/** What a handler receives. */
export interface BusMessage {
  id: string;
  data: Buffer;
  /** `data` parsed as JSON. */
  json(): unknown;
  attributes: Record<string, string>;
  /** 1 on the first delivery, then 2, 3, ... */
  deliveryAttempt: number;
  /** RFC 3339. */
  publishTime: string;
}

export type BusHandler = (msg: BusMessage) => Promise<void>;

export interface SubscribeOptions {
  /** Deliveries before a message is dead-lettered (default 5). */
  maxDeliveryAttempts?: number;
  /** First retry delay; doubles per attempt up to maxBackoffMs (defaults 500 ms and 30 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Topic dead-lettered messages are published to. */
  deadLetterTopic?: string;
  /** Tests: the share of messages delivered twice (0..1). */
  duplicateRate?: number;
  /** Tests: deliver queued messages in random order. */
  shuffle?: boolean;
  /** Handlers running at once (default 4). */
  concurrency?: number;
}

export interface LocalBusOptions {
  /** Sleeps between retries; default real timers (cancelled by close()). */
  clock?: Clock;
  /** Mirror of the dead-letter list, rewritten on every change. */
  deadLetterFile?: string;
  /** Messages kept per topic while it has no subscription (default 10,000). */
  maxBacklog?: number;
  log?: Logger;
  /** Tests: the random source behind duplicateRate and shuffle. */
  random?: () => number;
}

/** A message that ran out of delivery attempts. */
export interface DeadLetter {
  /** The topic it was published to. */
  topic: string;
  id: string;
  /** The message body (UTF-8 JSON text). */
  data: string;
  attributes: Record<string, string>;
  publishTime: string;
  deliveryAttempts: number;
  /** The last handler error. */
  reason: string;
  deadLetteredAt: string;
}

interface Stored {
  id: string;
  topic: string;
  data: Buffer;
  attributes: Record<string, string>;
  publishTime: string;
  /** Epoch ms before which the message is not delivered (publishAt). */
  notBefore?: number;
}

/** A message held by publishAt until its time. */
export interface WaitingMessage {
  topic: string;
  id: string;
  data: string;
  /** RFC 3339. */
  notBefore: string;
}

interface Delivery {
  msg: Stored;
  attempt: number;
}

interface Subscription {
  topic: string;
  handler: BusHandler;
  opts: Required<Omit<SubscribeOptions, 'deadLetterTopic'>> & { deadLetterTopic?: string };
  queue: Delivery[];
  /** Held until their notBefore; each counts in `pending`. */
  held: Set<Stored>;
  inFlight: number;
  active: boolean;
}

interface Topic {
  subscriptions: Set<Subscription>;
  backlog: Stored[];
}

/** Reads the dead letters another process's LocalBus mirrored to `file` ([] if none). */
export async function readDeadLetterFile(file: string): Promise<DeadLetter[]> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as DeadLetter[];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** The in-process Bus. */
export class LocalBus implements Bus {
  private readonly topics = new Map<string, Topic>();
  private readonly dead: DeadLetter[] = [];
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly maxBacklog: number;
  private readonly clock: Clock | undefined;
  private readonly deadLetterFile: string | undefined;
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private seq = 0;
  /** Deliveries queued, running or waiting to retry. drain() waits for 0. */
  private pending = 0;
  private idleWaiters: (() => void)[] = [];
  /** Deliveries held by publishAt (part of `pending`). */
  private heldCount = 0;
  private settledWaiters: (() => void)[] = [];
  private persisting: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(options: LocalBusOptions = {}) {
    this.clock = options.clock;
    this.log = options.log ?? silentLogger;
    this.random = options.random ?? Math.random;
    this.maxBacklog = options.maxBacklog ?? 10_000;
    this.deadLetterFile = options.deadLetterFile;
    if (this.deadLetterFile && existsSync(this.deadLetterFile)) {
      try {
        this.dead.push(...(JSON.parse(readFileSync(this.deadLetterFile, 'utf8')) as DeadLetter[]));
      } catch (err) {
        this.log.warn('could not read the dead-letter file; starting with an empty list', {
          file: this.deadLetterFile,
          error: errorMessage(err),
        });
      }
    }
  }

  async publish(topic: string, messages: unknown[], attributes: Record<string, string> = {}): Promise<string[]> {
    return messages.map((m) => this.publishData(topic, Buffer.from(JSON.stringify(m) ?? 'null'), attributes));
  }

  /** Publishes messages delivered no earlier than `notBefore` (epoch ms), as first deliveries. */
  async publishAt(
    topic: string,
    messages: unknown[],
    notBefore: number,
    attributes: Record<string, string> = {},
  ): Promise<string[]> {
    return messages.map((m) =>
      this.publishData(topic, Buffer.from(JSON.stringify(m) ?? 'null'), attributes, notBefore),
    );
  }

  /** Messages held by publishAt, all or those of `topic`, earliest first. */
  waiting(topic?: string): WaitingMessage[] {
    const held = [...this.topics.values()].flatMap((t) => [...t.subscriptions].flatMap((s) => [...s.held]));
    return held
      .filter((m) => topic === undefined || m.topic === topic)
      .sort((a, b) => a.notBefore! - b.notBefore!)
      .map((m) => ({
        topic: m.topic,
        id: m.id,
        data: m.data.toString('utf8'),
        notBefore: new Date(m.notBefore!).toISOString(),
      }));
  }

  /** Resolves when nothing is queued, running or waiting to retry: only held messages (publishAt) remain. */
  async settled(): Promise<void> {
    if (this.pending > this.heldCount) await new Promise<void>((resolve) => this.settledWaiters.push(resolve));
    await this.persisting;
  }

  /** Subscribes a handler; returns the function that unsubscribes it (queued deliveries are dropped). */
  subscribe(topic: string, handler: BusHandler, opts: SubscribeOptions = {}): () => void {
    if (this.closed) throw new BackendUnavailableError(`bus is closed; cannot subscribe to ${topic}`, { topic });
    const sub: Subscription = {
      topic,
      handler,
      opts: {
        maxDeliveryAttempts: Math.max(1, opts.maxDeliveryAttempts ?? 5),
        minBackoffMs: opts.minBackoffMs ?? 500,
        maxBackoffMs: opts.maxBackoffMs ?? 30_000,
        duplicateRate: opts.duplicateRate ?? 0,
        shuffle: opts.shuffle ?? false,
        concurrency: Math.max(1, opts.concurrency ?? 4),
        ...(opts.deadLetterTopic !== undefined ? { deadLetterTopic: opts.deadLetterTopic } : {}),
      },
      queue: [],
      held: new Set(),
      inFlight: 0,
      active: true,
    };
    const t = this.topic(topic);
    t.subscriptions.add(sub);
    for (const msg of t.backlog.splice(0)) this.enqueueNew(sub, msg);
    return () => {
      if (!sub.active) return;
      sub.active = false;
      t.subscriptions.delete(sub);
      this.settle(sub.queue.splice(0).length + this.release(sub));
    };
  }

  /** Dead letters, all or those published to `topic`. */
  deadLetters(topic?: string): DeadLetter[] {
    return this.dead
      .filter((d) => topic === undefined || d.topic === topic)
      .map((d) => ({ ...d, attributes: { ...d.attributes } }));
  }

  /** Publishes the dead letters of `topic` to it again (new ids, fresh attempts) and forgets them. Returns how many. */
  async replayDeadLetters(topic: string): Promise<number> {
    const replay = this.dead.filter((d) => d.topic === topic);
    if (replay.length === 0) return 0;
    this.dead.splice(0, this.dead.length, ...this.dead.filter((d) => d.topic !== topic));
    await this.persist();
    for (const d of replay) this.publishData(topic, Buffer.from(d.data), d.attributes);
    return replay.length;
  }

  /** Resolves when no delivery is queued, running or waiting to retry (backlogs of unsubscribed topics do not count). */
  async drain(): Promise<void> {
    if (this.pending > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.persisting;
  }

  /** Stops retry timers and deliveries; running handlers finish on their own. */
  close(): void {
    this.closed = true;
    for (const t of this.topics.values()) {
      for (const sub of t.subscriptions) {
        sub.active = false;
        this.settle(sub.queue.splice(0).length + this.release(sub));
      }
      t.subscriptions.clear();
    }
    for (const [timer, wake] of this.timers) {
      clearTimeout(timer);
      wake();
    }
    this.timers.clear();
  }

  // ---- delivery ----

  private publishData(topic: string, data: Buffer, attributes: Record<string, string>, notBefore?: number): string {
    if (this.closed) throw new BackendUnavailableError(`bus is closed; cannot publish to ${topic}`, { topic });
    const msg: Stored = {
      // Unique across processes and restarts, like Pub/Sub ids (forced reloads key on them).
      id: `${Date.now().toString(36)}-${++this.seq}-${randomBytes(3).toString('hex')}`,
      topic,
      data,
      attributes: { ...attributes },
      publishTime: new Date(this.now()).toISOString(),
      ...(notBefore !== undefined ? { notBefore } : {}),
    };
    const t = this.topic(topic);
    if (t.subscriptions.size === 0) {
      t.backlog.push(msg);
      if (t.backlog.length > this.maxBacklog) {
        const dropped = t.backlog.shift()!;
        this.log.warn('topic has no subscription and its backlog is full: dropped the oldest message', {
          topic,
          messageId: dropped.id,
          maxBacklog: this.maxBacklog,
        });
      }
    } else {
      for (const sub of t.subscriptions) this.enqueueNew(sub, msg);
    }
    return msg.id;
  }

  private topic(name: string): Topic {
    let t = this.topics.get(name);
    if (!t) {
      t = { subscriptions: new Set(), backlog: [] };
      this.topics.set(name, t);
    }
    return t;
  }

  private enqueueNew(sub: Subscription, msg: Stored): void {
    if (msg.notBefore !== undefined && msg.notBefore > this.now()) return this.hold(sub, msg);
    const copies = sub.opts.duplicateRate > 0 && this.random() < sub.opts.duplicateRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      this.pending++;
      sub.queue.push({ msg, attempt: 1 });
    }
    this.pump(sub);
  }

  /** Holds `msg` for `sub` until its notBefore, then delivers it as a first delivery. */
  private hold(sub: Subscription, msg: Stored): void {
    this.pending++;
    this.heldCount++;
    sub.held.add(msg);
    this.notifySettled();
    void this.sleep(msg.notBefore! - this.now()).then(() => {
      if (!sub.held.delete(msg)) return; // released by unsubscribe/close, and settled there
      this.heldCount--;
      this.pending--; // enqueueNew counts it again (or holds it again if the clock lags)
      if (!sub.active || this.closed) return this.settle(0, true);
      this.enqueueNew(sub, msg);
    });
  }

  /** Drops the messages `sub` holds; returns how many (for settle). */
  private release(sub: Subscription): number {
    const n = sub.held.size;
    sub.held.clear();
    this.heldCount -= n;
    return n;
  }

  private pump(sub: Subscription): void {
    while (sub.active && sub.inFlight < sub.opts.concurrency && sub.queue.length > 0) {
      const index = sub.opts.shuffle ? Math.floor(this.random() * sub.queue.length) : 0;
      const [delivery] = sub.queue.splice(index, 1);
      sub.inFlight++;
      void this.deliver(sub, delivery!);
    }
  }

  private async deliver(sub: Subscription, d: Delivery): Promise<void> {
    let failure: unknown;
    let ok = false;
    try {
      await Promise.resolve().then(() => sub.handler(view(d)));
      ok = true;
    } catch (err) {
      failure = err;
    }
    sub.inFlight--;
    this.pump(sub);
    if (ok || !sub.active) return this.settle(1);
    if (d.attempt >= sub.opts.maxDeliveryAttempts) {
      this.deadLetter(sub, d, failure);
      return this.settle(1);
    }
    await this.sleep(Math.min(sub.opts.maxBackoffMs, sub.opts.minBackoffMs * 2 ** (d.attempt - 1)));
    if (!sub.active || this.closed) return this.settle(1);
    sub.queue.push({ msg: d.msg, attempt: d.attempt + 1 });
    this.pump(sub);
  }

  private deadLetter(sub: Subscription, d: Delivery, failure: unknown): void {
    const reason = errorMessage(failure);
    const entry: DeadLetter = {
      topic: d.msg.topic,
      id: d.msg.id,
      data: d.msg.data.toString('utf8'),
      attributes: { ...d.msg.attributes },
      publishTime: d.msg.publishTime,
      deliveryAttempts: d.attempt,
      reason,
      deadLetteredAt: new Date(this.now()).toISOString(),
    };
    this.dead.push(entry);
    void this.persist();
    this.log.warn('message dead-lettered', {
      topic: entry.topic,
      messageId: entry.id,
      deliveryAttempts: d.attempt,
      reason,
      deadLetterTopic: sub.opts.deadLetterTopic,
    });
    if (sub.opts.deadLetterTopic !== undefined && !this.closed) {
      this.publishData(sub.opts.deadLetterTopic, d.msg.data, {
        ...d.msg.attributes,
        deadLetterReason: reason.slice(0, 1024),
        deadLetterSourceTopic: d.msg.topic,
      });
    }
  }

  private settle(n: number, force = false): void {
    if (n === 0 && !force) return;
    this.pending -= n;
    if (this.pending === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    this.notifySettled();
  }

  private notifySettled(): void {
    if (this.pending === this.heldCount) for (const resolve of this.settledWaiters.splice(0)) resolve();
  }

  private now(): number {
    return this.clock?.now() ?? Date.now();
  }

  private sleep(ms: number): Promise<void> {
    if (this.clock) return this.clock.sleep(ms);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.set(timer, resolve);
    });
  }

  /** Rewrites the dead-letter file (atomically), one write at a time. */
  private persist(): Promise<void> {
    const file = this.deadLetterFile;
    if (!file) return Promise.resolve();
    const snapshot = JSON.stringify(this.dead, null, 2);
    this.persisting = this.persisting.then(async () => {
      try {
        await mkdir(dirname(file), { recursive: true });
        const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
        await writeFile(temp, snapshot);
        await rename(temp, file);
      } catch (err) {
        this.log.warn('could not write the dead-letter file', { file, error: errorMessage(err) });
      }
    });
    return this.persisting;
  }
}

function view(d: Delivery): BusMessage {
  let parsed: { value: unknown } | undefined;
  return {
    id: d.msg.id,
    data: d.msg.data,
    json() {
      parsed ??= { value: JSON.parse(d.msg.data.toString('utf8')) };
      return parsed.value;
    },
    attributes: { ...d.msg.attributes },
    deliveryAttempt: d.attempt,
    publishTime: d.msg.publishTime,
  };
}
