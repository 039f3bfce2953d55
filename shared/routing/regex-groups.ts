/**
 * Config-time check of a `source.regex`'s time groups: a group that can catch something other than
 * the digits the router reads (`(?<mm>\d+)` catching `123`, `(?<dd>[^/]+)` catching `x`) would let
 * `config check` accept a route that then fails at run time on names its own regex matches. Each
 * group's body is tried alone against a few strings of the wrong shape.
 */
import type { TokenName } from './pattern.ts';

/** Strings a group must not catch whole: wrong widths, letters, signs, blanks. */
const WRONG: Readonly<Record<TokenName, readonly string[]>> = {
  yyyy: ['', '1', '123', '12345', 'abcd', '202a', '-202', ' 202'],
  mm: ['', '123', '0001', 'a', '1a', '-1', ' 1', '1 '],
  dd: ['', '123', '0001', 'a', '1a', '-1', ' 1', '1 '],
  hh: ['', '123', '0001', 'a', '1a', '-1', ' 1', '1 '],
};

const SHAPE: Readonly<Record<TokenName, string>> = {
  yyyy: '4 digits',
  mm: '1 or 2 digits',
  dd: '1 or 2 digits',
  hh: '1 or 2 digits',
};
const ADVICE: Readonly<Record<TokenName, string>> = {
  yyyy: '(?<yyyy>\\d{4})',
  mm: '(?<mm>\\d{1,2})',
  dd: '(?<dd>\\d{1,2})',
  hh: '(?<hh>\\d{1,2})',
};

/** The body of named group `name` in a regex source (between `(?<name>` and its `)`), or null. */
export function groupBody(source: string, name: string): string | null {
  const open = source.indexOf(`(?<${name}>`);
  if (open < 0) return null;
  const start = open + name.length + 4;
  let depth = 1;
  let inClass = false;
  for (let i = start; i < source.length; i++) {
    const ch = source[i];
    if (ch === '\\') i++;
    else if (inClass) inClass = ch !== ']';
    else if (ch === '[') inClass = true;
    else if (ch === '(') depth++;
    else if (ch === ')' && --depth === 0) return source.slice(start, i);
  }
  return null;
}

/** Why the time groups of a regex can catch what the router cannot read; one line per group. */
export function regexGroupProblems(source: string, tokens: Iterable<TokenName>): string[] {
  const problems: string[] = [];
  for (const token of tokens) {
    const body = groupBody(source, token);
    if (body === null) continue;
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${body})$`);
    } catch {
      continue; // a backreference or the like: cannot be tried alone; the router still checks each name
    }
    const caught = WRONG[token].find((text) => re.test(text));
    if (caught !== undefined) {
      problems.push(
        `(?<${token}>${body}) can catch ${JSON.stringify(caught)}, but ${token} must be ${SHAPE[token]}; write ${ADVICE[token]}`,
      );
    }
  }
  return problems;
}
