/**
 * Where the embedded backends keep their files. Apart from local.ts so the CLI can name the
 * paths without loading DuckDB.
 */
import { join, resolve } from 'node:path';

/** Where tidemark keeps what belongs to the lake at `root` (metadata, locks, dead letters). */
export function lakeMetaDir(root: string): string {
  return join(resolve(root), '.tidemark');
}

export interface LocalPaths {
  /** Folder holding one sub-folder per bucket. */
  lakeDir: string;
  /** DuckDB file of the local warehouse. */
  warehouseFile: string;
  /** Where the default lake and warehouse live (`.tidemark/` in the working directory). */
  workDir: string;
  /**
   * What belongs to the lake, inside it (`<lakeDir>/.tidemark`): object metadata, locks, dead
   * letters, the `tidemark start` lock. Processes started from any folder on the same lake share it.
   */
  lakeMetaDir: string;
  /** Dead-lettered bus messages, readable by another process (`tidemark dlq`). */
  deadLetterFile: string;
  /** Held while `tidemark start` runs on this lake: a second one exits. */
  startLockFile: string;
}

/** Defaults under `.tidemark/` in `cwd`; the lake's own files always live inside the lake. */
export function defaultLocalPaths(
  cwd: string,
  overrides: Partial<Pick<LocalPaths, 'workDir' | 'lakeDir' | 'warehouseFile'>> = {},
): LocalPaths {
  const workDir = resolve(cwd, overrides.workDir ?? '.tidemark');
  const lakeDir = resolve(cwd, overrides.lakeDir ?? join(workDir, 'lake'));
  const meta = lakeMetaDir(lakeDir);
  return {
    workDir,
    lakeDir,
    lakeMetaDir: meta,
    deadLetterFile: join(meta, 'dead-letters.json'),
    startLockFile: join(meta, 'start.lock'),
    warehouseFile: resolve(cwd, overrides.warehouseFile ?? join(workDir, 'warehouse.duckdb')),
  };
}
