/**
 * Compiles a table's `source.pattern` or `source.regex` into a matcher: does an object name belong
 * to the table, what do its time tokens say, and what literal prefix do all names with given token
 * values share (for listings).
 *
 * Pattern language: literal text, the tokens {yyyy} {mm} {dd} {hh} (fixed-width digits, may be
 * adjacent: `dt={yyyy}{mm}{dd}`), the unpadded tokens {m} {d} {h} (a month, day or hour as Spark
 * and Hive write it: `month=4/day=1/hour=0`, no leading zero), `*` (any run of characters within
 * one segment, not starting with `.`) and `**` (a whole segment: any number of segments). Nothing
 * else is special: there are no `?`, `[...]` or `{a,b}` forms, so a pattern reads as the names it
 * claims. An unpadded token has no fixed width, so it must stand between non-digit literal text or
 * slashes (`{yyyy}-{m}-{d}`, `month={m}/`): beside another token, a digit or a `*`, a name could
 * be read two ways (`{m}{d}` on `111`).
 *
 * Membership is picomatch's glob test; token values come from a regex with the same shape, whose
 * wildcards are lazy like picomatch's: when a name can be read two ways, the tokens are taken
 * from the leftmost place (`x/*_{yyyy}{mm}{dd}_*` reads a_20261124_b_20261125_c as 20261124). Both
 * backtrack, so the shapes are limited to keep matching linear in the name's length whatever the
 * name is: at most one `**` and at most two `*` per segment (three stars in one segment are
 * cubic on a long near-miss name).
 */
import picomatch from 'picomatch';

export type TokenName = 'yyyy' | 'mm' | 'dd' | 'hh';

/** Digits each token stands for (the padded form). */
export const TOKEN_WIDTH: Readonly<Record<TokenName, number>> = { yyyy: 4, mm: 2, dd: 2, hh: 2 };

export const TOKEN_NAMES: readonly TokenName[] = ['yyyy', 'mm', 'dd', 'hh'];

/** The unpadded spelling of a token in a pattern: `{m}` reads the month as `4` or `12`. */
export const UNPADDED_TOKEN: Readonly<Partial<Record<TokenName, string>>> = { mm: 'm', dd: 'd', hh: 'h' };

/**
 * Digits an unpadded token accepts: no leading zero (the hour 0 is `0`). Values are shape-checked
 * only; the router judges whether they make a real date.
 */
const UNPADDED_DIGITS: Readonly<Record<'mm' | 'dd' | 'hh', { re: string; glob: string }>> = {
  mm: { re: '[1-9][0-9]?', glob: '@([1-9]|[1-9][0-9])' },
  dd: { re: '[1-9][0-9]?', glob: '@([1-9]|[1-9][0-9])' },
  hh: { re: '0|[1-9][0-9]?', glob: '@(0|[1-9]|[1-9][0-9])' },
};

/** Regex source of the digits a token part accepts (no group): `[0-9]{2}`, `[1-9][0-9]?`... */
export function tokenRegexSource(part: { name: TokenName; unpadded?: boolean }): string {
  const unpadded = part.unpadded ? UNPADDED_DIGITS[part.name as 'mm' | 'dd' | 'hh'] : undefined;
  return unpadded ? `(?:${unpadded.re})` : `[0-9]{${TOKEN_WIDTH[part.name]}}`;
}

/** How a token value is written in a name: padded to the token's width, or unpadded. */
export function formatToken(name: TokenName, value: number, unpadded = false): string {
  return unpadded ? String(value) : String(value).padStart(TOKEN_WIDTH[name], '0');
}

/** `value` (digits, padded or not) as a pattern token part writes it. */
function spell(part: { name: TokenName; unpadded?: boolean }, value: string): string {
  return part.unpadded && /^[0-9]+$/.test(value) ? String(Number(value)) : value;
}

/** The token as written in a pattern: `{mm}` or `{m}`. */
export function tokenText(part: { name: TokenName; unpadded?: boolean }): string {
  return `{${part.unpadded ? UNPADDED_TOKEN[part.name] : part.name}}`;
}

