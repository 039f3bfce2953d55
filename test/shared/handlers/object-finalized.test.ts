/**
 * loadOnFinalize's handler, driven by CloudEvents generated with firebase-functions-test and
 * through functions-framework's test server (binary and structured content modes).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { cloudEvent } from '@google-cloud/functions-framework';
import type { CloudEvent } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import { BudgetExhaustedError } from '../../../shared/core/errors.ts';
import { onObjectFinalized } from '../../../shared/handlers/object-finalized.ts';
import { OBJECT_FINALIZED } from '../../../shared/events/storage-event.ts';
import { createTestEnv, csvRows, storageEvent } from '../../helpers/local-env.ts';
import type { TestEnv } from '../../helpers/local-env.ts';
import { wrapCloudEvent } from '../../helpers/firebase.ts';

const P10 = 'events/dt=2026-11-24/hr=10/';

describe('onObjectFinalized (firebase-functions-test events)', () => {
  let env: TestEnv;
  let fire: (partial?: any) => Promise<Awaited<ReturnType<typeof onObjectFinalized>>>;
  before(async () => {
    env = await createTestEnv();
    fire = wrapCloudEvent(OBJECT_FINALIZED, { bucket: 'lake' }, (e) => onObjectFinalized(env.engine, e));
  });
  after(() => env.close());

  it('loads the object into its partition; sizes and generations arrive as strings', async () => {
    const { generation } = await env.put(`${P10}a.csv`, csvRows(1, 4));
    const r = await fire({ data: { bucket: 'lake', name: `${P10}a.csv`, generation, size: '30' } });
    assert.ok(r.ok && r.value.action === 'synced');
    assert.equal(r.value.result.outcome, 'loaded');
    assert.equal(await env.count(), 4);
    const line = env.log.entries.find((e) => e.message.startsWith(`object ${P10}a.csv`));
    assert.ok(line);
    assert.equal(line.severity, 'INFO');
    assert.equal(line.table, 'events');
    assert.equal(line.partition, '2026112410');
    assert.match(String(line.jobId), /^tidemark_load_events_2026112410_[0-9a-f]{32}$/);
  });

  const unrouted: [string, string][] = [
    ['an object outside every route', 'other/thing.csv'],
    ['an unpadded hour', 'events/dt=2026-11-24/hr=9/a.csv'],
    ['an unpadded day', 'events/dt=2026-12-1/hr=09/a.csv'],
    ['another extension', `${P10}a.json`],
    ['a new sub-folder', `${P10}retry/a.csv`],
  ];
  for (const [what, name] of unrouted) {
    it(`acknowledges ${what} with one WARNING naming the object`, async () => {
      const before = env.log.entries.length;
      const r = await fire({ data: { bucket: 'lake', name, generation: '1', size: '1' } });
      assert.ok(r.ok && r.value.action === 'ignored');
      const lines = env.log.entries.slice(before);
      assert.equal(lines.length, 1);
      assert.equal(lines[0]!.severity, 'WARNING');
      assert.equal(lines[0]!.object, name);
      assert.match(lines[0]!.message, /^unrouted object: no table pattern matches/);
    });
  }

  const ignored: [string, string, string?][] = [
    ['a folder placeholder', P10],
    ['a Spark marker', `${P10}_SUCCESS`],
    ['a temporary file', `${P10}part-1.csv.tmp`],
    ['a hidden file', `${P10}.part-1.csv`],
    // State lives in its own bucket by default (<project>-tidemark-state), not in the lake.
    ["tidemark's own state object", '_tidemark/state/events/2026112410.json', 'test-project-tidemark-state'],
  ];
  for (const [what, name, bucket = 'lake'] of ignored) {
    it(`acknowledges ${what} with one log line`, async () => {
      const before = env.log.entries.length;
      const r = await fire({ data: { bucket, name, generation: '1', size: '1' } });
      assert.ok(r.ok && r.value.action === 'ignored');
      const lines = env.log.entries.slice(before);
      assert.equal(lines.length, 1);
      assert.equal(lines[0]!.severity, 'INFO');
      assert.equal(lines[0]!.object, name);
      assert.match(lines[0]!.message, /^ignored object: /);
    });
  }

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['no object name', { bucket: 'lake', generation: '1' }, /data\.name/],
    [
      'a generation that is not a number',
      { bucket: 'lake', name: `${P10}x.csv`, generation: 'abc' },
      /data\.generation/,
    ],
    [
      'a size that is not a number',
      { bucket: 'lake', name: `${P10}x.csv`, generation: '1', size: 'big' },
      /data\.size/,
    ],
    [
      'an hour that does not exist',
      { bucket: 'lake', name: 'events/dt=2026-11-24/hr=25/x.csv', generation: '1' },
      /hr=25|hour|25/,
    ],
  ];
  for (const [what, data, reason] of bad) {
    it(`acknowledges an event with ${what}, logging the reason`, async () => {
      const before = env.log.entries.length;
      // Built by hand: firebase-functions-test would merge in a default object name.
      const r = await onObjectFinalized(env.engine, { ...storageEvent({ name: 'x' }), data } as never);
      assert.equal(r.ok, false);
      const errors = env.log.entries.slice(before).filter((e) => e.severity === 'ERROR');
      assert.equal(errors.length, 1);
      assert.match(errors[0]!.message, reason);
      assert.equal(errors[0]!.retry, false);
    });
  }
});

describe('onObjectFinalized under functions-framework', () => {
  let env: TestEnv;
  let budgetSpent = false;
  before(async () => {
    env = await createTestEnv();
    cloudEvent('loadOnFinalizeTest', async (event: CloudEvent<unknown>) => {
      if (budgetSpent) throw new BudgetExhaustedError('budget spent (test)');
      await onObjectFinalized(env.engine, event);
    });
  });
  after(() => env.close());

  it('binary content mode: ce-* headers and the object as the body', async () => {
    const { generation } = await env.put(`${P10}bin.csv`, csvRows(100, 3));
    const ev = storageEvent({ name: `${P10}bin.csv`, generation });
    const res = await request(getTestServer('loadOnFinalizeTest'))
      .post('/')
      .set({
        'ce-id': ev.id,
        'ce-specversion': '1.0',
        'ce-type': ev.type,
        'ce-source': ev.source,
        'ce-subject': ev.subject,
        'ce-time': ev.time,
        'content-type': 'application/json',
      })
      .send(ev.data);
    assert.ok(res.status >= 200 && res.status < 300, `status ${res.status}`);
    assert.equal(await env.count(), 3);
  });

  it('structured content mode: the whole CloudEvent as application/cloudevents+json', async () => {
    const { generation } = await env.put(`${P10}structured.csv`, csvRows(200, 2));
    const ev = storageEvent({ name: `${P10}structured.csv`, generation });
    const res = await request(getTestServer('loadOnFinalizeTest'))
      .post('/')
      .set('content-type', 'application/cloudevents+json')
      .send(JSON.stringify(ev));
    assert.ok(res.status >= 200 && res.status < 300, `status ${res.status}`);
    assert.equal(await env.count(), 5);
  });

  it('a transient failure answers 500 so Eventarc redelivers; a permanent one answers 2xx', async () => {
    budgetSpent = true;
    const ev = storageEvent({ name: `${P10}late.csv` });
    const res = await request(getTestServer('loadOnFinalizeTest'))
      .post('/')
      .set('content-type', 'application/cloudevents+json')
      .send(JSON.stringify(ev));
    assert.equal(res.status, 500);
    budgetSpent = false;
    const badEv = { ...ev, data: { bucket: 'lake' } };
    const res2 = await request(getTestServer('loadOnFinalizeTest'))
      .post('/')
      .set('content-type', 'application/cloudevents+json')
      .send(JSON.stringify(badEv));
    assert.ok(res2.status >= 200 && res2.status < 300, `status ${res2.status}`);
  });
});
