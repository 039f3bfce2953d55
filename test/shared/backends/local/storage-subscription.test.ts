/**
 * The storage subscription's local stand-in: one message payload per line, a new file at
 * maxBytes (an oversized message gets a file of its own), names as the service writes them,
 * and acknowledgement only after the file is written (a failure delivers the messages again).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LocalBus } from '../../../../shared/backends/local/bus.ts';
import { LocalStorageSubscription } from '../../../../shared/backends/local/storage-subscription.ts';
import { createTestEnv } from '../../../helpers/local-env.ts';
import type { TestEnv } from '../../../helpers/local-env.ts';
import { streamYaml } from '../../../helpers/streams.ts';

describe('LocalStorageSubscription', () => {
  let env: TestEnv;
  before(async () => {
    env = await createTestEnv({ yaml: streamYaml() });
  });
  after(() => env.close());

  const open = (bus: LocalBus, extra: Partial<ConstructorParameters<typeof LocalStorageSubscription>[0]> = {}) => {
    let n = 0;
    return new LocalStorageSubscription({
      bus,
      topic: 't',
      store: env.engine.store,
      bucket: 'lake',
      naming: { prefix: 'streams/test/', datetimeFormat: 'YYYY-MM-DD/hh/mm_ssZ', suffix: '.ndjson' },
      maxDurationMs: Infinity,
      maxBytes: 100,
      clock: env.clock,
      log: env.log,
      minBackoffMs: 1,
      newUuid: () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
      ...extra,
    });
  };

  it('cuts a file at maxBytes; each line is one message payload; names carry the open time', async () => {
    const bus = new LocalBus({ clock: env.clock });
    const sub = open(bus);
    await bus.publish('t', [
      { a: 'x'.repeat(30) },
      { a: 'y'.repeat(30) },
      { a: 'z'.repeat(30) },
      { a: 'w'.repeat(200) },
      { a: 1 },
    ]);
    await sub.flush();
    await bus.drain();
    assert.deepEqual(
      sub.written.map((f) => [f.name, f.messages]),
      [
        ['streams/test/2026-11-24/12/00_00Z_00000000-0000-4000-8000-000000000001.ndjson', 2],
        ['streams/test/2026-11-24/12/00_00Z_00000000-0000-4000-8000-000000000002.ndjson', 1],
        ['streams/test/2026-11-24/12/00_00Z_00000000-0000-4000-8000-000000000003.ndjson', 1],
        ['streams/test/2026-11-24/12/00_00Z_00000000-0000-4000-8000-000000000004.ndjson', 1],
      ],
    );
    const text = (await env.engine.store.read('lake', sub.written[0]!.name))!.data.toString();
    assert.equal(text, `{"a":"${'x'.repeat(30)}"}\n{"a":"${'y'.repeat(30)}"}\n`);
    await sub.close();
    bus.close();
  });

  it('acknowledges only after writing: a failure after the write delivers the messages again, into a second file', async () => {
    const bus = new LocalBus({ clock: env.clock });
    let fail = true;
    const sub = open(bus, {
      naming: { prefix: 'streams/crash/', datetimeFormat: 'YYYY-MM-DD/hh/mm_ssZ', suffix: '.ndjson' },
      maxBytes: 10_000,
      afterWrite: () => {
        if (fail) {
          fail = false;
          throw new Error('crash after the write');
        }
      },
    });
    await bus.publish('t', [{ id: 1 }, { id: 2 }]);
    let idle = false;
    void bus.drain().then(() => (idle = true));
    while (!idle) {
      await sub.flush();
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    assert.deepEqual(
      sub.written.map((f) => f.messages),
      [2, 2],
    );
    assert.deepEqual(bus.deadLetters(), []);
    await sub.close();
    bus.close();
  });
});
