/**
 * What `npm start` prints after an audit: what changed since the previous one (a new hole, a
 * hole filled, a class changed), not the same table every run. Pure; tested as a table.
 */
import type { AuditReport } from '../core/audit.ts';
import { AUDIT_CLASSES } from '../core/audit-classes.ts';

/** Non-ok partitions seen by the last audit: `table$partition` -> class. */
export type AuditMemory = Map<string, string>;

export interface AuditDiff {
  lines: string[];
  memory: AuditMemory;
}

/**
 * Lines for the audit `report` given what the previous audit found (`prev`; null for the first
 * audit, which prints one summary line per table). A partition absent from a later report's
 * findings but inside its window is "filled"; one outside the window is forgotten silently.
 */
export function diffAudit(
  prev: AuditMemory | null,
  report: AuditReport,
  localTime: (table: string, partition: string) => string = () => '',
): AuditDiff {
  const memory: AuditMemory = new Map();
  const lines: string[] = [];
  const at = (table: string, p: string) => {
    const l = localTime(table, p);
    return `${table}$${p}${l ? ` (${l})` : ''}`;
  };
  for (const t of report.tables) {
    const inWindow = (p: string) => p >= t.window.from && p <= t.window.to;
    for (const f of t.findings) memory.set(`${t.table}$${f.partition}`, f.class);
    if (!prev) {
      const counts = AUDIT_CLASSES.filter((c) => t.counts[c])
        .map((c) => `${t.counts[c]} ${c}`)
        .join(', ');
      lines.push(
        `audit ${t.table} ${t.window.from}..${t.window.to}: ${counts || 'nothing in the window'}${t.unrouted.count ? `, ${t.unrouted.count} unrouted` : ''}`,
      );
      continue;
    }
    for (const f of t.findings) {
      const before = prev.get(`${t.table}$${f.partition}`);
      if (before === f.class) continue;
      lines.push(
        before
          ? `changed  ${at(t.table, f.partition)}: ${before} -> ${f.class}${f.detail ? ` (${f.detail})` : ''}`
          : `new hole ${at(t.table, f.partition)}: ${f.class}${f.detail ? ` (${f.detail})` : ''}`,
      );
    }
    for (const [key, cls] of prev) {
      const [table, p] = key.split('$') as [string, string];
      if (table !== t.table || memory.has(key) || !inWindow(p)) continue;
      lines.push(`filled   ${at(table, p)}: was ${cls}, now ok`);
    }
  }
  if (report.published)
    lines.push(
      `${report.published} backfill(s) published${report.deferred ? `, ${report.deferred} left for the next run` : ''}`,
    );
  return { lines, memory };
}
