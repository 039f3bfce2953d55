/**
 * The persisted picture behind `tidemark status` and the status page: small objects beside the
 * engine's state, read in a handful of calls whatever the number of partitions.
 *
 * - `<prefix>status/<table>.json`: written by each audit (one write per table per audit): the
 *   class of every partition of its window as run-length codes, counts, unrouted objects,
 *   watermark and the non-ok findings.
 * - `<prefix>status/<table>/changes/<inverted time>-<partition>.json`: one new object per settled
 *   job (a load, an emptied partition, a failure, a quarantine), its summary in custom metadata.
 *   Every name is new, so there is no hot object: Cloud Storage's ~1 write/s per object name never
 *   applies, and jobs are bounded by the table's job budget anyway. Inverted times sort the newest
 *   first, so "everything since the last audit" is one bounded listing. The audit prunes what its
 *   snapshot covers.
 *
 * Runtime code (the status function): no zod; the hand-written checks below validate what is read.
 */
import type { StateConfig } from '../config/types.ts';
import type { Logger } from '../log.ts';
import type { AuditClass } from './audit-classes.ts';
import type { ObjectStore } from './ports.ts';
import type { UnroutedReport } from './unrouted.ts';

/** What a cell of the grid shows: an audit class, `loading` (a job in flight) or `none` (nothing expected, nothing there). */
export type CellClass = AuditClass | 'loading' | 'none';

/** One character per class, for the run-length encoding. */
export const CELL_CODES: Record<CellClass, string> = {
  ok: 'o',
  missing: 'm',
  stale: 's',
  failed: 'f',
  quarantined: 'q',
  'upstream-missing': 'u',
  waived: 'w',
  orphan: 'x',
  'source-deleted': 'd',
  loading: 'l',
  none: 'n',
};
const CODE_CLASS = new Map(Object.entries(CELL_CODES).map(([k, v]) => [v, k as CellClass]));

/** Run-length encodes classes: `o8000m1o759`. */
export function encodeRuns(classes: readonly CellClass[]): string {
  let out = '';
  for (let i = 0; i < classes.length;) {
    let j = i + 1;
    while (j < classes.length && classes[j] === classes[i]) j++;
    out += `${CELL_CODES[classes[i]!]}${j - i}`;
    i = j;
  }
  return out;
}

/** Decodes `encodeRuns`; throws on anything else. */
export function decodeRuns(runs: string): CellClass[] {
  const out: CellClass[] = [];
  const re = /([a-z])(\d+)/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while ((m = re.exec(runs))) {
    const cls = CODE_CLASS.get(m[1]!);
    if (!cls) throw new Error(`unknown class code "${m[1]}"`);
    for (let n = Number(m[2]); n > 0; n--) out.push(cls);
    pos = re.lastIndex;
  }
  if (pos !== runs.length) throw new Error(`bad run-length text at ${pos}`);
  return out;
}

export interface SnapshotFinding {
  partition: string;
  class: AuditClass;
  sourceObjects: number;
  warehouseRows: number | null;
  detail?: string;
}

/** What one audit of one table leaves for readers. */
export interface StatusSnapshot {
  version: 1;
  table: string;
  /** When the audit started reading (changes from then on are overlaid by readers). */
  readFrom: number;
  auditedAt: number;
  granularity: 'HOUR' | 'DAY';
  /** First and last partition id of the window, inclusive. */
  window: { from: string; to: string };
  /** One class per partition of the window, run-length encoded (`encodeRuns`). */
  runs: string;
  counts: Partial<Record<AuditClass, number>>;
  watermark: string | null;
  unrouted: UnroutedReport;
  /** Non-ok partitions (at most MAX_FINDINGS, oldest first). */
  findings: SnapshotFinding[];
}

export const MAX_FINDINGS = 2000;

/** A settled job, as a change marker holds it. */
export interface StatusChange {
  table: string;
  partition: string;
  at: number;
  outcome: 'loaded' | 'emptied' | 'failed' | 'quarantined';
  objects: number;
  bytes: number;
  rows: number | null;
  quarantined: number;
  jobId: string;
  reason: string;
  error?: string;
}

