/**
 * ingestEvents: `POST /v1/streams/<stream>/events` -> validate, publish to the stream's topic.
 * HTTP, no unauthenticated access (callers need run.invoker).
 */
import { http } from '@google-cloud/functions-framework';
import { ingestHttpFunction } from '../../shared/ingest/http.ts';
import { gcpIngestDeps } from '../../shared/runtime/gcp-ingest.ts';

http('ingestEvents', ingestHttpFunction(gcpIngestDeps));
