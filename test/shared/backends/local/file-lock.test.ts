import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { BackendUnavailableError } from '../../../../shared/core/errors.ts';
import {
  holderFile,
  LockHeldError,
  readLockHolder,
  withFileLock,
} from '../../../../shared/backends/local/file-lock.ts';

const dir = mkdtempSync(join(tmpdir(), 'tidemark-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const MODULE = resolve(import.meta.dirname, '../../../../shared/backends/local/file-lock.ts');

/** Runs `code` (an ES module body with `lock` = the file-lock module) in a child Node process. */
function child(
  code: string,
  onLine: (line: string) => void = () => {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const p = spawn(
      process.execPath,
      ['--input-type=module', '-e', `const lock = await import(${JSON.stringify(MODULE)});\n${code}`],
      {
        cwd: resolve(import.meta.dirname, '../../../..'),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => {
      stdout += b;
      for (const line of b.toString().split('\n')) if (line) onLine(line);
    });
    p.stderr.on('data', (b) => (stderr += b));
    p.on('error', fail);
    p.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('withFileLock', () => {
  it('runs fn under the lock, records the holder, and cleans up', async () => {
    const lockPath = join(dir, 'a', 'x.lock');
    const seen = await withFileLock(
      lockPath,
      async () => {
        assert.ok(existsSync(lockPath));
        return readLockHolder(lockPath);
      },
      { waitMs: 1000, holder: 'unit test' },
    );
    assert.equal(seen?.pid, process.pid);
    assert.equal(seen?.holder, 'unit test');
    assert.equal(existsSync(lockPath), false);
    assert.equal(existsSync(holderFile(lockPath)), false);
  });

  it('releases the lock when fn throws', async () => {
    const lockPath = join(dir, 'throws.lock');
    await assert.rejects(
      withFileLock(
        lockPath,
        async () => {
          throw new Error('boom');
        },
        { waitMs: 100, holder: 't' },
      ),
      /boom/,
    );
    assert.equal(await withFileLock(lockPath, async () => 7, { waitMs: 100, holder: 't' }), 7);
  });

  it('serializes callers in one process', async () => {
    const lockPath = join(dir, 'serial.lock');
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 5 }, () =>
        withFileLock(
          lockPath,
          async () => {
            inside++;
            maxInside = Math.max(maxInside, inside);
            await new Promise((r) => setTimeout(r, 10));
            inside--;
          },
          { waitMs: 5000, holder: 't' },
        ),
      ),
    );
    assert.equal(maxInside, 1);
  });

  it('gives up after waitMs with LockHeldError naming the lock, the holder and the wait', async () => {
    const lockPath = join(dir, 'held.lock');
    await withFileLock(
      lockPath,
      async () => {
        const err = await withFileLock(lockPath, async () => 1, { waitMs: 150, holder: 'second' }).catch(
          (e: unknown) => e,
        );
        assert.ok(err instanceof LockHeldError);
        assert.ok(err instanceof BackendUnavailableError);
        assert.equal(err.permanent, false);
        assert.equal(err.lockPath, lockPath);
        assert.equal(err.holder, `pid ${process.pid}, tidemark start`);
        assert.ok(err.waitedMs >= 150);
        assert.match(
          err.message,
          new RegExp(`lock ${lockPath} is held by pid ${process.pid}, tidemark start; gave up after waiting \\d+ ms`),
        );
      },
      { waitMs: 100, holder: 'tidemark start' },
    );
  });

  it('a lock never exists without its holder record (a waiter can always say whom it waits for)', async () => {
    // Checks between every step of 30 acquire/release cycles: the holder used to be written after
    // the lock directory appeared, so a waiter giving up in that window said "holder unknown".
    const lockPath = join(dir, 'window.lock');
    const seen: string[] = [];
    let running = true;
    const watch = (async () => {
      while (running) {
        // The same lock directory (inode) before and after the read: the read saw that lock.
        const ino = () => {
          try {
            return statSync(lockPath).ino;
          } catch {
            return undefined;
          }
        };
        const before = ino();
        let text = '';
        try {
          text = readFileSync(holderFile(lockPath), 'utf8');
        } catch {
          // not written yet: seen as 'none'
        }
        if (before !== undefined && before === ino())
          seen.push(text ? (JSON.parse(text) as { holder: string }).holder : 'none');
        await new Promise((r) => setImmediate(r));
      }
    })();
    // Each holder keeps the lock for a turn of the event loop, so the watcher gets to look.
    const aTurn = () => new Promise((r) => setImmediate(r));
    for (let i = 0; i < 30; i++) await withFileLock(lockPath, aTurn, { waitMs: 1000, holder: `cycle ${i}` });
    running = false;
    await watch;
    assert.ok(seen.length > 0, 'the watcher saw the lock at least once');
    assert.deepEqual(
      seen.filter((h) => h === 'none'),
      [],
    );
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('window.lock')),
      [],
      'no temp or released folders are left',
    );
  });

  it('makes a child process wait for the lock, then lets it in', async () => {
    const lockPath = join(dir, 'cross.lock');
    let release!: () => void;
    const held = withFileLock(lockPath, () => new Promise<void>((r) => (release = r)), {
      waitMs: 100,
      holder: 'parent',
    });
    await new Promise((r) => setTimeout(r, 20));
    const r = await child(
      `
      console.log('ready');
      const t0 = Date.now();
      await lock.withFileLock(${JSON.stringify(lockPath)}, async () => {}, { waitMs: 10000, holder: 'child' });
      console.log(JSON.stringify({ waited: Date.now() - t0 }));`,
      (line) => {
        if (line === 'ready') setTimeout(() => release(), 300);
      },
    );
    await held;
    assert.equal(r.code, 0, r.stderr);
    const { waited } = JSON.parse(r.stdout.split('\n')[1]!) as { waited: number };
    assert.ok(waited >= 250, `child waited only ${waited} ms`);
  });
});
