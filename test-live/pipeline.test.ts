/**
 * The pipeline against real Cloud Storage and BigQuery: files arrive and are loaded, one is
 * rewritten and another deleted, the auditor finds both partitions stale, the backfills repair
 * them, and the checkpoint labels are set. Opt-in, never part of `npm test`:
 *
 *   TIDEMARK_LIVE_PROJECT=my-project TIDEMARK_LIVE_BUCKET=my-scratch-bucket npm run test:live
 *
 * Uses Application Default Credentials. Creates dataset tidemark_live_<random> (location
 * TIDEMARK_LIVE_LOCATION, default US) and writes under tidemark-live-<random>/ in the bucket;
 * both are deleted afterwards, pass or fail. Use a bucket no deployed loader watches. Without
 * TIDEMARK_LIVE_PROJECT the suite is skipped and nothing touches the network.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { BigQuery } from '@google-cloud/bigquery';
import { parseConfig } from '../shared/config/load.ts';
import { runAudit } from '../shared/core/audit.ts';
import type { AuditDeps, BackfillMessage } from '../shared/core/audit.ts';
import { decodeLabelTime } from '../shared/core/fingerprint.ts';
import { LAST_LOAD_LABEL, WATERMARK_LABEL } from '../shared/core/labels.ts';
import { listAll } from '../shared/core/listing.ts';
import { syncPartition } from '../shared/core/sync.ts';
import type { Engine } from '../shared/core/sync.ts';
import { partitionEnd, partitionIdAt, partitionStart } from '../shared/routing/partition.ts';
import { createGcpEngine } from '../shared/runtime/gcp.ts';

const project = process.env.TIDEMARK_LIVE_PROJECT;
const bucket = process.env.TIDEMARK_LIVE_BUCKET;
const location = process.env.TIDEMARK_LIVE_LOCATION || 'US';
const skip = project
  ? false
  : 'TIDEMARK_LIVE_PROJECT is not set; live tests need a project and Application Default Credentials';
if (skip) process.stderr.write(`live tests skipped: ${skip}\n`);

const run = randomBytes(4).toString('hex');
const dataset = `tidemark_live_${run}`;
const prefix = `tidemark-live-${run}`;
// Two adjacent hours a day back; the audits look at exactly these two.
const A = partitionIdAt(Date.now() - 26 * 3_600_000, 'HOUR');
const B = partitionIdAt(partitionEnd(A), 'HOUR');
const auditWindow = { tables: ['events'], fromMs: partitionStart(A), toMs: partitionEnd(B) };

/** `<prefix>/dt=2026-11-24/hr=13/<file>` for partition 2026112413. */
const objectName = (p: string, file: string) =>
  `${prefix}/dt=${p.slice(0, 4)}-${p.slice(4, 6)}-${p.slice(6, 8)}/hr=${p.slice(8, 10)}/${file}`;
/** CSV with a header and `n` rows. */
const csv = (n: number, tag: string) => 'id,v\n' + Array.from({ length: n }, (_, i) => `${i},${tag}${i}\n`).join('');

function liveConfig(scratchBucket: string) {
  const yaml = `
project: ${project}
location: ${location}
lake: { bucket: ${scratchBucket} }
state: { prefix: "${prefix}/_tidemark/" }
tables:
  - name: events
    source: { pattern: "${prefix}/dt={yyyy}-{mm}-{dd}/hr={hh}/*.csv" }
    format: CSV
    csv: { skipLeadingRows: 1 }
    schema:
      - { name: id, type: INTEGER }
      - { name: v, type: STRING }
    target: { dataset: ${dataset}, table: events }
    partitioning: { type: HOUR }
`;
  return parseConfig(yaml, 'live.tidemark.config.yaml');
}

