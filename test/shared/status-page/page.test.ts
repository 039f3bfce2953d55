/**
 * The status page in a real browser (chromium via playwright-core) against a local run with
 * known holes: the right cells in the right colours, a cell's details with the local path time,
 * the problems-only filter, and a reload that turns a missing cell ok. Writes the README's
 * screenshot, docs/status-page.png. Also: a year of hourly partitions for 10 tables draws into
 * canvases, not tens of thousands of DOM nodes.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { runAudit } from '../../../shared/core/audit.ts';
import type { Warehouse } from '../../../shared/core/ports.ts';
import { encodeRuns, writeSnapshot } from '../../../shared/core/status-store.ts';
import type { CellClass } from '../../../shared/core/status-store.ts';
import { syncPartition } from '../../../shared/core/sync.ts';
import { parseConfig } from '../../../shared/config/load.ts';
import { memoryLogger } from '../../../shared/log.ts';
import { createRouter } from '../../../shared/routing/router.ts';
import { createLocalSuite } from '../../../shared/runtime/local-suite.ts';
import { createStatusPageHandler } from '../../../shared/status-page/handler.ts';
import { serveLocally } from '../../../shared/status-page/serve.ts';
import { browserMissing, openBrowser } from '../../helpers/browser.ts';
import { ManualClock } from '../../helpers/clock.ts';
import { createTestEnv, csvRows } from '../../helpers/local-env.ts';
import type { TestEnv } from '../../helpers/local-env.ts';
import { MemoryObjectStore } from '../../helpers/memory-store.ts';

// These run inside the page (page.evaluate); the project compiles without the DOM library.

declare const window: any, document: any;
type HTMLCanvasElement = any;

const skip = browserMissing() ?? false;

// Two tables; paths in Seoul time, partitions in UTC. Hours 0..11 UTC of 2026-11-24.
const YAML = `
project: test-project
location: US
lake: { bucket: lake }
tables:
  - name: events
    source: { pattern: "events/dt={yyyy}-{mm}-{dd}/hr={hh}/*.csv", timeZone: Asia/Seoul }
    format: CSV
    csv: { skipLeadingRows: 1 }
    schema: [{ name: id, type: INTEGER }, { name: v, type: STRING }]
    target: { dataset: lake_us, table: events }
    partitioning: { type: HOUR }
    cadence: HOUR
  - name: orders
    source: { pattern: "orders/{yyyy}/{mm}/{dd}/*.csv", timeZone: UTC }
    format: CSV
    csv: { skipLeadingRows: 1 }
    schema: [{ name: id, type: INTEGER }, { name: v, type: STRING }]
    target: { dataset: lake_us, table: orders }
    partitioning: { type: DAY }
`;
const pid = (h: number) => `20261124${String(h).padStart(2, '0')}`;
const seoulPath = (h: number, f: string) => `events/dt=2026-11-24/hr=${String(h + 9).padStart(2, '0')}/${f}`;
const hex = (c: string) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));

async function pixel(page: Page, table: string, partition: string): Promise<number[]> {
  const at = await page.evaluate(
    ([t, p]) =>
      (
        window as unknown as { tidemarkStatus: { cellCenter(t: string, p: string): { x: number; y: number } | null } }
      ).tidemarkStatus.cellCenter(t!, p!),
    [table, partition],
  );
  assert.ok(at, `cell ${table}$${partition} is on the page`);
  return page.evaluate(({ x, y }) => {
    const c = document.elementFromPoint(x, y) as HTMLCanvasElement;
    const r = c.getBoundingClientRect();
    const ratio = c.width / r.width;
    return [
      ...c
        .getContext('2d')!
        .getImageData(Math.floor((x - r.left) * ratio), Math.floor((y - r.top) * ratio), 1, 1)
        .data.slice(0, 3),
    ];
  }, at!);
}

describe('the status page in a browser', { skip }, () => {
  let env: TestEnv;
  let page: Page;
  let url: string;
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    env = await createTestEnv({ yaml: YAML });
    // ok: 0-4, 6, 8, 10, 11; missing: 5 (files, never loaded); upstream-missing: 7; quarantined: 9.
    for (const h of [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11]) await env.put(seoulPath(h, 'a.csv'), csvRows(h * 10, 4));
    await env.put(seoulPath(9, 'bad.csv'), 'id,v\nnot-a-number,1\n');
    for (const h of [0, 1, 2, 3, 4, 6, 8, 9, 10, 11])
      await syncPartition(env.engine, { table: 'events', partition: pid(h), reason: 'test' });
    await env.put('events/dt=2026-11-24/hr=9/drifted.csv', csvRows(900, 2)); // unpadded hour: no table loads it
    await env.put('orders/2026/11/24/a.csv', csvRows(1, 3));
    await syncPartition(env.engine, { table: 'orders', partition: '20261124', reason: 'test' });
    env.clock.advance(2 * 3_600_000); // 14:00 UTC: hours 0..11 have ended, plus the hour of settle
    // The audit classifies, publishes nowhere (the holes stay), and persists the picture.
    await runAudit(
      { ...env.engine, bus: { publish: async (_t, m) => m.map(() => 'id') } },
      { fromMs: Date.UTC(2026, 10, 24, 0), toMs: Date.UTC(2026, 10, 24, 12) },
    );
    const suite = createLocalSuite(env.engine, {});
    closers.push(async () => suite.close());
    const server = await serveLocally(
      createStatusPageHandler({
        status: env.engine,
        log: env.log,
        deadLetters: async () => [
          {
            id: 'm-17',
            data: '{"table":"events","partition":"2026112403"}',
            attempts: 10,
            error: 'job budget',
            published: '2026-11-24T13:00:00Z',
          },
        ],
        publishBackfills: async (messages) => {
          await suite.bus.publish(env.config.topics.backfill, messages, { origin: 'test' });
          await suite.drain();
        },
        access: { mode: 'local' },
      }),
      0,
    );
    url = server.url;
    closers.push(server.close);
    const browser = await openBrowser();
    closers.push(browser.close);
    page = await browser.context.newPage();
    page.on('pageerror', (e) => assert.fail(`page error: ${e.message}`));
    await page.goto(url);
    await page.waitForSelector('body[data-ready]');
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
    await env?.close();
  });

  it('draws each partition in its class colour', async () => {
    const colors = (await page.evaluate(
      () => (window as unknown as { tidemarkStatus: { colors: Record<string, string> } }).tidemarkStatus.colors,
    )) as Record<string, string>;
    const expect: [number, string][] = [
      [0, 'ok'],
      [4, 'ok'],
      [5, 'missing'],
      [7, 'upstream-missing'],
      [9, 'quarantined'],
      [11, 'ok'],
    ];
    for (const [h, cls] of expect)
      assert.deepEqual(await pixel(page, 'events', pid(h)), hex(colors[cls]!), `events$${pid(h)} is drawn as ${cls}`);
    assert.deepEqual(await pixel(page, 'orders', '20261124'), hex(colors.ok!));
    assert.match(
      (await page.textContent('section[data-table=events] [data-k=counts]')) ?? '',
      /9 ok, 1 missing, 1 quarantined, 1 upstream-missing/,
    );
  });

  it("hovering shows the UTC id with the path's local time; clicking shows the cell's files, rows and job", async () => {
    const at = await page.evaluate(() =>
      (
        window as unknown as { tidemarkStatus: { cellCenter(t: string, p: string): { x: number; y: number } } }
      ).tidemarkStatus.cellCenter('events', '2026112409'),
    );
    await page.mouse.move(at.x, at.y);
    assert.match(
      (await page.textContent('#tip')) ?? '',
      /events\$2026112409 {2}2026-11-24 18:00 GMT\+9 \(Asia\/Seoul\) {2}quarantined/,
    );
    await page.mouse.click(at.x, at.y);
    await page.waitForSelector('#details [data-k=compare]');
    assert.equal(await page.textContent('#details [data-k=title]'), 'events$2026112409');
    assert.match(
      (await page.textContent('#details [data-k=compare]')) ?? '',
      /^2 source file\(s\), .* → 4 rows in the warehouse \(last load wrote 4 rows from 1 file\(s\)/,
    );
    assert.match((await page.textContent('#details [data-k=job]')) ?? '', /tidemark_load_events_2026112409/);
    assert.match((await page.textContent('#details')) ?? '', /bad\.csv.*(invalid|Could not|convert|not-a-number)/is);
  });

  it('lists quarantined files, dead letters and unrouted objects', async () => {
    assert.match((await page.textContent('#quarantine')) ?? '', /events.*2026112409.*bad\.csv.*not-a-number/s);
    assert.match((await page.textContent('#dead')) ?? '', /m-17.*"partition":"2026112403".*10.*job budget/s);
    assert.match((await page.textContent('#unrouted')) ?? '', /events.*events\/dt=2026-11-24\/hr=9\/drifted\.csv/s);
  });

  it('a date range outside the data shows nothing; clearing it shows the grid again', async () => {
    await page.fill('#f-from', '2026-11-25');
    await page.dispatchEvent('#f-from', 'change');
    assert.equal(await page.locator('.grid canvas').count(), 2);
    assert.equal(
      await page.evaluate(() => window.tidemarkStatus.cellCenter('events', '2026112405')),
      null,
      'the hour is outside the range',
    );
    await page.fill('#f-from', '');
    await page.dispatchEvent('#f-from', 'change');
    assert.ok(await page.evaluate(() => window.tidemarkStatus.cellCenter('events', '2026112405')));
  });

  it('the problems-only filter hides the table without problems', async () => {
    assert.equal(await page.locator('section.table').count(), 2);
    await page.check('#f-problems');
    assert.deepEqual(
      await page.locator('section.table').evaluateAll((s) => s.map((e) => e.getAttribute('data-table'))),
      ['events'],
    );
    await page.uncheck('#f-problems');
    assert.equal(await page.locator('section.table').count(), 2);
  });

  it('reloading a missing partition: the dry run shows the message, publishing loads it and the cell turns ok', async () => {
    const colors = (await page.evaluate(
      () => (window as unknown as { tidemarkStatus: { colors: Record<string, string> } }).tidemarkStatus.colors,
    )) as Record<string, string>;
    const at = await page.evaluate(() =>
      (
        window as unknown as { tidemarkStatus: { cellCenter(t: string, p: string): { x: number; y: number } } }
      ).tidemarkStatus.cellCenter('events', '2026112405'),
    );
    await page.mouse.click(at.x, at.y);
    await page.waitForSelector('#details [data-action=reload]');
    assert.match((await page.textContent('#details')) ?? '', /never loaded \(status new\)/);
    await page.click('#details [data-action=reload]');
    await page.waitForSelector('#details [data-k=preview]');
    assert.match(
      (await page.textContent('#details [data-k=preview]')) ?? '',
      /Would publish 1 message\(s\) to tidemark-backfill:.*events\$2026112405.*2026-11-24 14:00 \+09:00.*missing.*true.*reload/s,
    );
    assert.equal(await env.count(), 9 * 4 + 4, 'a dry run loads nothing');
    // docs/status-page.png (the README's picture) is rewritten only on request: TIDEMARK_SCREENSHOT=1.
    const shot = process.env.TIDEMARK_SCREENSHOT
      ? new URL('../../../docs/status-page.png', import.meta.url).pathname
      : join(tmpdir(), `tidemark-status-${process.pid}.png`);
    await page.screenshot({ path: shot, type: 'png', clip: { x: 0, y: 0, width: 1100, height: 590 } });
    const readyBefore = await page.evaluate(() => document.body.dataset.ready);
    await page.click('#details [data-action=publish]');
    await page.waitForSelector('#details [data-k=published]');
    // The page reads the status again once the messages are handled: wait for that render.
    await page.waitForFunction((before) => document.body.dataset.ready !== before, readyBefore);
    assert.deepEqual(await pixel(page, 'events', '2026112405'), hex(colors.ok!));
    assert.equal(await env.count("v LIKE 'x5%'"), 4, 'partition 05 is in the warehouse');
  });
});

describe('a year of hourly partitions for 10 tables', { skip }, () => {
  it('opens as 10 canvases (a few hundred DOM nodes, not 87,600), newest day first', async (t) => {
    const names = Array.from({ length: 10 }, (_, i) => `t${i}`);
    const yaml = `project: test-project\nlocation: US\nlake: { bucket: lake }\ntables:\n${names.map((n) => `  - name: ${n}\n    source: { pattern: "${n}/{yyyy}/{mm}/{dd}/{hh}/*.json", timeZone: UTC }\n    format: NEWLINE_DELIMITED_JSON\n    autodetect: true\n    target: { dataset: lake_us, table: ${n} }\n    partitioning: { type: HOUR }`).join('\n')}\n`;
    const config = parseConfig(yaml, '/virtual/tidemark.config.yaml');
    const store = new MemoryObjectStore();
    const clock = new ManualClock(Date.UTC(2026, 10, 24));
    for (const n of names) {
      const cells: CellClass[] = Array.from({ length: 8760 }, (_, i) => (i % 500 === 7 ? 'missing' : 'ok'));
      await writeSnapshot(store, config.state, {
        version: 1,
        table: n,
        readFrom: clock.now(),
        auditedAt: clock.now(),
        granularity: 'HOUR',
        window: { from: '2025112400', to: '2026112323' },
        runs: encodeRuns(cells),
        counts: {},
        watermark: null,
        unrouted: { count: 0, samples: [] },
        findings: [],
      });
    }
    const warehouse = { getTableLabels: async () => null } as unknown as Warehouse;
    const server = await serveLocally(
      createStatusPageHandler({
        status: { config, router: createRouter(config), store, warehouse, clock, log: memoryLogger() },
        log: memoryLogger(),
        deadLetters: async () => [],
        publishBackfills: async () => {},
        access: { mode: 'local' },
      }),
      0,
    );
    const browser = await openBrowser();
    try {
      const page = await browser.context.newPage();
      const started = Date.now();
      await page.goto(server.url);
      await page.waitForSelector('body[data-ready]');
      t.diagnostic(
        `10 tables x 8,760 hourly partitions: page ready in ${Date.now() - started} ms (informative; not asserted)`,
      );
      assert.equal(await page.locator('.grid canvas').count(), 10);
      const nodes = await page.evaluate(() => document.getElementsByTagName('*').length);
      t.diagnostic(`${nodes} DOM nodes`);
      assert.ok(nodes < 1000, `${nodes} DOM nodes`);
      const colors = (await page.evaluate(
        () => (window as unknown as { tidemarkStatus: { colors: Record<string, string> } }).tidemarkStatus.colors,
      )) as Record<string, string>;
      // Cell 7 of the window (2025-11-24 07:00) is missing; the newest hour is ok.
      assert.deepEqual(await pixel(page, 't9', '2025112407'), hex(colors.missing!));
      assert.deepEqual(await pixel(page, 't9', '2026112323'), hex(colors.ok!));
    } finally {
      await browser.close();
      await server.close();
    }
  });
});
