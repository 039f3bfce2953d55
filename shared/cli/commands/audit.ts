/**
 * `tidemark audit [--table T] [--from A --to B] [--json] [--dry-run]`: runs an audit now and
 * prints the classification. Locally, the backfills it publishes are handled in this process
 * through the same handler as the backfillPartition function; with --backend gcp they go to the
 * real tidemark-backfill topic.
 */
import type { Command } from 'commander';
import { AUDIT_CLASSES, runAudit } from '../../core/audit.ts';
import type { AuditDeps, AuditReport, DayReads } from '../../core/audit.ts';
import { parseAuditRequest } from '../../events/requests.ts';
import { reportBudgetWaits } from './backfill.ts';
import { formatBytes, formatTable, toJson } from '../format.ts';
import { localPathTime } from '../../core/status.ts';
import { partitionEnd, partitionStart, partitionsInRange } from '../../routing/partition.ts';
import { openEngine, readConfig } from '../context.ts';
import type { CliContext } from '../context.ts';
import type { CommandHost } from '../main.ts';
import { createLocalSuite } from '../../runtime/local-suite.ts';
import type { LocalEngine } from '../../runtime/local.ts';

export function registerAuditCommand(program: Command, host: CommandHost): void {
  program
    .command('audit')
    .description(
      'compare lake and warehouse now, publish backfills for missing/stale/failed partitions, print the classification',
    )
    .option('--table <name...>', 'only these tables')
    .option('--from <id>', 'window start (partition id or ISO time)')
    .option('--to <id>', 'window end, inclusive')
    .option('--dry-run', 'classify only: publish nothing, move no watermark')
    .option('--json', 'print the report as JSON')
    .action(
      host.run((ctx, opts: { table?: string[]; from?: string; to?: string; dryRun?: boolean; json?: boolean }) =>
        runAuditCommand(ctx, opts),
      ),
    );
}

/**
 * What an audit window covered, exactly: `2026112711..2026120105 (48 UTC hours)`, or that it was
 * empty (a window shorter than one partition, or ending before it starts).
 */
export function windowLabel(w: { from: string; to: string; partitions?: number }): string {
  const unit = w.from.length === 10 ? 'UTC hour' : 'UTC day';
  if (w.partitions === 0) return 'empty (no partition starts in the window)';
  const n =
    w.partitions ??
    partitionsInRange(partitionStart(w.from), partitionEnd(w.to), w.from.length === 10 ? 'HOUR' : 'DAY').length;
  return `${w.from}..${w.to} (${n} ${unit}${n === 1 ? '' : 's'})`;
}

/**
 * Human-readable audit report. `timeZoneOf` gives a table's source zone, so each UTC partition
 * id is shown with the local time its paths name.
 */
export function formatAuditReport(
  report: AuditReport,
  timeZoneOf: (table: string) => string | undefined = () => undefined,
): string {
  const lines: string[] = [];
  lines.push(
    formatTable(
      report.tables.map((t) => ({
        table: t.table,
        window: windowLabel(t.window),
        ...Object.fromEntries(AUDIT_CLASSES.map((c) => [c, t.counts[c]])),
        unrouted: t.unrouted.count,
        watermark: t.watermark.after ?? '-',
      })),
    ),
  );
  const local = (table: string, p: string) => {
    const zone = timeZoneOf(table);
    return zone ? localPathTime(p, zone) : '';
  };
  const findings = report.tables.flatMap((t) =>
    t.findings.map((f) => ({
      table: t.table,
      partition: f.partition,
      local_path_time: local(t.table, f.partition),
      class: f.class,
      source_objects: f.sourceObjects,
      warehouse_rows: f.warehouseRows,
      detail: f.detail ?? '',
    })),
  );
  if (findings.length)
    lines.push(
      '',
      formatTable(findings.slice(0, 200), undefined, 'full text: --json'),
      findings.length > 200 ? `... and ${findings.length - 200} more (use --json)` : '',
    );
  const reads = formatReads(report.reads);
  if (reads) lines.push('', reads);
  const unrouted = report.tables.flatMap((t) =>
    t.unrouted.samples.map((s) => ({ table: t.table, object: s.object, reason: s.reason })),
  );
  if (unrouted.length) {
    const more = report.tables.reduce((n, t) => n + t.unrouted.count - t.unrouted.samples.length, 0);
    lines.push(
      '',
      `Unrouted objects: ${report.unrouted} under the tables' folders match no table and are never loaded (path drift?):`,
      formatTable(unrouted),
      more ? `... and ${more} more` : '',
    );
  }
  lines.push(
    '',
    `${report.published} backfill message(s) published${report.deferred ? `, ${report.deferred} left for the next run (maxBackfillsPerAudit)` : ''}.`,
  );
  return lines.filter((l, i, a) => !(l === '' && a[i - 1] === '')).join('\n');
}

/**
 * The reads summary: per table and UTC day with any job or new object, what the jobs read from
 * the lake against the bytes of object generations written that day. '' when there is none.
 */
export function formatReads(reads: readonly DayReads[]): string {
  const rows = reads.filter((r) => r.jobs > 0 || r.newBytes > 0);
  if (!rows.length) return '';
  return [
    'Lake reads per UTC day (amplification = bytes the jobs read / bytes of object generations written that day):',
    formatTable(
      rows.map((r) => ({
        table: r.table,
        day: r.day,
        jobs: r.jobs,
        read: formatBytes(r.bytesRead),
        new: formatBytes(r.newBytes),
        amplification: r.amplification === null ? '-' : `${r.amplification.toFixed(2)}x`,
      })),
    ),
  ].join('\n');
}

async function runAuditCommand(
  ctx: CliContext,
  opts: { table?: string[]; from?: string; to?: string; dryRun?: boolean; json?: boolean },
): Promise<number> {
  const config = readConfig(ctx);
  const request = parseAuditRequest(
    config,
    {
      ...(opts.table ? { tables: opts.table } : {}),
      ...(opts.from ? { from: opts.from } : {}),
      ...(opts.to ? { to: opts.to } : {}),
    },
    'cli',
  );
  const engine = await openEngine(ctx, config);
  try {
    let deps: AuditDeps;
    let finish = async () => {};
    if (ctx.options.backend === 'gcp') {
      const { gcpBus } = await import('../../runtime/gcp.ts');
      deps = { ...engine, bus: gcpBus(config) };
    } else {
      for (const t of config.tables) await engine.warehouse.ensureTable(t.spec);
      const suite = createLocalSuite(engine as LocalEngine, {
        deadLetterFile: (engine as LocalEngine).paths.deadLetterFile,
      });
      deps = suite.deps;
      finish = async () => {
        await suite.bus.settled();
        reportBudgetWaits(ctx, config, suite.bus);
        await suite.drain();
        suite.close();
      };
    }
    const report = await runAudit(deps, request, { dryRun: !!opts.dryRun });
    const zones = new Map(config.tables.map((t) => [t.name, t.source.timeZone]));
    ctx.out(opts.json ? toJson(report) : formatAuditReport(report, (t) => zones.get(t)));
    if (!opts.dryRun && ctx.options.backend !== 'gcp' && report.published) {
      ctx.err(`running ${report.published} backfill(s) locally...`);
      await finish();
    } else await finish();
    return 0;
  } finally {
    await engine.close();
  }
}
