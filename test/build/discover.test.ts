/** scripts/build/discover.ts: functions/ folders matched to the function table. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BuildError } from '../../scripts/build/common.ts';
import { discoverFunctions } from '../../scripts/build/discover.ts';
import { FUNCTION_TABLE } from '../../shared/deploy/functions.ts';
import type { FunctionRow } from '../../shared/deploy/functions.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** A project root with these functions/<folder>/index.ts. */
function rootWith(folders: string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'tidemark-discover-'));
  for (const f of folders) {
    mkdirSync(join(root, 'functions', f), { recursive: true });
    writeFileSync(join(root, 'functions', f, 'index.ts'), '');
  }
  mkdirSync(join(root, 'functions', 'no-index'), { recursive: true }); // a folder without index.ts is not a function
  return root;
}

const row = (folder: string, entryPoint: string): FunctionRow => ({ ...FUNCTION_TABLE[0]!, folder, entryPoint });

describe('discoverFunctions', () => {
  it('matches every folder of this repository to its row of FUNCTION_TABLE', () => {
    const fns = discoverFunctions(ROOT);
    assert.deepEqual(
      fns.map((f) => [f.name, f.entryPoint, f.entry, f.row.folder]),
      [
        ['audit-gaps', 'auditGaps', 'functions/audit-gaps/index.ts', 'audit-gaps'],
        ['backfill-partition', 'backfillPartition', 'functions/backfill-partition/index.ts', 'backfill-partition'],
        ['commit-tables', 'commitTables', 'functions/commit-tables/index.ts', 'commit-tables'],
        ['ingest-events', 'ingestEvents', 'functions/ingest-events/index.ts', 'ingest-events'],
        ['load-on-finalize', 'loadOnFinalize', 'functions/load-on-finalize/index.ts', 'load-on-finalize'],
        ['status-page', 'statusPage', 'functions/status-page/index.ts', 'status-page'],
      ],
    );
  });

  const failing: [string, string[], FunctionRow[], RegExp[]][] = [
    [
      'a folder without a row',
      ['load-on-finalize', 'new-thing'],
      [row('load-on-finalize', 'loadOnFinalize')],
      [
        /^functions\/new-thing has no entry in the function table: add a row to FUNCTION_TABLE in shared\/deploy\/functions\.ts/,
      ],
    ],
    [
      'a row without a folder',
      ['a-b'],
      [row('a-b', 'aB'), row('gone', 'gone')],
      [/shared\/deploy\/functions\.ts has a row for functions\/gone, which has no index\.ts/],
    ],
    [
      'a row naming another entry point',
      ['a-b'],
      [row('a-b', 'ab')],
      [/functions\/a-b: its row .* names entry point "ab", but the folder's is "aB"/],
    ],
    ['a folder that is not kebab-case', ['Bad_Name'], [], [/functions\/Bad_Name: folder names are kebab-case/]],
    ['all of them at once', ['x-y', 'z'], [row('x-y', 'xy')], [/functions\/x-y: its row/, /functions\/z has no entry/]],
  ];
  for (const [what, folders, table, messages] of failing) {
    it(`fails the build on ${what}, saying what to do`, () => {
      const root = rootWith(folders);
      try {
        assert.throws(
          () => discoverFunctions(root, table),
          (err: unknown) =>
            err instanceof BuildError && messages.every((m) => err.message.split('\n').some((line) => m.test(line))),
        );
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });
  }
});