export function snapshotObjectName(cfg: StateConfig, table: string): string {
  return `${cfg.prefix}status/${table}.json`;
}

function changesPrefix(cfg: StateConfig, table: string): string {
  return `${cfg.prefix}status/${table}/changes/`;
}

const MAX_TIME = 9_999_999_999_999;
const inverted = (ms: number) => String(MAX_TIME - Math.max(0, Math.min(MAX_TIME, Math.floor(ms)))).padStart(13, '0');

/** The marker name of a change; names sort newest first. */
export function changeObjectName(
  cfg: StateConfig,
  c: Pick<StatusChange, 'table' | 'partition' | 'at' | 'jobId'>,
): string {
  return `${changesPrefix(cfg, c.table)}${inverted(c.at)}-${c.partition}-${c.jobId.slice(-12)}.json`;
}

export async function writeSnapshot(store: ObjectStore, cfg: StateConfig, snap: StatusSnapshot): Promise<void> {
  await store.write(cfg.bucket, snapshotObjectName(cfg, snap.table), JSON.stringify(snap), {
    contentType: 'application/json',
  });
}

/** The table's last snapshot; null when no audit wrote one or it is unreadable (logged). */
export async function readSnapshot(
  store: ObjectStore,
  cfg: StateConfig,
  table: string,
  log?: Logger,
): Promise<StatusSnapshot | null> {
  const found = await store.read(cfg.bucket, snapshotObjectName(cfg, table));
  if (!found) return null;
  try {
    const s = JSON.parse(found.data.toString('utf8')) as StatusSnapshot;
    if (s?.version !== 1 || typeof s.runs !== 'string' || !s.window || typeof s.readFrom !== 'number')
      throw new Error('not a version-1 status snapshot');
    decodeRuns(s.runs);
    return s;
  } catch (err) {
    log?.warn(`status snapshot ${snapshotObjectName(cfg, table)} ignored: ${(err as Error).message}`, { table });
    return null;
  }
}

const META = 'tidemark-change';

/** Records a settled job (one new object; never rewrites another). */
export async function recordChange(store: ObjectStore, cfg: StateConfig, c: StatusChange): Promise<void> {
  const body = JSON.stringify({ ...c, ...(c.error ? { error: c.error.slice(0, 500) } : {}) });
  await store.write(cfg.bucket, changeObjectName(cfg, c), body, {
    contentType: 'application/json',
    metadata: { [META]: body },
  });
}

function parseChange(raw: string | undefined): StatusChange | null {
  if (!raw) return null;
  try {
    const c = JSON.parse(raw) as StatusChange;
    return typeof c.partition === 'string' && typeof c.at === 'number' && typeof c.outcome === 'string' ? c : null;
  } catch {
    return null;
  }
}

/** Changes of a table at or after `sinceMs`, newest first; one listing call per 1,000 changes. */
export async function listChanges(
  store: Pick<ObjectStore, 'listPage'>,
  cfg: StateConfig,
  table: string,
  sinceMs: number,
): Promise<StatusChange[]> {
  const prefix = changesPrefix(cfg, table);
  const out: StatusChange[] = [];
  let pageToken: string | undefined;
  do {
    const page = await store.listPage(cfg.bucket, {
      prefix,
      endOffset: `${prefix}${inverted(sinceMs - 1)}`,
      ...(pageToken ? { pageToken } : {}),
    });
    for (const o of page.objects) {
      const c = parseChange(o.metadata?.[META]);
      if (c) out.push(c);
    }
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

/** Deletes change markers older than `beforeMs` (covered by a snapshot); at most `max`. */
export async function pruneChanges(
  store: ObjectStore,
  cfg: StateConfig,
  table: string,
  beforeMs: number,
  max = 500,
): Promise<number> {
  const prefix = changesPrefix(cfg, table);
  const page = await store.listPage(cfg.bucket, {
    prefix,
    startOffset: `${prefix}${inverted(beforeMs - 1)}`,
    maxResults: max,
  });
  for (const o of page.objects) await store.remove(cfg.bucket, o.name);
  return page.objects.length;
}
