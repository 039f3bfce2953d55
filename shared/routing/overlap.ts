/**
 * Finds object names that two table sources both claim (config check: two tables must never load
 * the same object), or that a source claims under the state prefix.
 *
 * Two patterns are compared exactly: each becomes a small automaton over characters and a
 * breadth-first walk of their product finds the shortest common name, if any. A regex cannot be
 * turned into an automaton here, so it is tested against sample names of the other side instead.
 * Every name reported is confirmed with the real matchers before it is returned.
 */
import type { PatternSegment, SourceMatcher, TokenValues } from './pattern.ts';
import { TOKEN_WIDTH } from './pattern.ts';

type CharClass =
  | { kind: 'char'; ch: string }
  | { kind: 'digit' }
  /** 1-9: the first digit of an unpadded token. */
  | { kind: 'nonzero' }
  /** Any character but `/`. */
  | { kind: 'segment' }
  /** The first character of a segment matched by a wildcard: neither `/` nor `.`. */
  | { kind: 'segmentStart' }
  | { kind: 'any' };

interface Automaton {
  edges: { cls: CharClass; to: number }[][];
  eps: number[][];
  accept: number;
}

class Builder {
  readonly edges: { cls: CharClass; to: number }[][] = [[]];
  readonly eps: number[][] = [[]];
  state(): number {
    this.edges.push([]);
    this.eps.push([]);
    return this.edges.length - 1;
  }
  edge(from: number, cls: CharClass, to = this.state()): number {
    this.edges[from]!.push({ cls, to });
    return to;
  }
  epsilon(from: number, to: number): void {
    this.eps[from]!.push(to);
  }
  /** A wildcard run that may not start with `.`: [^/.][^/]* after `from`; returns its end state. */
  segmentRun(from: number): number {
    const body = this.edge(from, { kind: 'segmentStart' });
    this.edge(body, { kind: 'segment' }, body);
    return body;
  }
  done(accept: number): Automaton {
    return { edges: this.edges, eps: this.eps, accept };
  }
}

function patternAutomaton(segments: readonly PatternSegment[]): Automaton {
  const b = new Builder();
  let at = 0;
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment.kind === 'globstar') {
      // Zero or more segments, none starting with `.`: `a/**/b` claims a/b, a/x/b, a/x/y/b, and
      // a trailing `a/**` claims `a` too.
      const entry = at;
      const loop = i > 0 ? b.edge(entry, { kind: 'char', ch: '/' }) : entry;
      b.edge(loop, { kind: 'char', ch: '/' }, loop);
      const body = b.segmentRun(loop);
      b.edge(body, { kind: 'char', ch: '/' }, loop);
      if (last) {
        at = b.state();
        for (const from of i > 0 ? [entry, loop, body] : [loop, body]) b.epsilon(from, at);
      } else {
        at = loop;
      }
      return;
    }
    if (i > 0 && segments[i - 1]!.kind !== 'globstar') at = b.edge(at, { kind: 'char', ch: '/' });
    segment.parts.forEach((part, p) => {
      if (part.kind === 'literal') {
        for (const ch of part.text) at = b.edge(at, { kind: 'char', ch });
      } else if (part.kind === 'token' && part.unpadded) {
        // 1-9 then an optional digit; an unpadded hour may also be `0`.
        const first = b.edge(at, { kind: 'nonzero' });
        const end = b.edge(first, { kind: 'digit' });
        b.epsilon(first, end);
        if (part.name === 'hh') b.edge(at, { kind: 'char', ch: '0' }, end);
        at = end;
      } else if (part.kind === 'token') {
        for (let d = 0; d < TOKEN_WIDTH[part.name]; d++) at = b.edge(at, { kind: 'digit' });
      } else {
        const end = b.state();
        if (p === 0) {
          // picomatch: a segment that starts with `*` never starts with `.`, and a name does
          // not end in an empty `*`.
          b.epsilon(b.segmentRun(at), end);
          const next = segment.parts[1];
          const dotNext = next?.kind === 'literal' && next.text.startsWith('.');
          if (!dotNext && !(last && next === undefined)) b.epsilon(at, end);
        } else {
          const loop = b.state();
          b.epsilon(at, loop);
          b.edge(loop, { kind: 'segment' }, loop);
          b.epsilon(loop, end);
        }
        at = end;
      }
    });
  });
  return b.done(at);
}

function prefixAutomaton(prefix: string): Automaton {
  const b = new Builder();
  let at = 0;
  for (const ch of prefix) at = b.edge(at, { kind: 'char', ch });
  b.edge(at, { kind: 'any' }, at);
  return b.done(at);
}

