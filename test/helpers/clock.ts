/**
 * A clock tests move by hand. `sleep` advances it (and yields to real I/O for a moment so
 * background work such as local warehouse jobs can progress).
 */
import type { Clock } from '../../shared/core/ports.ts';

export class ManualClock implements Clock {
  ms: number;
  constructor(ms = Date.UTC(2026, 10, 24, 12, 0, 0)) {
    this.ms = ms;
  }
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
  async sleep(ms: number): Promise<void> {
    this.ms += ms;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/**
 * Timers on a ManualClock's time: `sleep` resolves only when the test moves time past its
 * deadline with `advance` (for a bus holding messages until a time, or retrying with backoff).
 */
export class TimerClock implements Clock {
  private timers: { at: number; resolve: () => void }[] = [];
  readonly time: ManualClock;
  constructor(time: ManualClock) {
    this.time = time;
  }
  now(): number {
    return this.time.now();
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.timers.push({ at: this.time.now() + ms, resolve }));
  }
  /** Timers not fired yet. */
  get pending(): number {
    return this.timers.length;
  }
  /** Moves time on by `ms`, fires the timers due, and lets their callbacks run. */
  async advance(ms: number): Promise<void> {
    this.time.advance(ms);
    const now = this.time.now();
    const due = this.timers.filter((t) => t.at <= now);
    this.timers = this.timers.filter((t) => t.at > now);
    for (const t of due) t.resolve();
    await new Promise((resolve) => setImmediate(resolve));
  }
}
