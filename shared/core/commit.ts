/**
 * Table commits (commit mode dml). Work in progress: the signatures the handlers call.
 */
import type { Engine } from './engine.ts';

/** What one table's commit tick did. */
export interface CommitResult {
  table: string;
  /**
   * committed: a transaction applied `partitions`; idle: nothing dirty; waiting: the table
   * committed less than `interval` ago; busy: another committer holds the table; aborted: the
   * commit gave up (quarantine, failure, lost race) and its partitions stay dirty for the next tick.
   */
  outcome: 'committed' | 'idle' | 'waiting' | 'busy' | 'aborted';
  jobId: string | null;
  partitions: string[];
  filesRead: number;
  bytesRead: number;
  bytesBilled: number | null;
  /** Load jobs (into the staging table) and DML statements this commit ran. */
  loadJobs: number;
  dmlStatements: number;
  message?: string;
}

/**
 * Runs one commit for each commit-mode dml table with dirty partitions (all such tables unless
 * `tables` names some). A tick of Cloud Scheduler (deployed) or of the local bus calls it.
 * `now` ignores the interval (an operator's `tidemark sync`).
 */
export async function commitTables(
  engine: Engine,
  opts: { tables?: string[]; now?: boolean } = {},
): Promise<CommitResult[]> {
  void engine;
  void opts;
  throw new Error('commitTables: not implemented yet');
}
