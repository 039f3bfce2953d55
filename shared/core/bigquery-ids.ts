/**
 * BigQuery's naming rules for projects, datasets and tables, as the documentation states them,
 * checked by config validation and again by each warehouse before a name reaches SQL or a REST
 * path. Plain functions without zod, so the function bundles can carry them.
 *
 * - dataset ids: letters, digits and `_`, at most 1,024 characters (a leading digit is allowed);
 * - table ids: Unicode letters, marks, numbers, connectors (`_`), dashes and spaces, at most
 *   1,024 UTF-8 bytes (`nyc-311`, `2021_orders`, `주문`, `table 01`);
 * - project ids: 6-30 lowercase letters, digits and `-`, starting with a letter.
 * None of them can hold a backquote, quote, backslash, dot or `$`, so a checked name quoted as a
 * whole is safe in SQL, and a `$` after it is always a partition decorator.
 */

const DATASET_ID = /^[A-Za-z0-9_]{1,1024}$/;
const TABLE_ID = /^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]+$/u;
const PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/;
/** What may sit in a quoted project part: ids, and the legacy `domain.com:project` form. */
const SQL_PROJECT = /^(?:[a-z0-9.-]+:)?[a-z0-9][a-z0-9-]*$/;
const utf8Bytes = (text: string): number => new TextEncoder().encode(text).length;

/** Why `id` is not a BigQuery dataset id, or null. */
export function datasetIdProblem(id: unknown): string | null {
  if (typeof id !== 'string' || !DATASET_ID.test(id)) return 'must be a dataset id: 1-1,024 letters, digits or _';
  return null;
}

/** Why `id` is not a BigQuery table id, or null. */
export function tableIdProblem(id: unknown): string | null {
  if (typeof id !== 'string' || id.length === 0 || !TABLE_ID.test(id)) {
    return 'must be a table id: letters, marks, numbers, _, dashes or spaces (Unicode allowed)';
  }
  if (utf8Bytes(id) > 1024) return 'must be a table id of at most 1,024 UTF-8 bytes';
  return null;
}

/** Why `id` is not a Google Cloud project id, or null. */
export function projectIdProblem(id: unknown): string | null {
  if (typeof id !== 'string' || !PROJECT_ID.test(id))
    return 'must be a project id: 6-30 lowercase letters, digits or -, starting with a letter, not ending with -';
  return null;
}

/**
 * The backquoted SQL path of a table (`` `p`.`d`.`t` ``) or, with `table` null, of a dataset's
 * INFORMATION_SCHEMA parent (`` `p`.`d` ``). Each part is checked first: a checked id holds no
 * backquote or backslash, so quoting cannot be escaped. Throws `fail(reason)`'s error otherwise.
 */
export function quotedPath(
  project: string,
  dataset: string,
  table: string | null,
  fail: (reason: string) => Error,
): string {
  const problem =
    (!SQL_PROJECT.test(project) && `project ${JSON.stringify(project)} is not a project id`) ||
    (datasetIdProblem(dataset) && `dataset ${JSON.stringify(dataset)} ${datasetIdProblem(dataset)}`) ||
    (table !== null && tableIdProblem(table) && `table ${JSON.stringify(table)} ${tableIdProblem(table)}`);
  if (problem) throw fail(problem);
  return [project, dataset, ...(table === null ? [] : [table])].map((part) => `\`${part}\``).join('.');
}
