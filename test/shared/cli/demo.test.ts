/** `npm start -- --reset` removes the demo of the config's lake only. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { it } from 'node:test';
import { DEMO_BUCKET, removeDemo } from '../../../shared/cli/demo.ts';
import { defaultLocalPaths } from '../../../shared/runtime/local.ts';

it('removeDemo: the demo config, bucket and its metadata, dead letters and warehouse of this lake; nothing else', () => {
  const top = mkdtempSync(join(tmpdir(), 'tidemark-demo-'));
  try {
    const touch = (p: string) => {
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, 'x');
    };
    const mine = defaultLocalPaths(top, { lakeDir: join(top, 'lake-a'), warehouseFile: join(top, 'a.duckdb') });
    const other = defaultLocalPaths(top, { lakeDir: join(top, 'lake-b'), warehouseFile: join(top, 'b.duckdb') });
    const config = join(top, '.tidemark', 'demo', 'tidemark.config.yaml');
    const kept = [
      join(mine.lakeDir, 'own-bucket', 'x.csv'),
      join(mine.lakeMetaDir, 'own-bucket', 'meta', 'm.json'),
      join(other.lakeDir, DEMO_BUCKET, 'x.csv'),
      join(other.lakeMetaDir, DEMO_BUCKET, 'meta', 'm.json'),
      other.deadLetterFile,
      other.warehouseFile,
    ];
    const removed = [
      config,
      join(mine.lakeDir, DEMO_BUCKET, 'x.csv'),
      join(mine.lakeMetaDir, DEMO_BUCKET, 'meta', 'm.json'),
      mine.deadLetterFile,
      mine.warehouseFile,
    ];
    for (const p of [...kept, ...removed]) touch(p);
    removeDemo(config, mine);
    assert.deepEqual(removed.filter(existsSync), []);
    assert.deepEqual(
      kept.filter((p) => !existsSync(p)),
      [],
    );
  } finally {
    rmSync(top, { recursive: true, force: true });
  }
});
