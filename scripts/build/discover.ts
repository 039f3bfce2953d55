/**
 * Which functions there are: every functions/<folder>/ with an index.ts, each matched to its row
 * of the function table (shared/deploy/functions.ts), which cloudbuild and infra read too. A
 * folder without a row, or a row without a folder, fails the build: either would deploy
 * something the other side does not know.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FUNCTION_TABLE } from '../../shared/deploy/functions.ts';
import type { FunctionRow } from '../../shared/deploy/functions.ts';
import { BuildError } from './common.ts';

/** One deployable function. */
export interface FunctionEntry {
  /** Folder name under functions/ (kebab-case); also the dist folder. */
  name: string;
  /** The registered function name, camelCase of the folder: the --entry-point. */
  entryPoint: string;
  /** index.ts, relative to the project root (as in the esbuild metafile). */
  entry: string;
  /** Its row of the function table: role, trigger, retry, sizing. */
  row: FunctionRow;
}

/** `load-on-finalize` -> `loadOnFinalize`. */
export function entryPointName(folder: string): string {
  return folder.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The folders under root/functions/ holding an index.ts, sorted. */
export function functionFolders(root: string): string[] {
  const dir = join(root, 'functions');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'index.ts')))
    .map((d) => d.name)
    .sort();
}

/**
 * Every functions/<folder>/ with an index.ts, sorted by name, with its table row. Every problem
 * (a folder name that is not kebab-case, a folder without a row, a row whose entry point is not
 * the folder's camelCase, a row without a folder) is reported at once.
 */
export function discoverFunctions(root: string, table: readonly FunctionRow[] = FUNCTION_TABLE): FunctionEntry[] {
  const folders = functionFolders(root);
  const problems: string[] = [];
  const entries: FunctionEntry[] = [];
  for (const folder of folders) {
    if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(folder)) {
      problems.push(`functions/${folder}: folder names are kebab-case (the entry point is their camelCase)`);
      continue;
    }
    const row = table.find((r) => r.folder === folder);
    if (!row) {
      problems.push(
        `functions/${folder} has no entry in the function table: add a row to FUNCTION_TABLE in shared/deploy/functions.ts (role, trigger, retry, sizing) so cloudbuild and infra deploy it`,
      );
      continue;
    }
    if (row.entryPoint !== entryPointName(folder)) {
      problems.push(
        `functions/${folder}: its row in shared/deploy/functions.ts names entry point "${row.entryPoint}", but the folder's is "${entryPointName(folder)}" (camelCase of the folder)`,
      );
      continue;
    }
    entries.push({ name: folder, entryPoint: row.entryPoint, entry: `functions/${folder}/index.ts`, row });
  }
  for (const row of table) {
    if (!folders.includes(row.folder))
      problems.push(
        `shared/deploy/functions.ts has a row for functions/${row.folder}, which has no index.ts: remove the row or add the function`,
      );
  }
  if (problems.length) throw new BuildError(problems.join('\n'));
  return entries;
}
