/**
 * auditGaps: Cloud Scheduler -> Pub/Sub `tidemark-audit` -> find missing/stale partitions and
 * publish one backfill message each. Deployed without --retry: the next scheduled run covers
 * a failed one.
 */
import { cloudEvent } from '@google-cloud/functions-framework';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { onAuditMessage } from '../../shared/handlers/audit.ts';
import { gcpAuditDeps } from '../../shared/runtime/gcp.ts';

cloudEvent('auditGaps', async (event: CloudEvent<unknown>) => {
  await onAuditMessage(gcpAuditDeps(), event);
});
