/**
 * `tidemark status [--table T] [--json]`: every table at a glance from the persisted picture
 * (the last audit's snapshot plus the loads since), on either backend. Reads a handful of small
 * objects per table; see shared/core/status-read.ts.
 */
import type { Command } from 'commander';
import { readDeadLetterFile } from '../../backends/local/bus.ts';
import { AUDIT_CLASSES } from '../../core/audit-classes.ts';
import { readStatusReport, statusTables } from '../../core/status-read.ts';
import type { DeadLetter, StatusReport } from '../../core/status-read.ts';
import { localPathTime } from '../../core/status.ts';
import type { TableStatus } from '../../core/status.ts';
import type { Config } from '../../config/types.ts';
import { clip, formatBytes, toJson } from '../format.ts';
import { localPaths, openEngine, readConfig } from '../context.ts';
import type { CliContext } from '../context.ts';
import type { CommandHost } from '../main.ts';

export function registerStatusCommand(program: Command, host: CommandHost): void {
  program
    .command('status')
    .description(
      'every table at a glance: freshness, watermark, partition classes, job budget, quarantine, dead letters',
    )
    .option('--table <name...>', 'only these tables')
    .option('--json', 'print the status as JSON')
    .action(host.run((ctx, opts: { table?: string[]; json?: boolean }) => runStatus(ctx, opts)));
}

/** `1d 4h`, `3h 20m`, `45s`. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

const iso = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}Z`;

/** One table's block, lines of at most `width` columns. */
export function formatTableStatus(t: TableStatus, now: number, width = 100): string[] {
  const lines: string[] = [];
  const push = (label: string, text: string) => lines.push(clip(`  ${label.padEnd(10)}${text}`, width));
  lines.push(
    clip(
      `${t.table}  ${t.granularity}, paths in ${t.timeZone}; ${t.window ? `audited ${iso(t.auditedAt!)} over ${t.window.from}..${t.window.to}` : 'never audited'}`,
      width,
    ),
  );
  const f = t.freshness;
  push(
    'fresh',
    f.newestOk
      ? `newest loaded ${f.newestOk} (${localPathTime(f.newestOk, t.timeZone)}), lag ${formatDuration(f.lagMs!)}`
      : 'no loaded partition in the window',
  );
  push(
    'last load',
    f.lastLoadAt !== null ? `${iso(f.lastLoadAt)} (${formatDuration(now - f.lastLoadAt)} ago)` : 'never',
  );
  push('watermark', t.watermark !== null ? iso(t.watermark) : 'not set (no audit has passed a partition yet)');
  const counts = [...AUDIT_CLASSES, 'loading' as const].filter((c) => t.counts[c]).map((c) => `${t.counts[c]} ${c}`);
  push('classes', counts.join(', ') || 'nothing in the window');
  const b = t.budget;
  const next = b.nextJobAt <= now ? 'next job now' : `next job at ${iso(b.nextJobAt)}`;
  push(
    'budget',
    `${b.usedToday}/${b.limit} jobs today, ${next}${b.waiting ? `; ${b.waiting} backfill(s) waiting, ${b.drainMs ? `~${formatDuration(b.drainMs)} at this pace` : 'all can start now'}` : ''}`,
  );
  push('read', `${formatBytes(t.bytesReadToday)} by ${t.jobsToday} job(s) today`);
  if (t.unrouted.count)
    push('unrouted', `${t.unrouted.count} object(s) match no table, e.g. ${t.unrouted.samples[0]?.object ?? '?'}`);
  if (t.problems.length) {
    lines.push('  problems');
    for (const p of t.problems.slice(0, 30))
      lines.push(
        clip(
          `    ${p.partition.padEnd(10)}  ${localPathTime(p.partition, t.timeZone).padEnd(23)} ${p.class.padEnd(16)} ${p.detail ?? ''}`,
          width,
          '--json',
        ),
      );
    if (t.problems.length > 30) lines.push(`    ... and ${t.problems.length - 30} more (--json lists them all)`);
  }
  return lines;
}

/** The whole report as text for a terminal of `width` columns. */
export function formatStatusReport(report: StatusReport, width = 100): string {
  const out: string[] = [];
  for (const t of report.tables) out.push(...formatTableStatus(t, report.generatedAt, width), '');
  if (report.quarantine.length) {
    out.push(`Quarantined files (${report.quarantine.length}): \`tidemark quarantine\` lists them in full`);
    for (const q of report.quarantine.slice(0, 20))
      out.push(clip(`  ${q.table}$${q.partition}  ${q.object}: ${q.error}`, width, 'full text: --json'));
    out.push('');
  }
  out.push(
    report.deadLetters.length
      ? `Dead letters: ${report.deadLetters.length} backfill message(s); \`tidemark dlq\` shows and replays them`
      : 'Dead letters: none',
  );
  return out.join('\n');
}

/** Dead letters on the backend in use. */
export async function deadLettersFor(ctx: CliContext, config: Config): Promise<DeadLetter[]> {
  if (ctx.options.backend === 'gcp') {
    const { pullDeadLetters } = await import('../../runtime/gcp-dlq.ts');
    return (await pullDeadLetters(config, { replay: false })).messages.map((m) => ({
      id: m.messageId,
      data: m.data,
      attempts: m.attempts,
      published: m.published,
    }));
  }
  return (await readDeadLetterFile(localPaths(ctx).deadLetterFile))
    .filter((d) => d.topic === config.topics.backfill)
    .map((d) => ({ id: d.id, data: d.data, attempts: d.deliveryAttempts, error: d.reason, published: d.publishTime }));
}

async function runStatus(ctx: CliContext, opts: { table?: string[]; json?: boolean }): Promise<number> {
  const config = readConfig(ctx);
  try {
    statusTables(config, opts.table);
  } catch (err) {
    ctx.err((err as Error).message);
    return 2;
  }
  const engine = await openEngine(ctx, config);
  try {
    const report = await readStatusReport(engine, {
      ...(opts.table ? { tables: opts.table } : {}),
      deadLetters: () => deadLettersFor(ctx, config),
    });
    ctx.out(opts.json ? toJson(report) : formatStatusReport(report));
    return 0;
  } finally {
    await engine.close();
  }
}
