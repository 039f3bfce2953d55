/**
 * Why an object name goes where it goes (`tidemark route`): the table and partition it loads into,
 * with the local time its path names beside the UTC partition; or, when it goes nowhere, the
 * reason: ignored outright (hidden file, marker, temporary file, state object), or per table which
 * segment or token of the pattern failed to match, or which date it names that cannot be loaded.
 */
import type { Config } from '../config/types.ts';
import { errorMessage, RouteError } from '../core/errors.ts';
import { isIgnoredObjectName } from './ignored-names.ts';
import { partitionStart } from './partition.ts';
import { compileSource, tokenRegexSource, tokenText, TOKEN_WIDTH } from './pattern.ts';
import type { PatternPart, PatternSegment, SourceMatcher } from './pattern.ts';
import type { Router } from './router.ts';

/** One table's verdict on a name that none took. */
export interface TableVerdict {
  table: string;
  reason: string;
}

export type RouteExplanation =
  | {
      kind: 'routed';
      table: string;
      partition: string;
      /** The partition's start as an ISO UTC time. */
      partitionStart: string;
      /** The time the path names, as written, in the table's zone: `2026-11-25 00h Asia/Seoul`. */
      localTime: string;
      /** `project:dataset.table$partition` */
      target: string;
    }
  | { kind: 'ignored'; reason: string }
  | { kind: 'unrouted'; tables: TableVerdict[] };

/** Where `name` in `bucket` goes, and why. Pure: reads only the config and its routes. */
export function explainRoute(config: Config, router: Router, bucket: string, name: string): RouteExplanation {
  const { state } = config;
  if (bucket === state.bucket && name.startsWith(state.prefix)) {
    return {
      kind: 'ignored',
      reason: `ignored: state prefix gs://${state.bucket}/${state.prefix} (tidemark's own objects)`,
    };
  }
  const ignored = isIgnoredObjectName(name);
  if (ignored) return { kind: 'ignored', reason: `ignored: ${ignored}` };
  const verdicts: TableVerdict[] = [];
  for (const route of router.tables) {
    const { table } = route;
    if (table.source.bucket !== bucket) {
      verdicts.push({ table: table.name, reason: `reads gs://${table.source.bucket}, not gs://${bucket}` });
      continue;
    }
    let partition: string | null;
    try {
      partition = route.partitionOf(name);
    } catch (err) {
      if (!(err instanceof RouteError)) throw err;
      verdicts.push({
        table: table.name,
        reason: `matches, but cannot be loaded: ${String(err.fields.reason ?? errorMessage(err))}`,
      });
      continue;
    }
    const matcher = compileSource(table.source);
    if (partition === null) {
      verdicts.push({ table: table.name, reason: mismatchOf(matcher, name) });
      continue;
    }
    const values = matcher.match(name)?.values ?? {};
    const written = `${values.yyyy}-${values.mm}-${values.dd}${values.hh !== undefined ? ` ${values.hh}h` : ''}`;
    const ref = table.spec.ref;
    return {
      kind: 'routed',
      table: table.name,
      partition,
      partitionStart: new Date(partitionStart(partition)).toISOString(),
      localTime: `${written} ${table.source.timeZone}`,
      target: `${ref.project ?? config.project}:${ref.dataset}.${ref.table}$${partition}`,
    };
  }
  return { kind: 'unrouted', tables: verdicts };
}

/** The first place a pattern stops matching `name`, in words. */
function mismatchOf(matcher: SourceMatcher, name: string): string {
  if (!matcher.segments) return `does not match regex ${matcher.text}`;
  const segments = matcher.segments;
  if (segments.some((s) => s.kind === 'globstar')) {
    if (!name.startsWith(matcher.literalPrefix)) return `does not start with ${JSON.stringify(matcher.literalPrefix)}`;
    return `does not match pattern ${matcher.text}`;
  }
  const parts = name.split('/');
  for (const [i, segment] of segments.entries()) {
    const text = parts[i];
    const at = `segment ${i + 1} (${JSON.stringify(segmentText(segment))})`;
    if (text === undefined)
      return `${at}: the name has only ${parts.length} segment${parts.length === 1 ? '' : 's'}, the pattern ${segments.length}`;
    const problem = segment.kind === 'parts' ? segmentMismatch(segment, text) : null;
    if (problem) return `${at}: ${problem} in ${JSON.stringify(text)}`;
  }
  if (parts.length > segments.length)
    return `the name has ${parts.length} segments, the pattern only ${segments.length}`;
  return `does not match pattern ${matcher.text}`;
}

function segmentText(segment: PatternSegment): string {
  if (segment.kind === 'globstar') return '**';
  return segment.parts.map((p) => (p.kind === 'literal' ? p.text : p.kind === 'star' ? '*' : tokenText(p))).join('');
}

const escape = (text: string): string => text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');

/** A part as a regex; a `*` that starts a segment never matches a leading `.` (picomatch's rule). */
function partRegex(part: PatternPart, first: boolean): string {
  if (part.kind === 'literal') return escape(part.text);
  if (part.kind === 'star') return first ? '(?![.])[^/]*' : '[^/]*';
  return tokenRegexSource(part);
}

/** What in a segment fails: the first part that cannot extend a match from the segment's start. */
function segmentMismatch(segment: Extract<PatternSegment, { kind: 'parts' }>, text: string): string | null {
  const { parts } = segment;
  const source = (k: number): string =>
    parts
      .slice(0, k)
      .map((p, i) => partRegex(p, i === 0))
      .join('');
  if (new RegExp(`^${source(parts.length)}$`).test(text)) return null;
  for (let k = 1; k <= parts.length; k++) {
    if (new RegExp(`^${source(k)}`).test(text)) continue;
    const part = parts[k - 1]!;
    if (part.kind === 'literal') return `expected ${JSON.stringify(part.text)}`;
    if (part.kind === 'star') return '* does not match (a * never starts with ".")';
    const width = part.unpadded ? '1-2 digits, no leading zero' : `${TOKEN_WIDTH[part.name]} digits`;
    return `${tokenText(part)} expects ${width}`;
  }
  return 'unexpected text after the pattern segment';
}
