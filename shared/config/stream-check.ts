/**
 * Resolves `streams:` against the tables: each stream names a table that must be able to load
 * what the storage subscription writes (NDJSON, HOUR partitions on ingestion time, UTC paths,
 * `event_id` and `received_at` columns), and the table's pattern must route every name the
 * subscription generates to the UTC hour the file was written. Names are generated with the
 * same function the local stand-in uses (ingest/file-names.ts), at instants chosen to hit the
 * edges of hours, days, months and years.
 */
import { randomUUID } from 'node:crypto';
import { datetimeFormatProblem, filePrefixProblem, fileSuffixProblem, streamObjectName } from '../ingest/file-names.ts';
import { EVENT_ID_COLUMN, RECEIVED_AT_COLUMN } from '../ingest/record.ts';
import { partitionIdAt } from '../routing/partition.ts';
import { createTableRoute } from '../routing/router.ts';
import type { Issue } from './resolve.ts';
import type { RawStream } from './schema.ts';
import type { StreamConfig, TableConfig, TopicsConfig } from './types.ts';

/** Instants whose file names the check routes: the edges of an hour, a day, a leap day, a year. */
export function sampleInstants(now: number): number[] {
  return [
    Date.UTC(2026, 0, 1, 0, 0, 0),
    Date.UTC(2026, 11, 31, 23, 59, 59, 999),
    Date.UTC(2028, 1, 29, 9, 0, 1),
    Date.UTC(2027, 5, 15, 13, 59, 59),
    Math.floor(now / 1000) * 1000,
  ];
}

