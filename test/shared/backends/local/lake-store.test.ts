import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { after, beforeEach, describe, it, mock } from 'node:test';
import { PreconditionFailedError, UnsafeIdentifierError } from '../../../../shared/core/errors.ts';
import { isTempFile, LocalObjectStore } from '../../../../shared/backends/local/lake-store.ts';

const top = mkdtempSync(join(tmpdir(), 'tidemark-lake-'));
after(() => rmSync(top, { recursive: true, force: true }));
let n = 0;
let root: string;
let metaDir: string;
let store: LocalObjectStore;
beforeEach(() => {
  n++;
  root = join(top, `lake${n}`);
  metaDir = join(top, `meta${n}`);
  store = new LocalObjectStore({ root, metaDir });
});

const names = (objects: { name: string }[]) => objects.map((o) => o.name);

describe('LocalObjectStore', () => {
  describe('read and write', () => {
    it('writes files at <root>/<bucket>/<name>, reads them back, null when missing', async () => {
      const { generation } = await store.write('lake', 'a/b/c.csv', 'x,y\n');
      assert.match(generation, /^\d+$/);
      assert.equal(store.uri('lake', 'a/b/c.csv'), join(root, 'lake', 'a/b/c.csv'));
      const r = await store.read('lake', 'a/b/c.csv');
      assert.equal(r?.data.toString(), 'x,y\n');
      assert.equal(r?.generation, generation);
      assert.equal(await store.read('lake', 'a/b/missing.csv'), null);
      assert.equal(await store.read('other', 'x'), null);
    });

    it('changes the generation on every rewrite, including back-to-back ones', async () => {
      const gens = new Set<string>();
      for (let i = 0; i < 20; i++) gens.add((await store.write('lake', 'o', `v${i}`)).generation);
      assert.equal(gens.size, 20);
    });

    it('gives a file copied with cp -p a new generation (ctime, not mtime)', async () => {
      const { generation } = await store.write('lake', 'p.csv', 'data');
      const src = join(top, `src${n}.csv`);
      writeFileSync(src, 'data');
      execFileSync('cp', ['-p', src, store.uri('lake', 'p.csv')]);
      const r = await store.read('lake', 'p.csv');
      assert.notEqual(r?.generation, generation);
    });

    it('keeps metadata in a sidecar outside root, for that generation only', async () => {
      await store.write('lake', 'm.json', '{}', { metadata: { owner: 'a' } });
      assert.deepEqual((await store.read('lake', 'm.json'))?.metadata, { owner: 'a' });
      const [listed] = (await store.listPage('lake', {})).objects;
      assert.deepEqual(listed?.metadata, { owner: 'a' });
      assert.deepEqual(readdirSync(join(root, 'lake')), ['m.json']);
      assert.ok(existsSync(join(metaDir, 'lake', 'meta')));
      // A rewrite behind the store's back (a plain cp) is a new generation without metadata.
      writeFileSync(store.uri('lake', 'm.json'), '{"v":2}');
      assert.equal((await store.read('lake', 'm.json'))?.metadata, undefined);
      // A write without metadata clears it.
      await store.write('lake', 'm.json', '{}', { metadata: { owner: 'b' } });
      await store.write('lake', 'm.json', '{}');
      assert.equal((await store.read('lake', 'm.json'))?.metadata, undefined);
    });

    it('removes objects, ignoring missing ones', async () => {
      await store.write('lake', 'gone', 'x', { metadata: { k: 'v' } });
      await store.remove('lake', 'gone');
      await store.remove('lake', 'gone');
      await store.remove('lake', 'never/was');
      assert.equal(await store.read('lake', 'gone'), null);
    });

    it('treats a name ending in / as a folder placeholder, never listed', async () => {
      await store.write('lake', 'dir/', '');
      await store.write('lake', 'dir/x', '1');
      assert.deepEqual(names((await store.listPage('lake', {})).objects), ['dir/x']);
      assert.equal(await store.read('lake', 'dir/'), null);
    });

    it('refuses, with a clear error, an object and a folder at the same path', async () => {
      await store.write('lake', 'a', 'file');
      await assert.rejects(
        store.write('lake', 'a/b', 'x'),
        (e: unknown) => e instanceof UnsafeIdentifierError && /file and a folder/.test(e.message),
      );
      await store.write('lake', 'c/d', 'x');
      await assert.rejects(store.write('lake', 'c', 'x'), UnsafeIdentifierError);
    });

    it('rejects a metaDir that is the root or a bucket folder; a dot-folder of the root is the default', async () => {
      assert.throws(() => new LocalObjectStore({ root, metaDir: join(root, 'lake', 'meta') }), UnsafeIdentifierError);
      assert.throws(() => new LocalObjectStore({ root, metaDir: root }), UnsafeIdentifierError);
      const inLake = new LocalObjectStore({ root });
      await inLake.write('lake', 'with-meta.csv', 'x', { metadata: { k: 'v' } });
      assert.ok(existsSync(join(root, '.tidemark', 'lake', 'meta')), 'metadata kept in the lake');
      // Another store on the same root (another process, another cwd) sees the metadata.
      assert.deepEqual((await new LocalObjectStore({ root }).read('lake', 'with-meta.csv'))?.metadata, { k: 'v' });
      assert.deepEqual(
        (await inLake.listPage('lake', { prefix: 'with-meta' })).objects.map((o) => o.name),
        ['with-meta.csv'],
      );
    });
  });

  describe('compare-and-swap', () => {
    it("'0' creates only when missing; a generation must be current; failures name object, expected and actual", async () => {
      const { generation: g1 } = await store.write('lake', 'state/p.json', '1', { ifGenerationMatch: '0' });
      const err = await store.write('lake', 'state/p.json', '2', { ifGenerationMatch: '0' }).catch((e: unknown) => e);
      assert.ok(err instanceof PreconditionFailedError);
      assert.deepEqual(err.fields, { bucket: 'lake', object: 'state/p.json', expected: '0', actual: g1 });
      assert.match(err.message, /lake\/state\/p\.json.*expected generation 0, found \d+/);

      const { generation: g2 } = await store.write('lake', 'state/p.json', '2', { ifGenerationMatch: g1 });
      await assert.rejects(
        store.write('lake', 'state/p.json', '3', { ifGenerationMatch: g1 }),
        PreconditionFailedError,
      );
      await assert.rejects(
        store.write('lake', 'state/new.json', '3', { ifGenerationMatch: g2 }),
        (e: unknown) => e instanceof PreconditionFailedError && /object missing/.test(e.message),
      );
      assert.equal((await store.read('lake', 'state/p.json'))?.data.toString(), '2');
    });

    it('lets exactly one of many concurrent creators win', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => store.write('lake', 'race', `w${i}`, { ifGenerationMatch: '0' })),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      assert.equal(
        results.filter((r) => r.status === 'rejected' && r.reason instanceof PreconditionFailedError).length,
        7,
      );
    });

    it('lets exactly one of many read-modify-write updaters with the same generation win', async () => {
      const { generation } = await store.write('lake', 'counter', '0');
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) => store.write('lake', 'counter', `${i}`, { ifGenerationMatch: generation })),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    });

    it('keeps lock files out of the lake root', async () => {
      await store.write('lake', 'l', 'x', { ifGenerationMatch: '0' });
      assert.deepEqual(readdirSync(join(root, 'lake')), ['l']);
    });
  });

  describe('listing', () => {
    const put = async (...ns: string[]) => {
      for (const name of ns) await store.write('lake', name, name);
    };

    it('lists in UTF-8 byte order with size, generation, updated; skips folders and temp files', async () => {
      // 'é' (U+00E9) < '\uFF5E' < '😀' (U+1F600) in UTF-8 bytes; UTF-16 order would put 😀 before \uFF5E.
      await put('b', 'a/z', 'a/b/c', 'é', '😀', '\uFF5E', 'a-');
      mkdirSync(join(root, 'lake', 'empty', 'dir'), { recursive: true });
      writeFileSync(join(root, 'lake', 'a', '.tidemark-abc.tmp'), 'partial');
      const { objects, nextPageToken } = await store.listPage('lake', {});
      assert.deepEqual(names(objects), ['a-', 'a/b/c', 'a/z', 'b', 'é', '\uFF5E', '😀']);
      assert.equal(nextPageToken, undefined);
      const o = objects.find((x) => x.name === 'a/b/c')!;
      assert.equal(o.bucket, 'lake');
      assert.equal(o.size, 5);
      assert.equal(o.generation, (await store.read('lake', 'a/b/c'))!.generation);
      assert.equal(
        o.updated,
        new Date(Number(statSync(store.uri('lake', 'a/b/c'), { bigint: true }).ctimeNs / 1_000_000n)).toISOString(),
      );
      assert.ok(isTempFile('a/.tidemark-abc.tmp'));
    });

    it('honours prefix (walking only its folder), startOffset and endOffset', async () => {
      await put(
        'events/dt=2024-01-01/a',
        'events/dt=2024-01-01/b',
        'events/dt=2024-01-02/a',
        'events/dt=2024-01-10/a',
        'eventsX',
        'other/x',
      );
      assert.deepEqual(names((await store.listPage('lake', { prefix: 'events/dt=2024-01-0' })).objects), [
        'events/dt=2024-01-01/a',
        'events/dt=2024-01-01/b',
        'events/dt=2024-01-02/a',
      ]);
      assert.deepEqual(names((await store.listPage('lake', { prefix: 'events' })).objects).length, 5);
      assert.deepEqual(names((await store.listPage('lake', { prefix: 'nothing/here/' })).objects), []);
      assert.deepEqual(
        names(
          (
            await store.listPage('lake', {
              prefix: 'events/',
              startOffset: 'events/dt=2024-01-01/b',
              endOffset: 'events/dt=2024-01-10',
            })
          ).objects,
        ),
        ['events/dt=2024-01-01/b', 'events/dt=2024-01-02/a'],
      );
      assert.deepEqual(names((await store.listPage('lake', { prefix: '../' })).objects), []);
    });

    it('pages with maxResults and pageToken, and caps pages at 1000', async () => {
      await put('p/1', 'p/2', 'p/3', 'p/4', 'p/5');
      const seen: string[] = [];
      let pageToken: string | undefined;
      let pages = 0;
      do {
        const page = await store.listPage('lake', { prefix: 'p/', maxResults: 2, ...(pageToken ? { pageToken } : {}) });
        seen.push(...names(page.objects));
        pageToken = page.nextPageToken;
        pages++;
      } while (pageToken);
      assert.deepEqual(seen, ['p/1', 'p/2', 'p/3', 'p/4', 'p/5']);
      assert.equal(pages, 3);

      for (let i = 0; i < 1005; i++) writeFileSync(join(root, 'lake', 'p', `x${String(i).padStart(4, '0')}`), '');
      const big = await store.listPage('lake', { prefix: 'p/x', maxResults: 5000 });
      assert.equal(big.objects.length, 1000);
      assert.ok(big.nextPageToken);
      const rest = await store.listPage('lake', { prefix: 'p/x', pageToken: big.nextPageToken! });
      assert.equal(rest.objects.length, 5);
      assert.equal(rest.nextPageToken, undefined);
    });
  });

  describe('listing cost', () => {
    /** Counts the folders a call reads (lake-store imports readdirSync from node:fs). */
    async function countingReaddirs<T>(fn: () => Promise<T>): Promise<{ result: T; reads: string[] }> {
      const reads: string[] = [];
      const original = fs.readdirSync;
      mock.method(fs, 'readdirSync', (path: string, ...rest: unknown[]) => {
        reads.push(String(path));
        return (original as (...a: unknown[]) => unknown)(path, ...rest);
      });
      syncBuiltinESMExports();
      try {
        return { result: await fn(), reads };
      } finally {
        mock.restoreAll();
        syncBuiltinESMExports();
      }
    }

    it('reads only the folders a page passes through, not the whole table folder', async () => {
      // 40 hourly folders of 5 files; pages of 3 objects.
      for (let h = 0; h < 40; h++) {
        const dir = join(root, 'lake', 't', `h=${String(h).padStart(2, '0')}`);
        mkdirSync(dir, { recursive: true });
        for (let f = 0; f < 5; f++) writeFileSync(join(dir, `f${f}`), 'x');
      }
      const first = await countingReaddirs(() => store.listPage('lake', { prefix: 't/', maxResults: 3 }));
      assert.deepEqual(names(first.result.objects), ['t/h=00/f0', 't/h=00/f1', 't/h=00/f2']);
      assert.equal(first.reads.length, 2, first.reads.join(', ')); // t/ and t/h=00/
      const middle = await countingReaddirs(() =>
        store.listPage('lake', { prefix: 't/', maxResults: 3, pageToken: first.result.nextPageToken! }),
      );
      assert.deepEqual(names(middle.result.objects), ['t/h=00/f3', 't/h=00/f4', 't/h=01/f0']);
      assert.equal(middle.reads.length, 3, middle.reads.join(', ')); // t/, t/h=00/, t/h=01/
      const late = await countingReaddirs(() =>
        store.listPage('lake', { prefix: 't/', maxResults: 3, startOffset: 't/h=37/f4' }),
      );
      assert.deepEqual(names(late.result.objects), ['t/h=37/f4', 't/h=38/f0', 't/h=38/f1']);
      assert.equal(late.reads.length, 3, late.reads.join(', '));
      const ranged = await countingReaddirs(() => store.listPage('lake', { prefix: 't/', endOffset: 't/h=01/f1' }));
      assert.deepEqual(names(ranged.result.objects), [
        't/h=00/f0',
        't/h=00/f1',
        't/h=00/f2',
        't/h=00/f3',
        't/h=00/f4',
        't/h=01/f0',
      ]);
      assert.equal(ranged.reads.length, 3, ranged.reads.join(', '));
    });

    it('pages through a tree in byte order whatever the folder layout (a page token resumes exactly)', async () => {
      const all = ['a-b', 'a.b/c', 'a/b-c/d', 'a/b/c', 'a/b0', 'ab', 'b/é', 'b/z', 'b/😀', 'b/\uFF5E/x', 'c'];
      for (const name of all) await store.write('lake', name, name);
      const expected = [...all].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      for (const maxResults of [1, 2, 3, 5, 1000]) {
        const seen: string[] = [];
        let pageToken: string | undefined;
        do {
          const page = await store.listPage('lake', { maxResults, ...(pageToken ? { pageToken } : {}) });
          seen.push(...names(page.objects));
          pageToken = page.nextPageToken;
        } while (pageToken);
        assert.deepEqual(seen, expected, `maxResults ${maxResults}`);
      }
      assert.deepEqual(
        names((await store.listPage('lake', { prefix: 'a/b', startOffset: 'a/b-', endOffset: 'a/b0' })).objects),
        ['a/b-c/d', 'a/b/c'],
      );
    });
  });

  describe('names', () => {
    const bad = ['../x', 'a/../../x', 'a/../b', '/etc/passwd', 'a\0b', 'a//b', './a', 'a/./b', '..', '', 'a\nb'];
    for (const name of bad) {
      it(`rejects object name ${JSON.stringify(name)}`, async () => {
        assert.throws(() => store.uri('lake', name), UnsafeIdentifierError);
        await assert.rejects(store.write('lake', name, 'x'), UnsafeIdentifierError);
        await assert.rejects(store.read('lake', name), UnsafeIdentifierError);
      });
    }
    const badBuckets = ['..', 'UPPER', 'a', 'has/slash', '-dash', 'goog-bucket', '192.168.1.1', 'x'.repeat(64), 'a..b'];
    for (const bucket of badBuckets) {
      it(`rejects bucket name ${JSON.stringify(bucket)}`, async () => {
        assert.throws(() => store.uri(bucket, 'x'), UnsafeIdentifierError);
        await assert.rejects(store.listPage(bucket, {}), UnsafeIdentifierError);
      });
    }
    it('accepts GCS-legal names', () => {
      for (const bucket of ['lake', 'my-lake_1', 'a.b.c', 'x'.repeat(63)]) store.uri(bucket, 'x');
      for (const name of ['a', 'a b/c.d', 'dt=2024-01-01/hr=00/x.csv.gz', 'ünï/😀', 'a...b']) store.uri('lake', name);
    });
  });
});
