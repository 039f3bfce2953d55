/**
 * The names a Pub/Sub Cloud Storage subscription gives its files, reproduced exactly so that
 * the config check, the local stand-in and the tests generate the same names the managed service
 * writes: `<filenamePrefix><UTC time in filenameDatetimeFormat>_<uuid><filenameSuffix>`
 * (Pub/Sub docs, "Create Cloud Storage subscriptions", file names). The time is the UTC time the
 * file is created, so a stream table whose pattern reads that time routes each file to the hour
 * it was written in.
 */

/** The datetime tokens a `filenameDatetimeFormat` may use, with their widths. */
const TOKENS = ['YYYY', 'MM', 'DD', 'hh', 'mm', 'ss'] as const;
type Token = (typeof TOKENS)[number];

/** Characters allowed between tokens: separators that are safe in object names and URLs. */
const LITERAL = /^[-_:/TZ.]$/;

type Part = { token: Token } | { literal: string };

function parseFormat(format: string): Part[] | string {
  const parts: Part[] = [];
  for (let i = 0; i < format.length;) {
    const token = TOKENS.find((t) => format.startsWith(t, i));
    if (token) {
      parts.push({ token });
      i += token.length;
    } else if (LITERAL.test(format[i]!)) {
      parts.push({ literal: format[i]! });
      i++;
    } else {
      return `unexpected ${JSON.stringify(format[i])} at position ${i}; use YYYY, MM, DD, hh, mm, ss and the separators - _ : / T Z .`;
    }
  }
  return parts;
}

/**
 * Why `format` is not a usable filename datetime format, or null. Every token must appear once
 * (a file name must say the hour to be routed, and the second to be unique enough to sort), in
 * order from the year down, and a `/` may not start or end it or repeat (empty folder names).
 */
export function datetimeFormatProblem(format: string): string | null {
  const parts = parseFormat(format);
  if (typeof parts === 'string') return parts;
  const tokens = parts.flatMap((p) => ('token' in p ? [p.token] : []));
  const missing = TOKENS.filter((t) => !tokens.includes(t));
  if (missing.length) return `missing ${missing.join(', ')}: the format must contain YYYY, MM, DD, hh, mm and ss`;
  if (tokens.length !== TOKENS.length) return 'each of YYYY, MM, DD, hh, mm, ss may appear once';
  if (tokens.some((t, i) => t !== TOKENS[i])) return 'tokens must run from the year down: YYYY, MM, DD, hh, mm, ss';
  if (format.startsWith('/') || format.endsWith('/') || format.includes('//'))
    return 'a "/" may not start or end the format or repeat';
  return null;
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/**
 * The UTC time `ms` written in `format` (valid: see datetimeFormatProblem, which config check
 * applies). The separators allowed between tokens contain no token letters, so replacing the
 * tokens in place is exact.
 */
export function formatFileDatetime(format: string, ms: number): string {
  const d = new Date(ms);
  const value: Record<Token, string> = {
    YYYY: pad(d.getUTCFullYear(), 4),
    MM: pad(d.getUTCMonth() + 1, 2),
    DD: pad(d.getUTCDate(), 2),
    hh: pad(d.getUTCHours(), 2),
    mm: pad(d.getUTCMinutes(), 2),
    ss: pad(d.getUTCSeconds(), 2),
  };
  return format.replace(/YYYY|MM|DD|hh|mm|ss/g, (t) => value[t as Token]);
}

/** What names a stream's files. */
export interface FileNaming {
  prefix: string;
  datetimeFormat: string;
  suffix: string;
}

/** The object name the storage subscription gives a file created at `ms` with `uuid`. */
export function streamObjectName(naming: FileNaming, ms: number, uuid: string): string {
  return `${naming.prefix}${formatFileDatetime(naming.datetimeFormat, ms)}_${uuid}${naming.suffix}`;
}

/** Why `prefix` is not a usable filename prefix, or null (object-name rules, and no leading slash). */
export function filePrefixProblem(prefix: string): string | null {
  if (prefix.startsWith('/')) return 'must not start with "/"';
  if (prefix.includes('//')) return 'must not contain "//"';
  // Control characters are exactly what this refuses.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f#[\]*?]/.test(prefix)) return 'must not contain control characters or # [ ] * ?';
  if (prefix.startsWith('.well-known/acme-challenge/')) return 'is reserved by Cloud Storage';
  return null;
}

/** Why `suffix` is not a usable filename suffix, or null (Pub/Sub: must not end in "/"). */
export function fileSuffixProblem(suffix: string): string | null {
  if (suffix.includes('/')) return 'must not contain "/"';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f#[\]*?]/.test(suffix)) return 'must not contain control characters or # [ ] * ?';
  return null;
}

const TOKEN_GROUP: Record<Token, string> = {
  YYYY: '(\\d{4})',
  MM: '(\\d{2})',
  DD: '(\\d{2})',
  hh: '(\\d{2})',
  mm: '(\\d{2})',
  ss: '(\\d{2})',
};

/**
 * The UTC time a stream file's name says it was written (the inverse of streamObjectName), or
 * null when `name` is not such a file.
 */
export function fileNameTime(naming: FileNaming, name: string): number | null {
  const parts = parseFormat(naming.datetimeFormat);
  if (typeof parts === 'string' || !name.startsWith(naming.prefix) || !name.endsWith(naming.suffix)) return null;
  const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const order: Token[] = [];
  const source = parts
    .map((p) => ('token' in p ? (order.push(p.token), TOKEN_GROUP[p.token]) : escape(p.literal)))
    .join('');
  const m = new RegExp(`^${source}_[^/]+$`).exec(name.slice(naming.prefix.length, name.length - naming.suffix.length));
  if (!m) return null;
  const v = Object.fromEntries(order.map((t, i) => [t, Number(m[i + 1])])) as Record<Token, number>;
  const ms = Date.UTC(v.YYYY, v.MM - 1, v.DD, v.hh, v.mm, v.ss);
  // Month 13 or hour 24 would roll over: only a time that formats back to the name's text is real.
  return name.startsWith(`${naming.prefix}${formatFileDatetime(naming.datetimeFormat, ms)}_`) ? ms : null;
}
