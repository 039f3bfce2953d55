/**
 * The README's function and IAM tables are the tables in code, rendered (infra/readme-tables.ts):
 * a grant or function changed in code and not in the README fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fillTables, functionTable } from '../../infra/readme-tables.ts';
import { CUSTOM_ROLES, SERVICE_ACCOUNT_GRANTS, roleTable } from '../../infra/roles.ts';
import { FUNCTION_TABLE } from '../../shared/deploy/functions.ts';

const FILES = { 'README.md': ['functions', 'iam'], 'infra/README.md': ['iam'] } as const;

describe('README tables', () => {
  for (const [file, tables] of Object.entries(FILES)) {
    it(`${file} carries the generated ${tables.join(' and ')} table(s), current (npm run gen:readme-tables)`, () => {
      const text = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
      for (const name of tables)
        assert.ok(text.includes(`<!-- tidemark:${name} -->`), `${file} has the ${name} markers`);
      assert.equal(text, fillTables(text, file), `${file} is stale: run npm run gen:readme-tables`);
    });
  }

  it('the IAM table has a row per grant and per custom role, and the function table a row per function', () => {
    const iam = roleTable('<prefix>');
    const grants = Object.values(SERVICE_ACCOUNT_GRANTS).flat().length;
    assert.equal(iam.split('\n').filter((l) => l.startsWith('| `<prefix>-')).length, grants);
    for (const r of CUSTOM_ROLES)
      assert.ok(iam.includes(`| \`<prefix>_${r.key}\` | ${r.permissions.map((p) => `\`${p}\``).join(', ')} |`), r.key);
    assert.doesNotMatch(iam, /resourceViewer|dataEditor/);
    const fns = functionTable();
    for (const r of FUNCTION_TABLE)
      assert.ok(fns.includes(`\`functions/${r.folder}\` / \`${r.entryPoint}\``), r.folder);
  });

  it('unbalanced markers are an error naming the file', () => {
    assert.throws(
      () => fillTables('<!-- /tidemark:iam --> x <!-- tidemark:iam -->', 'X.md'),
      /X\.md: <!-- tidemark:iam --> \.\.\. <!-- \/tidemark:iam --> markers are unbalanced/,
    );
  });
});
