/**
 * The one place where an error becomes "acknowledge" or "retry": permanent errors are logged
 * with their reason and swallowed (the platform acknowledges the event); everything else is
 * logged and rethrown so Eventarc / Pub/Sub deliver it again.
 */
import { errorMessage, isPermanent, TidemarkError } from '../core/errors.ts';
import type { LogFields, Logger } from '../log.ts';

export type Acknowledged<T> = { ok: true; value: T } | { ok: false; permanent: true; error: unknown };

/** Runs `work`; permanent failures are reported and acknowledged, transient ones rethrown. */
export async function settleEvent<T>(log: Logger, fields: LogFields, work: () => Promise<T>): Promise<Acknowledged<T>> {
  try {
    return { ok: true, value: await work() };
  } catch (err) {
    const details = {
      ...fields,
      ...(err instanceof TidemarkError ? err.fields : {}),
      error: errorMessage(err),
      errorType: err instanceof Error ? err.name : typeof err,
    };
    if (isPermanent(err)) {
      log.error(`acknowledged without retry: ${errorMessage(err)}`, { ...details, retry: false });
      return { ok: false, permanent: true, error: err };
    }
    log.warn(`will be retried: ${errorMessage(err)}`, { ...details, retry: true });
    throw err;
  }
}
