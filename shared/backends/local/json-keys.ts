/**
 * NDJSON keys as BigQuery reads them: matched to columns and nested fields without regard to case,
 * and a row with a key that matches nothing, at any depth, fails its file ("No such field").
 * DuckDB's typed reader matches keys exactly and drops the rest without a trace, so the careful
 * path of a load checks each file here first (checkKeys), and the rare file whose keys are spelled
 * otherwise than the table's columns is copied with the table's spelling (respell) for DuckDB to
 * read. Values are copied byte for byte: numbers keep their text (JSON.rawJSON), so an INT64 past
 * 2^53 or a NUMERIC with 30 digits is never rounded on the way.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Column } from './duckdb-sql.ts';
import { structFields } from './duckdb-readers.ts';

/** Node 22's JSON.rawJSON (not yet in TypeScript's lib): a value JSON.stringify writes as its `text`. */
const { rawJSON, isRawJSON } = JSON as unknown as {
  rawJSON: (text: string) => unknown;
  isRawJSON: (value: unknown) => boolean;
};

/** A level of the schema: each name in lower case, with its spelling and the fields under it. */
export type Fields = Map<string, { name: string; fields: Fields | null }>;

/** The fields of a STRUCT type at any list depth (`STRUCT(a INT)[][]`), or null (no keys below). */
function fieldsOfType(type: string): Fields | null {
  let t = type.trim();
  while (t.endsWith('[]')) t = t.slice(0, -2).trim();
  const fields = structFields(t);
  return fields && new Map(fields.map((f) => [f.name.toLowerCase(), { name: f.name, fields: fieldsOfType(f.type) }]));
}

/** The table's columns as the top level of its schema. */
export function fieldsOf(columns: Column[]): Fields {
  return new Map(columns.map((c) => [c.name.toLowerCase(), { name: c.name, fields: fieldsOfType(c.type) }]));
}

/** What checkKeys found in a file. */
export interface KeyCheck {
  /** Why the file fails (BigQuery's "No such field", or two keys for one field), or null. */
  problem: string | null;
  /** Some key is spelled otherwise than its column or field: read a respelled copy. */
  respell: boolean;
}

/** Calls `visit` with each record of an NDJSON file (lines that are not JSON objects are DuckDB's to report). */
async function eachRecord(path: string, visit: (record: Record<string, unknown>, line: string) => void): Promise<void> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      continue;
    }
    if (record !== null && typeof record === 'object' && !Array.isArray(record))
      visit(record as Record<string, unknown>, line);
  }
}

/**
 * Checks every key of every record of an NDJSON file against the table's schema (`fields`);
 * `table` names the table in messages. Reports the first unknown key (by name) with its rows, as
 * a dotted path for a nested one.
 */
export async function checkKeys(path: string, fields: Fields, table: string): Promise<KeyCheck> {
  const unknown = new Map<string, number>();
  let duplicate: string | null = null;
  let respell = false;
  const walk = (value: unknown, level: Fields, prefix: string, seen: Set<string>): void => {
    if (Array.isArray(value)) {
      for (const item of value) walk(item, level, prefix, seen);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const names = new Map<string, string>();
    for (const [key, child] of Object.entries(value)) {
      const field = level.get(key.toLowerCase());
      if (!field) {
        const dotted = prefix + key;
        if (!seen.has(dotted)) {
          seen.add(dotted);
          unknown.set(dotted, (unknown.get(dotted) ?? 0) + 1);
        }
        continue;
      }
      const other = names.get(field.name);
      if (other !== undefined && duplicate === null)
        duplicate = `Duplicate field ${prefix}${field.name}: the keys "${other}" and "${key}" name the same field of ${table}`;
      names.set(field.name, key);
      if (key !== field.name) respell = true;
      if (field.fields) walk(child, field.fields, `${prefix}${field.name}.`, seen);
    }
  };
  await eachRecord(path, (record) => walk(record, fields, '', new Set()));
  if (duplicate) return { problem: duplicate, respell };
  if (unknown.size > 0) {
    const key = [...unknown.keys()].sort()[0]!;
    const what = key.includes('.') ? 'field' : 'column';
    return {
      problem: `No such field: ${key} (in ${unknown.get(key)} row(s)); ${table} has no ${what} of that name`,
      respell,
    };
  }
  return { problem: null, respell };
}

/** Writes `path`'s records to `out` with every key spelled as its column or field (see checkKeys first). */
export async function respell(path: string, fields: Fields, out: string): Promise<void> {
  const spell = (value: unknown, level: Fields | null): unknown => {
    if (Array.isArray(value)) return value.map((item) => spell(item, level));
    if (level === null || value === null || typeof value !== 'object' || isRawJSON(value)) return value;
    return Object.fromEntries(
      Object.entries(value).map(([key, child]) => {
        const field = level.get(key.toLowerCase());
        return field ? [field.name, spell(child, field.fields)] : [key, child];
      }),
    );
  };
  const handle = await open(out, 'w');
  try {
    let pending: string[] = [];
    let size = 0;
    const flush = async () => {
      await handle.write(pending.join(''));
      pending = [];
      size = 0;
    };
    const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
    for await (const line of lines) {
      let text = line; // not JSON: DuckDB reads it as it is, and says why it fails
      try {
        // Numbers keep their text: JSON.parse would round an INT64 past 2^53.
        const record: unknown = JSON.parse(line, (_key, value: unknown, context?: { source?: string }) =>
          typeof value === 'number' && context?.source !== undefined ? rawJSON(context.source) : value,
        );
        text = JSON.stringify(spell(record, fields));
      } catch {
        // kept as it is
      }
      pending.push(`${text}\n`);
      size += text.length;
      if (size >= 1 << 20) await flush();
    }
    await flush();
  } finally {
    await handle.close();
  }
}
