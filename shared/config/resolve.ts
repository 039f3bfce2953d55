/**
 * Turns shape-checked config (schema.ts) into the resolved Config, checking the rules that span
 * keys and tables: schema files, partition columns, path tokens, the time-zone rule, formats,
 * overlapping tables and the state prefix. Every problem becomes an issue with a key path; none
 * stops the others from being found.
 */
import ms from 'ms';
import { dirname, resolve } from 'node:path';
import type { Partitioning, SchemaField } from '../core/ports.ts';
import { findCommonName, findNameUnder } from '../routing/overlap.ts';
import { compileSource, PatternSyntaxError } from '../routing/pattern.ts';
import { regexGroupProblems } from '../routing/regex-groups.ts';
import type { SourceMatcher, TokenName } from '../routing/pattern.ts';
import { zoneProblem } from '../routing/zone-rule.ts';
import { parseSchemaFields } from './bigquery-schema.ts';
import { DEFAULTS } from './schema.ts';
import type { RawConfig, RawTable } from './schema.ts';
import type { StateConfig, TableConfig } from './types.ts';

export interface Issue {
  path: string;
  message: string;
}

export interface ResolveContext {
  /** Absolute path of the config file; schema files are relative to its folder. */
  file: string;
  readFile: (path: string) => string;
  /** Time zones are checked around this instant. */
  now: number;
}

/** A table that passed its own checks, with what the cross-table checks need. */
export interface ResolvedTable {
  index: number;
  table: TableConfig;
  matcher: SourceMatcher;
}

type Defaults = RawConfig['defaults'];

/** Checks and resolves one table; `resolved` is set only when there were no issues. */
export function resolveTable(
  raw: RawTable,
  index: number,
  lakeBucket: string,
  defaults: Defaults,
  ctx: ResolveContext,
): { resolved?: ResolvedTable; issues: Issue[] } {
  const at = `tables[${index}]`;
  const issues: Issue[] = [];
  const issue = (path: string, message: string): void => void issues.push({ path: `${at}.${path}`, message });

  let matcher: SourceMatcher | undefined;
  try {
    matcher = compileSource(raw.source);
  } catch (err) {
    if (!(err instanceof PatternSyntaxError)) throw err;
    issue(raw.source.regex !== undefined ? 'source.regex' : 'source.pattern', err.message);
  }
  const tokensOk = matcher
    ? checkTokens(
        matcher,
        raw.partitioning.type,
        raw.source.regex !== undefined ? 'source.regex' : 'source.pattern',
        issue,
      )
    : false;
  if (matcher?.kind === 'regex')
    for (const problem of regexGroupProblems(matcher.text, matcher.tokens)) issue('source.regex', problem);

  const schema = readSchema(raw, ctx, issue);
  const partitioning = resolvePartitioning(raw, schema, issue);

  if (raw.csv && raw.format !== 'CSV') issue('csv', `csv options apply only to format: CSV, not ${raw.format}`);

  const timeZone = raw.source.timeZone ?? DEFAULTS.timeZone;
  if (matcher && tokensOk && partitioning) {
    const problem = zoneProblem(timeZone, partitioning, matcher.tokens.has('hh'), ctx.now);
    if (problem) issue('source.timeZone', problem);
  }

  const jobBudget = raw.jobBudget ?? defaults.jobBudget;
  const jobBurst = raw.jobBurst ?? defaults.jobBurst;
  if (jobBurst > jobBudget)
    issue(
      raw.jobBurst !== undefined ? 'jobBurst' : 'jobBudget',
      `jobBurst (${jobBurst}) is more than jobBudget (${jobBudget})`,
    );

  const commitMode = raw.commit?.mode ?? defaults.commit.mode ?? DEFAULTS.commit.mode;
  const commitInterval = raw.commit?.interval ?? defaults.commit.interval ?? ms(DEFAULTS.commit.interval);
  // The transaction lists the columns it inserts: it needs them before any file is read.
  if (commitMode === 'dml' && !schema && !(issues.length && raw.schema !== undefined))
    issue(
      raw.commit?.mode !== undefined ? 'commit.mode' : 'schema',
      'commit mode dml needs a schema (its transaction inserts named columns); give `schema` or use commit mode load',
    );

  if (issues.length || !matcher || !partitioning) return { issues };
  const format = raw.format;
  const table: TableConfig = {
    name: raw.name,
    source: {
      bucket: raw.source.bucket ?? lakeBucket,
      ...(raw.source.pattern !== undefined ? { pattern: raw.source.pattern } : {}),
      ...(raw.source.regex !== undefined ? { regex: raw.source.regex } : {}),
      timeZone,
    },
    format,
    spec: {
      ref: {
        ...(raw.target.project !== undefined ? { project: raw.target.project } : {}),
        dataset: raw.target.dataset,
        table: raw.target.table,
      },
      partitioning,
      format,
      ...(schema ? { schema } : {}),
      autodetect: raw.autodetect === true,
      ...(raw.csv ? { csv: raw.csv } : {}),
      ...(raw.labels ? { labels: raw.labels } : {}),
      ...(raw.description !== undefined ? { description: raw.description } : {}),
    },
    partitioning,
    jobBudget,
    jobBurst,
    maxUrisPerLoad: raw.maxUrisPerLoad ?? defaults.maxUrisPerLoad,
    ...(raw.cadence ? { cadence: raw.cadence } : {}),
    onSourceDelete: raw.onSourceDelete ?? defaults.onSourceDelete,
    commit: { mode: commitMode, intervalMs: commitInterval },
  };
  return { resolved: { index, table, matcher }, issues };
}

