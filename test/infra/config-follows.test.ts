/**
 * One description of the functions: change any config value and every consumer follows. The
 * consumers are the deploy commands (what cloudbuild runs), the after-deploy script, the Pulumi
 * resource graph and the README's IAM table. A table of cases: each names the value it changes,
 * the old and new text, and where the new one must appear and the old one must be gone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { afterDeployScript, deployCommands } from '../../infra/deploy-commands.ts';
import { roleTable } from '../../infra/roles.ts';
import type { Config } from '../../shared/config/types.ts';
import type { DeploySettings } from '../../infra/deploy-config.ts';
import { testConfig, testDeploy } from './fixtures.ts';
import { resourceGraph } from './pulumi-graph.ts';

type Consumer = 'deploy' | 'after' | 'graph' | 'readme';

/** The consumers' output (only `which`: the Pulumi graph is the slow one). */
async function render(
  config: Config,
  deploy: DeploySettings,
  which: readonly Consumer[] = ['deploy', 'after', 'graph', 'readme'],
): Promise<Partial<Record<Consumer, string>>> {
  return {
    ...(which.includes('deploy') ? { deploy: JSON.stringify(deployCommands(config, deploy)) } : {}),
    ...(which.includes('after') ? { after: afterDeployScript(config, deploy) } : {}),
    ...(which.includes('graph') ? { graph: JSON.stringify(await resourceGraph(config, deploy)) } : {}),
    ...(which.includes('readme') ? { readme: roleTable(deploy.serviceAccountPrefix) } : {}),
  };
}

/** `name` as a whole name: not part of a longer one (tidemark-audit is not tidemark-audit-results). */
const whole = (name: string) => new RegExp(`(?<![\\w.-])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`);

// events commits by DML, so the committer, its topic and its tick are among the consumers' output.
const plain = testConfig({ state: { bucket: 'tidemark-test-tidemark-state', prefix: '_tidemark/' } });
const base: Config = {
  ...plain,
  tables: plain.tables.map((t) => (t.name === 'events' ? { ...t, commit: { mode: 'dml', intervalMs: 60_000 } } : t)),
};
const topics = base.topics;
/** Names that differ from the topics' and regions that differ from each other, so each value is findable. */
const BASE_DEPLOY = { serviceAccountPrefix: 'tmk', lakeRegion: 'us-central1' };
const deployWith = (raw: Record<string, unknown> = {}) => testDeploy({ ...BASE_DEPLOY, ...raw });

interface Case {
  what: string;
  config?: Partial<Config>;
  deploy?: Record<string, unknown>;
  from: string;
  to: string;
  in: Consumer[];
}

