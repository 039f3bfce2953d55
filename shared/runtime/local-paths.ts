/**
 * Where the embedded backends keep their files. Apart from local.ts so the CLI can name the
 * paths without loading DuckDB.
 */
import { join, resolve } from 'node:path';

export interface LocalPaths {
  /** Folder holding one sub-folder per bucket. */
  lakeDir: string;
  /** DuckDB file of the local warehouse. */
  warehouseFile: string;
  /** tidemark's own files (object metadata, locks, dead letters). */
  workDir: string;
  /** Dead-lettered bus messages, readable by another process (`tidemark dlq`). */
  deadLetterFile: string;
}

/** Defaults under `.tidemark/` in `cwd`. */
export function defaultLocalPaths(cwd: string, overrides: Partial<Omit<LocalPaths, 'deadLetterFile'>> = {}): LocalPaths {
  const workDir = resolve(cwd, overrides.workDir ?? '.tidemark');
  return {
    workDir,
    deadLetterFile: join(workDir, 'dead-letters.json'),
    lakeDir: resolve(cwd, overrides.lakeDir ?? join(workDir, 'lake')),
    warehouseFile: resolve(cwd, overrides.warehouseFile ?? join(workDir, 'warehouse.duckdb')),
  };
}
