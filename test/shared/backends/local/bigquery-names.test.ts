/**
 * Tables named as BigQuery allows them (dashes, spaces, leading digits, Unicode, another project)
 * load and audit on the local backend: the names reach DuckDB only quoted, and everything derived
 * from them (job ids, labels, stage tables) uses the config `name` instead.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runAudit } from '../../../../shared/core/audit.ts';
import type { AuditDeps } from '../../../../shared/core/audit.ts';
import { syncPartition } from '../../../../shared/core/sync.ts';
import { createTestEnv, csvRows } from '../../../helpers/local-env.ts';

const NAMES: { name: string; target: string; sql: string }[] = [
  { name: 'dashes', target: '{ dataset: lake_us, table: nyc-311 }', sql: '"lake_us"."nyc-311"' },
  { name: 'digits', target: '{ dataset: 2021_sales, table: 2021_orders }', sql: '"2021_sales"."2021_orders"' },
  { name: 'hangul', target: '{ dataset: lake_us, table: 주문 }', sql: '"lake_us"."주문"' },
  { name: 'spaces', target: '{ dataset: lake_us, table: "table 01" }', sql: '"lake_us"."table 01"' },
  {
    name: 'elsewhere',
    target: '{ project: other-project, dataset: shared, table: "étudiant-01" }',
    sql: '"shared"."étudiant-01"',
  },
];

const YAML = `
project: test-project
location: US
lake: { bucket: lake }
tables:
${NAMES.map(
  (n) => `  - name: ${n.name}
    source: { pattern: "${n.name}/{yyyy}/{m}/{d}/{h}/*.csv" }
    format: CSV
    csv: { skipLeadingRows: 1 }
    schema:
      - { name: id, type: INTEGER }
      - { name: v, type: STRING }
    target: ${n.target}
    partitioning: { type: HOUR }
    maxUrisPerLoad: 1
`,
).join('')}`;

const at = (h: number) => Date.UTC(2026, 3, 1, h);
const pid = (h: number) => `20260401${String(h).padStart(2, '0')}`;

describe('BigQuery table names on the local backend', () => {
  it('load (directly and through a staging table), then audit clean', async () => {
    const env = await createTestEnv({ yaml: YAML });
    try {
      for (const n of NAMES) {
        await env.put(`${n.name}/2026/4/1/3/a.csv`, csvRows(1, 3));
        await env.put(`${n.name}/2026/4/1/4/a.csv`, csvRows(10, 2));
        await env.put(`${n.name}/2026/4/1/4/b.csv`, csvRows(20, 2)); // two files > maxUrisPerLoad: staged
        for (const h of [3, 4]) {
          const r = await syncPartition(env.engine, { table: n.name, partition: pid(h), reason: 'test' });
          assert.equal(r.outcome, 'loaded', `${n.name} ${pid(h)}: ${JSON.stringify(r)}`);
        }
        assert.equal(await env.count('true', n.sql), 7, n.name);
      }
      const deps: AuditDeps = { ...env.engine, bus: { publish: async (_topic, msgs) => msgs.map(() => 'id') } };
      const report = await runAudit(deps, { fromMs: at(0), toMs: at(6) });
      for (const n of NAMES) {
        const t = report.tables.find((x) => x.table === n.name)!;
        assert.deepEqual(
          t.findings.map((f) => `${f.partition}:${f.class}`),
          [],
          `${n.name}: ${JSON.stringify(t.findings)}`,
        );
        assert.equal(t.counts.ok, 2, n.name);
      }
      // Job ids and labels come from the config name, never from the BigQuery name.
      const jobs = await env.rows(`SELECT job_id, kind, spec->>'$.source.table' AS stage FROM _tidemark.jobs`);
      assert.ok(
        jobs.every((j) => /^[A-Za-z0-9_-]+$/.test(String(j.job_id))),
        JSON.stringify(jobs),
      );
      const stages = jobs.filter((j) => j.kind === 'copy').map((j) => String(j.stage).replace(/_[0-9a-f]{8}$/, ''));
      assert.deepEqual(stages.sort(), NAMES.map((n) => `${n.name}__tidemark_stage_${pid(4)}`).sort());
    } finally {
      await env.close();
    }
  });
});
