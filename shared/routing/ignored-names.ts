/**
 * Object names no table ever loads, whatever its pattern: folder placeholders, job markers
 * (`_SUCCESS`), hidden files and the temporary files writers leave while they work (Hadoop/Spark
 * `_temporary/`, `._COPYING_`, `.inprogress`...). Loading one would load half-written data.
 */

const TEMP_SUFFIXES = ['.tmp', '.temp', '._copying_', '.crc', '.inprogress'];

/** Why `name` is never routed (a short reason), or null when it may be. */
export function isIgnoredObjectName(name: string): string | null {
  if (name === '') return 'empty name';
  if (name.endsWith('/')) return 'folder placeholder';
  if (name.endsWith('_$folder$')) return 'folder placeholder';
  const segments = name.split('/');
  const base = segments[segments.length - 1]!;
  if (base.startsWith('_')) return `marker file (${base.length > 40 ? base.slice(0, 40) + '…' : base})`;
  if (base.startsWith('.')) return 'hidden file';
  for (const segment of segments.slice(0, -1)) {
    if (segment === '_temporary') return 'temporary folder (_temporary)';
    if (segment.startsWith('.'))
      return segment === '.' || segment === '..' ? `relative segment (${segment})` : 'hidden folder';
  }
  const lower = base.toLowerCase();
  const suffix = TEMP_SUFFIXES.find((s) => lower.endsWith(s));
  if (suffix) return `temporary file (${suffix})`;
  return null;
}
