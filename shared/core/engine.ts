/**
 * What the sync engine works with: its backends, clock, logger and tuning, built once per
 * process (shared/runtime/) and passed in. Tests swap any part.
 */
import type { Config } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { Router } from '../routing/router.ts';
import type { Clock, ObjectStore, Warehouse } from './ports.ts';

/** Points where tests inject crashes. */
export type SyncStep =
  | 'after-list'
  | 'after-claim'
  | 'after-submit'
  | 'after-complete'
  | 'after-label'
  | 'after-settle'
  // A table commit's steps (commit.ts); `partition` is '' for them.
  | 'commit-opened'
  | 'commit-sealed'
  | 'commit-staged'
  | 'commit-submitted'
  | 'commit-done';

export interface EngineOptions {
  /** How often a running job is polled. */
  pollMs: number;
  /** How long one call waits for its job before handing over (the retry settles it). */
  maxWaitMs: number;
  /** A claim older than this whose job does not exist is fenced. Far above claim-to-submit time. */
  submitGraceMs: number;
  /** Claim/settle rounds one call may go through (quarantine retries, lost races). */
  maxRounds: number;
}

export const defaultEngineOptions: EngineOptions = {
  pollMs: 1_000,
  maxWaitMs: 8 * 60_000,
  submitGraceMs: 2 * 60_000,
  maxRounds: 12,
};

/** Everything the engine works with, built once per process and passed in. */
export interface Engine {
  config: Config;
  router: Router;
  store: ObjectStore;
  warehouse: Warehouse;
  clock: Clock;
  log: Logger;
  options: EngineOptions;
  hooks?: {
    step?: (step: SyncStep, info: { table: string; partition: string; jobId?: string }) => void | Promise<void>;
  };
}
