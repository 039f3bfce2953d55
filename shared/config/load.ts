/**
 * Reads tidemark.config.yaml once and returns the validated Config. Every problem found (YAML
 * syntax, shape, cross-key rules) is collected into one ConfigError naming the file, the key path
 * (`tables[0].source.pattern`) and the line, so one run of `tidemark config check` shows them all.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isMap, LineCounter, parseDocument } from 'yaml';
import type { Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import { checkAcrossTables, resolveTable } from './resolve.ts';
import type { Issue, ResolvedTable, ResolveContext } from './resolve.ts';
import { bucketNameProblem, configSchema, DEFAULTS, defaultStateBucket, streamSchema, tableSchema } from './schema.ts';
import { checkAcrossStreams, resolveStream } from './stream-check.ts';
import type { Config, StreamConfig } from './types.ts';

export interface LoadConfigOptions {
  /** Config file; default env.TIDEMARK_CONFIG, then tidemark.config.yaml. */
  file?: string;
  /** Environment to read TIDEMARK_CONFIG from (the caller passes process.env). */
  env?: Record<string, string | undefined>;
  /** Folder a relative file is resolved against; default the process's working directory. */
  cwd?: string;
}

/** Reads and validates the config file; throws ConfigError. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const file = resolve(
    options.cwd ?? process.cwd(),
    options.file ?? options.env?.TIDEMARK_CONFIG ?? 'tidemark.config.yaml',
  );
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [
      {
        path: '',
        message: `cannot read the config file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      },
    ]);
  }
  return parseConfig(text, file);
}

/**
 * Validates config text. `file` names it in messages and anchors relative schema paths;
 * `readFile` reads schema files (default: from disk).
 */
