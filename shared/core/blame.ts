/**
 * Which source files a failed load's errors name, exactly. A file is blamed only when an error
 * names its whole URI: `location` first (BigQuery puts the file there), else the URI as a token
 * in the message. Never by prefix: `gs://b/batch-1` is not named by "gs://b/batch-10: bad gzip".
 * `notFound` errors blame nobody: a file deleted between listing and load is not bad; the caller
 * lists again.
 */
import type { JobErrorItem } from './ports.ts';

/** Characters that may end a URI quoted in an error message (besides the end of the text). */
const AFTER = /[\s'"`)\]>,;]/;
/** Characters that may come just before a URI in an error message. */
const BEFORE = /[\s'"`([<,;:=]/;

/** True when `message` contains `uri` as a whole token, not as the start of a longer name. */
export function namesUri(message: string, uri: string): boolean {
  for (let at = message.indexOf(uri); at !== -1; at = message.indexOf(uri, at + 1)) {
    const before = at === 0 ? '' : message[at - 1]!;
    const end = at + uri.length;
    const after = end === message.length ? '' : message[end]!;
    const next = end + 1 >= message.length ? '' : message[end + 1]!;
    const startsToken = before === '' || BEFORE.test(before);
    // A sentence may end right after the URI ("... in gs://b/o." / "gs://b/o: reason").
    const endsToken =
      after === '' || AFTER.test(after) || ((after === '.' || after === ':') && (next === '' || /\s/.test(next)));
    if (startsToken && endsToken) return true;
  }
  return false;
}

/** True for an error saying a source (or the staging table) was not found. */
export function isNotFound(e: JobErrorItem): boolean {
  return e.reason === 'notFound';
}

/**
 * The URIs (of `uris`) that the errors name exactly, each with the first message naming it.
 * `notFound` errors are skipped (see the module header).
 */
export function blameUris(errors: JobErrorItem[], uris: Iterable<string>): Map<string, string> {
  const candidates = new Set(uris);
  const blamed = new Map<string, string>();
  for (const e of errors) {
    if (isNotFound(e)) continue;
    if (e.location && candidates.has(e.location)) {
      if (!blamed.has(e.location)) blamed.set(e.location, e.message);
      continue;
    }
    for (const uri of candidates) {
      if (!blamed.has(uri) && namesUri(e.message, uri)) blamed.set(uri, e.message);
    }
  }
  return blamed;
}