/** Token values as written in a name (digit strings for patterns; whatever a regex group caught). */
export type TokenValues = Partial<Record<TokenName, string>>;

/** One piece of a pattern segment. */
export type PatternPart =
  { kind: 'literal'; text: string } | { kind: 'token'; name: TokenName; unpadded?: boolean } | { kind: 'star' };

/** A pattern segment (text between `/`): a `**`, or a run of parts. */
export type PatternSegment = { kind: 'globstar' } | { kind: 'parts'; parts: PatternPart[] };

/** A pattern or regex that cannot be compiled; load.ts turns it into a ConfigError issue. */
export class PatternSyntaxError extends Error {
  override readonly name = 'PatternSyntaxError';
}

/** What matching a name gave. */
export interface SourceMatch {
  values: TokenValues;
  /** Set when a token occurs twice with different values (`{yyyy}/x-{yyyy}`): names the token. */
  conflict?: TokenName;
}

/** A compiled `source.pattern` or `source.regex`. */
export interface SourceMatcher {
  readonly kind: 'pattern' | 'regex';
  /** The pattern or regex as written. */
  readonly text: string;
  /** Tokens the source can extract. */
  readonly tokens: ReadonlySet<TokenName>;
  /** Literal text every claimed name starts with ('' for an unanchored regex). */
  readonly literalPrefix: string;
  /** Segments of a pattern (undefined for a regex). */
  readonly segments?: readonly PatternSegment[];
  /** The token values of `name`, or null when the source does not claim it. */
  match(name: string): SourceMatch | null;
  /** The longest prefix shared by every claimed name whose tokens have these values. */
  prefixWith(values: TokenValues): string;
  /** A name this source claims, tokens filled from `values` (zeros if missing) and wildcards with `fill`; null for a regex. */
  example(values: TokenValues, fill?: string): string | null;
}

/** Compiles `source.pattern` or `source.regex` (exactly one must be given). */
export function compileSource(source: { pattern?: string; regex?: string }): SourceMatcher {
  if (source.pattern !== undefined && source.regex === undefined) return compilePattern(source.pattern);
  if (source.regex !== undefined && source.pattern === undefined) return compileRegex(source.regex);
  throw new PatternSyntaxError('give exactly one of pattern or regex');
}

// ---- patterns -----------------------------------------------------------------------------------

/** Parses a pattern into segments; throws PatternSyntaxError naming the column and the reason. */
export function parsePattern(pattern: string): PatternSegment[] {
  if (pattern.length === 0) throw new PatternSyntaxError('the pattern is empty');
  let offset = 0;
  const segments = pattern.split('/').map((text) => {
    const segment = parseSegment(text, offset);
    offset += text.length + 1;
    return segment;
  });
  if (segments.filter((s) => s.kind === 'globstar').length > 1) {
    throw new PatternSyntaxError('at most one ** per pattern (two make matching quadratic)');
  }
  return segments;
}

