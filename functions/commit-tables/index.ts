/**
 * commitTables: Cloud Scheduler (every minute) -> Pub/Sub `tidemark-commit` -> commit each
 * commit-mode dml table's dirty partitions in one transaction. Deployed only when some table has
 * commit.mode dml, without --retry: the next tick covers a failed one.
 */
import { cloudEvent } from '@google-cloud/functions-framework';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { onCommitTick } from '../../shared/handlers/commit-tick.ts';
import { gcpEngine } from '../../shared/runtime/gcp.ts';

cloudEvent('commitTables', async (event: CloudEvent<unknown>) => {
  await onCommitTick(gcpEngine(), event);
});
