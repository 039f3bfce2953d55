/**
 * Rewrites the generated tables in README.md and infra/README.md (infra/readme-tables.ts).
 *
 *   npm run gen:readme-tables
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fillTables } from '../infra/readme-tables.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The README files that carry generated tables. */
export const README_FILES = ['README.md', 'infra/README.md'].map((f) => join(ROOT, f));

for (const file of process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url) ? README_FILES : []) {
  const text = readFileSync(file, 'utf8');
  const next = fillTables(text, file);
  if (next !== text) {
    writeFileSync(file, next);
    process.stdout.write(`wrote ${file}\n`);
  }
}