function parseSegment(text: string, offset: number): PatternSegment {
  if (text === '**') return { kind: 'globstar' };
  const parts: PatternPart[] = [];
  const pushLiteral = (ch: string): void => {
    const last = parts[parts.length - 1];
    if (last?.kind === 'literal') last.text += ch;
    else parts.push({ kind: 'literal', text: ch });
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    const at = `at column ${offset + i + 1}`;
    if (ch === '{') {
      const m = /^\{(yyyy|mm|dd|hh|m|d|h)\}/.exec(text.slice(i));
      if (!m)
        throw new PatternSyntaxError(
          `unknown token ${at}: tokens are {yyyy} {mm} {dd} {hh} and unpadded {m} {d} {h}; {a,b} alternatives are not supported`,
        );
      const short = { m: 'mm', d: 'dd', h: 'hh' }[m[1]!] as TokenName | undefined;
      parts.push(short ? { kind: 'token', name: short, unpadded: true } : { kind: 'token', name: m[1] as TokenName });
      i += m[0].length - 1;
    } else if (ch === '*') {
      if (text[i + 1] === '*') throw new PatternSyntaxError(`** ${at} must be a whole path segment (a/**/b)`);
      parts.push({ kind: 'star' });
    } else if ('}?[]\\'.includes(ch)) {
      throw new PatternSyntaxError(
        `unsupported character ${JSON.stringify(ch)} ${at}: patterns have only tokens, * and **`,
      );
    } else {
      pushLiteral(ch);
    }
  }
  if (parts.filter((p) => p.kind === 'star').length > 2) {
    throw new PatternSyntaxError(
      `segment ${JSON.stringify(text)} has more than two *; use at most two per segment (or a regex)`,
    );
  }
  parts.forEach((part, p) => {
    if (part.kind !== 'token' || !part.unpadded) return;
    // Variable width is unambiguous only between fixed non-digit text (or the segment's ends).
    const before = parts[p - 1];
    const after = parts[p + 1];
    const ambiguous = (side: PatternPart | undefined, digitAt: (t: string) => string | undefined): boolean =>
      side !== undefined && (side.kind !== 'literal' || /[0-9]/.test(digitAt(side.text) ?? ''));
    if (ambiguous(before, (t) => t[t.length - 1]) || ambiguous(after, (t) => t[0])) {
      throw new PatternSyntaxError(
        `${tokenText(part)} in segment ${JSON.stringify(text)} is unpadded (1 or 2 digits), so it needs non-digit text or a / on both sides; ` +
          `beside another token, a digit or *, a name could be read two ways (use ${tokenText({ name: part.name })} or a separator)`,
      );
    }
  });
  return { kind: 'parts', parts };
}

const escapeRegExp = (text: string): string => text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
// picomatch reads backslash escapes; escaping all ASCII punctuation keeps (, !, +, @, # literal.
const escapeGlob = (text: string): string => text.replace(/[!-.:-@[-^`{-~]/g, '\\$&');

/** Compiles a pattern (see the module header for the language). */
export function compilePattern(pattern: string): SourceMatcher {
  const segments = parsePattern(pattern);
  const tokens = new Set<TokenName>();
  const glob: string[] = [];
  const re: string[] = [];
  const groups: TokenName[] = [];
  segments.forEach((segment, i) => {
    const first = i === 0;
    const last = i === segments.length - 1;
    if (segment.kind === 'globstar') {
      glob.push(first ? '**' : '/**');
      // `a/**/b` also claims `a/b`; a trailing `a/**` also claims `a` itself.
      if (last) re.push(first ? '.*' : '(?:/.*)?');
      else re.push(first ? '(?:[^/]*/)*?' : '/(?:[^/]*/)*?');
      return;
    }
    const afterGlobstar = !first && segments[i - 1]!.kind === 'globstar';
    const sep = first || afterGlobstar ? '' : '/';
    glob.push(first ? '' : '/');
    re.push(sep);
    for (const part of segment.parts) {
      if (part.kind === 'literal') {
        glob.push(escapeGlob(part.text));
        re.push(escapeRegExp(part.text));
      } else if (part.kind === 'token') {
        tokens.add(part.name);
        groups.push(part.name);
        const unpadded = part.unpadded ? UNPADDED_DIGITS[part.name as 'mm' | 'dd' | 'hh'] : undefined;
        glob.push(unpadded ? unpadded.glob : '[0-9]'.repeat(TOKEN_WIDTH[part.name]));
        re.push(`(${tokenRegexSource(part)})`);
      } else {
        glob.push('*');
        re.push('[^/]*?');
      }
    }
  });
  const isMember = picomatch(glob.join(''), { dot: false });
  const extract = new RegExp(`^${re.join('')}$`);
  const literalPrefix = prefixOf(segments, {});
  return {
    kind: 'pattern',
    text: pattern,
    tokens,
    literalPrefix,
    segments,
    match(name) {
      if (!name.startsWith(literalPrefix) || !isMember(name)) return null;
      const m = extract.exec(name);
      if (!m) return null;
      const values: TokenValues = {};
      let conflict: TokenName | undefined;
      groups.forEach((token, g) => {
        const value = m[g + 1]!;
        // `{mm}/x-{m}` agree when they name the same number (`04` and `4`).
        if (values[token] !== undefined && Number(values[token]) !== Number(value)) conflict ??= token;
        values[token] ??= value;
      });
      return conflict ? { values, conflict } : { values };
    },
    prefixWith: (values) => prefixOf(segments, values),
    example: (values, fill = 'x') => exampleOf(segments, values, fill),
  };
}

