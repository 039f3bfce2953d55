/**
 * Builds the engine on the embedded backends: a folder as the lake, a DuckDB file as the
 * warehouse. Used by `npm start`, the CLI with `--backend local`, and the tests.
 * Deployable function code never imports this module.
 */
import { LocalObjectStore } from '../backends/local/lake-store.ts';
import { DuckDbWarehouse } from '../backends/local/duckdb-warehouse.ts';
import type { Config } from '../config/types.ts';
import { systemClock } from '../core/ports.ts';
import type { Clock } from '../core/ports.ts';
import { defaultEngineOptions } from '../core/sync.ts';
import type { Engine, EngineOptions } from '../core/sync.ts';
import { createLogger } from '../log.ts';
import type { Logger } from '../log.ts';
import { createRouter } from '../routing/router.ts';

export { defaultLocalPaths } from './local-paths.ts';
export type { LocalPaths } from './local-paths.ts';
import type { LocalPaths } from './local-paths.ts';

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
