/**
 * The stream tables' load kind around a bad file in the previous hour's tail: P's load cannot
 * blame P's files for it, so it is transient for P; once P-1's own load has quarantined the
 * file, P's retry leaves it out and loads.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BackendUnavailableError } from '../../../shared/core/errors.ts';
import { syncPartition } from '../../../shared/core/sync.ts';
import { createTestEnv } from '../../helpers/local-env.ts';
import type { TestEnv } from '../../helpers/local-env.ts';
import { location, streamYaml } from '../../helpers/streams.ts';

const UUID = '0b6c7d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e';
const line = (i: number, id: string) =>
  JSON.stringify({ ...location(i), event_id: id, received_at: '2026-11-24T13:00:00Z' });

describe('stream load: a bad file in the previous hour', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv({ yaml: streamYaml() });
  });
  after(() => env.close());

  it('is transient for P until P-1 quarantines it; then P loads without it, and P-1 keeps its good rows', async () => {
    await env.put(`streams/locations/2026-11-24/12/58_00Z_${UUID}.ndjson`, '{"device_id": "broken\n');
    await env.put(`streams/locations/2026-11-24/12/59_00Z_${UUID}.ndjson`, line(1, 'a') + '\n');
    await env.put(
      `streams/locations/2026-11-24/13/01_00Z_${UUID}.ndjson`,
      [line(1, 'a'), line(2, 'b')].join('\n') + '\n',
    );
    await assert.rejects(
      syncPartition(env.engine, { table: 'locations', partition: '2026112413', reason: 'test' }),
      (err: unknown) => err instanceof BackendUnavailableError && /tail/.test(err.message),
    );
    assert.equal(await env.count('true', 'lake_us.locations'), 0);

    const p12 = await syncPartition(env.engine, { table: 'locations', partition: '2026112412', reason: 'test' });
    assert.equal(p12.outcome, 'loaded');
    assert.deepEqual(
      p12.quarantined.map((q) => q.name),
      [`streams/locations/2026-11-24/12/58_00Z_${UUID}.ndjson`],
    );

    const p13 = await syncPartition(env.engine, { table: 'locations', partition: '2026112413', reason: 'retry' });
    assert.equal(p13.outcome, 'loaded');
    // "a" is held by 12:59 in the tail: it belongs to hour 12; "b" only to 13.
    const rows = await env.rows(
      `SELECT event_id, strftime(_PARTITIONTIME, '%H') AS h FROM lake_us.locations ORDER BY event_id`,
    );
    assert.deepEqual(rows, [
      { event_id: 'a', h: '12' },
      { event_id: 'b', h: '13' },
    ]);
  });
});
