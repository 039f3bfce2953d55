/**
 * Builds the engine for deployed functions: Google clients created once per instance and
 * injected. The environment is read here, at the edge, and nowhere deeper.
 */
import { BigQuery } from '@google-cloud/bigquery';
import { Storage } from '@google-cloud/storage';
import { BigQueryWarehouse } from '../backends/gcp/bigquery-warehouse.ts';
import { GcsObjectStore } from '../backends/gcp/storage-store.ts';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/types.ts';
import { systemClock } from '../core/ports.ts';
import { defaultEngineOptions } from '../core/sync.ts';
import type { Engine } from '../core/sync.ts';
import { createLogger } from '../log.ts';
import { createRouter } from '../routing/router.ts';

export type Env = Record<string, string | undefined>;

/** Reads the config named by TIDEMARK_CONFIG (default: tidemark.config.yaml beside the code). */
export function loadRuntimeConfig(env: Env): Config {
  return loadConfig({ file: env.TIDEMARK_CONFIG ?? 'tidemark.config.yaml', env });
}

/** A fresh engine over the official clients. */
export function createGcpEngine(env: Env, config: Config = loadRuntimeConfig(env)): Engine {
  // Retries are ours (withRetry in the adapters): one layer, not two.
  const storage = new Storage({ projectId: config.project, retryOptions: { autoRetry: false } });
  const bigquery = new BigQuery({ projectId: config.project, location: config.location });
  return {
    config,
    router: createRouter(config),
    store: new GcsObjectStore({ storage }),
    warehouse: new BigQueryWarehouse({ bigquery, project: config.project, location: config.location }),
    clock: systemClock,
    log: createLogger(undefined, { service: env.K_SERVICE ?? 'tidemark' }, env.TIDEMARK_LOG_LEVEL === 'debug' ? 'DEBUG' : 'INFO'),
    options: defaultEngineOptions,
  };
}

let instance: Engine | undefined;

/** The engine of this function instance, created on first use and reused across invocations. */
export function gcpEngine(): Engine {
  instance ??= createGcpEngine(process.env);
  return instance;
}
