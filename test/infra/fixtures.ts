/** A resolved config and deploy settings for infra tests: three tables over two lake buckets (`table` builds more). */
import type { Config, TableConfig } from '../../shared/config/types.ts';
import type { TableSpec } from '../../shared/core/ports.ts';
import { parseDeploySettings } from '../../infra/deploy-config.ts';
import type { DeploySettings } from '../../infra/deploy-config.ts';

export const PROJECT = 'tidemark-test';

export function table(name: string, bucket: string, spec: Omit<TableSpec, 'format' | 'autodetect'>): TableConfig {
  const full: TableSpec = { format: 'NEWLINE_DELIMITED_JSON', autodetect: false, ...spec };
  return {
    name,
    source: { bucket, pattern: `${name}/{yyyy}/{mm}/{dd}/*.json`, timeZone: 'Asia/Seoul' },
    format: full.format,
    spec: full,
    partitioning: full.partitioning,
    jobBudget: 300,
    jobBurst: 20,
    maxUrisPerLoad: 10_000,
    onSourceDelete: 'keep',
    commit: { mode: 'load', intervalMs: 60_000 },
  };
}

export function testConfig(overrides: Partial<Config> = {}): Config {
  return {
    file: '/work/tidemark.config.yaml',
    project: PROJECT,
    location: 'US',
    lake: { bucket: 'lake-seoul' },
    state: { bucket: 'lake-seoul', prefix: '_tidemark/' },
    tables: [
      table('events', 'lake-seoul', {
        ref: { dataset: 'lake_us', table: 'events' },
        partitioning: { type: 'HOUR', field: 'ts', fieldType: 'TIMESTAMP' },
        schema: [
          { name: 'event_id', type: 'STRING', mode: 'REQUIRED' },
          { name: 'ts', type: 'TIMESTAMP' },
        ],
        labels: { team: 'data' },
      }),
      table('orders', 'orders-seoul', {
        ref: { dataset: 'lake_us', table: 'orders' },
        partitioning: { type: 'DAY' },
        schema: [{ name: 'order_id', type: 'INTEGER' }],
      }),
      table('sessions', 'lake-seoul', {
        ref: { dataset: 'sessions_us', table: 'sessions' },
        partitioning: { type: 'DAY', field: 'session_date', fieldType: 'DATE' },
      }),
    ],
    audit: {
      schedule: '*/5 * * * *',
      timeZone: 'Asia/Seoul',
      lookbackMs: 72 * 3_600_000,
      settleMs: 600_000,
      auditFromMs: 3 * 86_400_000,
      maxBackfillsPerAudit: 500,
    },
    topics: {
      audit: 'tidemark-audit',
      backfill: 'tidemark-backfill',
      backfillDlq: 'tidemark-backfill-dlq',
      auditResults: 'tidemark-audit-results',
      commit: 'tidemark-commit',
    },
    streams: [],
    ...overrides,
  };
}

export function testDeploy(raw: Record<string, unknown> = {}): DeploySettings {
  return parseDeploySettings(raw, 'test.yaml');
}
