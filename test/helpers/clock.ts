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
