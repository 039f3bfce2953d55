/** Commit-mode dml test material: a config with a dml table, commit results, a fake commit function. */
import type { CommitResult } from '../../shared/core/commit.ts';
import type { CommitFn } from '../../shared/handlers/commit-tick.ts';
import { EVENTS_YAML } from './local-env.ts';

/** Two tables: events commits by DML, orders by loads. */
export const DML_YAML = `${EVENTS_YAML.replace(
  '    partitioning: { type: HOUR }\n',
  '    partitioning: { type: HOUR }\n    commit: { mode: dml, interval: 30s }\n',
)}  - name: orders
    source: { pattern: "orders/dt={yyyy}-{mm}-{dd}/*.csv", timeZone: UTC }
    format: CSV
    schema:
      - { name: id, type: INTEGER }
    target: { dataset: lake_us, table: orders }
    partitioning: { type: DAY }
`;

export function commitResult(table: string, over: Partial<CommitResult> = {}): CommitResult {
  return {
    table,
    outcome: 'committed',
    jobId: `tidemark_commit_${table}_1`,
    partitions: ['2026112412', '2026112413'],
    filesRead: 3,
    bytesRead: 4096,
    bytesBilled: 10_485_760,
    loadJobs: 2,
    dmlStatements: 3,
    reads: { '2026112412': { filesRead: 2, bytesRead: 3000 }, '2026112413': { filesRead: 1, bytesRead: 1096 } },
    ...over,
  };
}

/** A commit function that records its calls and answers `answer`. */
export function fakeCommit(answer: () => Promise<CommitResult[]>): CommitFn & { calls: unknown[] } {
  const calls: unknown[] = [];
  const fn = async (_engine: unknown, opts?: unknown) => {
    calls.push(opts);
    return answer();
  };
  return Object.assign(fn as CommitFn, { calls });
}
