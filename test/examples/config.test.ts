/** The example config shipped in examples/ loads, and routes the paths its comments promise. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../shared/config/load.ts';
import { createRouter } from '../../shared/routing/router.ts';
import { loadDeploySettings } from '../../infra/deploy-config.ts';

const file = fileURLToPath(new URL('../../examples/tidemark.config.yaml', import.meta.url));

it('examples/tidemark.config.yaml is valid and routes Seoul hours to UTC partitions', () => {
  const config = loadConfig({ file, env: {} });
  assert.deepEqual(
    config.tables.map((t) => t.name),
    ['events', 'orders'],
  );
  const router = createRouter(config);
  const r = router.route('lake-seoul', 'events/dt=2026-11-25/hr=00/part-0.json.gz');
  assert.equal(r.kind === 'routed' && r.partition, '2026112415');
  const o = router.route('other-lake', 'orders/2026/11/24/a.csv');
  assert.equal(o.kind === 'routed' && o.partition, '20261124');
  assert.equal(loadDeploySettings(file).region, 'asia-northeast3');
});

it('examples/tidemark.config.yaml keeps state out of the lake bucket', () => {
  const config = loadConfig({ file, env: {} });
  assert.equal(config.state.bucket, `${config.project}-tidemark-state`);
  assert.ok(config.tables.every((t) => t.source.bucket !== config.state.bucket));
});