function accepts(cls: CharClass, ch: string): boolean {
  switch (cls.kind) {
    case 'char':
      return cls.ch === ch;
    case 'digit':
      return ch >= '0' && ch <= '9';
    case 'nonzero':
      return ch >= '1' && ch <= '9';
    case 'segment':
      return ch !== '/';
    case 'segmentStart':
      return ch !== '/' && ch !== '.';
    case 'any':
      return true;
  }
}

/** A character both classes accept, or null. */
function meet(a: CharClass, b: CharClass): string | null {
  if (a.kind === 'char') return accepts(b, a.ch) ? a.ch : null;
  if (b.kind === 'char') return accepts(a, b.ch) ? b.ch : null;
  // '1' satisfies every class but a literal; so does 'x' when neither side wants a digit.
  const digit = (c: CharClass): boolean => c.kind === 'digit' || c.kind === 'nonzero';
  return digit(a) || digit(b) ? '1' : 'x';
}

function closure(a: Automaton, from: number): number[] {
  const seen = new Set([from]);
  const stack = [from];
  while (stack.length) {
    for (const next of a.eps[stack.pop()!]!) {
      if (seen.has(next)) continue;
      seen.add(next);
      stack.push(next);
    }
  }
  return [...seen];
}

/** Shortest string both automata accept, or null when their languages are disjoint. */
function intersect(a: Automaton, b: Automaton): string | null {
  const key = (p: number, q: number): number => p * b.edges.length + q;
  const parent = new Map<number, { from: number; ch: string } | null>([[key(0, 0), null]]);
  let queue: [number, number][] = [[0, 0]];
  while (queue.length) {
    const nextQueue: [number, number][] = [];
    for (const [p, q] of queue) {
      const ps = closure(a, p);
      const qs = closure(b, q);
      if (ps.includes(a.accept) && qs.includes(b.accept)) return spell(parent, key(p, q));
      for (const p1 of ps)
        for (const e1 of a.edges[p1]!)
          for (const q1 of qs)
            for (const e2 of b.edges[q1]!) {
              const ch = meet(e1.cls, e2.cls);
              const k = key(e1.to, e2.to);
              if (ch === null || parent.has(k)) continue;
              parent.set(k, { from: key(p, q), ch });
              nextQueue.push([e1.to, e2.to]);
            }
    }
    queue = nextQueue;
  }
  return null;
}

function spell(parent: Map<number, { from: number; ch: string } | null>, end: number): string {
  const chars: string[] = [];
  for (let step = parent.get(end); step; step = parent.get(step.from)) chars.push(step.ch);
  return chars.reverse().join('');
}

const SAMPLE_VALUES: TokenValues[] = [
  { yyyy: '2026', mm: '11', dd: '24', hh: '13' },
  { yyyy: '2026', mm: '01', dd: '02', hh: '00' },
];

function samplesOf(source: SourceMatcher): string[] {
  const names: string[] = [];
  for (const values of SAMPLE_VALUES)
    for (const fill of ['x', 'part-00000.json', '']) {
      const name = source.example(values, fill);
      if (name !== null) names.push(name);
    }
  return names;
}

/**
 * A name both sources claim, or null when there is none. Exact for two patterns; when a regex is
 * involved, sample names of the other source are tried (and two identical regexes overlap).
 */
export function findCommonName(a: SourceMatcher, b: SourceMatcher): string | null {
  const both = (name: string): boolean => a.match(name) !== null && b.match(name) !== null;
  if (a.segments && b.segments) {
    const name = intersect(patternAutomaton(a.segments), patternAutomaton(b.segments));
    return name !== null && both(name) ? name : null;
  }
  if (a.kind === 'regex' && b.kind === 'regex' && a.text === b.text) return a.literalPrefix + '…';
  return [...samplesOf(a), ...samplesOf(b)].find(both) ?? null;
}

/** A name starting with `prefix` that the source claims, or null (exact for patterns, sampled for regexes). */
export function findNameUnder(source: SourceMatcher, prefix: string): string | null {
  const claimed = (name: string): boolean => name.startsWith(prefix) && source.match(name) !== null;
  if (source.segments) {
    const name = intersect(patternAutomaton(source.segments), prefixAutomaton(prefix));
    return name !== null && claimed(name) ? name : null;
  }
  const tails = [
    'x',
    'x.json',
    ...samplesOf(source),
    ...SAMPLE_VALUES.map((v) => `${v.yyyy}/${v.mm}/${v.dd}/${v.hh}/x`),
  ];
  return tails.map((tail) => prefix + tail).find(claimed) ?? null;
}
