/**
 * The reads around `computeStatus`: per table, the audit's snapshot (one read), the change
 * markers since it (one listing per 1,000 jobs), the budget object (one read) and the table's
 * labels (one call); then the quarantine lists of at most MAX_QUARANTINE_READS partitions.
 * Nothing is read per partition, nothing scans table data.
 */
import type { Config, TableConfig } from '../config/types.ts';
import { partitionEnd, partitionStart } from '../routing/partition.ts';
import type { BudgetState } from './budget.ts';
import { budgetObjectName } from './budget.ts';
import type { Engine } from './engine.ts';
import { InvalidMessageError } from './errors.ts';
import { decodeLabelTime } from './fingerprint.ts';
import { LAST_LOAD_LABEL, WATERMARK_LABEL } from './labels.ts';
import { listAll } from './listing.ts';
import { readState } from './state.ts';
import type { PartitionState } from './state.ts';
import { computeStatus, localPathTime } from './status.ts';
import type { TableStatus } from './status.ts';
import { listChanges, readSnapshot } from './status-store.ts';

/** What the reads need: the engine's ports, without its options and hooks. */
export type StatusDeps = Pick<Engine, 'config' | 'router' | 'store' | 'warehouse' | 'clock' | 'log'>;

export interface QuarantineRow {
  table: string;
  partition: string;
  object: string;
  generation: string;
  error: string;
  jobId: string;
  at: number;
}

/** A dead-lettered backfill message, whichever backend holds it. */
export interface DeadLetter {
  id: string;
  data: string;
  attempts: number | null;
  error?: string;
  published: string;
}

export interface StatusReport {
  generatedAt: number;
  tables: TableStatus[];
  quarantine: QuarantineRow[];
  deadLetters: DeadLetter[];
}

export const MAX_QUARANTINE_READS = 20;

function tableInput(t: TableConfig) {
  return {
    name: t.name,
    granularity: t.partitioning.type,
    timeZone: t.source.timeZone,
    jobBudget: t.jobBudget,
    jobBurst: t.jobBurst,
  };
}

/** Resolves table names (all when empty); an unknown name is an InvalidMessageError naming it. */
export function statusTables(config: Config, names?: string[]): TableConfig[] {
  if (!names?.length) return config.tables;
  return names.map((n) => {
    const t = config.tables.find((x) => x.name === n);
    if (!t)
      throw new InvalidMessageError(`unknown table "${n}"; tables: ${config.tables.map((x) => x.name).join(', ')}`, {
        table: n,
      });
    return t;
  });
}

/** The status of one table from its persisted picture. */
export async function readTableStatus(deps: StatusDeps, table: TableConfig): Promise<TableStatus> {
  const { store, config, clock } = deps;
  const now = clock.now();
  const snapshot = await readSnapshot(store, config.state, table.name, deps.log);
  const dayStart = Math.floor(now / 86_400_000) * 86_400_000;
  const since = Math.min(snapshot?.readFrom ?? dayStart, dayStart);
  const changes = await listChanges(store, config.state, table.name, since);
  const budgetFound = await store.read(config.state.bucket, budgetObjectName(config.state, table.name));
  let budget: BudgetState | null = null;
  if (budgetFound) {
    try {
      budget = JSON.parse(budgetFound.data.toString('utf8')) as BudgetState;
    } catch {
      deps.log.warn('budget object unreadable; shown as unused', { table: table.name });
    }
  }
  const labels = (await deps.warehouse.getTableLabels(table.spec.ref))?.labels ?? {};
  return computeStatus({
    table: tableInput(table),
    snapshot,
    changes,
    budget,
    labels: { lastLoad: decodeLabelTime(labels[LAST_LOAD_LABEL]), watermark: decodeLabelTime(labels[WATERMARK_LABEL]) },
    now,
  });
}

/** Every table's status, the quarantined files of (at most 20) quarantined partitions, and the dead letters given. */
export async function readStatusReport(
  deps: StatusDeps,
  opts: { tables?: string[]; deadLetters?: () => Promise<DeadLetter[]> } = {},
): Promise<StatusReport> {
  const tables: TableStatus[] = [];
  for (const t of statusTables(deps.config, opts.tables)) tables.push(await readTableStatus(deps, t));
  const quarantine: QuarantineRow[] = [];
  const partitions = tables.flatMap((t) =>
    t.problems.filter((p) => p.class === 'quarantined').map((p) => ({ table: t.table, partition: p.partition })),
  );
  for (const p of partitions.slice(-MAX_QUARANTINE_READS)) {
    const { state } = await readState(deps.store, deps.config.state, p.table, p.partition, deps.clock.now());
    for (const q of state.quarantine)
      quarantine.push({
        table: p.table,
        partition: p.partition,
        object: q.name,
        generation: q.generation,
        error: q.error,
        jobId: q.jobId,
        at: q.at,
      });
  }
  const deadLetters = opts.deadLetters ? await opts.deadLetters() : [];
  return { generatedAt: deps.clock.now(), tables, quarantine, deadLetters };
}

/** Everything about one partition, for a cell's details (on demand: a few calls for one cell). */
export interface PartitionDetail {
  table: string;
  partition: string;
  localTime: string;
  timeZone: string;
  source: { objects: { name: string; size: number; generation: string }[]; bytes: number };
  warehouseRows: number | null;
  state: Pick<PartitionState, 'status' | 'quarantine' | 'lastError' | 'failures'> & {
    loaded: Omit<NonNullable<PartitionState['loaded']>, 'files'> | null;
    inflight: { jobId: string; reason: string; startedAt: number } | null;
  };
}

export async function readPartitionDetail(
  deps: StatusDeps,
  tableName: string,
  partition: string,
): Promise<PartitionDetail> {
  const table = statusTables(deps.config, [tableName])[0]!;
  const route = deps.router.table(table.name)!;
  if (!/^[0-9]{8}([0-9]{2})?$/.test(partition) || (partition.length === 10) !== (route.granularity === 'HOUR')) {
    throw new InvalidMessageError(
      `partition "${partition}" is not a ${route.granularity} partition id of table ${table.name}`,
      { table: table.name, partition },
    );
  }
  const objects: PartitionDetail['source']['objects'] = [];
  for (const prefix of route.prefixesForRange(partitionStart(partition), partitionEnd(partition))) {
    for await (const o of listAll(deps.store, table.source.bucket, prefix)) {
      let p: string | null = null;
      try {
        p = route.partitionOf(o.name);
      } catch {
        continue;
      }
      if (p === partition) objects.push({ name: o.name, size: o.size, generation: o.generation });
    }
  }
  const { state } = await readState(deps.store, deps.config.state, table.name, partition, deps.clock.now());
  const wh = (await deps.warehouse.listPartitions(table.spec.ref)).find((p) => p.partitionId === partition);
  const { files: _files, ...loaded } = state.loaded ?? ({} as NonNullable<PartitionState['loaded']>);
  return {
    table: table.name,
    partition,
    localTime: localPathTime(partition, table.source.timeZone),
    timeZone: table.source.timeZone,
    source: { objects, bytes: objects.reduce((n, o) => n + o.size, 0) },
    warehouseRows: wh ? wh.totalRows : null,
    state: {
      status: state.status,
      quarantine: state.quarantine,
      failures: state.failures,
      ...(state.lastError ? { lastError: state.lastError } : {}),
      loaded: state.loaded ? loaded : null,
      inflight: state.inflight
        ? { jobId: state.inflight.jobId, reason: state.inflight.reason, startedAt: state.inflight.startedAt }
        : null,
    },
  };
}