function checkTokens(
  matcher: SourceMatcher,
  type: 'HOUR' | 'DAY',
  path: string,
  issue: (path: string, message: string) => void,
): boolean {
  const needed: TokenName[] = type === 'HOUR' ? ['yyyy', 'mm', 'dd', 'hh'] : ['yyyy', 'mm', 'dd'];
  const missing = needed.filter((t) => !matcher.tokens.has(t));
  if (!missing.length) return true;
  const show = (t: TokenName): string => (matcher.kind === 'regex' ? `(?<${t}>...)` : `{${t}}`);
  issue(path, `missing ${missing.map(show).join(', ')}: ${type} partitions need ${needed.map(show).join(', ')}`);
  return false;
}

/** The schema's fields (file or inline), undefined with autodetect or when invalid. */
function readSchema(
  raw: RawTable,
  ctx: ResolveContext,
  issue: (path: string, message: string) => void,
): SchemaField[] | undefined {
  const auto = raw.autodetect === true;
  if (raw.schema !== undefined && auto) issue('autodetect', 'give either schema or autodetect: true, not both');
  if (raw.schema === undefined) {
    if (!auto) issue('schema', 'give a schema (a BigQuery JSON schema file, or a list of fields) or autodetect: true');
    return undefined;
  }
  if (Array.isArray(raw.schema)) {
    const parsed = parseSchemaFields(raw.schema);
    if ('fields' in parsed) return parsed.fields;
    for (const i of parsed.issues) issue(`schema${i.path.startsWith('[') ? '' : '.'}${i.path}`, i.message);
    return undefined;
  }
  const file = resolve(dirname(ctx.file), raw.schema);
  let doc: unknown;
  try {
    doc = JSON.parse(ctx.readFile(file));
  } catch (err) {
    const reason =
      err instanceof SyntaxError
        ? `is not JSON: ${err.message}`
        : `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    issue('schema', `${raw.schema} (${file}) ${reason}`);
    return undefined;
  }
  const parsed = parseSchemaFields(doc);
  if ('fields' in parsed) return parsed.fields;
  for (const i of parsed.issues) issue('schema', `${raw.schema}${i.path ? ` at ${i.path}` : ''}: ${i.message}`);
  return undefined;
}

const PARTITION_TYPES = ['DATE', 'TIMESTAMP', 'DATETIME'] as const;

function resolvePartitioning(
  raw: RawTable,
  schema: SchemaField[] | undefined,
  issue: (path: string, message: string) => void,
): Partitioning | undefined {
  const { type, field } = raw.partitioning;
  let fieldType = raw.partitioning.fieldType;
  if (field === undefined) {
    if (fieldType === undefined) return { type };
    issue('partitioning.fieldType', 'fieldType needs field (without field the table is partitioned by ingestion time)');
    return undefined;
  }
  if (schema) {
    const column = schema.find((f) => f.name.toLowerCase() === field.toLowerCase());
    if (!column) {
      issue('partitioning.field', `no top-level column ${JSON.stringify(field)} in the schema`);
      return undefined;
    }
    const columnType = PARTITION_TYPES.find((t) => t === column.type);
    if (!columnType) {
      issue(
        'partitioning.field',
        `column ${field} is ${column.type}; partition columns are DATE, TIMESTAMP or DATETIME`,
      );
      return undefined;
    }
    if (column.mode === 'REPEATED')
      issue('partitioning.field', `column ${field} is REPEATED; a partition column holds one value`);
    if (fieldType !== undefined && fieldType !== columnType)
      issue('partitioning.fieldType', `is ${fieldType} but the schema says ${field} is ${columnType}`);
    fieldType = columnType;
  } else if (fieldType === undefined) {
    issue('partitioning.fieldType', `with autodetect, say what ${field} is: fieldType: DATE, TIMESTAMP or DATETIME`);
    return undefined;
  }
  if (type === 'HOUR' && fieldType === 'DATE') {
    issue('partitioning.type', `HOUR partitions need a TIMESTAMP or DATETIME column; ${field} is DATE`);
    return undefined;
  }
  return { type, field, fieldType };
}

/** Rules across tables: names, targets, overlapping sources, and the state prefix (when known). */
export function checkAcrossTables(tables: ResolvedTable[], state: StateConfig | undefined): Issue[] {
  const issues: Issue[] = [];
  const names = new Map<string, ResolvedTable>();
  const targets = new Map<string, ResolvedTable>();
  for (const t of tables) {
    const at = `tables[${t.index}]`;
    const sameName = names.get(t.table.name);
    if (sameName)
      issues.push({
        path: `${at}.name`,
        message: `duplicate table name ${JSON.stringify(t.table.name)} (also tables[${sameName.index}])`,
      });
    else names.set(t.table.name, t);
    const ref = `${t.table.spec.ref.project ? `${t.table.spec.ref.project}.` : ''}${t.table.spec.ref.dataset}.${t.table.spec.ref.table}`;
    const sameTarget = targets.get(ref);
    if (sameTarget) {
      issues.push({
        path: `${at}.target`,
        message: `tables ${JSON.stringify(sameTarget.table.name)} and ${JSON.stringify(t.table.name)} both load ${ref}`,
      });
    } else targets.set(ref, t);
  }
  tables.forEach((b, j) => {
    for (const a of tables.slice(0, j)) {
      if (a.table.source.bucket !== b.table.source.bucket) continue;
      const name = findCommonName(a.matcher, b.matcher);
      if (name === null) continue;
      issues.push({
        path: `tables[${b.index}].source`,
        message: `tables ${JSON.stringify(a.table.name)} and ${JSON.stringify(b.table.name)} both claim objects of gs://${b.table.source.bucket}, e.g. ${JSON.stringify(name)}; an object must belong to one table`,
      });
    }
  });
  for (const t of state ? tables : []) {
    if (!state || t.table.source.bucket !== state.bucket) continue;
    const name = findNameUnder(t.matcher, state.prefix);
    if (name === null) continue;
    issues.push({
      path: 'state.prefix',
      message: `table ${JSON.stringify(t.table.name)} claims objects under the state prefix gs://${state.bucket}/${state.prefix} (e.g. ${JSON.stringify(name)}); move the state or narrow the pattern`,
    });
  }
  return issues;
}
