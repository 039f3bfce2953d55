/** Hints the CLI prints carry the flags in effect, quoted for a POSIX shell. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { commandLine, shellQuote } from '../../../shared/cli/context.ts';
import type { CliContext, GlobalOptions } from '../../../shared/cli/context.ts';

const ctx = (options: Partial<GlobalOptions>, env: Record<string, string> = {}): CliContext => ({
  options: { backend: 'local', ...options },
  env,
  cwd: '/home/me/project',
  out: () => {},
  err: () => {},
});

const cases: [string, CliContext, string[], string][] = [
  ['no flags', ctx({}), ['quarantine'], 'npx tidemark quarantine'],
  [
    '--config inside the folder, relative',
    ctx({ config: 'conf/t.yaml' }),
    ['quarantine'],
    'npx tidemark --config conf/t.yaml quarantine',
  ],
  [
    'TIDEMARK_CONFIG counts as --config',
    ctx({}, { TIDEMARK_CONFIG: '/etc/t.yaml' }),
    ['dlq'],
    'npx tidemark --config /etc/t.yaml dlq',
  ],
  [
    '--lake outside the folder, absolute',
    ctx({ lake: '../data/lake' }),
    ['audit'],
    'npx tidemark --lake /home/me/data/lake audit',
  ],
  [
    '--warehouse and --backend gcp',
    ctx({ warehouse: 'w.duckdb', backend: 'gcp' }),
    ['dlq'],
    'npx tidemark --backend gcp --warehouse w.duckdb dlq',
  ],
  [
    'SQL is quoted',
    ctx({ lake: 'my lake' }),
    ['query', "SELECT 'a' FROM x.y"],
    `npx tidemark --lake 'my lake' query 'SELECT '\\''a'\\'' FROM x.y'`,
  ],
];
for (const [what, c, args, expected] of cases)
  it(`commandLine: ${what}`, () => assert.equal(commandLine(c, args), expected));

it('shellQuote leaves safe words alone', () => {
  assert.equal(shellQuote('--table'), '--table');
  assert.equal(shellQuote('a b'), "'a b'");
  assert.equal(shellQuote(''), "''");
});