const CASES: Case[] = [
  {
    what: 'topics.audit',
    config: { topics: { ...topics, audit: 'team-audit' } },
    from: 'tidemark-audit',
    to: 'team-audit',
    in: ['deploy', 'graph'],
  },
  {
    what: 'topics.backfill',
    config: { topics: { ...topics, backfill: 'team-backfill' } },
    from: 'tidemark-backfill',
    to: 'team-backfill',
    in: ['deploy', 'graph'],
  },
  {
    what: 'topics.backfillDlq',
    config: { topics: { ...topics, backfillDlq: 'team-dlq' } },
    from: 'tidemark-backfill-dlq',
    to: 'team-dlq',
    in: ['after', 'graph'],
  },
  {
    what: 'topics.auditResults',
    config: { topics: { ...topics, auditResults: 'team-results' } },
    from: 'tidemark-audit-results',
    to: 'team-results',
    in: ['graph'],
  },
  {
    what: 'topics.commit',
    config: { topics: { ...topics, commit: 'team-commit' } },
    from: 'tidemark-commit',
    to: 'team-commit',
    in: ['deploy', 'graph'],
  },
  {
    what: 'deploy.serviceAccountPrefix (the committer and its tick)',
    deploy: { serviceAccountPrefix: 'acme-tm' },
    from: 'tmk-committer',
    to: 'acme-tm-committer',
    in: ['deploy', 'after', 'graph', 'readme'],
  },
  {
    what: 'deploy.serviceAccountPrefix (the commit tick job)',
    deploy: { serviceAccountPrefix: 'acme-tm' },
    from: 'tmk-commit-tick',
    to: 'acme-tm-commit-tick',
    in: ['graph'],
  },
  {
    what: 'deploy.serviceAccountPrefix',
    deploy: { serviceAccountPrefix: 'acme-tm' },
    from: 'tmk-loader',
    to: 'acme-tm-loader',
    in: ['deploy', 'after', 'graph', 'readme'],
  },
  {
    what: 'deploy.serviceAccountPrefix (custom roles)',
    deploy: { serviceAccountPrefix: 'acme-tm' },
    from: 'tmk_syncJobs',
    to: 'acme_tm_syncJobs',
    in: ['graph', 'readme'],
  },
  {
    what: 'deploy.region',
    deploy: { region: 'europe-west1' },
    from: '--region=asia-northeast3',
    to: '--region=europe-west1',
    in: ['deploy'],
  },
  {
    what: 'deploy.region (after deploy)',
    deploy: { region: 'europe-west1' },
    from: "--region='asia-northeast3'",
    to: "--region='europe-west1'",
    in: ['after'],
  },
  {
    what: 'deploy.region (scheduler)',
    deploy: { region: 'europe-west1' },
    from: '"region":"asia-northeast3"',
    to: '"region":"europe-west1"',
    in: ['graph'],
  },
  {
    what: 'deploy.lakeRegion',
    deploy: { lakeRegion: 'us-east1' },
    from: '--trigger-location=us-central1',
    to: '--trigger-location=us-east1',
    in: ['deploy'],
  },
  {
    what: 'deploy.lakeRegion (state bucket)',
    deploy: { lakeRegion: 'us-east1' },
    from: 'US-CENTRAL1',
    to: 'US-EAST1',
    in: ['graph'],
  },
  {
    what: 'deploy.loader.maxInstances',
    deploy: { loader: { maxInstances: 7 } },
    from: '--max-instances=20',
    to: '--max-instances=7',
    in: ['deploy'],
  },
  {
    what: 'deploy.backfill.maxInstances',
    deploy: { backfill: { maxInstances: 3 } },
    from: '--max-instances=10',
    to: '--max-instances=3',
    in: ['deploy'],
  },
  {
    what: 'deploy.loader.memory',
    deploy: { loader: { memory: '2Gi' } },
    from: '--memory=512Mi","--timeout=540s","--max-instances=20',
    to: '--memory=2Gi","--timeout=540s","--max-instances=20',
    in: ['deploy'],
  },
  {
    what: 'deploy.auditor.memory',
    deploy: { auditor: { memory: '1Gi' } },
    from: '--memory=512Mi","--timeout=540s","--max-instances=1"',
    to: '--memory=1Gi","--timeout=540s","--max-instances=1"',
    in: ['deploy'],
  },
  {
    what: 'deploy.auditor.timeoutSeconds',
    deploy: { auditor: { timeoutSeconds: 120 } },
    from: '--timeout=540s","--max-instances=1"',
    to: '--timeout=120s","--max-instances=1"',
    in: ['deploy'],
  },
  {
    what: 'deploy.backfill.maxDeliveryAttempts',
    deploy: { backfill: { maxDeliveryAttempts: 25 } },
    from: '--max-delivery-attempts=10',
    to: '--max-delivery-attempts=25',
    in: ['after'],
  },
  {
    what: 'project',
    config: { project: 'other-proj' },
    from: 'tidemark-test',
    to: 'other-proj',
    in: ['deploy', 'after', 'graph'],
  },
  {
    what: 'lake.bucket',
    config: {
      lake: { bucket: 'new-lake' },
      tables: base.tables.map((t) =>
        t.source.bucket === 'lake-seoul' ? { ...t, source: { ...t.source, bucket: 'new-lake' } } : t,
      ),
    },
    from: 'lake-seoul',
    to: 'new-lake',
    in: ['deploy', 'graph'],
  },
  {
    what: 'state.bucket',
    config: { state: { bucket: 'my-state', prefix: '_tidemark/' } },
    from: 'tidemark-test-tidemark-state',
    to: 'my-state',
    in: ['graph'],
  },
  {
    what: 'audit.schedule',
    config: { audit: { ...base.audit, schedule: '45 3 * * *' } },
    from: '*/5 * * * *',
    to: '45 3 * * *',
    in: ['graph'],
  },
  {
    what: 'audit.timeZone',
    config: { audit: { ...base.audit, timeZone: 'Europe/Paris' } },
    from: 'Asia/Seoul',
    to: 'Europe/Paris',
    in: ['graph'],
  },
];

describe('every consumer follows the config', async () => {
  const before = await render(base, deployWith());
  for (const c of CASES) {
    it(`${c.what}: ${c.from} → ${c.to} in ${c.in.join(', ')}`, async () => {
      const after = await render({ ...base, ...c.config }, deployWith(c.deploy), c.in);
      for (const consumer of c.in) {
        assert.match(before[consumer]!, whole(c.from), `${consumer} had ${c.from} before (the case is not vacuous)`);
        assert.match(after[consumer]!, whole(c.to), `${consumer} follows ${c.what}: ${c.to}`);
        assert.doesNotMatch(
          after[consumer]!,
          whole(c.from),
          `${consumer} still has ${c.from} after changing ${c.what}`,
        );
      }
    });
  }
});
