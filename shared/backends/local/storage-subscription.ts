/**
 * A local stand-in for a Pub/Sub Cloud Storage subscription: it subscribes to a stream's topic on
 * the in-process bus and writes the messages into the lake folder as files, one message payload
 * per line (TEXT format), a new file every `maxDurationMs` or once it holds `maxBytes`, named as
 * the managed service names them (ingest/file-names.ts). Like the service it acknowledges a
 * message only after its file is written, so a failure between writing and acknowledging
 * delivers the message again and it lands in a second file: the duplicates the loader removes.
 */
import { randomUUID } from 'node:crypto';
import { errorMessage } from '../../core/errors.ts';
import type { Clock, ObjectStore } from '../../core/ports.ts';
import { streamObjectName } from '../../ingest/file-names.ts';
import type { FileNaming } from '../../ingest/file-names.ts';
import type { Logger } from '../../log.ts';
import type { BusMessage, LocalBus } from './bus.ts';

export interface StorageSubscriptionOptions {
  bus: LocalBus;
  topic: string;
  store: ObjectStore;
  bucket: string;
  naming: FileNaming;
  maxDurationMs: number;
  maxBytes: number;
  clock: Clock;
  log: Logger;
  /** Deliveries before a message is dead-lettered (to `deadLetterTopic`). */
  maxDeliveryAttempts?: number;
  deadLetterTopic?: string;
  minBackoffMs?: number;
  /** Tests: duplicate deliveries from the bus (0..1). */
  duplicateRate?: number;
  /** Tests: called after a file is written, before its messages are acknowledged; a throw fails them all (they come again). */
  afterWrite?: (name: string, messages: number) => void | Promise<void>;
  newUuid?: () => string;
}

interface Batch {
  startedAt: number;
  lines: Buffer[];
  bytes: number;
  done: Promise<void>;
  settle: (err?: unknown) => void;
  timer?: NodeJS.Timeout;
}

/** Files written so far (for tests and the narration). */
export interface WrittenFile {
  name: string;
  messages: number;
  bytes: number;
}

/** The running stand-in; `close()` writes what is pending and unsubscribes. */
export class LocalStorageSubscription {
  readonly written: WrittenFile[] = [];
  private batch: Batch | undefined;
  private readonly unsubscribe: () => void;
  private writing: Promise<void> = Promise.resolve();
  private readonly opts: StorageSubscriptionOptions;

  constructor(opts: StorageSubscriptionOptions) {
    this.opts = opts;
    this.unsubscribe = opts.bus.subscribe(opts.topic, (msg) => this.receive(msg), {
      // Every outstanding message waits in the open file: as many in flight as the file holds.
      concurrency: 1_000_000,
      maxDeliveryAttempts: opts.maxDeliveryAttempts ?? 10,
      minBackoffMs: opts.minBackoffMs ?? 500,
      ...(opts.deadLetterTopic ? { deadLetterTopic: opts.deadLetterTopic } : {}),
      ...(opts.duplicateRate ? { duplicateRate: opts.duplicateRate } : {}),
    });
  }

  /** Writes the open file now (tests; shutdown). Resolves once it is written or failed. */
  async flush(): Promise<void> {
    const batch = this.batch;
    if (batch) await this.cut(batch);
    await this.writing;
  }

  /** Writes what is pending, then stops receiving. */
  async close(): Promise<void> {
    await this.flush();
    this.unsubscribe();
  }

  private receive(msg: BusMessage): Promise<void> {
    const line = Buffer.concat([msg.data, Buffer.from('\n')]);
    // A file holds at least one message: an oversized one gets a file of its own.
    if (this.batch && this.batch.bytes + line.length > this.opts.maxBytes) void this.cut(this.batch);
    const batch = (this.batch ??= this.open());
    batch.lines.push(line);
    batch.bytes += line.length;
    if (batch.bytes >= this.opts.maxBytes) void this.cut(batch);
    return batch.done;
  }

  private open(): Batch {
    let settle!: (err?: unknown) => void;
    const done = new Promise<void>(
      (resolve, reject) => (settle = (err) => (err === undefined ? resolve() : reject(err))),
    );
    // Handlers await this; a failed write must not also be an unhandled rejection.
    done.catch(() => {});
    const batch: Batch = { startedAt: this.opts.clock.now(), lines: [], bytes: 0, done, settle };
    if (Number.isFinite(this.opts.maxDurationMs))
      batch.timer = setTimeout(() => void this.cut(batch), this.opts.maxDurationMs);
    return batch;
  }

  /** Closes `batch` (if still open) and writes it after the files before it. */
  private cut(batch: Batch): Promise<void> {
    if (this.batch === batch) this.batch = undefined;
    if (batch.timer) clearTimeout(batch.timer);
    delete batch.timer;
    if (batch.lines.length === 0) return this.writing;
    const lines = batch.lines.splice(0);
    this.writing = this.writing.then(async () => {
      const name = streamObjectName(this.opts.naming, batch.startedAt, (this.opts.newUuid ?? randomUUID)());
      try {
        const data = Buffer.concat(lines);
        await this.opts.store.write(this.opts.bucket, name, data, { contentType: 'application/x-ndjson' });
        this.written.push({ name, messages: lines.length, bytes: data.length });
        await this.opts.afterWrite?.(name, lines.length);
        batch.settle();
      } catch (err) {
        this.opts.log.warn('storage subscription: file not acknowledged; its messages will be delivered again', {
          topic: this.opts.topic,
          object: name,
          messages: lines.length,
          error: errorMessage(err),
        });
        batch.settle(err);
      }
    });
    return this.writing;
  }
}
