/**
 * commitTables's handler: a tick runs the commit function (all dml tables, or those it names),
 * logs one line per table result, acknowledges an invalid tick with the reason without
 * committing, and throws a transient failure. The commit itself is a fake here: what a commit does
 * is the core's (shared/core/commit.ts) and tested there.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BackendUnavailableError, ConfigError } from '../../../shared/core/errors.ts';
import { onCommitTick } from '../../../shared/handlers/commit-tick.ts';
import { commitResult as result, DML_YAML, fakeCommit } from '../../helpers/commit.ts';
import { createTestEnv } from '../../helpers/local-env.ts';
import type { TestEnv } from '../../helpers/local-env.ts';
import { pubsubEvent } from '../../helpers/pubsub-event.ts';

describe('onCommitTick', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv({ yaml: DML_YAML });
  });
  after(() => env.close());

  it("Cloud Scheduler's {} commits every dml table; one INFO line per table result with what it read and ran", async () => {
    const commit = fakeCommit(async () => [result('events'), result('events', { outcome: 'idle', partitions: [] })]);
    const before = env.log.entries.length;
    const r = await onCommitTick(env.engine, pubsubEvent({}, { messageId: 'tick-1' }) as never, commit);
    assert.ok(r.ok);
    assert.equal(r.value.length, 2);
    assert.deepEqual(commit.calls, [{}]);
    const lines = env.log.entries.slice(before);
    assert.deepEqual(
      lines.map((l) => [l.severity, l.message]),
      [
        ['INFO', 'commit events: committed (2 partitions)'],
        ['INFO', 'commit events: idle'],
      ],
    );
    assert.deepEqual(
      {
        table: lines[0]!.table,
        outcome: lines[0]!.outcome,
        jobId: lines[0]!.jobId,
        partitions: lines[0]!.partitions,
        filesRead: lines[0]!.filesRead,
        bytesRead: lines[0]!.bytesRead,
        bytesBilled: lines[0]!.bytesBilled,
        loadJobs: lines[0]!.loadJobs,
        dmlStatements: lines[0]!.dmlStatements,
        messageId: lines[0]!.messageId,
      },
      {
        table: 'events',
        outcome: 'committed',
        jobId: 'tidemark_commit_events_1',
        partitions: ['2026112412', '2026112413'],
        filesRead: 3,
        bytesRead: 4096,
        bytesBilled: 10_485_760,
        loadJobs: 2,
        dmlStatements: 3,
        messageId: 'tick-1',
      },
    );
  });

  it('a tick naming tables commits those; an empty payload is {}', async () => {
    const commit = fakeCommit(async () => []);
    await onCommitTick(env.engine, pubsubEvent({ tables: ['events'] }) as never, commit);
    await onCommitTick(env.engine, pubsubEvent(undefined, { raw: '' }) as never, commit);
    assert.deepEqual(commit.calls, [{ tables: ['events'] }, {}]);
  });

  it('an aborted commit is a WARNING with its reason (its partitions stay dirty for the next tick)', async () => {
    const commit = fakeCommit(async () => [
      result('events', { outcome: 'aborted', jobId: null, message: 'a file was quarantined' }),
    ]);
    const before = env.log.entries.length;
    const r = await onCommitTick(env.engine, pubsubEvent({}) as never, commit);
    assert.ok(r.ok);
    const [line] = env.log.entries.slice(before);
    assert.equal(line!.severity, 'WARNING');
    assert.equal(line!.message, 'commit events: aborted (2 partitions): a file was quarantined');
    assert.equal(line!.detail, 'a file was quarantined');
  });

  const invalid: [string, { payload?: unknown; raw?: string }, RegExp][] = [
    ['not JSON', { raw: '{tables' }, /not JSON/],
    ['an unknown field', { payload: { tables: ['events'], now: true } }, /message\.now: unknown field/],
    ['tables not a list', { payload: { tables: 'events' } }, /message\.tables: expected an array/],
    ['an unknown table', { payload: { tables: ['nosuch'] } }, /unknown table "nosuch"/],
    ['a table committed by loads', { payload: { tables: ['orders'] } }, /"orders" has commit\.mode load, not dml/],
    ['SQL in a table name', { payload: { tables: ['events; DROP TABLE x'] } }, /message\.tables\[0\]/],
  ];
  for (const [name, msg, reason] of invalid) {
    it(`acknowledges ${name} with the reason and commits nothing`, async () => {
      const commit = fakeCommit(async () => [result('events')]);
      const r = await onCommitTick(
        env.engine,
        pubsubEvent(msg.payload, msg.raw !== undefined ? { raw: msg.raw } : {}) as never,
        commit,
      );
      assert.ok(!r.ok && r.permanent);
      assert.match(String((r.error as Error).message), reason);
      assert.deepEqual(commit.calls, []);
    });
  }

  it('throws a transient failure (the next tick is the retry); acknowledges a permanent one', async () => {
    const down = fakeCommit(async () => {
      throw new BackendUnavailableError('BigQuery is unavailable', {});
    });
    await assert.rejects(onCommitTick(env.engine, pubsubEvent({}) as never, down), BackendUnavailableError);
    const broken = fakeCommit(async () => {
      throw new ConfigError('x.yaml', [{ path: 'tables', message: 'bad' }]);
    });
    const r = await onCommitTick(env.engine, pubsubEvent({}) as never, broken);
    assert.ok(!r.ok && r.permanent);
  });
});
