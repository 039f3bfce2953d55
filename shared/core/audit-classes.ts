/**
 * The audit's verdict on one partition: the classes, and the pure rules that pick one from the
 * three views of a partition (source listing, engine state, warehouse metadata) plus its cadence
 * and waiver. The README's table of audit classes is this file.
 */
import type { TableConfig } from '../config/types.ts';
import { offsetAt } from '../routing/civil-time.ts';
import { partitionEnd } from '../routing/partition.ts';
import { partitionsAreLocalDates } from '../routing/zone-rule.ts';
import { fingerprintObjects } from './fingerprint.ts';
import type { ObjectVersion } from './fingerprint.ts';
import type { PartitionInfo } from './ports.ts';
import type { StateSummary } from './state.ts';
import type { Waiver } from './waivers.ts';

/** What an audit concludes about one partition. */
export type AuditClass =
  'ok' | 'missing' | 'stale' | 'failed' | 'quarantined' | 'upstream-missing' | 'waived' | 'orphan' | 'source-deleted';

export const AUDIT_CLASSES: readonly AuditClass[] = [
  'ok',
  'missing',
  'stale',
  'failed',
  'quarantined',
  'upstream-missing',
  'waived',
  'orphan',
  'source-deleted',
];

/**
 * Classes the watermark passes: nothing to load there. `source-deleted` is a policy's steady
 * state (onSourceDelete keep: the rows stay on purpose), not a hole: only `tidemark reload`
 * changes it.
 */
export const SETTLED_CLASSES: readonly (AuditClass | null)[] = [
  null,
  'ok',
  'quarantined',
  'waived',
  'orphan',
  'source-deleted',
];

/**
 * Classes a backfill can fix; one message each. Never `source-deleted`: a backfill would apply
 * the deletion, and under onSourceDelete keep only `tidemark reload` does that, on purpose.
 */
export const BACKFILL_CLASSES: readonly AuditClass[] = ['missing', 'stale', 'failed'];

/**
 * Classifies one partition from the three views of it. Pure; the table of cases in the README
 * ("audit classes") is this function.
 */
export function classifyPartition(input: {
  source: ObjectVersion[];
  state: StateSummary | undefined;
  warehouse: PartitionInfo | undefined;
  /** The table's cadence expects data here, and the partition has ended (plus settle). */
  expected: boolean;
  /** An accepted gap recorded with `tidemark waive`. */
  waiver?: Pick<Waiver, 'reason'> | undefined;
  /** The table's policy for deleted source objects (TableConfig.onSourceDelete; default keep). */
  onSourceDelete?: 'keep' | 'mirror';
}): { class: AuditClass | null; detail?: string; force?: boolean } {
  const { source, state, warehouse, expected, waiver } = input;
  const keep = (input.onSourceDelete ?? 'keep') === 'keep';
  const whRows = warehouse?.totalRows ?? 0;
  const loadedSomething = !!state && state.status !== 'new' && state.loadedAt !== null;
  const kept = state?.kept ?? 0;
  const held = state?.held ?? 0;
  if (source.length === 0) {
    // Every source object went (a lake retention rule, say). Under keep the rows stay: reported,
    // never published (a backfill would empty the partition). Under mirror the next load empties it.
    if (loadedSomething && (state!.objects > 0 || kept > 0)) {
      if (keep)
        return { class: 'source-deleted', detail: sourceDeletedDetail(Math.max(kept, state!.objects), held, true) };
      return { class: 'stale', detail: 'source objects deleted since the last load' };
    }
    if (whRows > 0)
      return { class: 'orphan', detail: 'warehouse partition with no source objects (never deleted by tidemark)' };
    // Only a partition with nothing anywhere is waived: once data arrives it is audited normally.
    if (waiver) return { class: 'waived', detail: `accepted gap: ${waiver.reason}` };
    if (expected)
      return { class: 'upstream-missing', detail: 'the table cadence expects data here and the source has none' };
    return { class: null };
  }
  if (!loadedSomething) {
    if (state?.status === 'failed') return { class: 'failed', detail: 'the only load attempted failed' };
    return whRows > 0
      ? { class: 'stale', detail: 'warehouse rows not loaded by tidemark' }
      : { class: 'missing', detail: 'never loaded' };
  }
  if (state!.status === 'failed') return { class: 'failed', detail: 'the last load failed' };
  if (state!.sourceFingerprint !== fingerprintObjects(source))
    return { class: 'stale', detail: 'source objects added, rewritten or deleted since the last load' };
  // Files that hold no rows (a 0-byte file, a header-only CSV) load into no partition at all:
  // BigQuery lists no partition for them, and that is what the last load said it wrote.
  if (state!.objects > 0 && whRows === 0 && state!.rows === 0)
    return { class: 'ok', detail: 'the source objects hold no rows' };
  // Drift on the warehouse side: the source listing is unchanged, so only a forced reload helps.
  if (state!.objects > 0 && whRows === 0)
    return { class: 'missing', detail: 'partition gone from the warehouse (deleted by hand?)', force: true };
  // The listing is what the state says it applied, yet rows of deleted objects stay on purpose
  // (and rewritten files may wait): only `tidemark reload` changes that, so nothing is published,
  // not even for a row count that differs (a forced reload would apply the deletion).
  if (kept > 0 || held > 0) {
    // Kept under a former keep policy, now mirror: the listing is unchanged, so only a forced
    // load applies the deletion (and the held rewrites).
    if (!keep)
      return {
        class: 'stale',
        detail: `${kept} deleted source object(s) kept, ${held} rewritten file(s) held under onSourceDelete keep; mirror applies them`,
        force: true,
      };
    if (state!.quarantined > 0)
      return {
        class: 'quarantined',
        detail: `${state!.quarantined} file(s) quarantined; ${kept} deleted source object(s) kept`,
      };
    const drift =
      state!.rows !== null && warehouse && warehouse.totalRows !== state!.rows
        ? `; warehouse holds ${warehouse.totalRows} rows, the last load wrote ${state!.rows}`
        : '';
    return { class: 'source-deleted', detail: sourceDeletedDetail(kept, held, false) + drift };
  }
  if (state!.rows !== null && warehouse && state!.objects > 0 && warehouse.totalRows !== state!.rows) {
    return {
      class: 'stale',
      detail: `warehouse holds ${warehouse.totalRows} rows, the last load wrote ${state!.rows}`,
      force: true,
    };
  }
  if (state!.quarantined > 0) return { class: 'quarantined', detail: `${state!.quarantined} file(s) quarantined` };
  return { class: 'ok' };
}

/** The detail of a `source-deleted` partition (the audit appends the objects' names when it read them). */
export function sourceDeletedDetail(kept: number, held: number, all: boolean): string {
  const what = all ? `all ${kept} source object(s) deleted` : `${kept} source object(s) deleted`;
  return (
    `${what} since loaded; their rows are kept (onSourceDelete: keep; \`tidemark reload\` applies the deletion)` +
    (held > 0 ? `; ${held} rewritten file(s) wait for \`tidemark reload\`` : '')
  );
}

/**
 * When partition `id` of `table` has ended: the last instant a path time mapping to it can name.
 * UTC partitions end at their end; a local-date partition (DATE column) ends at the end of that
 * day in the source's zone (later than the UTC day west of Greenwich).
 */
export function partitionDataEnd(table: TableConfig, id: string): number {
  const end = partitionEnd(id);
  return partitionsAreLocalDates(table.partitioning) ? end - offsetAt(end, table.source.timeZone) : end;
}
