/**
 * What belongs to one lake lives inside it: processes started from different folders on the same
 * `--lake` share object metadata, locks and dead letters, and `npm start` runs once per lake.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../../shared/cli/main.ts';
import { withFileLock } from '../../../shared/backends/local/file-lock.ts';
import { defaultLocalPaths } from '../../../shared/runtime/local.ts';
import { csvRows, EVENTS_YAML } from '../../helpers/local-env.ts';

async function run(cwd: string, ...args: string[]) {
  let out = '';
  let err = '';
  const code = await main(
    ['node', 'tidemark', ...args],
    {},
    { out: (s) => void (out += s), err: (s) => void (err += s) },
    cwd,
  );
  return { code, out, err };
}

/** Splits a POSIX shell command line with single quotes (what shellQuote writes). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const m of line.matchAll(/((?:'[^']*'|\\'|[^\s'])+)/g))
    words.push(m[1]!.replace(/'([^']*)'|\\'/g, (_x, q: string | undefined) => q ?? "'"));
  return words;
}

describe('one lake, many working directories', () => {
  let top: string;
  let a: string;
  let b: string;
  let flags: string[];
  before(() => {
    top = mkdtempSync(join(tmpdir(), 'tidemark-lake-home-'));
    a = join(top, 'a');
    b = join(top, 'b');
    mkdirSync(a);
    mkdirSync(b);
    writeFileSync(join(top, 'tidemark.config.yaml'), EVENTS_YAML);
    for (const [name, rows] of [
      ['events/dt=2026-11-24/hr=10/a.csv', csvRows(1, 4)],
      ['events/dt=2026-11-24/hr=11/a.csv', csvRows(10, 3)],
    ] as const) {
      const p = join(top, 'lake', 'lake', name);
      mkdirSync(join(p, '..'), { recursive: true });
      writeFileSync(p, rows);
    }
    flags = [
      '--config',
      join(top, 'tidemark.config.yaml'),
      '--lake',
      join(top, 'lake'),
      '--warehouse',
      join(top, 'wh.duckdb'),
    ];
  });
  after(() => rmSync(top, { recursive: true, force: true }));

  it('a sync from folder A and an audit from folder B agree: the audit is clean', async () => {
    const s = await run(
      a,
      ...flags,
      'sync',
      '--table',
      'events',
      '--from',
      '2026112410',
      '--to',
      '2026112411',
      '--json',
    );
    assert.equal(s.code, 0, s.err);
    const audit = await run(b, ...flags, 'audit', '--from', '2026112410', '--to', '2026112411', '--dry-run', '--json');
    assert.equal(audit.code, 0, audit.err);
    const report = JSON.parse(audit.out) as {
      tables: { findings: { partition: string; class: string }[] }[];
      published: number;
    };
    assert.deepEqual(report.tables[0]!.findings, []);
    assert.equal(report.published, 0);
    // Nothing of the lake was left in either working directory.
    assert.equal(existsSync(join(a, '.tidemark')), false);
    assert.equal(existsSync(join(b, '.tidemark')), false);
    // State (and its metadata) is in the state bucket's folder, under the same lake root.
    assert.ok(
      readdirSync(join(top, 'lake', '.tidemark')).some((d) => d.endsWith('-tidemark-state')),
      'the metadata lives in the lake',
    );
  });

  it('the commands `tidemark start` prints work when pasted as printed (they carry --config, --lake, --warehouse)', async () => {
    const start = await run(a, ...flags, 'start', '--no-watch');
    assert.equal(start.code, 0, start.err);
    const hints = start.out
      .split('\n')
      .map((l) => l.replace(/^Look at it:/, '').trim())
      .filter((l) => l.startsWith('npx tidemark '));
    assert.equal(hints.length, 4, start.out);
    for (const hint of hints) {
      const r = await run(a, ...shellWords(hint).slice(2));
      assert.equal(r.code, 0, `${hint}\n${r.err}`);
    }
    const count = await run(a, ...shellWords(hints[0]!).slice(2), '--json');
    assert.deepEqual(JSON.parse(count.out), [{ 'count_star()': '7' }]);
  });

  it('a second `tidemark start` on the same lake says one is running and exits 1', async () => {
    const paths = defaultLocalPaths(b, { lakeDir: join(top, 'lake') });
    await withFileLock(
      paths.startLockFile,
      async () => {
        const r = await run(b, ...flags, 'start', '--no-watch');
        assert.equal(r.code, 1);
        assert.match(r.err, /tidemark start is already running on the lake .*lake \(pid \d+, first start\)/);
        assert.equal(r.err.trim().split('\n').length, 1);
      },
      { waitMs: 1000, holder: 'first start' },
    );
  });
});
