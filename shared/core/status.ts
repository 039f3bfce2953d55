/**
 * What `tidemark status` and the status page show for a table, computed by one pure function
 * from the persisted picture (status-store.ts), the budget object and the table's labels. The
 * reads live in status-read.ts; this file decides, and is tested as a table.
 */
import { offsetAt } from '../routing/civil-time.ts';
import { partitionEnd, partitionStart, partitionsInRange } from '../routing/partition.ts';
import type { AuditClass } from './audit-classes.ts';
import { refill } from './budget.ts';
import type { BudgetState } from './budget.ts';
import { MAX_FINDINGS, decodeRuns, encodeRuns } from './status-store.ts';
import type { CellClass, SnapshotFinding, StatusChange, StatusSnapshot } from './status-store.ts';
import type { UnroutedReport } from './unrouted.ts';

const DAY_MS = 86_400_000;

/** Classes a backfill loads (what "waiting backfills" counts). */
const WAITING: readonly CellClass[] = ['missing', 'stale', 'failed'];

/** The table settings the computation needs. */
export interface StatusTableInput {
  name: string;
  granularity: 'HOUR' | 'DAY';
  timeZone: string;
  jobBudget: number;
  jobBurst: number;
}

export interface StatusInput {
  table: StatusTableInput;
  snapshot: StatusSnapshot | null;
  /** Change markers, any order (newest first as listed). */
  changes: StatusChange[];
  /** The budget object as stored (null: never used). */
  budget: BudgetState | null;
  /** `tidemark_last_load` and `tidemark_watermark` labels (epoch ms), when set. */
  labels: { lastLoad: number | null; watermark: number | null };
  now: number;
}

export interface TableStatus {
  table: string;
  granularity: 'HOUR' | 'DAY';
  timeZone: string;
  /** The window the grid covers (from the last audit), inclusive ids, or null before any audit. */
  window: { from: string; to: string } | null;
  auditedAt: number | null;
  /** Classes of the window's partitions, run-length (status-store `encodeRuns`), changes since the audit applied. */
  runs: string;
  counts: Partial<Record<CellClass, number>>;
  freshness: {
    /** Newest partition that is ok, and now minus its end (ms). */
    newestOk: string | null;
    lagMs: number | null;
    lastLoadAt: number | null;
  };
  watermark: number | null;
  budget: {
    usedToday: number;
    limit: number;
    /** When the next job can start (now when a token is there). */
    nextJobAt: number;
    /** Partitions a backfill would load (missing, stale, failed) and how long they take at the budget's pace. */
    waiting: number;
    drainMs: number;
  };
  /** Bytes the loads read today (UTC day), from the change markers. */
  bytesReadToday: number;
  jobsToday: number;
  unrouted: UnroutedReport;
  /** Non-ok partitions with the audit's detail, updated by the changes since. */
  problems: SnapshotFinding[];
  /** The latest changes (at most 20), newest first. */
  recent: StatusChange[];
}

function changeClass(c: StatusChange): CellClass {
  if (c.outcome === 'failed') return 'failed';
  if (c.outcome === 'quarantined' || c.quarantined > 0) return 'quarantined';
  return 'ok';
}

/** Now minus the end of the newest partition that is ok and has ended; null when none. */
export function freshnessLagMs(cells: readonly CellClass[], windowFrom: string, now: number): number | null {
  const g = windowFrom.length === 10 ? 'HOUR' : 'DAY';
  const step = g === 'HOUR' ? 3_600_000 : DAY_MS;
  const start = partitionStart(windowFrom);
  for (let i = cells.length - 1; i >= 0; i--) {
    const end = start + (i + 1) * step;
    if (cells[i] === 'ok' && end <= now) return now - end;
  }
  return null;
}

/** A snapshot's cells with the changes since its audit laid over them (newest change per partition wins). */
function overlay(
  snapshot: StatusSnapshot | null,
  changes: readonly StatusChange[],
): { ids: string[]; cells: CellClass[]; findings: Map<string, SnapshotFinding> } {
  const cells: CellClass[] = snapshot ? decodeRuns(snapshot.runs) : [];
  // Ids by arithmetic (partitions are whole UTC hours/days): no parse per partition.
  const step = snapshot?.granularity === 'HOUR' ? 3_600_000 : DAY_MS;
  const start = snapshot ? partitionStart(snapshot.window.from) : 0;
  const ids = snapshot ? partitionsInRange(start, start + cells.length * step, snapshot.granularity) : [];
  const findings = new Map((snapshot?.findings ?? []).map((f) => [f.partition, f]));
  const applied = new Set<string>();
  for (const c of [...changes].sort((a, b) => b.at - a.at)) {
    if (!snapshot || c.at < snapshot.readFrom || applied.has(c.partition)) continue;
    applied.add(c.partition);
    let i: number;
    try {
      i = (partitionStart(c.partition) - start) / step;
    } catch {
      continue;
    }
    if (!(i >= 0 && i < cells.length && Number.isInteger(i))) continue;
    const cls = changeClass(c);
    cells[i] = cls;
    if (cls === 'ok') findings.delete(c.partition);
    else
      findings.set(c.partition, {
        partition: c.partition,
        class: cls as AuditClass,
        sourceObjects: c.objects,
        warehouseRows: c.rows,
        detail: c.error ? `${c.outcome}: ${c.error}` : `${c.quarantined} file(s) quarantined`,
      });
  }
  return { ids, cells, findings };
}

/** Most partitions a merged snapshot keeps (two years of hours); the oldest go first. */
export const MAX_SNAPSHOT_CELLS = 2 * 8784;

