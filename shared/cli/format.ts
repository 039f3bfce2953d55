/** Plain-text tables and numbers for CLI output. */

/**
 * Renders rows as an aligned text table with a header line. Cells wider than 80 columns end at a
 * whole word, with `where` (e.g. "--json") saying where the full text is.
 */
export function formatTable(rows: readonly object[], columns?: string[], where = ''): string {
  if (rows.length === 0) return '(no rows)';
  const recs = rows as Record<string, unknown>[];
  const cols = columns ?? [...new Set(recs.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) =>
    v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  const widths = cols.map((c) => Math.min(80, Math.max(c.length, ...recs.map((r) => cell(r[c]).length))));
  const line = (values: string[]) =>
    values
      .map((v, i) => (v.length > widths[i]! ? clip(v, widths[i]!, where).padEnd(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [
    line(cols),
    line(widths.map((w) => '-'.repeat(w))),
    ...recs.map((r) => line(cols.map((c) => cell(r[c])))),
  ].join('\n');
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

/** JSON for --json output: bigints as strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2);
}

/**
 * Fits `text` in `width` columns without cutting a word: a long text ends at the last whole word
 * that fits, then `…` (and `where`, e.g. "see --json", saying where the full text is).
 */
export function clip(text: string, width: number, where = ''): string {
  const one = text.replace(/\s*\n\s*/g, ' ');
  if (one.length <= width) return one;
  const tail = where ? `… (${where})` : '…';
  const room = Math.max(1, width - tail.length);
  const cut = one.slice(0, room + 1);
  const space = cut.lastIndexOf(' ');
  const head = space > room / 2 ? cut.slice(0, space) : one.slice(0, room);
  return head.trimEnd() + tail;
}
