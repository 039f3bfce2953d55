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
    const code = await main(['node', 'tidemark', 'start', '--no-watch'], {}, { out: (s) => void (out += s), err: (s) => void (out += s) }, dir);
    assert.equal(code, 0, out);
    assert.match(out, /writing a demo config/);
    assert.match(out, /QUARANTINED events\/.*part-2\.json\.gz: corrupt or truncated gzip/);
    const [first, second] = out.split('Auditing again');
    assert.ok(second, out);
    // First audit: one never-loaded hour, one rewritten file, one hour with no data, the quarantine.
    for (const cls of ['missing', 'stale', 'upstream-missing', 'quarantined']) assert.match(first!, new RegExp(`events +\\d+ +${cls} `), cls);
    assert.match(first!, /2 backfill message\(s\) published/);
    assert.match(first!, /loaded +events\$\d{10} .*<- backfill: missing/);
    assert.match(first!, /loaded +events\$\d{10} .*55 rows.*<- backfill: stale/);
    // Second audit: only what a backfill cannot fix.
    assert.doesNotMatch(second!, /events +\d+ +(missing|stale) /);
    assert.match(second!, /events +\d+ +upstream-missing /);
    assert.match(second!, /0 backfill message\(s\) published/);
    const q = await main(['node', 'tidemark', 'query', 'SELECT count(*)::INTEGER AS n FROM lake_us.sessions', '--json'], {}, { out: (s) => void (out = s), err: () => {} }, dir);
    assert.equal(q, 0);
    assert.ok(JSON.parse(out)[0].n >= 60);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
