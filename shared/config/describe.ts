/**
 * Human-readable summary of a loaded config for `tidemark config check`: the shared settings, then
 * per table where objects come from, how path times become partitions, where they load, the job
 * budget, and a worked example (an object name and the partition it maps to).
 */
import ms from 'ms';
import { errorMessage } from '../core/errors.ts';
import { localHourAt } from '../routing/civil-time.ts';
import { compileSource } from '../routing/pattern.ts';
import type { Router, TableRoute } from '../routing/router.ts';
import { pathTimeRuleOf } from '../routing/zone-rule.ts';
import { streamObjectName } from '../ingest/file-names.ts';
import type { Config, StreamConfig } from './types.ts';

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** The text `tidemark config check` prints. `now` picks the example's date (local midnight of that day). */
export function describeRoutes(config: Config, router: Router, now: number = Date.now()): string {
  const { audit, topics, state } = config;
  const lines = [
    `config ${config.file}`,
    `  project     ${config.project} (BigQuery location ${config.location})`,
    `  lake        gs://${config.lake.bucket}`,
    `  state       gs://${state.bucket}/${state.prefix}`,
    `  audit       "${audit.schedule}" (${audit.timeZone}), lookback ${ms(audit.lookbackMs)}, settle ${ms(audit.settleMs)}, ` +
      `first audit ${ms(audit.auditFromMs)} back, at most ${audit.maxBackfillsPerAudit} backfills per run`,
    `  topics      audit=${topics.audit} backfill=${topics.backfill} dlq=${topics.backfillDlq} results=${topics.auditResults}`,
  ];
  for (const route of router.tables) lines.push('', ...describeTable(config, route, now));
  for (const stream of config.streams ?? []) lines.push('', ...describeStream(stream, router, now));
  return lines.join('\n') + '\n';
}

function describeTable(config: Config, route: TableRoute, now: number): string[] {
  const { table } = route;
  const { source, partitioning, spec } = table;
  const matcher = compileSource(source);
  const rule = pathTimeRuleOf(partitioning, matcher.tokens.has('hh'));
  const unit = partitioning.type === 'HOUR' ? 'hour' : 'day';
  const mapping =
    rule === 'utc-hour'
      ? `path times are local; local hour -> UTC hour${unit === 'day' ? ' -> its UTC day' : ''} partition`
      : partitioning.fieldType === 'DATE' || partitioning.fieldType === 'DATETIME'
        ? 'the local date in the path is the partition (no zone shift)'
        : 'the date in the path is the UTC day partition';
  const column = partitioning.field ? `${partitioning.fieldType} column ${partitioning.field}` : 'ingestion time';
  const target = `${config.project}:${spec.ref.dataset}.${spec.ref.table}`;
  const lines = [
    `${table.name}${spec.description ? ` - ${spec.description}` : ''}`,
    `  source      gs://${source.bucket}/${source.pattern ?? `(regex) ${source.regex}`} [${table.format}]`,
    `  zone        ${source.timeZone}: ${mapping}`,
    `  partitions  ${partitioning.type} on ${column}`,
    `  target      ${target}$${partitioning.type === 'HOUR' ? 'YYYYMMDDHH' : 'YYYYMMDD'}`,
    `  jobs        ${table.jobBudget} per UTC day, burst ${table.jobBurst}, staging above ${table.maxUrisPerLoad} URIs` +
      (table.cadence ? `, data expected every ${table.cadence.toLowerCase()}` : ''),
  ];
  const local = localHourAt(now, source.timeZone);
  const example = matcher.example(
    { yyyy: pad(local.year, 4), mm: pad(local.month, 2), dd: pad(local.day, 2), hh: '00' },
    'part-00000',
  );
  if (example === null) {
    lines.push(`  example     (none for a regex; listing prefix ${JSON.stringify(matcher.literalPrefix)})`);
  } else {
    let result: string;
    try {
      const id = route.partitionOf(example);
      result = id === null ? 'not matched (check the pattern)' : `${spec.ref.dataset}.${spec.ref.table}$${id}`;
    } catch (err) {
      result = `error: ${errorMessage(err)}`;
    }
    lines.push(`  example     ${example} -> ${result}`);
  }
  return lines;
}

/** A stream: its endpoint, topic and subscription, and a file name it writes with the partition it loads into. */
function describeStream(stream: StreamConfig, router: Router, now: number): string[] {
  const route = router.table(stream.table);
  const example = streamObjectName(stream.files, now, '00000000-0000-4000-8000-000000000000');
  let partition: string;
  try {
    partition = `${stream.table}$${route?.partitionOf(example) ?? '(not matched)'}`;
  } catch (err) {
    partition = `error: ${errorMessage(err)}`;
  }
  return [
    `stream ${stream.name}`,
    `  endpoint    POST /v1/streams/${stream.name}/events (ingestEvents), at most ${stream.limits.maxBodyBytes} bytes and ${stream.limits.maxRecords} records, unknown fields: ${stream.unknownFields}`,
    `  topic       ${stream.topic} -> storage subscription ${stream.subscription} (a file every ${ms(stream.files.maxDurationMs)} or ${stream.files.maxBytes} bytes; locally ${ms(stream.files.localMaxDurationMs)}), dead letters ${stream.deadLetterTopic}`,
    `  example     ${example} -> ${partition}, duplicate event_ids removed at load`,
  ];
}
