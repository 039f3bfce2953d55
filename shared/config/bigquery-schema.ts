/**
 * Reads a BigQuery table schema as `bq show --schema` writes it: a JSON array of fields
 * ({name, type, mode, fields, description}), or an object with a `fields` array. Types and modes
 * are upper-cased; keys BigQuery knows beyond these (policyTags, maxLength...) are kept as given.
 */
import { z } from 'zod';
import type { SchemaField } from '../core/ports.ts';

const TYPES = [
  'STRING',
  'BYTES',
  'INTEGER',
  'INT64',
  'FLOAT',
  'FLOAT64',
  'NUMERIC',
  'BIGNUMERIC',
  'BOOLEAN',
  'BOOL',
  'TIMESTAMP',
  'DATE',
  'TIME',
  'DATETIME',
  'GEOGRAPHY',
  'JSON',
  'RECORD',
  'STRUCT',
  'INTERVAL',
  'RANGE',
] as const;

const upper = (v: unknown): unknown => (typeof v === 'string' ? v.toUpperCase() : v);

const fieldSchema: z.ZodType<SchemaField, unknown> = z.lazy(() =>
  z
    .looseObject({
      name: z.string().min(1, 'must not be empty'),
      type: z.preprocess(upper, z.enum(TYPES, { error: (iss) => `unknown type ${JSON.stringify(iss.input)}` })),
      mode: z.preprocess(upper, z.enum(['NULLABLE', 'REQUIRED', 'REPEATED'])).optional(),
      fields: z.array(fieldSchema).optional(),
      description: z.string().optional(),
    })
    .superRefine((f, ctx) => {
      const nested = f.type === 'RECORD' || f.type === 'STRUCT';
      if (nested && !f.fields?.length)
        ctx.addIssue({ code: 'custom', path: ['fields'], message: `a ${f.type} needs fields` });
      if (!nested && f.fields)
        ctx.addIssue({ code: 'custom', path: ['fields'], message: `only RECORD/STRUCT fields have fields` });
      if (f.fields) addDuplicateIssues(f.fields, ctx, ['fields']);
    }),
);

function addDuplicateIssues(fields: SchemaField[], ctx: z.RefinementCtx, path: (string | number)[]): void {
  const seen = new Set<string>();
  fields.forEach((f, i) => {
    // BigQuery column names are case-insensitive.
    const key = f.name.toLowerCase();
    if (seen.has(key))
      ctx.addIssue({
        code: 'custom',
        path: [...path, i, 'name'],
        message: `duplicate column ${JSON.stringify(f.name)}`,
      });
    seen.add(key);
  });
}

const fieldsOf = (v: unknown): unknown =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && 'fields' in v ? v.fields : v;

const schemaDocument = z
  .preprocess(
    fieldsOf,
    z.array(fieldSchema, { error: 'expected a JSON array of fields or an object with a "fields" array' }),
  )
  .superRefine((fields, ctx) => {
    if (fields.length === 0) ctx.addIssue({ code: 'custom', message: 'the schema has no fields' });
    addDuplicateIssues(fields, ctx, []);
  });

/** Problems of a schema document, with paths inside it (`[2].type`). */
export interface SchemaIssue {
  path: string;
  message: string;
}

/** The fields of a schema document, or the issues that make it invalid. */
export function parseSchemaFields(value: unknown): { fields: SchemaField[] } | { issues: SchemaIssue[] } {
  const result = schemaDocument.safeParse(value);
  if (result.success) return { fields: result.data };
  return {
    issues: result.error.issues.map((issue) => ({
      path: issue.path
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
        .join('')
        .replace(/^\./, ''),
      message: issue.message,
    })),
  };
}
