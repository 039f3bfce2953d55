/**
 * `tidemark waive` end to end on the local backend: an hour the producer never delivered is
 * waived, the audit classifies it `waived` (text and JSON) and the watermark passes it; data that
 * arrives later is audited normally; --list and --revoke; usage errors exit 2.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { main } from '../../../shared/cli/main.ts';
import { AUDIT_CLASSES } from '../../../shared/core/audit.ts';
import { csvRows, EVENTS_YAML } from '../../helpers/local-env.ts';

async function run(cwd: string, ...args: string[]) {
  let out = '';
  let err = '';
  const code = await main(
    ['node', 'tidemark', ...args],
    { USER: 'ana' },
    { out: (s) => void (out += s), err: (s) => void (err += s) },
    cwd,
  );
  return { code, out, err };
}

// Hours of 2025-11-24 (long past, so every one has ended whatever the machine's clock says).
const hour = (h: number) => `20251124${String(h).padStart(2, '0')}`;
const path = (h: number, f = 'a.csv') => `events/dt=2025-11-24/hr=${String(h).padStart(2, '0')}/${f}`;

interface Report {
  tables: {
    counts: Record<string, number>;
    findings: { partition: string; class: string; detail?: string }[];
    watermark: { after: string | null };
  }[];
}

describe('tidemark waive (local backend)', () => {
  let dir: string;
  const lakeFile = (name: string, content: string) => {
    const p = join(dir, '.tidemark', 'lake', 'lake', name);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, content);
  };
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tidemark-waive-'));
    writeFileSync(join(dir, 'tidemark.config.yaml'), `${EVENTS_YAML}    cadence: HOUR\n`);
    for (const h of [10, 11, 13]) lakeFile(path(h), csvRows(h, 2));
    const s = await run(dir, 'sync', '--table', 'events', '--from', hour(10), '--to', hour(13));
    assert.equal(s.code, 0, s.err);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const audit = async (...extra: string[]) => {
    const a = await run(dir, 'audit', '--from', hour(10), '--to', hour(13), '--json', ...extra);
    assert.equal(a.code, 0, a.err);
    return (JSON.parse(a.out) as Report).tables[0]!;
  };

  it('a missing hour is upstream-missing until waived, then waived; the watermark passes it', async () => {
    assert.deepEqual(
      (await audit('--dry-run')).findings.map((f) => [f.partition, f.class]),
      [[hour(12), 'upstream-missing']],
    );
    const w = await run(
      dir,
      'waive',
      '--table',
      'events',
      '--partition',
      hour(12),
      '--reason',
      'producer outage INC-42',
    );
    assert.equal(w.code, 0, w.err);
    assert.match(w.out, /waived 1 partition\(s\) of events .* by ana@.*: producer outage INC-42/);
    const t = await audit();
    assert.deepEqual(
      t.findings.map((f) => [f.partition, f.class, f.detail]),
      [[hour(12), 'waived', 'accepted gap: producer outage INC-42']],
    );
    assert.equal(t.counts.waived, 1);
    assert.equal(t.counts['upstream-missing'], 0);
    assert.equal(t.watermark.after, '2025-11-24T14:00:00.000Z');
    const text = await run(dir, 'audit', '--from', hour(10), '--to', hour(13), '--dry-run');
    assert.match(text.out, /waived/);
    assert.match(text.out, /2025112412 +2025-11-24 12:00 \+00:00 +waived/);
    const header = text.out.split('\n')[0]!;
    for (const c of [...AUDIT_CLASSES, 'unrouted']) assert.match(header, new RegExp(`\\b${c}\\b`), `column ${c}`);
  });

  it('--list shows who, when and why; --json too', async () => {
    const l = await run(dir, 'waive', '--list');
    assert.equal(l.code, 0, l.err);
    assert.match(l.out, /events +2025112412 .* ana@\S+ +producer outage INC-42/);
    const j = await run(dir, 'waive', '--list', '--table', 'events', '--json');
    const rows = JSON.parse(j.out) as { table: string; partition: string; by: string; reason: string; at: number }[];
    assert.deepEqual(
      rows.map((r) => [r.table, r.partition, r.reason]),
      [['events', hour(12), 'producer outage INC-42']],
    );
    assert.match(rows[0]!.by, /^ana@/);
    assert.ok(Number.isFinite(rows[0]!.at));
  });

  it('data that arrives for a waived hour is audited normally', async () => {
    lakeFile(path(12), csvRows(12, 3));
    assert.deepEqual(
      (await audit('--dry-run')).findings.map((f) => [f.partition, f.class]),
      [[hour(12), 'missing']],
    );
    rmSync(join(dir, '.tidemark', 'lake', 'lake', path(12)));
    assert.deepEqual(
      (await audit('--dry-run')).findings.map((f) => [f.partition, f.class]),
      [[hour(12), 'waived']],
    );
  });

  it('--revoke over a range removes the waivers; the hole is reported again', async () => {
    const r = await run(dir, 'waive', '--revoke', '--table', 'events', '--from', hour(11), '--to', hour(12));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /revoked 1 waiver\(s\) of events \(1 selected partition\(s\) had none\)/);
    assert.match((await run(dir, 'waive', '--list')).out, /no accepted gaps/);
    assert.deepEqual(
      (await audit('--dry-run')).findings.map((f) => [f.partition, f.class]),
      [[hour(12), 'upstream-missing']],
    );
  });

  const usage: [string, string[], RegExp][] = [
    ['no reason', ['waive', '--table', 'events', '--partition', hour(12)], /--reason/],
    ['an empty reason', ['waive', '--table', 'events', '--partition', hour(12), '--reason', '  '], /--reason/],
    ['no partition', ['waive', '--table', 'events', '--reason', 'x'], /--partition P, or --from A and --to B/],
    ['no table', ['waive', '--partition', hour(12), '--reason', 'x'], /--table/],
    [
      'an unknown table',
      ['waive', '--table', 'nope', '--partition', hour(12), '--reason', 'x'],
      /unknown table "nope"/,
    ],
    [
      'a daily id for an hourly table',
      ['waive', '--table', 'events', '--partition', '20251124', '--reason', 'x'],
      /20251124/,
    ],
    ['--list with a partition', ['waive', '--list', '--partition', hour(12)], /--list takes only/],
    ['--list and --revoke', ['waive', '--list', '--revoke'], /not both/],
    [
      '--revoke with a reason',
      ['waive', '--revoke', '--table', 'events', '--partition', hour(12), '--reason', 'x'],
      /no --reason/,
    ],
  ];
  for (const [what, args, message] of usage) {
    it(`exits 2 on ${what}`, async () => {
      const r = await run(dir, ...args);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, message);
    });
  }
});
