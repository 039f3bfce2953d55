/**
 * Waiver records: compare-and-swap under concurrent writers, re-waiving, revoking, and a
 * corrupt object read back as a clear error naming the object and the field.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addWaivers,
  CorruptWaiversError,
  MAX_WAIVER_PARTITIONS,
  parseWaiverSet,
  readWaivers,
  revokeWaivers,
  waiversObjectName,
} from '../../../shared/core/waivers.ts';
import { MemoryObjectStore } from '../../helpers/memory-store.ts';

const cfg = { bucket: 'lake', prefix: '_tidemark/' };
const entry = (reason: string) => ({ reason, by: 'ana@box', at: 1 });

describe('waivers', () => {
  it('live beside the state objects, one object per table', () => {
    assert.equal(waiversObjectName(cfg, 'events'), '_tidemark/waivers/events.json');
  });

  it('concurrent waivers of one table all land (compare-and-swap, re-read on conflict)', async () => {
    const store = new MemoryObjectStore();
    const hours = Array.from({ length: 12 }, (_, h) => `20261124${String(h).padStart(2, '0')}`);
    await Promise.all(hours.map((p) => addWaivers(store, cfg, 'events', [p], entry(`gap ${p}`))));
    const { set } = await readWaivers(store, cfg, 'events');
    assert.deepEqual(
      set.waivers.map((w) => w.partition),
      hours,
    );
    assert.ok(store.calls.write > hours.length, 'some writes lost the race and were retried');
  });

  it('waiving again replaces the reason; revoking removes only the selected partitions', async () => {
    const store = new MemoryObjectStore();
    await addWaivers(store, cfg, 'events', ['2026112401', '2026112402'], entry('first'));
    await addWaivers(store, cfg, 'events', ['2026112402'], entry('second'));
    assert.deepEqual(
      (await readWaivers(store, cfg, 'events')).set.waivers.map((w) => [w.partition, w.reason]),
      [
        ['2026112401', 'first'],
        ['2026112402', 'second'],
      ],
    );
    assert.equal(await revokeWaivers(store, cfg, 'events', ['2026112402', '2026112403']), 1);
    assert.deepEqual(
      (await readWaivers(store, cfg, 'events')).set.waivers.map((w) => w.partition),
      ['2026112401'],
    );
    assert.deepEqual((await readWaivers(store, cfg, 'orders')).set.waivers, []);
  });

  it('refuses an empty reason and too many partitions at once', async () => {
    const store = new MemoryObjectStore();
    await assert.rejects(addWaivers(store, cfg, 'events', ['2026112401'], entry(' ')), /needs a reason/);
    const many = Array.from({ length: MAX_WAIVER_PARTITIONS + 1 }, (_, i) => String(2026000000 + i));
    await assert.rejects(addWaivers(store, cfg, 'events', many, entry('x')), /at most/);
  });

  const corrupt: [string, string, RegExp][] = [
    ['not JSON', '{', /not JSON/],
    ['another version', '{"version":2,"table":"events","waivers":[]}', /version is 2/],
    ["another table's object", '{"version":1,"table":"orders","waivers":[]}', /table is "orders"/],
    [
      'a bad partition id',
      '{"version":1,"table":"events","waivers":[{"partition":"2026-11-24","reason":"x","by":"a","at":1}]}',
      /waivers\[0\]\.partition/,
    ],
    [
      'no reason',
      '{"version":1,"table":"events","waivers":[{"partition":"2026112401","reason":"","by":"a","at":1}]}',
      /waivers\[0\]\.reason/,
    ],
  ];
  for (const [what, text, message] of corrupt) {
    it(`a corrupt object (${what}) is an error naming it`, () => {
      assert.throws(
        () => parseWaiverSet(text, 'gs://lake/_tidemark/waivers/events.json', 'events'),
        (err: Error) =>
          err instanceof CorruptWaiversError &&
          message.test(err.message) &&
          err.message.includes('gs://lake/_tidemark/waivers/events.json'),
      );
    });
  }
});
