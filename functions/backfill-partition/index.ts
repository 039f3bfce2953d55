/**
 * backfillPartition: Pub/Sub `tidemark-backfill` -> sync one partition (backfill or forced
 * reload). Deployed with --retry; the subscription dead-letters to `tidemark-backfill-dlq`.
 */
import { cloudEvent } from '@google-cloud/functions-framework';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { onBackfillMessage } from '../../shared/handlers/backfill.ts';
import { gcpBackfillDeps } from '../../shared/runtime/gcp.ts';

cloudEvent('backfillPartition', async (event: CloudEvent<unknown>) => {
  await onBackfillMessage(gcpBackfillDeps(), event);
});
