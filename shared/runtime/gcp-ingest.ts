/**
 * What ingestEvents needs on Google Cloud, apart from the sync functions' wiring (gcp.ts) so
 * their bundles do not carry it: the streams, a publisher batching for many small messages, a
 * logger. Created once per instance.
 */
import type { IngestDeps } from '../ingest/handler.ts';
import { systemClock } from '../core/ports.ts';
import { gcpBus, gcpEngine } from './gcp.ts';

/**
 * Ingestion publishes many small messages per request: batch up to Pub/Sub's 1,000 messages and
 * 10 MB per publish call, waiting at most 10 ms so a request is answered promptly.
 */
export const INGEST_BATCHING = { maxMessages: 1000, maxBytes: 9 * 1024 * 1024, maxMilliseconds: 10 };

let ingest: IngestDeps | undefined;

/** The ingest function's dependencies, created on first use and reused across invocations. */
export function gcpIngestDeps(): IngestDeps {
  const engine = gcpEngine();
  ingest ??= {
    streams: engine.config.streams ?? [],
    bus: gcpBus(engine.config, INGEST_BATCHING),
    clock: systemClock,
    log: engine.log,
  };
  return ingest;
}