/** Resolves one stream (already shape-checked) against the resolved tables. */
export function resolveStream(
  raw: RawStream,
  index: number,
  tables: TableConfig[],
  now: number,
): { stream?: StreamConfig; issues: Issue[] } {
  const at = `streams[${index}]`;
  const issues: Issue[] = [];
  const issue = (path: string, message: string) => void issues.push({ path: `${at}.${path}`, message });

  const prefix = raw.files.prefix ?? `streams/${raw.name}/`;
  const prefixProblem = filePrefixProblem(prefix);
  if (prefixProblem) issue('files.prefix', prefixProblem);
  const suffixProblem = fileSuffixProblem(raw.files.suffix);
  if (suffixProblem) issue('files.suffix', suffixProblem);
  const formatProblem = datetimeFormatProblem(raw.files.datetimeFormat);
  if (formatProblem) issue('files.datetimeFormat', formatProblem);

  const table = tables.find((t) => t.name === raw.table);
  if (!table) {
    issue('table', `no table named ${JSON.stringify(raw.table)} in tables (or it has errors of its own)`);
    return { issues };
  }
  const { partitioning } = table;
  if (partitioning.type !== 'HOUR' || partitioning.field !== undefined) {
    issue(
      'table',
      `table ${table.name} must be partitioned by ingestion time, hourly (partitioning: { type: HOUR }): each file's hour is its rows' partition`,
    );
  }
  if (table.commit.mode === 'dml')
    issue(
      'table',
      `table ${table.name} must use commit mode load (commit: { mode: load }): a stream table's load removes duplicate events across the whole partition, which a dml commit does not`,
    );
  if (table.format !== 'NEWLINE_DELIMITED_JSON')
    issue(
      'table',
      `table ${table.name} must have format: NEWLINE_DELIMITED_JSON (the subscription writes one JSON record per line), not ${table.format}`,
    );
  if (table.source.timeZone !== 'UTC' && table.source.timeZone !== 'Etc/UTC') {
    issue(
      'table',
      `table ${table.name} must read its paths in UTC (source.timeZone: UTC): the subscription names files by UTC time`,
    );
  }
  const schema = table.spec.schema;
  if (!schema) {
    issue('table', `table ${table.name} needs a schema (records are validated against it), not autodetect`);
  } else {
    const column = (name: string) => schema.find((f) => f.name.toLowerCase() === name);
    const eventId = column(EVENT_ID_COLUMN);
    const receivedAt = column(RECEIVED_AT_COLUMN);
    if (eventId?.type !== 'STRING' || eventId.mode === 'REPEATED')
      issue('table', `table ${table.name} needs a column ${EVENT_ID_COLUMN} STRING (duplicates are removed by it)`);
    if (receivedAt?.type !== 'TIMESTAMP' || receivedAt.mode === 'REPEATED')
      issue(
        'table',
        `table ${table.name} needs a column ${RECEIVED_AT_COLUMN} TIMESTAMP (set when the event is received)`,
      );
    // The dedupe query names every column: plain identifiers only.
    const odd = schema.filter((f) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(f.name)).map((f) => JSON.stringify(f.name));
    if (odd.length)
      issue(
        'table',
        `table ${table.name}: stream tables need plain column names (letters, digits, _), not ${odd.join(', ')}`,
      );
  }
  if (issues.length || !schema) return { issues };

  // The subscription's names must route to the hour they were written in, or rows land in the
  // wrong partition (or nowhere): generate them as the service does and route them.
  const route = createTableRoute(table);
  const naming = { prefix, datetimeFormat: raw.files.datetimeFormat, suffix: raw.files.suffix };
  for (const ms of sampleInstants(now)) {
    const name = streamObjectName(naming, ms, randomUUID());
    const want = partitionIdAt(ms, 'HOUR');
    let outcome: string | null;
    try {
      const got = route.partitionOf(name);
      outcome =
        got === want
          ? null
          : got === null
            ? 'does not match'
            : `routes to ${got}, not to ${want} (the hour it was written)`;
    } catch (err) {
      outcome = `cannot route (${(err as Error).message})`;
    }
    if (outcome) {
      issue(
        'files',
        `the subscription writes names like ${JSON.stringify(name)}, which table ${table.name}'s pattern ${JSON.stringify(table.source.pattern ?? table.source.regex)} ${outcome}; e.g. pattern "${prefix}{yyyy}-{mm}-{dd}/{hh}/*${raw.files.suffix}" with the default datetimeFormat`,
      );
      break;
    }
  }
  if (issues.length) return { issues };

  const topic = raw.topic ?? `tidemark-stream-${raw.name}`;
  return {
    issues,
    stream: {
      name: raw.name,
      table: table.name,
      topic,
      deadLetterTopic: raw.deadLetterTopic ?? `${topic}-dlq`,
      subscription: raw.subscription ?? `${topic}-gcs`,
      files: {
        ...naming,
        maxDurationMs: raw.files.maxDuration,
        maxBytes: raw.files.maxBytes,
        localMaxDurationMs: raw.files.localMaxDuration,
      },
      unknownFields: raw.unknownFields,
      limits: { ...raw.limits },
      invokers: [...raw.invokers],
      schema,
    },
  };
}

/** Rules across streams and against the fixed topics: unique names, tables and topics. */
export function checkAcrossStreams(streams: { index: number; stream: StreamConfig }[], topics: TopicsConfig): Issue[] {
  const issues: Issue[] = [];
  const seen = new Map<string, number>();
  const fixed = new Set(Object.values(topics));
  for (const { index, stream } of streams) {
    for (const [what, key] of [
      ['name', `name:${stream.name}`],
      ['table', `table:${stream.table}`],
      ['topic', `topic:${stream.topic}`],
      ['deadLetterTopic', `topic:${stream.deadLetterTopic}`],
      ['subscription', `sub:${stream.subscription}`],
    ] as const) {
      const other = seen.get(key);
      if (other !== undefined)
        issues.push({
          path: `streams[${index}].${what}`,
          message: `${key.split(':')[1]} is also used by streams[${other}]`,
        });
      else seen.set(key, index);
    }
    for (const t of [stream.topic, stream.deadLetterTopic]) {
      if (fixed.has(t))
        issues.push({ path: `streams[${index}].topic`, message: `topic ${t} is one of tidemark's own topics` });
    }
  }
  return issues;
}