export function parseConfig(
  text: string,
  file: string,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): Config {
  const absolute = resolve(file);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length) {
    throw new ConfigError(
      absolute,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
        return { path: `line ${pos.line}, column ${pos.col}`, message: e.message.split('\n')[0]! };
      }),
    );
  }
  const data: unknown = doc.toJS();
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(absolute, [
      { path: '', message: 'expected a mapping with project, location, lake and tables' },
    ]);
  }

  const issues: Issue[] = [];
  const where = (path: PropertyKey[]): string => {
    const line = lineOf(doc, lines, path);
    return line ? ` (line ${line})` : '';
  };
  const addZodIssues = (list: z.core.$ZodIssue[], base: PropertyKey[]): void => {
    for (const issue of list) {
      const path = [...base, ...issue.path];
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys)
          issues.push({ path: formatPath([...path, key]), message: `unknown key${where([...path, key])}` });
      } else {
        issues.push({ path: formatPath(path), message: `${issue.message}${where(path)}` });
      }
    }
  };
  const required = { error: (iss: { input?: unknown }) => (iss.input === undefined ? 'required' : undefined) };

  const root = configSchema.safeParse(data, required);
  if (!root.success) addZodIssues(root.error.issues, []);
  const raw = data as Record<string, unknown>;
  const rawTables = Array.isArray(raw.tables) ? (raw.tables as unknown[]) : [];
  const rawLake = raw.lake as { bucket?: unknown } | undefined;
  const lakeBucket = root.data?.lake.bucket ?? (typeof rawLake?.bucket === 'string' ? rawLake.bucket : '(lake.bucket)');
  const defaults = root.data?.defaults ?? {
    jobBudget: DEFAULTS.jobBudget,
    jobBurst: DEFAULTS.jobBurst,
    maxUrisPerLoad: DEFAULTS.maxUrisPerLoad,
    onSourceDelete: DEFAULTS.onSourceDelete,
    commit: {},
  };
  const ctx: ResolveContext = { file: absolute, readFile, now: Date.now() };

  const resolved: ResolvedTable[] = [];
  rawTables.forEach((value, index) => {
    const table = tableSchema.safeParse(value, required);
    if (!table.success) return addZodIssues(table.error.issues, ['tables', index]);
    const result = resolveTable(table.data, index, lakeBucket, defaults, ctx);
    for (const i of result.issues) issues.push({ path: i.path, message: `${i.message}${where(parsePath(i.path))}` });
    if (result.resolved) resolved.push(result.resolved);
  });
  const cfg = root.data;
  // State defaults to a bucket of its own: the lake bucket is writable by every data producer,
  // and state objects decide what is loaded.
  const state = cfg && { bucket: cfg.state.bucket ?? defaultStateBucket(cfg.project), prefix: cfg.state.prefix };
  const stateBucketProblem = cfg && cfg.state.bucket === undefined ? bucketNameProblem(state!.bucket) : null;
  if (stateBucketProblem) {
    issues.push({
      path: 'state.bucket',
      message: `the default state bucket ${JSON.stringify(state!.bucket)} ${stateBucketProblem}; set state.bucket`,
    });
  }
  for (const i of checkAcrossTables(resolved, state))
    issues.push({ path: i.path, message: `${i.message}${where(parsePath(i.path))}` });
  const streams: { index: number; stream: StreamConfig }[] = [];
  (Array.isArray(raw.streams) ? (raw.streams as unknown[]) : []).forEach((value, index) => {
    const parsed = streamSchema.safeParse(value, required);
    if (!parsed.success) return addZodIssues(parsed.error.issues, ['streams', index]);
    const result = resolveStream(
      parsed.data,
      index,
      resolved.map((r) => r.table),
      ctx.now,
    );
    for (const i of result.issues) issues.push({ path: i.path, message: `${i.message}${where(parsePath(i.path))}` });
    if (result.stream) streams.push({ index, stream: result.stream });
  });
  if (cfg)
    for (const i of checkAcrossStreams(streams, cfg.topics))
      issues.push({ path: i.path, message: `${i.message}${where(parsePath(i.path))}` });
  if (issues.length || !cfg || !state) throw new ConfigError(absolute, issues);

  return {
    file: absolute,
    project: cfg.project,
    location: cfg.location,
    lake: { bucket: cfg.lake.bucket },
    state,
    tables: resolved.map((r) => r.table),
    audit: {
      schedule: cfg.audit.schedule,
      timeZone: cfg.audit.timeZone,
      lookbackMs: cfg.audit.lookback,
      settleMs: cfg.audit.settle,
      auditFromMs: cfg.audit.auditFrom,
      maxBackfillsPerAudit: cfg.audit.maxBackfillsPerAudit,
    },
    topics: { ...cfg.topics },
    streams: streams.map((s) => s.stream),
    ...(cfg.alerts ? { alerts: { notificationChannels: [...cfg.alerts.notificationChannels] } } : {}),
    ...(cfg.statusPage
      ? { statusPage: { operators: [...cfg.statusPage.operators], invokers: [...cfg.statusPage.invokers] } }
      : {}),
  };
}

/** `['tables', 0, 'source', 'pattern']` -> `tables[0].source.pattern`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p) =>
      typeof p === 'number'
        ? `[${p}]`
        : /^[A-Za-z_][A-Za-z0-9_]*$/.test(String(p))
          ? `.${String(p)}`
          : `[${JSON.stringify(String(p))}]`,
    )
    .join('')
    .replace(/^\./, '');
}

/** The inverse of formatPath, for issues resolve.ts words as text. */
function parsePath(path: string): PropertyKey[] {
  const keys: PropertyKey[] = [];
  for (const m of path.matchAll(/([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g)) {
    keys.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : (JSON.parse(m[3]!) as string)));
  }
  return keys;
}

/** Line of the YAML node at `path`, or of its nearest existing parent. */
function lineOf(doc: Document, lines: LineCounter, path: PropertyKey[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const keys = path.slice(0, n);
    const last = keys[keys.length - 1];
    // An unknown key has no value node worth pointing at; point at the key itself.
    const parent = doc.getIn(keys.slice(0, -1), true);
    if (n > 0 && isMap(parent)) {
      const pair = parent.items.find((item) => (item.key as { value?: unknown } | null)?.value === last);
      const range = (pair?.key as { range?: [number, number, number] } | null)?.range;
      if (range) return lines.linePos(range[0]).line;
    }
    const node = doc.getIn(keys, true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}
