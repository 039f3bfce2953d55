/**
 * Builds the engine on the embedded backends: a folder as the lake, a DuckDB file as the
 * warehouse. Used by `npm start`, the CLI with `--backend local`, and the tests.
 * Deployable function code never imports this module.
 */
import { join, resolve } from 'node:path';
import { lakeMetaDir, LocalObjectStore } from '../backends/local/lake-store.ts';
import { DuckDbWarehouse } from '../backends/local/duckdb-warehouse.ts';
import type { Config } from '../config/types.ts';
import { systemClock } from '../core/ports.ts';
import type { Clock } from '../core/ports.ts';
import { defaultEngineOptions } from '../core/sync.ts';
import type { Engine, EngineOptions } from '../core/sync.ts';
import { createLogger } from '../log.ts';
import type { Logger } from '../log.ts';
import { createRouter } from '../routing/router.ts';

export interface LocalPaths {
  /** Folder holding one sub-folder per bucket. */
  lakeDir: string;
  /** DuckDB file of the local warehouse. */
  warehouseFile: string;
  /** Where the default lake and warehouse live (`.tidemark/` in the working directory). */
  workDir: string;
  /**
   * What belongs to the lake, inside it (`<lakeDir>/.tidemark`): object metadata, locks, dead
   * letters, the `tidemark start` lock. Processes started from any folder on the same lake share it.
   */
  lakeMetaDir: string;
  /** Dead-lettered bus messages, readable by another process (`tidemark dlq`). */
  deadLetterFile: string;
  /** Held while `tidemark start` runs on this lake: a second one exits. */
  startLockFile: string;
}

/** Defaults under `.tidemark/` in `cwd`; the lake's own files always live inside the lake. */
export function defaultLocalPaths(cwd: string, overrides: Partial<Pick<LocalPaths, 'workDir' | 'lakeDir' | 'warehouseFile'>> = {}): LocalPaths {
  const workDir = resolve(cwd, overrides.workDir ?? '.tidemark');
  const lakeDir = resolve(cwd, overrides.lakeDir ?? join(workDir, 'lake'));
  const meta = lakeMetaDir(lakeDir);
  return {
    workDir,
    lakeDir,
    lakeMetaDir: meta,
    deadLetterFile: join(meta, 'dead-letters.json'),
    startLockFile: join(meta, 'start.lock'),
    warehouseFile: resolve(cwd, overrides.warehouseFile ?? join(workDir, 'warehouse.duckdb')),
  };
}

export interface LocalEngine extends Engine {
  store: LocalObjectStore;
  warehouse: DuckDbWarehouse;
  paths: LocalPaths;
  close(): Promise<void>;
}

export interface LocalEngineOptions {
  paths: LocalPaths;
  clock?: Clock;
  log?: Logger;
  engine?: Partial<EngineOptions>;
  /** Who holds the warehouse lock, for the message another process shows while waiting. */
  holder?: string;
  lockWaitMs?: number;
  hooks?: Engine['hooks'];
  /** Tests: keep each job RUNNING this long. */
  jobDelayMs?: ConstructorParameters<typeof DuckDbWarehouse>[0]['jobDelayMs'];
}

/** The local engine; call close() to release the warehouse. */
export function createLocalEngine(config: Config, opts: LocalEngineOptions): LocalEngine {
  const { paths } = opts;
  const store = new LocalObjectStore({ root: paths.lakeDir, metaDir: paths.lakeMetaDir });
  const warehouse = new DuckDbWarehouse({
    file: paths.warehouseFile,
    holder: opts.holder ?? 'tidemark',
    // One clock for the process: table expiration and partition times compare with the engine's.
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.lockWaitMs !== undefined ? { lockWaitMs: opts.lockWaitMs } : {}),
    ...(opts.jobDelayMs ? { jobDelayMs: opts.jobDelayMs } : {}),
  });
  return {
    config,
    router: createRouter(config),
    store,
    warehouse,
    clock: opts.clock ?? systemClock,
    log: opts.log ?? createLogger(),
    // Local jobs finish in milliseconds: poll often.
    options: { ...defaultEngineOptions, pollMs: 20, ...opts.engine },
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
    paths,
    close: () => warehouse.close(),
  };
}
