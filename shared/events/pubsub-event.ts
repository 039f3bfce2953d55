/**
 * Decoder for Pub/Sub `google.cloud.pubsub.topic.v1.messagePublished` CloudEvents (Eventarc, or
 * functions-framework's conversion of a push request). Yields the message's JSON payload.
 */
import type { CloudEvent } from '@google-cloud/functions-framework';
import { eventData } from './event-data.ts';
import { InvalidEventError, InvalidMessageError } from '../core/errors.ts';

export const MESSAGE_PUBLISHED = 'google.cloud.pubsub.topic.v1.messagePublished';

export interface PubSubMessage {
  messageId: string;
  publishTime?: string;
  attributes: Record<string, string>;
  /** The decoded payload text. */
  text: string;
  /**
   * Which delivery this is (1 for the first), when the subscription has a dead-letter policy:
   * Pub/Sub then puts `deliveryAttempt` beside `message` in the push body.
   */
  deliveryAttempt?: number;
}

/** Unwraps the Pub/Sub message of a CloudEvent. Throws InvalidEventError naming the field. */
export function decodePubSubEvent(event: CloudEvent<unknown>): PubSubMessage {
  const data = eventData(event);
  const message = (data as { message?: Record<string, unknown> } | undefined)?.message;
  if (!message || typeof message !== 'object') {
    throw new InvalidEventError(`event ${event.id ?? '?'}: data.message is missing`, {
      eventId: event.id,
      field: 'data.message',
    });
  }
  const messageId = String(message.messageId ?? message.message_id ?? event.id ?? '');
  const raw = message.data;
  if (raw !== undefined && typeof raw !== 'string') {
    throw new InvalidEventError(`message ${messageId}: data.message.data must be base64 text`, {
      messageId,
      field: 'data.message.data',
    });
  }
  const attributes: Record<string, string> = {};
  if (message.attributes && typeof message.attributes === 'object') {
    for (const [k, v] of Object.entries(message.attributes)) attributes[k] = String(v);
  }
  const attempt = (data as { deliveryAttempt?: unknown }).deliveryAttempt;
  return {
    messageId,
    ...(typeof attempt === 'number' && Number.isInteger(attempt) && attempt > 0 ? { deliveryAttempt: attempt } : {}),
    ...(typeof message.publishTime === 'string' ? { publishTime: message.publishTime } : {}),
    attributes,
    text: raw ? Buffer.from(raw, 'base64').toString('utf8') : '',
  };
}

/** Parses a message payload as JSON; an empty payload is `{}`. */
export function messageJson(msg: PubSubMessage): unknown {
  if (msg.text.trim() === '') return {};
  try {
    return JSON.parse(msg.text);
  } catch {
    throw new InvalidMessageError(
      `message ${msg.messageId}: payload is not JSON: ${JSON.stringify(msg.text.slice(0, 80))}`,
      { messageId: msg.messageId },
    );
  }
}
