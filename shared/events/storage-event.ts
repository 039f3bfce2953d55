/**
 * Decoder for Cloud Storage `google.cloud.storage.object.v1.finalized` CloudEvents (Eventarc).
 * Generations, metagenerations and sizes arrive as strings; a bad payload is an
 * InvalidEventError naming the field.
 */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { eventData } from './event-data.ts';
import { InvalidEventError } from '../core/errors.ts';

export const OBJECT_FINALIZED = 'google.cloud.storage.object.v1.finalized';

/** The fields of a StorageObjectData tidemark uses. */
export interface FinalizedObject {
  bucket: string;
  name: string;
  generation: string;
  size: number;
  contentType?: string;
  updated?: string;
}

/** Decodes a finalize CloudEvent; throws InvalidEventError (permanent) naming the bad field. */
export function decodeFinalizedEvent(event: CloudEvent<unknown>): FinalizedObject {
  if (event.type && event.type !== OBJECT_FINALIZED) {
    throw new InvalidEventError(`event ${event.id ?? '?'}: type is "${event.type}", expected ${OBJECT_FINALIZED}`, {
      eventId: event.id,
      field: 'type',
    });
  }
  const data = eventData(event);
  if (!data || typeof data !== 'object') {
    throw new InvalidEventError(`event ${event.id ?? '?'}: data is missing`, { eventId: event.id, field: 'data' });
  }
  const d = data as Record<string, unknown>;
  const field = (key: string) => {
    const v = d[key];
    if (typeof v !== 'string' || v === '') {
      throw new InvalidEventError(`event ${event.id ?? '?'}: data.${key} must be a non-empty string`, {
        eventId: event.id,
        field: `data.${key}`,
      });
    }
    return v;
  };
  const bucket = field('bucket');
  const name = field('name');
  const generation = typeof d.generation === 'number' ? String(d.generation) : field('generation');
  if (!/^[0-9]+$/.test(generation)) {
    throw new InvalidEventError(`event ${event.id ?? '?'}: data.generation "${generation}" is not a number`, {
      eventId: event.id,
      field: 'data.generation',
      object: name,
    });
  }
  const rawSize = d.size ?? '0';
  const size = typeof rawSize === 'number' ? rawSize : Number(rawSize);
  if (!Number.isFinite(size) || size < 0) {
    throw new InvalidEventError(`event ${event.id ?? '?'}: data.size "${String(rawSize)}" is not a size`, {
      eventId: event.id,
      field: 'data.size',
      object: name,
    });
  }
  return {
    bucket,
    name,
    generation,
    size,
    ...(typeof d.contentType === 'string' ? { contentType: d.contentType } : {}),
    ...(typeof d.updated === 'string' ? { updated: d.updated } : {}),
  };
}