describe('live pipeline on Cloud Storage and BigQuery', { skip, timeout: 15 * 60_000 }, () => {
  let engine: Engine;
  let deps: AuditDeps;
  let lake: string;
  let bucketChecked = false;
  const published: { topic: string; messages: unknown[] }[] = [];
  const bigquery = new BigQuery({ projectId: project, location });

  /** Rows per partition id, from a query of the table (not from metadata). */
  async function rowsByPartition(): Promise<Record<string, number>> {
    const query = `SELECT FORMAT_TIMESTAMP('%Y%m%d%H', _PARTITIONTIME) AS p, COUNT(*) AS n FROM \`${project}.${dataset}.events\` GROUP BY p`;
    const [rows] = await bigquery.query({ query, location });
    return Object.fromEntries(rows.map((r: { p: string; n: number }) => [r.p, Number(r.n)]));
  }
  const put = (p: string, file: string, rows: number, tag: string) =>
    engine.store.write(lake, objectName(p, file), csv(rows, tag), { contentType: 'text/csv' });
  const sync = (partition: string, extra: { force?: boolean; reason?: string } = {}) =>
    syncPartition(engine, {
      table: 'events',
      partition,
      force: !!extra.force,
      retryFailed: !!extra.force || extra.reason === 'failed',
      reason: extra.reason ? `backfill-${extra.reason}` : 'live-test',
    });

  before(async () => {
    if (!bucket)
      throw new Error(
        'TIDEMARK_LIVE_BUCKET must name a scratch bucket in the project when TIDEMARK_LIVE_PROJECT is set',
      );
    lake = bucket;
    const config = liveConfig(lake);
    engine = createGcpEngine({ K_SERVICE: 'tidemark-live-test' }, config);
    deps = {
      ...engine,
      bus: {
        publish: async (topic, messages) => (
          published.push({ topic, messages }),
          messages.map((_, i) => `live-${published.length}-${i}`)
        ),
      },
    };
    await engine.store.listPage(lake, { prefix, maxResults: 1 }).catch((err: Error) => {
      throw new Error(`scratch bucket gs://${lake} is not usable: ${err.message}`);
    });
    bucketChecked = true;
    await engine.warehouse.ensureTable(config.tables[0]!.spec);
  });

  after(async () => {
    if (!bucketChecked) return; // nothing was created
    const problems: string[] = [];
    await bigquery
      .dataset(dataset)
      .delete({ force: true }) // deleteContents
      .catch(
        (err: { code?: number; message: string }) =>
          err.code === 404 || problems.push(`dataset ${dataset}: ${err.message}`),
      );
    try {
      const names: string[] = [];
      for await (const o of listAll(engine.store, lake, `${prefix}/`)) names.push(o.name);
      await Promise.all(names.map((n) => engine.store.remove(lake, n)));
    } catch (err) {
      problems.push(`objects under gs://${lake}/${prefix}/: ${(err as Error).message}`);
    }
    if (problems.length) throw new Error(`clean-up failed; delete by hand: ${problems.join('; ')}`);
  });

  it('loads two files into one partition and one into another', async () => {
    await put(A, 'a1.csv', 3, 'a');
    await put(A, 'a2.csv', 2, 'b');
    await put(B, 'b1.csv', 4, 'c');
    const [a, b] = [await sync(A), await sync(B)];
    assert.deepEqual([a.outcome, a.objects, a.rows], ['loaded', 2, 5]);
    assert.deepEqual([b.outcome, b.objects, b.rows], ['loaded', 1, 4]);
    assert.deepEqual(await rowsByPartition(), { [A]: 5, [B]: 4 });
    assert.equal((await sync(A)).outcome, 'up-to-date', 'an unchanged partition is not loaded again');
  });

  it('audits a rewritten file and a deleted one as stale and publishes a backfill for each', async () => {
    await put(A, 'a1.csv', 6, 'd');
    await engine.store.remove(lake, objectName(B, 'b1.csv'));
    const report = await runAudit(deps, auditWindow);
    const findings = report.tables[0]!.findings.map((f) => [f.partition, f.class]);
    assert.deepEqual(findings, [
      [A, 'stale'],
      [B, 'stale'],
    ]);
    assert.equal(report.published, 2);
    const backfills = published.find((m) => m.topic === engine.config.topics.backfill)?.messages as BackfillMessage[];
    assert.deepEqual(backfills, [
      { table: 'events', partition: A, force: false, reason: 'stale' },
      { table: 'events', partition: B, force: false, reason: 'stale' },
    ]);
    assert.ok(
      published.some((m) => m.topic === engine.config.topics.auditResults),
      'the audit report is published',
    );
  });

  it('repairs both partitions by running the backfills through syncPartition', async () => {
    const backfills = published.find((m) => m.topic === engine.config.topics.backfill)!.messages as BackfillMessage[];
    const outcomes: string[] = [];
    for (const m of backfills) outcomes.push((await sync(m.partition, m)).outcome);
    assert.deepEqual(outcomes, ['loaded', 'emptied']);
    assert.deepEqual(await rowsByPartition(), { [A]: 8 }, 'A: 6 rewritten rows + 2; B: emptied');
  });

  it('finds nothing left to do on the next audit and sets both checkpoint labels', async () => {
    const seen = published.length;
    const report = await runAudit(deps, auditWindow);
    assert.deepEqual(report.tables[0]!.findings, []);
    assert.equal(report.published, 0);
    assert.ok(!published.slice(seen).some((m) => m.topic === engine.config.topics.backfill), 'no backfills');
    const table = await engine.warehouse.getTableLabels(engine.config.tables[0]!.spec.ref);
    assert.ok(table, 'the table exists');
    const lastLoad = decodeLabelTime(table.labels[LAST_LOAD_LABEL]);
    assert.ok(
      lastLoad !== null && lastLoad > Date.now() - 60 * 60_000,
      `${LAST_LOAD_LABEL} = ${table.labels[LAST_LOAD_LABEL]}`,
    );
    assert.equal(
      decodeLabelTime(table.labels[WATERMARK_LABEL]),
      partitionEnd(B),
      `${WATERMARK_LABEL} = ${table.labels[WATERMARK_LABEL]}`,
    );
  });
});
