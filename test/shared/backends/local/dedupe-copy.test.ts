/**
 * A copy with `dedupe` on the local warehouse (and the BigQuery query it stands for): one row per
 * event_id, the earliest by received_at, none whose id the exclude table holds, written into the
 * decorated partition with WRITE_TRUNCATE.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dedupeSql, jobResource } from '../../../../shared/backends/gcp/bigquery-job-config.ts';
import type { JobSpec, TableRef } from '../../../../shared/core/ports.ts';
import { createTestEnv } from '../../../helpers/local-env.ts';
import type { TestEnv } from '../../../helpers/local-env.ts';
import { location, streamYaml } from '../../../helpers/streams.ts';

const line = (i: number, id: string, at: string) => JSON.stringify({ ...location(i), event_id: id, received_at: at });

describe('copy with dedupe', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv({ yaml: streamYaml() });
  });
  after(() => env.close());

  it('keeps one row per key, the earliest, and drops keys the exclude table holds', async () => {
    const table = env.config.tables[0]!;
    const stage: TableRef = { dataset: 'lake_us', table: 'stage_p' };
    const tail: TableRef = { dataset: 'lake_us', table: 'stage_tail' };
    await env.put(
      's/p1.ndjson',
      [
        line(1, 'a', '2026-11-24T13:00:02Z'),
        line(2, 'b', '2026-11-24T13:00:01Z'),
        line(3, 'c', '2026-11-24T13:00:00Z'),
      ].join('\n') + '\n',
    );
    await env.put(
      's/p2.ndjson',
      [line(4, 'a', '2026-11-24T13:00:01Z'), line(5, 'b', '2026-11-24T13:00:01Z')].join('\n') + '\n',
    );
    await env.put('s/t1.ndjson', line(6, 'c', '2026-11-24T12:59:00Z') + '\n');
    const wh = env.engine.warehouse;
    const run = async (spec: JobSpec) => {
      await wh.insertJob(spec);
      for (;;) {
        const st = await wh.getJob(spec.jobId);
        if (st?.state === 'DONE') return st;
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const labels = {};
    for (const [ref, files] of [
      [stage, ['s/p1.ndjson', 's/p2.ndjson']],
      [tail, ['s/t1.ndjson']],
    ] as const) {
      await wh.ensureTable({ ...table.spec, ref });
      const st = await run({
        kind: 'load',
        jobId: `load_${ref.table}`,
        table: table.spec,
        destination: ref,
        partition: '2026112413',
        sourceUris: files.map((f) => env.engine.store.uri('lake', f)),
        writeDisposition: 'WRITE_TRUNCATE',
        labels,
      });
      assert.equal(st.errorResult, undefined, JSON.stringify(st.errorResult));
    }
    const columns = table.spec.schema!.map((f) => f.name);
    const st = await run({
      kind: 'copy',
      jobId: 'dedupe_1',
      source: stage,
      destination: table.spec.ref,
      partition: '2026112413',
      writeDisposition: 'WRITE_TRUNCATE',
      labels,
      dedupe: { key: 'event_id', order: 'received_at', columns, exclude: tail },
    });
    assert.equal(st.errorResult, undefined, JSON.stringify(st.errorResult));
    assert.equal(st.outputRows, 2);
    const rows = await env.rows(
      `SELECT event_id, device_id, strftime(_PARTITIONTIME, '%Y%m%d%H') AS p FROM lake_us.locations ORDER BY event_id`,
    );
    // a: the 13:00:01 copy (dev-4); b: two copies at the same time, the tie broken by the row (dev-2 < dev-5); c: held by the tail.
    assert.deepEqual(rows, [
      { event_id: 'a', device_id: 'dev-4', p: '2026112413' },
      { event_id: 'b', device_id: 'dev-2', p: '2026112413' },
    ]);
  });

  it('BigQuery: the same as a query job writing table$P, identifiers checked', () => {
    const spec: JobSpec = {
      kind: 'copy',
      jobId: 'j1',
      source: { dataset: 'lake_us', table: 'stage_p' },
      destination: { dataset: 'lake_us', table: 'locations' },
      partition: '2026112413',
      writeDisposition: 'WRITE_TRUNCATE',
      labels: { tidemark: 'v1' },
      dedupe: {
        key: 'event_id',
        order: 'received_at',
        columns: ['device_id', 'event_id', 'received_at'],
        exclude: { dataset: 'lake_us', table: 'stage_tail' },
      },
    };
    const job = jobResource(spec, { project: 'p1', location: 'US' });
    const q = job.configuration!.query!;
    assert.deepEqual(q.destinationTable, { projectId: 'p1', datasetId: 'lake_us', tableId: 'locations$2026112413' });
    assert.equal(q.writeDisposition, 'WRITE_TRUNCATE');
    assert.equal(
      q.query,
      'SELECT t.device_id, t.event_id, t.received_at FROM `p1`.`lake_us`.`stage_p` AS t\nWHERE NOT EXISTS (SELECT 1 FROM `p1`.`lake_us`.`stage_tail` AS e WHERE e.event_id = t.event_id)\nQUALIFY ROW_NUMBER() OVER (PARTITION BY t.event_id ORDER BY t.received_at, TO_JSON_STRING(t)) = 1',
    );
    assert.throws(
      () => dedupeSql(spec.source, { ...spec.dedupe!, key: 'event_id; DROP TABLE x' }, 'p1'),
      /not a plain identifier/,
    );
  });
});
