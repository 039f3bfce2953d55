/**
 * The gap auditor: compares what the lake holds with what the warehouse holds, per partition,
 * over a window, and publishes one backfill message per partition that needs a load.
 *
 * Cost: per table, one paged listing of the source per range prefix (1,000 objects a call),
 * one paged listing of the state objects (1,000 partitions a call), one metadata query for the
 * warehouse's partition list, one read of the table's waivers, one paged listing of the change
 * markers of the last READS_DAYS days (1,000 jobs a call; for the reads summary), and one or two
 * label calls. Nothing scans table data and nothing is called once per partition, except that
 * the objects of `source-deleted` partitions are named from their state heads: at most
 * MAX_SOURCE_DELETED_READS partitions per audit (a read or two each). Objects under the listing
 * that no table loads are reported as unrouted.
 */
import type { TableConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { TableRoute } from '../routing/router.ts';
import { partitionEnd, partitionIdAt, partitionStart, partitionsInRange } from '../routing/partition.ts';
import { InvalidMessageError, RouteError } from './errors.ts';
import type { ObjectVersion } from './fingerprint.ts';
import { WATERMARK_LABEL, advanceLabelTime, readLabelTime } from './labels.ts';
import { listAll } from './listing.ts';
import type { Bus, ObjectStore } from './ports.ts';
import { heldFiles, listStateSummaries, readState } from './state.ts';
import type { StateSummary } from './state.ts';
import type { Engine } from './sync.ts';
import {
  AUDIT_CLASSES,
  BACKFILL_CLASSES,
  classifyPartition,
  partitionDataEnd,
  SETTLED_CLASSES,
} from './audit-classes.ts';
import type { AuditClass } from './audit-classes.ts';
import { unroutedCollector, unroutedReason } from './unrouted.ts';
import type { UnroutedReport } from './unrouted.ts';
import { CorruptWaiversError, readWaivers } from './waivers.ts';
import { MAX_FINDINGS, encodeRuns, listChanges, pruneChanges, readSnapshot, writeSnapshot } from './status-store.ts';
import type { CellClass } from './status-store.ts';
import { freshnessLagMs, mergeSnapshots } from './status.ts';
import { dailyReads, dayStartOf, READS_DAYS, readsDays } from './reads.ts';
import type { DayReads } from './reads.ts';
import type { Waiver } from './waivers.ts';

// The classes and the classification rules live in audit-classes.ts; re-exported for callers.
export {
  AUDIT_CLASSES,
  BACKFILL_CLASSES,
  classifyPartition,
  partitionDataEnd,
  SETTLED_CLASSES,
} from './audit-classes.ts';
export type { AuditClass } from './audit-classes.ts';
export type { DayReads } from './reads.ts';

/** Most `source-deleted` partitions whose objects one audit names (each costs a state read or two). */
export const MAX_SOURCE_DELETED_READS = 50;
/** Most objects named per list (kept, held) of one finding; the detail gives the counts. */
export const MAX_NAMED_OBJECTS = 20;

/** A backfill request as published to the backfill topic. */
export interface BackfillMessage {
  table: string;
  partition: string;
  force: boolean;
  reason: string;
}

export interface AuditRequest {
  /** Table names; empty or absent means every table. */
  tables?: string[];
  /** Window start/end (epoch ms); absent means the table's default window. */
  fromMs?: number;
  toMs?: number;
}

export interface PartitionFinding {
  partition: string;
  class: AuditClass;
  sourceObjects: number;
  warehouseRows: number | null;
  detail?: string;
  /**
   * source-deleted: deleted source objects whose rows the partition keeps, and rewritten files
   * waiting for `tidemark reload` (from the state head; at most MAX_NAMED_OBJECTS each). Absent
   * when the audit's cap of MAX_SOURCE_DELETED_READS was reached before this partition.
   */
  objects?: { kept: ObjectVersion[]; held: ObjectVersion[] };
}

export interface TableAudit {
  table: string;
  /** First and last partition judged (UTC ids, inclusive) and how many. */
  window: { from: string; to: string; partitions: number };
  counts: Record<AuditClass, number>;
  /** Every partition that is not `ok`, oldest first. */
  findings: PartitionFinding[];
  watermark: { before: string | null; after: string | null };
  /** Objects under the table's listing that no table loads (a producer's path drift). */
  unrouted: UnroutedReport;
  calls: AuditCalls;
}

export interface AuditCalls {
  sourcePages: number;
  statePages: number;
  partitionQueries: number;
  /** Listing calls for the change markers (the reads summary). */
  changePages: number;
  /** Object reads naming the objects of source-deleted partitions (state heads, claim objects). */
  stateReads: number;
}

export interface AuditReport {
  startedAt: string;
  tables: TableAudit[];
  /** Backfill messages published this run. */
  published: number;
  /** Backfill-worthy partitions left for the next run (over maxBackfillsPerAudit). */
  deferred: number;
  /** Unrouted objects seen, all tables (each table's report has examples). */
  unrouted: number;
  /**
   * Per table and UTC day of the windows (at most the last READS_DAYS days): bytes the jobs read
   * from the lake, and the amplification against the bytes of object generations written that day.
   */
  reads: DayReads[];
}

/** Everything the auditor needs: the engine's backends plus a bus to publish on. */
export interface AuditDeps extends Engine {
  bus: Bus;
}

function emptyCounts(): Record<AuditClass, number> {
  return Object.fromEntries(AUDIT_CLASSES.map((c) => [c, 0])) as Record<AuditClass, number>;
}

/** The window a table is audited over when the request does not say. */
export async function defaultWindow(
  deps: AuditDeps,
  table: TableConfig,
): Promise<{ fromMs: number; toMs: number; watermark: number | null }> {
  const { audit } = deps.config;
  const now = deps.clock.now();
  const watermark = await readLabelTime(deps.warehouse, table.spec.ref, WATERMARK_LABEL);
  const fromMs = watermark !== null ? watermark - audit.lookbackMs : now - audit.auditFromMs;
  return { fromMs, toMs: now - audit.settleMs, watermark };
}

/** Audits one table over [fromMs, toMs). Does not publish. */
export async function auditTable(
  deps: AuditDeps,
  route: TableRoute,
  fromMs: number,
  toMs: number,
  log: Logger,
  watermark: number | null = null,
  /** Reads left for naming source-deleted objects; shared by the tables of one audit. */
  namingBudget: { left: number } = { left: MAX_SOURCE_DELETED_READS },
): Promise<{
  audit: TableAudit;
  backfills: BackfillMessage[];
  goodUntil: number | null;
  cells: CellClass[];
  reads: DayReads[];
}> {
  const table = route.table;
  const g = route.granularity;
  const ids = partitionsInRange(fromMs, toMs, g);
  const calls: AuditCalls = { sourcePages: 0, statePages: 0, partitionQueries: 0, changePages: 0, stateReads: 0 };
  const counts = emptyCounts();
  // Exactly the partitions judged: those whose start lies in [fromMs, toMs) (a window starting
  // mid-hour begins with the next hour).
  const window = ids.length
    ? { from: ids[0]!, to: ids[ids.length - 1]!, partitions: ids.length }
    : { from: partitionIdAt(fromMs, g), to: partitionIdAt(Math.max(fromMs, toMs - 1), g), partitions: 0 };
  const unrouted = unroutedCollector();
  const unroutedReport = (): UnroutedReport => ({ count: unrouted.count, samples: unrouted.samples });
  if (ids.length === 0)
    return {
      audit: {
        table: table.name,
        window,
        counts,
        findings: [],
        watermark: { before: null, after: null },
        unrouted: unroutedReport(),
        calls,
      },
      backfills: [],
      goodUntil: null,
      cells: [],
      reads: [],
    };
  const first = ids[0]!;
  const last = ids[ids.length - 1]!;
  const inWindow = new Set(ids);

  // Source: few prefixes, paged; objects grouped by the loader's own routing. The prefixes are
  // widened to what a drifted producer would write, so names no table loads are reported.
  const source = new Map<string, ObjectVersion[]>();
  const countingStore = {
    listPage: (...a: Parameters<typeof deps.store.listPage>) => {
      calls.sourcePages++;
      return deps.store.listPage(...a);
    },
  };
  const bucket = table.source.bucket;
  // New object generations per day, for the reads summary: every routed object listed (its
  // partition may lie outside the window; it was still written on a day the window covers).
  const days = readsDays(partitionStart(first), partitionEnd(last), deps.clock.now());
  const daysFrom = days.length ? days[0]! : Infinity;
  const written: { size: number; updated: string }[] = [];
  for (const prefix of route.prefixesForRange(partitionStart(first), partitionEnd(last), { drift: true })) {
    for await (const o of listAll(countingStore, bucket, prefix)) {
      let p: string | null;
      try {
        p = route.partitionOf(o.name);
      } catch (err) {
        if (!(err instanceof RouteError)) throw err;
        unrouted.add(o.name, typeof err.fields.reason === 'string' ? err.fields.reason : err.message);
        continue;
      }
      if (p === null) {
        const why = unroutedReason(deps.router, deps.config.state, bucket, o.name);
        if (why) unrouted.add(o.name, why);
        continue;
      }
      if (o.updated && Date.parse(o.updated) >= daysFrom) written.push({ size: o.size, updated: o.updated });
      if (!inWindow.has(p)) continue;
      const list = source.get(p) ?? [];
      list.push({ name: o.name, generation: o.generation });
      source.set(p, list);
    }
  }
  // Engine state: one paged listing of the state prefix, metadata only.
  const states = new Map<string, StateSummary>();
  const stateStore = {
    listPage: (...a: Parameters<typeof deps.store.listPage>) => (calls.statePages++, deps.store.listPage(...a)),
  };
  for (const s of await listStateSummaries(stateStore, deps.config.state, table.name, { from: first, to: `${last}~` }))
    states.set(s.partition, s);
  // Warehouse: one metadata query.
  calls.partitionQueries++;
  const whParts = new Map((await deps.warehouse.listPartitions(table.spec.ref)).map((p) => [p.partitionId, p]));
  // Accepted gaps: one small object per table. A corrupt one waives nothing (holes stay
  // visible) and is reported, rather than stopping the audit of every table.
  const waivers = new Map<string, Waiver>();
  try {
    for (const w of (await readWaivers(deps.store, deps.config.state, table.name)).set.waivers)
      waivers.set(w.partition, w);
  } catch (err) {
    if (!(err instanceof CorruptWaiversError)) throw err;
    log.error(`waivers ignored: ${err.message}`, { table: table.name });
  }

  const findings: PartitionFinding[] = [];
  // The class of every partition, for the status snapshot (a job in flight shows as loading).
  const cells: CellClass[] = [];
  const backfills: BackfillMessage[] = [];
  let goodUntil: number | null = null;
  let holeSeen = false;
  // A cadence as fine as the partitions (or finer) means every partition should have data, but
  // only from where data is known to start: the first partition of the window with any data, or
  // the watermark if earlier (data started before it). Empty partitions before both cannot tell
  // "not started yet" from "missing". Partitions behind the watermark are judged again, so a
  // revoked waiver reopens its hole.
  const cadenceApplies = !!table.cadence && (table.cadence === g || g === 'DAY');
  const firstData = ids.find((id) => source.has(id) || states.has(id) || whParts.has(id));
  const expectedFrom = Math.min(watermark ?? Infinity, firstData ? partitionStart(firstData) : Infinity);
  // A partition is judged complete only once its time has passed plus `settle`: before that its
  // data may still be on its way (the running day, or an audit window reaching into the future).
  const judgedUntil = deps.clock.now() - deps.config.audit.settleMs;
  for (const id of ids) {
    const src = source.get(id) ?? [];
    const ended = partitionDataEnd(table, id) <= judgedUntil;
    const verdict = classifyPartition({
      source: src,
      state: states.get(id),
      warehouse: whParts.get(id),
      expected: cadenceApplies && ended && partitionStart(id) >= expectedFrom,
      waiver: waivers.get(id),
      onSourceDelete: table.onSourceDelete,
    });
    const cls = verdict.class;
    cells.push(
      cls === null ? 'none' : states.get(id)?.inflightJobId && BACKFILL_CLASSES.includes(cls) ? 'loading' : cls,
    );
    if (cls) {
      counts[cls]++;
      if (cls !== 'ok') {
        const finding: PartitionFinding = {
          partition: id,
          class: cls,
          sourceObjects: src.length,
          warehouseRows: whParts.get(id)?.totalRows ?? null,
          ...(verdict.detail ? { detail: verdict.detail } : {}),
        };
        if (cls === 'source-deleted') await nameSourceDeleted(deps, table.name, finding, src, namingBudget, calls);
        findings.push(finding);
      }
      if (BACKFILL_CLASSES.includes(cls))
        backfills.push({ table: table.name, partition: id, force: !!verdict.force, reason: cls });
    }
    // The watermark stops at the first hole (orphans are extra data, not holes; waived gaps were
    // accepted) and before the first partition not yet ended: it is judged again next time.
    if (!ended || !SETTLED_CLASSES.includes(cls)) holeSeen = true;
    if (!holeSeen) goodUntil = Math.min(partitionEnd(id), toMs);
  }
  // Bytes read per day: the change markers of those days (one listing per 1,000 jobs).
  let reads: DayReads[] = [];
  if (days.length) {
    const markerStore = {
      listPage: (...a: Parameters<typeof deps.store.listPage>) => (calls.changePages++, deps.store.listPage(...a)),
    };
    reads = dailyReads(
      table.name,
      days,
      await listChanges(markerStore, deps.config.state, table.name, daysFrom),
      written,
    );
  }
  log.debug('table audited', { table: table.name, partitions: ids.length, calls });
  return {
    audit: {
      table: table.name,
      window,
      counts,
      findings,
      watermark: { before: null, after: null },
      unrouted: unroutedReport(),
      calls,
    },
    backfills,
    goodUntil,
    cells,
    reads,
  };
}

/**
 * Names the objects of a source-deleted partition from its state head (LoadRecord.kept / held),
 * within the audit's budget of reads. When every source object went and the engine has not
 * recorded them yet (no sync ran since), the loaded files are the deleted ones (the claim
 * object: one more read). Over the budget the finding says so and names nothing.
 */
async function nameSourceDeleted(
  deps: AuditDeps,
  table: string,
  finding: PartitionFinding,
  source: readonly ObjectVersion[],
  budget: { left: number },
  calls: AuditCalls,
): Promise<void> {
  if (budget.left <= 0) {
    finding.detail = `${finding.detail ?? ''} (objects not named: over the audit's ${MAX_SOURCE_DELETED_READS} state reads; see \`tidemark status\`)`;
    return;
  }
  budget.left--;
  const store: ObjectStore = {
    listPage: (b, o) => deps.store.listPage(b, o),
    read: (b, n) => (calls.stateReads++, deps.store.read(b, n)),
    write: (b, n, d, o) => deps.store.write(b, n, d, o),
    remove: (b, n) => deps.store.remove(b, n),
    uri: (b, n) => deps.store.uri(b, n),
  };
  const { state } = await readState(store, deps.config.state, table, finding.partition, deps.clock.now());
  let kept = state.loaded?.kept ?? [];
  const held = state.loaded?.held ?? [];
  if (!kept.length && source.length === 0) {
    const holds = await heldFiles(store, deps.config.state, state);
    kept = Array.isArray(holds) ? holds : [];
  }
  const pick = (l: readonly ObjectVersion[]) =>
    l.slice(0, MAX_NAMED_OBJECTS).map((o) => ({ name: o.name, generation: o.generation }));
  finding.objects = { kept: pick(kept), held: pick(held) };
  const names = (l: readonly ObjectVersion[], what: string) =>
    l.length
      ? `; ${what}: ${l
          .slice(0, 3)
          .map((o) => o.name)
          .join(', ')}${l.length > 3 ? ', ...' : ''}`
      : '';
  finding.detail = `${finding.detail ?? ''}${names(kept, 'deleted')}${names(held, 'waiting')}`;
}

/**
 * Runs an audit: classifies every table's window, publishes backfills (oldest first, at most
 * maxBackfillsPerAudit), advances each table's watermark label, and publishes the summary.
 */
export async function runAudit(
  deps: AuditDeps,
  request: AuditRequest = {},
  opts: { dryRun?: boolean } = {},
): Promise<AuditReport> {
  const { config, log } = deps;
  const names = request.tables?.length ? request.tables : config.tables.map((t) => t.name);
  const routes = names.map((n) => {
    const r = deps.router.table(n);
    if (!r) throw new InvalidMessageError(`audit request names unknown table "${n}"`, { table: n });
    return r;
  });
  const report: AuditReport = {
    startedAt: new Date(deps.clock.now()).toISOString(),
    tables: [],
    published: 0,
    deferred: 0,
    unrouted: 0,
    reads: [],
  };
  const allBackfills: BackfillMessage[] = [];
  const lagSeconds = new Map<string, number | null>();
  const namingBudget = { left: MAX_SOURCE_DELETED_READS };
  for (const route of routes) {
    const table = route.table;
    const dflt = await defaultWindow(deps, table);
    const fromMs = request.fromMs ?? dflt.fromMs;
    const toMs = request.toMs ?? dflt.toMs;
    const readFrom = deps.clock.now();
    const { audit, backfills, goodUntil, cells, reads } = await auditTable(
      deps,
      route,
      fromMs,
      toMs,
      log.child({ table: table.name }),
      dflt.watermark,
      namingBudget,
    );
    report.reads.push(...reads);
    audit.watermark.before = dflt.watermark === null ? null : new Date(dflt.watermark).toISOString();
    if (!opts.dryRun && goodUntil !== null && (dflt.watermark === null || goodUntil > dflt.watermark)) {
      const after = await advanceLabelTime(deps.warehouse, table.spec.ref, WATERMARK_LABEL, goodUntil, log);
      audit.watermark.after = after === null ? null : new Date(after).toISOString();
    } else {
      audit.watermark.after = audit.watermark.before;
    }
    report.tables.push(audit);
    if (!opts.dryRun) await persistStatus(deps, audit, cells, route.granularity, readFrom, log);
    const lag = freshnessLagMs(cells, audit.window.from, deps.clock.now());
    lagSeconds.set(table.name, lag === null ? null : Math.round(lag / 1000));
    report.unrouted += audit.unrouted.count;
    allBackfills.push(...backfills);
  }
  // Oldest partitions first across tables; the rest wait for the next run.
  allBackfills.sort(
    (a, b) => partitionStart(a.partition) - partitionStart(b.partition) || a.table.localeCompare(b.table),
  );
  const max = config.audit.maxBackfillsPerAudit;
  const now = allBackfills.slice(0, max);
  report.deferred = allBackfills.length - now.length;
  if (opts.dryRun) {
    report.deferred = allBackfills.length;
    return report;
  }
  if (now.length) await deps.bus.publish(config.topics.backfill, now, { origin: 'audit' });
  report.published = now.length;
  await deps.bus.publish(config.topics.auditResults, [report], { origin: 'audit' });
  for (const t of report.tables) {
    if (t.unrouted.count) {
      log.warn(
        `audit ${t.table}: ${t.unrouted.count} object(s) under its folders match no table and are never loaded (path drift?)`,
        { table: t.table, unrouted: t.unrouted },
      );
    }
    log.info(
      `audit ${t.table}: ${
        AUDIT_CLASSES.filter((c) => t.counts[c])
          .map((c) => `${t.counts[c]} ${c}`)
          .join(', ') || 'nothing in window'
      }`,
      {
        table: t.table,
        window: t.window,
        counts: t.counts,
        unrouted: t.unrouted.count,
        watermark: t.watermark.after,
        // Now minus the end of the newest fully loaded partition (the freshness alert's metric).
        freshnessLagSeconds: lagSeconds.get(t.table) ?? null,
        reads: report.reads.filter((r) => r.table === t.table),
        findings: t.findings.slice(0, 50),
      },
    );
  }
  log.notice(`audit done: ${report.published} backfill(s) published, ${report.deferred} deferred to the next run`, {
    published: report.published,
    deferred: report.deferred,
  });
  return report;
}

/**
 * Leaves the audit's picture of a table for `tidemark status` and the status page (one small
 * object), and prunes the change markers it covers. Best effort: a failure here is logged and
 * never fails the audit (the next audit writes it again).
 */
async function persistStatus(
  deps: AuditDeps,
  audit: TableAudit,
  cells: CellClass[],
  granularity: 'HOUR' | 'DAY',
  readFrom: number,
  log: Logger,
): Promise<void> {
  try {
    // Outside this audit's window the previous picture stays (brought up to date with the jobs
    // settled since): a scheduled audit's window is only the last few days.
    const prev = await readSnapshot(deps.store, deps.config.state, audit.table, log);
    const since = prev ? await listChanges(deps.store, deps.config.state, audit.table, prev.readFrom) : [];
    await writeSnapshot(
      deps.store,
      deps.config.state,
      mergeSnapshots(
        prev,
        {
          version: 1,
          table: audit.table,
          readFrom,
          auditedAt: deps.clock.now(),
          granularity,
          window: audit.window,
          runs: encodeRuns(cells),
          counts: Object.fromEntries(Object.entries(audit.counts).filter(([, n]) => n > 0)),
          watermark: audit.watermark.after,
          unrouted: audit.unrouted,
          findings: audit.findings.slice(0, MAX_FINDINGS),
        },
        since,
      ),
    );
    // Markers older than this snapshot are covered by it; READS_DAYS days of them stay, for the
    // next audits' reads summary (and today's job and byte counts in `tidemark status`).
    await pruneChanges(deps.store, deps.config.state, audit.table, dayStartOf(readFrom) - READS_DAYS * 86_400_000);
  } catch (err) {
    log.warn(`status snapshot not written: ${(err as Error).message}`, { table: audit.table });
  }
}
