/**
 * Builds the engine for deployed functions: Google clients created once per instance and
 * injected. The environment is read here, at the edge, and nowhere deeper.
 */
import { PubSubBus } from '../backends/gcp/pubsub-bus.ts';
import type { PubSubBusOptions } from '../backends/gcp/pubsub-bus.ts';
import type { BackfillDeps } from '../handlers/backfill.ts';
import type { AuditDeps } from '../core/audit.ts';
import { readResolvedConfig, RESOLVED_CONFIG_FILE } from '../config/resolved.ts';
import type { Config } from '../config/types.ts';
import { systemClock } from '../core/ports.ts';
import type { Bus, ObjectStore, Warehouse } from '../core/ports.ts';
import { defaultEngineOptions } from '../core/engine.ts';
import type { Engine } from '../core/sync.ts';
import type { BigQuery, BigQueryOptions } from '@google-cloud/bigquery';
import type { Storage } from '@google-cloud/storage';
import type { GoogleAuth } from 'google-auth-library';
import { createLogger } from '../log.ts';
import { createRouter } from '../routing/router.ts';

export type Env = Record<string, string | undefined>;

/**
 * Reads the resolved config the build wrote beside index.js (tidemark.config.json; another file
 * with TIDEMARK_RESOLVED_CONFIG). Not the YAML: validating that needs a YAML parser and zod,
 * which stay out of the bundles; the build ran the same validation. The CLI passes the Config it
 * loaded itself.
 */
export function loadRuntimeConfig(env: Env): Config {
  return readResolvedConfig(env.TIDEMARK_RESOLVED_CONFIG ?? RESOLVED_CONFIG_FILE);
}

/** Forwards every method to `load()`'s result, loading it on the first call; `sync` answers without loading. */
function lazyPort<T extends object>(load: () => Promise<T>, sync: Partial<T> = {}): T {
  let loaded: Promise<T> | undefined;
  return new Proxy(sync as T, {
    get: (target, key) =>
      key in target
        ? Reflect.get(target, key)
        : async (...args: unknown[]) =>
            Reflect.apply(
              Reflect.get(await (loaded ??= load()), key) as (...a: unknown[]) => unknown,
              await loaded,
              args,
            ),
  });
}

/** The official clients of one engine, each imported and created on first use, sharing one GoogleAuth. */
export interface GcpClients {
  auth(): Promise<GoogleAuth>;
  storage(): Promise<Storage>;
  bigquery(): Promise<BigQuery>;
}

/**
 * Storage and BigQuery share one GoogleAuth (one token cache, one metadata-server probe): the
 * build ships a single google-auth-library beside their lazy files, so both accept it as
 * `authClient`.
 */
export function gcpClients(config: Config): GcpClients {
  let auth: Promise<GoogleAuth> | undefined;
  let storage: Promise<Storage> | undefined;
  let bigquery: Promise<BigQuery> | undefined;
  const clients: GcpClients = {
    auth: () =>
      (auth ??= import('google-auth-library').then(
        ({ GoogleAuth }) =>
          new GoogleAuth({ projectId: config.project, scopes: ['https://www.googleapis.com/auth/cloud-platform'] }),
      )),
    storage: () =>
      (storage ??= Promise.all([import('@google-cloud/storage'), clients.auth()]).then(
        ([{ Storage }, authClient]) =>
          new Storage({ projectId: config.project, authClient, retryOptions: { autoRetry: false } }),
      )),
    bigquery: () =>
      (bigquery ??= Promise.all([import('@google-cloud/bigquery'), clients.auth()]).then(
        ([{ BigQuery }, authClient]) =>
          new BigQuery({
            projectId: config.project,
            location: config.location,
            // BigQueryOptions types authClient as an AuthClient, but @google-cloud/common, which
            // gets these options, takes a GoogleAuth as it is (`instanceof GoogleAuth`, util.js).
            authClient: authClient as unknown as BigQueryOptions['authClient'],
          }),
      )),
  };
  return clients;
}

/** A fresh engine over the official clients, each loaded on its first call. */
export function createGcpEngine(env: Env, config: Config = loadRuntimeConfig(env)): Engine {
  const clients = gcpClients(config);
  const store = lazyPort<ObjectStore>(
    async () => {
      const [storage, { GcsObjectStore }] = await Promise.all([
        clients.storage(),
        import('../backends/gcp/storage-store.ts'),
      ]);
      return new GcsObjectStore({ storage });
    },
    { uri: (bucket: string, name: string) => `gs://${bucket}/${name}` },
  );
  const warehouse = lazyPort<Warehouse>(async () => {
    const [bigquery, { BigQueryWarehouse }] = await Promise.all([
      clients.bigquery(),
      import('../backends/gcp/bigquery-warehouse.ts'),
    ]);
    return new BigQueryWarehouse({ bigquery, project: config.project, location: config.location });
  });
  return {
    config,
    router: createRouter(config),
    store,
    warehouse,
    clock: systemClock,
    log: createLogger(
      undefined,
      { service: env.K_SERVICE ?? 'tidemark' },
      env.TIDEMARK_LOG_LEVEL === 'debug' ? 'DEBUG' : 'INFO',
    ),
    options: defaultEngineOptions,
  };
}

let instance: Engine | undefined;
let withBus: AuditDeps | undefined;

/** The engine of this function instance, created on first use and reused across invocations. */
export function gcpEngine(): Engine {
  instance ??= createGcpEngine(process.env);
  return instance;
}

/** The engine plus a Pub/Sub publisher (auditor, backfill), created once per instance. */
export function gcpAuditDeps(): AuditDeps {
  withBus ??= { ...gcpEngine(), bus: gcpBus(gcpEngine().config) };
  return withBus;
}

let backfill: BackfillDeps | undefined;

/** The backfill function's dependencies: the auditor's, plus when a budget wait is re-published (from its deploy env). */
export function gcpBackfillDeps(): BackfillDeps {
  const requeue = Number(process.env.TIDEMARK_BUDGET_REQUEUE_MS);
  backfill ??= { ...gcpAuditDeps(), ...(Number.isFinite(requeue) && requeue > 0 ? { requeueAfterMs: requeue } : {}) };
  return backfill;
}

/**
 * A Pub/Sub publisher (functions, and the CLI's --backend gcp). @google-cloud/pubsub, with gRPC
 * and its protos most of a bundle, is imported on the first publish: paths that never publish
 * (loadOnFinalize, nearly every backfill) never load it. The client is created once.
 */
export function gcpBus(config: Config, batching?: PubSubBusOptions['batching']): Bus {
  let bus: Promise<PubSubBus> | undefined;
  const load = () =>
    (bus ??= import('@google-cloud/pubsub').then(
      ({ PubSub }) =>
        new PubSubBus({ pubsub: new PubSub({ projectId: config.project }), ...(batching ? { batching } : {}) }),
    ));
  return { publish: async (topic, messages, attributes) => (await load()).publish(topic, messages, attributes) };
}
