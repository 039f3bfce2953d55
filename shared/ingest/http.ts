/**
 * The functions-framework HTTP handler over handleIngest: shared by the deployed function and
 * its tests (which register it under another name with test dependencies). By the time it runs
 * the framework has read the body into `req.rawBody`, inflating gzip; the decoded size is
 * checked again by the core.
 */
import type { HttpFunction } from '@google-cloud/functions-framework';
import { handleIngest } from './handler.ts';
import type { IngestDeps } from './handler.ts';

/** An HttpFunction answering `POST /v1/streams/<stream>/events`; `deps` is called per request (cached by the caller). */
export function ingestHttpFunction(deps: () => IngestDeps): HttpFunction {
  return async (req, res) => {
    const r = await handleIngest(deps(), {
      method: req.method,
      path: req.path,
      contentType: req.get('content-type'),
      body: req.rawBody ?? Buffer.alloc(0),
      decoded: true,
    });
    res
      .status(r.status)
      .set(r.headers ?? {})
      .json(r.body);
  };
}
