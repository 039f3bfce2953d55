/**
 * The status page's handler without a browser: who may act (a table), actions refused to
 * readers and to non-JSON bodies, a dry run publishing nothing, bad input named.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { BackfillMessage } from '../../../shared/core/audit.ts';
import { callerEmail, mayAct } from '../../../shared/status-page/access.ts';
import type { PageAccess } from '../../../shared/status-page/access.ts';
import { createStatusPageHandler } from '../../../shared/status-page/handler.ts';
import { serveLocally } from '../../../shared/status-page/serve.ts';
import { createTestEnv } from '../../helpers/local-env.ts';
import type { TestEnv } from '../../helpers/local-env.ts';

const jwt = (claims: object) => `Bearer e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

describe('who may act on the status page', () => {
  const deployed: PageAccess = {
    mode: 'deployed',
    operators: ['user:alice@example.com', 'domain:ops.example.com', 'serviceAccount:bot@p.iam.gserviceaccount.com'],
  };
  const cases: [string, PageAccess, Record<string, string>, boolean][] = [
    ['locally, anyone', { mode: 'local' }, {}, true],
    ['IAP user listed', deployed, { 'x-goog-authenticated-user-email': 'accounts.google.com:Alice@example.com' }, true],
    [
      'IAP user not listed',
      deployed,
      { 'x-goog-authenticated-user-email': 'accounts.google.com:bob@example.com' },
      false,
    ],
    ['ID token of a listed domain', deployed, { authorization: jwt({ email: 'carol@ops.example.com' }) }, true],
    ['a look-alike domain', deployed, { authorization: jwt({ email: 'carol@evilops.example.com' }) }, false],
    ['listed service account', deployed, { authorization: jwt({ email: 'bot@p.iam.gserviceaccount.com' }) }, true],
    ['no identity', deployed, {}, false],
    ['a token that is not a JWT', deployed, { authorization: 'Bearer abc' }, false],
    [
      'deployed with no operators',
      { mode: 'deployed', operators: [] },
      { authorization: jwt({ email: 'alice@example.com' }) },
      false,
    ],
  ];
  for (const [name, access, headers, allowed] of cases)
    it(`${name} -> ${allowed ? 'may act' : 'reads only'}`, () =>
      assert.equal(mayAct(access, callerEmail(headers)), allowed));
});

describe('the status page API', () => {
  let env: TestEnv;
  const published: BackfillMessage[] = [];
  const servers: Record<string, { url: string; close(): Promise<void> }> = {};
  before(async () => {
    env = await createTestEnv();
    for (const [name, access] of [
      ['local', { mode: 'local' }],
      ['deployed', { mode: 'deployed', operators: ['user:alice@example.com'] }],
    ] as const) {
      servers[name] = await serveLocally(
        createStatusPageHandler({
          status: env.engine,
          log: env.log,
          deadLetters: async () => [],
          publishBackfills: async (m) => void published.push(...m),
          access,
        }),
        0,
      );
    }
  });
  after(async () => {
    for (const s of Object.values(servers)) await s.close();
    await env.close();
  });
  const post = (
    server: string,
    body: unknown,
    headers: Record<string, string> = { 'content-type': 'application/json' },
  ) => fetch(`${servers[server]!.url}api/backfill`, { method: 'POST', headers, body: JSON.stringify(body) });

  it('serves the page, its module and the status JSON', async () => {
    const html = await fetch(servers.local!.url);
    assert.match(html.headers.get('content-type')!, /text\/html/);
    assert.match(await html.text(), /<script type="module" src="app.js">/);
    assert.match((await fetch(`${servers.local!.url}app.js`)).headers.get('content-type')!, /javascript/);
    const status = (await (await fetch(`${servers.local!.url}api/status`)).json()) as {
      tables: { table: string }[];
      canAct: boolean;
    };
    assert.deepEqual(
      status.tables.map((t) => t.table),
      ['events'],
    );
    assert.equal(status.canAct, true);
  });

  it('a dry run shows the messages and publishes nothing; publishing sends them', async () => {
    const dry = (await (await post('local', { table: 'events', from: '2026112400', to: '2026112402' })).json()) as {
      dryRun: boolean;
      messages: { partition: string; force: boolean; reason: string }[];
    };
    assert.equal(dry.dryRun, true);
    assert.deepEqual(
      dry.messages.map((m) => [m.partition, m.force, m.reason]),
      [
        ['2026112400', false, 'manual'],
        ['2026112401', false, 'manual'],
        ['2026112402', false, 'manual'],
      ],
    );
    assert.equal(published.length, 0);
    const res = await post('local', { table: 'events', partition: '2026112400', dryRun: false });
    assert.equal(res.status, 200);
    assert.deepEqual(published, [{ table: 'events', partition: '2026112400', force: true, reason: 'reload' }]);
  });

  it('refuses actions to readers (403), non-JSON bodies (415) and names bad input (400)', async () => {
    published.length = 0;
    const reader = await post(
      'deployed',
      { table: 'events', partition: '2026112400', dryRun: false },
      { 'content-type': 'application/json', authorization: jwt({ email: 'bob@example.com' }) },
    );
    assert.equal(reader.status, 403);
    assert.match(((await reader.json()) as { error: string }).error, /bob@example.com may read but not act/);
    const operator = await post(
      'deployed',
      { table: 'events', partition: '2026112400', dryRun: false },
      { 'content-type': 'application/json', authorization: jwt({ email: 'alice@example.com' }) },
    );
    assert.equal(operator.status, 200);
    const form = await post('local', { table: 'events' }, { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(form.status, 415);
    const huge = await post('local', { table: 'events', pad: 'x'.repeat(20_000) });
    assert.equal(huge.status, 413);
    const unknown = await post('local', { table: 'nope', partition: '2026112400' });
    assert.equal(unknown.status, 400);
    assert.match(((await unknown.json()) as { error: string }).error, /unknown table "nope"/);
    const badId = await fetch(`${servers.local!.url}api/partition?table=events&partition=20261124`);
    assert.equal(badId.status, 400);
    assert.equal(published.length, 1, 'only the operator published');
  });
});
