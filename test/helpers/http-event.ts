/** A CloudEvent in binary content mode (ce-* headers, JSON body), as Eventarc POSTs it to a function. */

export interface HttpEvent {
  id: string;
  headers: Record<string, string>;
  body: string;
}

let seq = 0;

/** `idPrefix` names who sent it (a test, a benchmark); ids are unique within the process. */
export function binaryCloudEvent(
  type: string,
  source: string,
  data: unknown,
  subject?: string,
  idPrefix = 'test',
): HttpEvent {
  const id = `${idPrefix}-${++seq}`;
  return {
    id,
    headers: {
      'ce-id': id,
      'ce-specversion': '1.0',
      'ce-type': type,
      'ce-source': source,
      'ce-time': new Date().toISOString(),
      ...(subject ? { 'ce-subject': subject } : {}),
      'content-type': 'application/json',
    },
    body: JSON.stringify(data),
  };
}
