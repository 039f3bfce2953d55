/**
 * The tidemark CLI end to end on the local backend: exit codes (0 ok, 1 failure, 2 usage or
 * config error), config check, sync, query, quarantine, audit, reload and dlq on a temp lake.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../../shared/cli/main.ts';
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

describe('tidemark CLI (local backend)', () => {
  let dir: string;
  const lakeFile = (name: string, content: string) => {
    const p = join(dir, '.tidemark', 'lake', 'lake', name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, content);
  };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tidemark-cli-'));
    writeFileSync(join(dir, 'tidemark.config.yaml'), EVENTS_YAML);
    lakeFile('events/dt=2026-11-24/hr=10/a.csv', csvRows(1, 4));
    lakeFile('events/dt=2026-11-24/hr=10/bad.csv', 'id,v\nnot-a-number,x\n');
    lakeFile('events/dt=2026-11-24/hr=11/a.csv', csvRows(10, 3));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const usage: [string, string[], RegExp][] = [
    ['an unknown command', ['nosuch'], /unknown command/],
    ['an unknown option', ['sync', '--table', 'events', '--nope'], /unknown option/],
    ['a missing required option', ['sync'], /required option '--table/],
    ['a bad backend', ['--backend', 'aws', 'config', 'check'], /Allowed choices are local, gcp/],
    ['an unknown table', ['sync', '--table', 'nope', '--partition', '2026112410'], /unknown table "nope"/],
    ['a daily id for an hourly table', ['sync', '--table', 'events', '--partition', '20261124'], /20261124/],
    ['a missing config file', ['--config', 'missing.yaml', 'config', 'check'], /missing\.yaml.*file not found/s],
  ];
  for (const [what, args, message] of usage) {
    it(`exits 2 on ${what}`, async () => {
      const r = await run(dir, ...args);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, message);
    });
  }

  it('exits 2 with the key path on an invalid config', async () => {
    writeFileSync(join(dir, 'bad.yaml'), EVENTS_YAML.replace('format: CSV', 'format: XLS'));
    const r = await run(dir, '--config', 'bad.yaml', 'config', 'check');
    assert.equal(r.code, 2);
    assert.match(r.err, /bad\.yaml/);
    assert.match(r.err, /tables\[0\]\.format/);
  });

  it('config check prints each route', async () => {
    const r = await run(dir, 'config', 'check');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /OK \(1 table\)/);
    assert.match(r.out, /lake_us\.events\$/);
  });

  describe('route', () => {
    const cases: { what: string; args: string[]; code: number; out: RegExp[] }[] = [
      {
        what: 'a routed object: table, UTC partition and the path time',
        args: ['route', 'events/dt=2026-11-24/hr=10/a.csv'],
        code: 0,
        out: [
          /table +events/,
          /partition +2026112410 \(UTC 2026-11-24T10:00:00\.000Z\)/,
          /path time +2026-11-24 10h UTC/,
          /loads into test-project:lake_us\.events\$2026112410/,
        ],
      },
      {
        what: 'a gs:// name',
        args: ['route', 'gs://lake/events/dt=2026-11-24/hr=10/a.csv'],
        code: 0,
        out: [/partition +2026112410/],
      },
      {
        what: 'a _SUCCESS marker',
        args: ['route', 'events/dt=2026-11-24/hr=10/_SUCCESS'],
        code: 1,
        out: [/not routed: ignored: marker file \(_SUCCESS\)/],
      },
      {
        what: 'a state object',
        args: ['route', 'gs://test-project-tidemark-state/_tidemark/state/events/2026112410.json'],
        code: 1,
        out: [/ignored: state prefix/],
      },
      {
        what: 'a one-digit hour, naming the token',
        args: ['route', 'events/dt=2026-11-24/hr=1/a.csv'],
        code: 1,
        out: [/no table takes it/, /events: segment 3 \("hr=\{hh\}"\): \{hh\} expects 2 digits in "hr=1"/],
      },
      {
        what: 'a month 13',
        args: ['route', 'events/dt=2026-13-24/hr=10/a.csv'],
        code: 1,
        out: [/events: matches, but cannot be loaded: 2026-13-24 10h is not a real date/],
      },
      {
        what: 'another config with --config after the name',
        args: ['route', 'other/2026/11/24/x.csv', '--config', 'other.yaml'],
        code: 0,
        out: [/table +other/, /partition +20261124/],
      },
    ];
    for (const c of cases) {
      it(`${c.what} (exit ${c.code})`, async () => {
        writeFileSync(
          join(dir, 'other.yaml'),
          EVENTS_YAML.replace('name: events', 'name: other')
            .replace('events/dt={yyyy}-{mm}-{dd}/hr={hh}/*.csv', 'other/{yyyy}/{mm}/{dd}/*.csv')
            .replace('{ type: HOUR }', '{ type: DAY }'),
        );
        const r = await run(dir, ...c.args);
        assert.equal(r.code, c.code, r.out + r.err);
        for (const re of c.out) assert.match(r.out, re);
      });
    }
    it('--json gives the explanation itself', async () => {
      const r = await run(dir, 'route', 'events/dt=2026-11-24/hr=10/a.csv', '--json');
      assert.equal(JSON.parse(r.out).partition, '2026112410');
    });
  });

  it('sync loads a range and reports quarantined files; query and quarantine show the result', async () => {
    const r = await run(dir, 'sync', '--table', 'events', '--from', '2026112410', '--to', '2026112411', '--json');
    assert.equal(r.code, 0, r.err);
    const results = JSON.parse(r.out) as { partition: string; outcome: string; quarantined: unknown[] }[];
    assert.deepEqual(
      results.map((x) => [x.partition, x.outcome, x.quarantined.length]),
      [
        ['2026112410', 'loaded', 1],
        ['2026112411', 'loaded', 0],
      ],
    );
    const q = await run(dir, 'query', 'SELECT count(*)::INTEGER AS n FROM lake_us.events', '--json');
    assert.deepEqual(JSON.parse(q.out), [{ n: 7 }]);
    const qu = await run(dir, 'quarantine', '--json');
    const entries = JSON.parse(qu.out) as { name: string; error: string }[];
    assert.deepEqual(
      entries.map((e) => e.name),
      ['events/dt=2026-11-24/hr=10/bad.csv'],
    );
  });

  it('a failing query exits 1 with the reason', async () => {
    const r = await run(dir, 'query', 'SELECT * FROM nosuch.table');
    assert.equal(r.code, 1);
    assert.match(r.err, /nosuch/);
  });

  it('audit --json classifies, and reload runs the backfill handler in-process', async () => {
    lakeFile('events/dt=2026-11-24/hr=11/late.csv', csvRows(100, 2));
    const a = await run(dir, 'audit', '--from', '2026112410', '--to', '2026112411', '--dry-run', '--json');
    assert.equal(a.code, 0, a.err);
    const report = JSON.parse(a.out) as { tables: { findings: { partition: string; class: string }[] }[] };
    assert.deepEqual(
      report.tables[0]!.findings.map((f) => [f.partition, f.class]),
      [
        ['2026112410', 'quarantined'],
        ['2026112411', 'stale'],
      ],
    );
    const r = await run(dir, 'reload', '--table', 'events', '--partition', '2026-11-24T11:00:00Z');
    assert.equal(r.code, 0, r.err);
    const q = await run(
      dir,
      'query',
      "SELECT count(*)::INTEGER AS n FROM lake_us.events WHERE strftime(_PARTITIONTIME, '%H') = '11'",
      '--json',
    );
    assert.deepEqual(JSON.parse(q.out), [{ n: 5 }]);
    const d = await run(dir, 'dlq');
    assert.equal(d.code, 0);
    assert.match(d.out, /no dead letters/);
  });
});
