/**
 * `npm start` on a fresh folder (`tidemark start --no-watch`): the demo is written, its history
 * loaded (the corrupt file quarantined), the three deliberate holes found by the first audit,
 * the backfillable ones filled, and a second audit shows only what cannot be backfilled.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { main } from '../../../shared/cli/main.ts';

it('npm start finds and fills the demo holes, then stops', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-start-'));
  try {
    let out = '';
    const code = await main(
      ['node', 'tidemark', 'start', '--no-watch'],
      {},
      { out: (s) => void (out += s), err: (s) => void (out += s) },
      dir,
    );
    assert.equal(code, 0, out);
    assert.match(out, /writing a demo config/);
    assert.match(out, /QUARANTINED events\/.*part-2\.json\.gz: corrupt or truncated gzip/);
    const [first, second] = out.split('Auditing again');
    assert.ok(second, out);
    // First audit: one summary line per table: one never-loaded hour, one rewritten file, one hour with no data, the quarantine.
    assert.match(
      first!,
      /audit events \d{10}\.\.\d{10}: \d+ ok, 1 missing, 1 stale, 1 quarantined, 1 upstream-missing/,
    );
    assert.match(first!, /2 backfill\(s\) published/);
    assert.match(first!, /loaded +events\$\d{10} .*<- backfill: missing/);
    assert.match(first!, /loaded +events\$\d{10} .*55 rows.*<- backfill: stale/);
    // Second audit: what changed only (the holes filled), not the whole table again.
    assert.match(second!, /filled +events\$\d{10} \(\d{4}-\d\d-\d\d \d\d:00 \+09:00\): was missing, now ok/);
    assert.match(second!, /filled +events\$\d{10} \(.*\): was stale, now ok/);
    assert.doesNotMatch(second!, /audit events|new hole|backfill\(s\) published|upstream-missing/);
    // `tidemark status` reads the picture the audits left: 100 columns, local path times beside UTC ids.
    let status = '';
    assert.equal(
      await main(
        ['node', 'tidemark', 'status'],
        {},
        { out: (s) => void (status += s), err: (s) => void (status += s) },
        dir,
      ),
      0,
      status,
    );
    for (const line of status.split('\n')) assert.ok(line.length <= 100, `${line.length} columns: ${line}`);
    assert.match(status, /^events  HOUR, paths in Asia\/Seoul; audited /m);
    assert.match(status, /classes +\d+ ok, 1 quarantined, 1 upstream-missing/);
    assert.match(status, /^ {4}\d{10} {2}\d{4}-\d\d-\d\d \d\d:00 \+09:00 +upstream-missing/m);
    assert.match(status, /Quarantined files \(1\)/);
    assert.match(status, /Dead letters: none/);
    let usage = '';
    assert.equal(
      await main(
        ['node', 'tidemark', 'status', '--table', 'nope'],
        {},
        { out: () => {}, err: (s) => void (usage += s) },
        dir,
      ),
      2,
    );
    assert.match(usage, /unknown table "nope"; tables: events, orders, sessions/);
    let json = '';
    assert.equal(
      await main(
        ['node', 'tidemark', 'status', '--json', '--table', 'orders'],
        {},
        { out: (s) => void (json += s), err: () => {} },
        dir,
      ),
      0,
    );
    const parsed = JSON.parse(json) as {
      tables: {
        table: string;
        window: { from: string; to: string };
        counts: Record<string, number>;
        budget: { limit: number };
      }[];
    };
    assert.deepEqual(
      parsed.tables.map((t) => t.table),
      ['orders'],
    );
    // Every day the window judged is ok. How many days that is depends on the hour the test runs
    // (the demo audits 47 h back and waits an hour for a day to settle: one day at 00:xx UTC).
    const { window, counts } = parsed.tables[0]!;
    const days =
      (Date.parse(`${window.to.replace(/(\d{4})(\d\d)(\d\d)/, '$1-$2-$3')}T00:00:00Z`) -
        Date.parse(`${window.from.replace(/(\d{4})(\d\d)(\d\d)/, '$1-$2-$3')}T00:00:00Z`)) /
        86_400_000 +
      1;
    assert.ok(days >= 1, JSON.stringify(window));
    assert.deepEqual(counts, { ok: days });
    assert.ok(parsed.tables[0]!.budget.limit > 0);
    const q = await main(
      ['node', 'tidemark', 'query', 'SELECT count(*)::INTEGER AS n FROM lake_us.sessions', '--json'],
      {},
      { out: (s) => void (out = s), err: () => {} },
      dir,
    );
    assert.equal(q, 0);
    assert.ok(JSON.parse(out)[0].n >= 60);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
