/**
 * The real clients `tidemark infra` uses, created once per run with Application Default
 * Credentials. Loaded lazily by the CLI: no other command pays for these imports.
 */
import { BigQuery } from '@google-cloud/bigquery';
import { PubSub } from '@google-cloud/pubsub';
import { CloudSchedulerClient } from '@google-cloud/scheduler';
import { GoogleAuth } from 'google-auth-library';
import { BackendUnavailableError } from '../shared/core/errors.ts';
import type { InfraClients } from './plan.ts';
import { GoogleRest } from './rest.ts';

export type Env = Record<string, string | undefined>;

/**
 * Clients for `project`. `PUBSUB_EMULATOR_HOST` in `env` points Pub/Sub at an emulator (the
 * other APIs have none). Close them when done.
 */
export async function createInfraClients(project: string, env: Env): Promise<InfraClients & { close(): Promise<void> }> {
  const auth = new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'], projectId: project });
  // Fail here, with what to do, rather than deep inside a client (which may do it in the background).
  try {
    await auth.getClient();
  } catch (err) {
    throw new BackendUnavailableError(
      `no Google credentials for project ${project}: run \`gcloud auth application-default login\` or set GOOGLE_APPLICATION_CREDENTIALS (${err instanceof Error ? err.message : String(err)})`,
      { project },
    );
  }
  const pubsub = new PubSub({ projectId: project, ...(env.PUBSUB_EMULATOR_HOST ? { apiEndpoint: env.PUBSUB_EMULATOR_HOST, emulatorMode: true } : {}) });
  // REST, like the tests exercise it; a handful of calls does not need a gRPC channel.
  const scheduler = new CloudSchedulerClient({ fallback: true, projectId: project });
  const bigquery = new BigQuery({ projectId: project });
  const rest = new GoogleRest({ auth });
  return {
    project,
    pubsub,
    scheduler,
    bigquery,
    rest,
    close: async () => {
      await Promise.allSettled([pubsub.close(), scheduler.close()]);
    },
  };
}
