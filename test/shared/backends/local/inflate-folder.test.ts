/**
 * The in-memory folder for inflated files: made per load and named after its process; folders of
 * processes that are gone are removed by the next load; no room means the disk.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isNoRoom, memoryFolder, removeOrphans } from '../../../../shared/backends/local/inflate-folder.ts';

const root = mkdtempSync(join(tmpdir(), 'tidemark-shm-'));
after(() => rmSync(root, { recursive: true, force: true }));

// Above Linux's largest pid (2^22): never a running process.
const GONE = 4_194_305;

describe('memoryFolder', () => {
  it('makes a folder for one load, named after its process', async () => {
    const folder = await memoryFolder(root);
    assert.ok(folder);
    assert.equal(dirname(folder), root);
    assert.match(basename(folder), new RegExp(`^tidemark-inflate-${process.pid}-`));
  });

  it('is null without the filesystem (the disk is used)', async () => {
    assert.equal(await memoryFolder(join(root, 'no-such-filesystem')), null);
  });

  it("removes the folders of processes that are gone, and no one else's", async () => {
    const gone = join(root, `tidemark-inflate-${GONE}-abc`);
    const mine = join(root, `tidemark-inflate-${process.pid}-def`);
    const other = join(root, 'someone-else');
    for (const dir of [gone, mine, other]) mkdirSync(join(dir, 'sub'), { recursive: true });
    assert.deepEqual(await removeOrphans(root), [basename(gone)]);
    assert.equal(existsSync(gone), false);
    assert.ok(existsSync(mine) && existsSync(other));
    await memoryFolder(root); // a new load removes them too
    assert.ok(readdirSync(root).every((n) => !n.includes(String(GONE))));
  });

  it('removes the orphans of another prefix when asked (the test scratch folders), and only those', async () => {
    const inflate = join(root, `tidemark-inflate-${GONE}-ghi`);
    const scratch = join(root, `tidemark-test-${GONE}-jkl`);
    for (const dir of [inflate, scratch]) mkdirSync(join(dir, 'sub'), { recursive: true });
    assert.deepEqual(await removeOrphans(root, 'tidemark-test-'), [basename(scratch)]);
    assert.ok(existsSync(inflate));
    assert.deepEqual(await removeOrphans(root), [basename(inflate)]);
  });
});

describe('isNoRoom', () => {
  for (const [code, noRoom] of [
    ['ENOSPC', true],
    ['EDQUOT', true],
    ['EROFS', true],
    ['EACCES', true],
    ['ENOENT', false], // the folder is gone: a fault, not a full disk
    ['EIO', false],
    [undefined, false],
  ] as const)
    it(`${code ?? 'no code'}: ${noRoom ? 'try the next folder' : 'fail'}`, () =>
      assert.equal(isNoRoom(Object.assign(new Error('x'), { code })), noRoom));
});
