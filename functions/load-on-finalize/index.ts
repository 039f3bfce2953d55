/**
 * loadOnFinalize: Cloud Storage object finalized (Eventarc) -> sync that object's partition.
 * Deployed with --retry: transient failures are thrown and redelivered; permanent ones are
 * logged and acknowledged inside onObjectFinalized.
 */
import { cloudEvent } from '@google-cloud/functions-framework';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { onObjectFinalized } from '../../shared/handlers/object-finalized.ts';
import { gcpEngine } from '../../shared/runtime/gcp.ts';

cloudEvent('loadOnFinalize', async (event: CloudEvent<unknown>) => {
  await onObjectFinalized(gcpEngine(), event);
});
