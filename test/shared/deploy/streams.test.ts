/**
 * The stream's cloud resources as described for the infrastructure program: REST field names of
 * Topic and Subscription.cloudStorageConfig, values resolved from the config, least-privilege
 * grants. The Pub/Sub emulator does not write to Cloud Storage, so the storage subscription is
 * checked here, at the boundary, and its file names against the table pattern.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../shared/config/load.ts';
import { describeStreams } from '../../../shared/deploy/streams.ts';
import { FUNCTION_TABLE } from '../../../shared/deploy/functions.ts';
import { streamObjectName } from '../../../shared/ingest/file-names.ts';
import { createRouter } from '../../../shared/routing/router.ts';
import { streamYaml } from '../../helpers/streams.ts';

describe('describeStreams', () => {
  const config = parseConfig(
    streamYaml('    files: { maxDuration: 2m, maxBytes: 5000000 }\n'),
    '/tmp/tidemark.config.yaml',
  );
  const d = describeStreams(config, {
    lakeRegion: 'asia-northeast3',
    ingestAccountEmail: 'tidemark-ingest@test-project.iam.gserviceaccount.com',
  });
  const [s] = d.streams;

  it('topic and dead-letter topic store messages only in the lake region', () => {
    assert.deepEqual(
      s!.topics.map((t) => [t.name, t.messageStoragePolicy]),
      [
        ['projects/test-project/topics/tidemark-stream-locations', { allowedPersistenceRegions: ['asia-northeast3'] }],
        [
          'projects/test-project/topics/tidemark-stream-locations-dlq',
          { allowedPersistenceRegions: ['asia-northeast3'] },
        ],
      ],
    );
  });

  it('the storage subscription: cloudStorageConfig with REST field names, TEXT format, dead-letter policy', () => {
    const sub = s!.subscriptions[0]!;
    assert.equal(sub.name, 'projects/test-project/subscriptions/tidemark-stream-locations-gcs');
    assert.equal(sub.topic, 'projects/test-project/topics/tidemark-stream-locations');
    assert.deepEqual(sub.cloudStorageConfig, {
      bucket: 'lake',
      filenamePrefix: 'streams/locations/',
      filenameSuffix: '.ndjson',
      filenameDatetimeFormat: 'YYYY-MM-DD/hh/mm_ssZ',
      textConfig: {},
      maxDuration: '120s',
      maxBytes: '5000000',
    });
    assert.deepEqual(sub.deadLetterPolicy, {
      deadLetterTopic: 'projects/test-project/topics/tidemark-stream-locations-dlq',
      maxDeliveryAttempts: 10,
    });
    assert.equal(s!.expect.state, 'ACTIVE');
    // The dead-letter topic has a subscription, or what it receives is lost.
    assert.equal(s!.subscriptions[1]!.topic, 'projects/test-project/topics/tidemark-stream-locations-dlq');
  });

  it('names written with that cloudStorageConfig route to the hour they were written', () => {
    const cs = s!.subscriptions[0]!.cloudStorageConfig!;
    const router = createRouter(config);
    for (const ms of [Date.UTC(2026, 10, 24, 13, 59, 59), Date.UTC(2026, 11, 31, 23, 0, 0)]) {
      const name = streamObjectName(
        { prefix: cs.filenamePrefix, datetimeFormat: cs.filenameDatetimeFormat, suffix: cs.filenameSuffix },
        ms,
        '3f0c2a9e-5b1d-4e8f-9a7c-6d5e4f3a2b1c',
      );
      const r = router.route(cs.bucket, name);
      assert.ok(r.kind === 'routed' && r.table.name === 'locations');
      assert.equal(r.partition, new Date(ms).toISOString().replace(/[-T:]/g, '').slice(0, 10));
    }
  });

  it('grants: the service agent writes the bucket and dead-letters; the ingest account publishes to stream topics only', () => {
    assert.deepEqual(
      s!.grants.map((g) => `${g.member.kind} ${g.role} on ${g.resource.kind}:${g.resource.name}`),
      [
        'pubsub-service-agent roles/storage.objectCreator on bucket:lake',
        'pubsub-service-agent roles/storage.legacyBucketReader on bucket:lake',
        'pubsub-service-agent roles/pubsub.publisher on topic:tidemark-stream-locations-dlq',
        'pubsub-service-agent roles/pubsub.subscriber on subscription:tidemark-stream-locations-gcs',
      ],
    );
    assert.deepEqual(
      d.ingestGrants.map((g) => [g.member, g.role, g.resource]),
      [
        [
          { kind: 'service-account', email: 'tidemark-ingest@test-project.iam.gserviceaccount.com' },
          'roles/pubsub.publisher',
          { kind: 'topic', name: 'tidemark-stream-locations' },
        ],
      ],
    );
  });

  it('the function table has ingestEvents: HTTP, its own role, no platform retry', () => {
    const row = FUNCTION_TABLE.find((r) => r.entryPoint === 'ingestEvents');
    assert.deepEqual(row && { folder: row.folder, role: row.role, trigger: row.trigger, retry: row.retry }, {
      folder: 'ingest-events',
      role: 'ingest',
      trigger: { kind: 'http' },
      retry: false,
    });
  });
});