/**
 * The snapshot an audit leaves: its own verdicts over its window, and outside it the previous
 * snapshot's picture brought up to date with the changes since (`changesSincePrev`). An audit's
 * default window is short (watermark minus lookback), so without this the picture would shrink
 * to a few days after every scheduled run. Pure.
 */
export function mergeSnapshots(
  prev: StatusSnapshot | null,
  next: StatusSnapshot,
  changesSincePrev: readonly StatusChange[],
  maxCells = MAX_SNAPSHOT_CELLS,
): StatusSnapshot {
  if (!prev || prev.granularity !== next.granularity) return next;
  const old = overlay(prev, changesSincePrev);
  // An audit that judged nothing (an empty window) keeps the previous picture, as of now.
  if (decodeRuns(next.runs).length === 0)
    return {
      ...prev,
      readFrom: next.readFrom,
      auditedAt: next.auditedAt,
      runs: encodeRuns(old.cells),
      findings: [...old.findings.values()].sort((a, b) => (a.partition < b.partition ? -1 : 1)),
      unrouted: next.unrouted,
      watermark: next.watermark,
    };
  const cur = overlay(next, []);
  const oldAt = new Map(old.ids.map((id, i) => [id, old.cells[i]!]));
  const curAt = new Map(cur.ids.map((id, i) => [id, cur.cells[i]!]));
  const from = prev.window.from < next.window.from ? prev.window.from : next.window.from;
  const to = prev.window.to > next.window.to ? prev.window.to : next.window.to;
  let ids = partitionsInRange(partitionStart(from), partitionEnd(to), next.granularity);
  if (ids.length > maxCells) ids = ids.slice(ids.length - maxCells);
  const cells = ids.map((id) => curAt.get(id) ?? oldAt.get(id) ?? 'none');
  const kept = new Set(ids);
  const findings = [
    ...[...old.findings.values()].filter((f) => kept.has(f.partition) && !curAt.has(f.partition)),
    ...cur.findings.values(),
  ].sort((a, b) => (a.partition < b.partition ? -1 : 1));
  const counts: StatusSnapshot['counts'] = {};
  for (const c of cells) if (c !== 'none' && c !== 'loading') counts[c] = (counts[c] ?? 0) + 1;
  return {
    ...next,
    window: { from: ids[0]!, to: ids[ids.length - 1]! },
    runs: encodeRuns(cells),
    counts,
    findings: findings.slice(-MAX_FINDINGS),
  };
}

/** The pure status of one table. */
export function computeStatus(input: StatusInput): TableStatus {
  const { table, snapshot, now } = input;
  const changes = [...input.changes].sort((a, b) => b.at - a.at);
  const { ids, cells, findings } = overlay(snapshot, changes);
  const counts: Partial<Record<CellClass, number>> = {};
  for (const c of cells) counts[c] = (counts[c] ?? 0) + 1;
  let newestOk: string | null = null;
  for (let i = cells.length - 1; i >= 0; i--) {
    // Fully loaded: ok and ended (a running hour or day may still get files).
    if (cells[i] === 'ok' && partitionEnd(ids[i]!) <= now) {
      newestOk = ids[i]!;
      break;
    }
  }
  const lastChangeLoad = changes.find((c) => c.outcome === 'loaded' || c.outcome === 'emptied')?.at ?? null;
  const lastLoadAt = Math.max(input.labels.lastLoad ?? -Infinity, lastChangeLoad ?? -Infinity);

  const b = refill(input.budget, { jobBudget: table.jobBudget, jobBurst: table.jobBurst }, now);
  const perJob = DAY_MS / table.jobBudget;
  const nextJobAt =
    b.used >= table.jobBudget
      ? Math.floor(now / DAY_MS) * DAY_MS + DAY_MS
      : b.tokens >= 1
        ? now
        : now + Math.ceil((1 - b.tokens) * perJob);
  const waiting = cells.filter((c) => WAITING.includes(c)).length;
  const drainMs = Math.max(0, Math.ceil((waiting - Math.floor(b.tokens)) * perJob), nextJobAt - now);
  const dayStart = Math.floor(now / DAY_MS) * DAY_MS;
  const today = changes.filter((c) => c.at >= dayStart);

  return {
    table: table.name,
    granularity: table.granularity,
    timeZone: table.timeZone,
    window: snapshot ? snapshot.window : null,
    auditedAt: snapshot?.auditedAt ?? null,
    runs: encodeRuns(cells),
    counts,
    freshness: {
      newestOk,
      lagMs: newestOk ? Math.max(0, now - partitionEnd(newestOk)) : null,
      lastLoadAt: Number.isFinite(lastLoadAt) ? lastLoadAt : null,
    },
    watermark: input.labels.watermark,
    budget: { usedToday: b.used, limit: table.jobBudget, nextJobAt, waiting, drainMs: waiting ? drainMs : 0 },
    bytesReadToday: today.reduce((n, c) => n + (c.outcome === 'loaded' ? c.bytes : 0), 0),
    jobsToday: today.length,
    unrouted: snapshot?.unrouted ?? { count: 0, samples: [] },
    problems: [...findings.values()].sort((x, y) => partitionStart(x.partition) - partitionStart(y.partition)),
    recent: changes.slice(0, 20),
  };
}

/**
 * The local time a path names for a UTC partition id, in the table's source zone:
 * `2026-11-24 22:00 +09:00` for hour 2026112413 in Asia/Seoul. DAY partitions show the date
 * the partition's start falls on locally.
 */
export function localPathTime(id: string, timeZone: string): string {
  const start = partitionStart(id);
  const off = offsetAt(start, timeZone);
  const local = new Date(start + off).toISOString();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off) / 60_000;
  const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return id.length === 8 ? `${local.slice(0, 10)} ${zone}` : `${local.slice(0, 10)} ${local.slice(11, 16)} ${zone}`;
}
