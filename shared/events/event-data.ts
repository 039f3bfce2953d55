/** The `data` of a CloudEvent as an object, whether the framework parsed it already or not. */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { InvalidEventError } from '../core/errors.ts';

/** Parses string/Buffer data as JSON; throws InvalidEventError naming the event otherwise. */
export function eventData(event: CloudEvent<unknown>): unknown {
  const data: unknown = event.data;
  if (typeof data !== 'string' && !Buffer.isBuffer(data)) return data;
  try {
    return JSON.parse(data.toString());
  } catch {
    throw new InvalidEventError(`event ${event.id ?? '?'}: data is not JSON`, { eventId: event.id, field: 'data' });
  }
}
