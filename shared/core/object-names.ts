/**
 * Which object names a load can take, and why not. Cloud Storage allows almost any name, but a
 * load job addresses each file by a URI: BigQuery reads one `*` in a source URI as a wildcard and
 * has no escape, so `gs://b/a*.json` would also load `abc.json`. Such objects are quarantined
 * at listing (never passed raw into a load) with a reason that says how to fix them: rename.
 */

/** Longest object name Cloud Storage (and the local store) holds, in UTF-8 bytes. */
export const MAX_OBJECT_NAME_BYTES = 1024;

/**
 * Why `name` cannot be loaded, or null when it can. Rules common to every backend; a store may
 * refuse more (the local store also refuses `.`/`..` segments: see `ObjectStore.uri`).
 */
export function unloadableReason(name: string): string | null {
  if (name.includes('*')) {
    return `object name contains "*", which BigQuery reads as a wildcard in a load URI (there is no escape), so loading it would also load other objects; rename the object without "*"`;
  }
  if (/[\r\n]/.test(name))
    return `object name contains a line feed or carriage return, which no load URI can carry; rename the object without it`;
  if (name.includes('\0'))
    return `object name contains a NUL character, which no load URI can carry; rename the object without it`;
  const bytes = Buffer.byteLength(name);
  if (bytes > MAX_OBJECT_NAME_BYTES)
    return `object name is ${bytes} bytes, over the ${MAX_OBJECT_NAME_BYTES} a load URI can address; rename the object to a shorter name`;
  return null;
}