function prefixOf(segments: readonly PatternSegment[], values: TokenValues): string {
  let prefix = '';
  for (const [i, segment] of segments.entries()) {
    // A trailing `a/**` also claims `a` itself, so its slash is not part of the prefix.
    if (segment.kind === 'globstar') return i > 0 && i < segments.length - 1 ? prefix + '/' : prefix;
    if (i > 0) prefix += '/';
    for (const part of segment.parts) {
      if (part.kind === 'star') return prefix;
      if (part.kind === 'literal') prefix += part.text;
      else if (values[part.name] !== undefined) prefix += spell(part, values[part.name]!);
      else return prefix;
    }
  }
  return prefix;
}

function exampleOf(segments: readonly PatternSegment[], values: TokenValues, fill: string): string {
  return segments
    .map((segment) => {
      if (segment.kind === 'globstar') return fill;
      return segment.parts
        .map((part) => {
          if (part.kind === 'literal') return part.text;
          if (part.kind === 'star') return fill;
          const value = values[part.name];
          if (value !== undefined) return spell(part, value);
          return part.unpadded ? (part.name === 'hh' ? '0' : '1') : '0'.repeat(TOKEN_WIDTH[part.name]);
        })
        .join('');
    })
    .filter((text, i) => !(text === '' && segments[i]!.kind === 'globstar'))
    .join('/');
}

// ---- regexes --------------------------------------------------------------------------------

/**
 * Compiles a regex with named groups (?<yyyy>...) (?<mm>...) (?<dd>...) (?<hh>...); the month, day
 * and hour groups may catch 1 or 2 digits (`(?<mm>\d{1,2})` for Spark's `month=4`).
 */
export function compileRegex(source: string): SourceMatcher {
  let re: RegExp;
  try {
    re = new RegExp(source);
  } catch (err) {
    throw new PatternSyntaxError(`the regex does not compile: ${(err as Error).message}`);
  }
  // An alternative that matches '' makes every named group show up in `groups`.
  const names = Object.keys(new RegExp(`(?:${source})|`).exec('')?.groups ?? {});
  const tokens = new Set(TOKEN_NAMES.filter((t) => names.includes(t)));
  const literalPrefix = regexLiteralPrefix(source);
  return {
    kind: 'regex',
    text: source,
    tokens,
    literalPrefix,
    match(name) {
      if (!name.startsWith(literalPrefix)) return null;
      const m = re.exec(name);
      if (!m) return null;
      const values: TokenValues = {};
      for (const t of tokens) if (m.groups?.[t] !== undefined) values[t] = m.groups[t];
      return { values };
    },
    prefixWith: () => literalPrefix,
    example: () => null,
  };
}

/**
 * Literal text every match of an anchored regex starts with: `^events/(?<yyyy>...)` -> `events/`.
 * '' when the regex is not anchored with `^` or has a top-level `|`.
 */
export function regexLiteralPrefix(source: string): string {
  if (!source.startsWith('^') || hasTopLevelAlternation(source)) return '';
  let prefix = '';
  for (let i = 1; i < source.length; i++) {
    let ch = source[i]!;
    let width = 1;
    if (ch === '\\') {
      const next = source[i + 1];
      // \d, \w, \u0041, \1 ... are classes or codes, not the character itself.
      if (next === undefined || /[A-Za-z0-9]/.test(next)) break;
      ch = next;
      width = 2;
    } else if ('.^$|?*+()[]{}'.includes(ch)) {
      break;
    }
    const quantifier = source[i + width];
    if (quantifier === '?' || quantifier === '*' || quantifier === '{') break;
    prefix += ch;
    if (quantifier === '+') break;
    i += width - 1;
  }
  return prefix;
}

function hasTopLevelAlternation(source: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === '\\') i++;
    else if (inClass) inClass = ch !== ']';
    else if (ch === '[') inClass = true;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === '|' && depth === 0) return true;
  }
  return false;
}
