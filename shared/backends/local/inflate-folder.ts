/**
 * Where a load's fast path puts the gzip files Node inflates for DuckDB: a folder in memory
 * (tmpfs, `/dev/shm`) when there is room, else the load's scratch folder on disk. Measured in
 * BENCHMARKS.md: on disk, writing them often costs more CPU than inflating (the filesystem's
 * writeback of the database files written just before), and loads ran at 0.75-0.79x plain DuckDB
 * with wide spreads; in memory, 0.91x and steady.
 *
 * A folder in memory outlives a process that dies holding it, so each one is named after its
 * process (`tidemark-inflate-<pid>-*`) and the next load removes those whose process is gone.
 */
import { mkdtemp, readdir, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';

/** The memory-backed filesystem of Linux. */
export const MEMORY_ROOT = '/dev/shm';
const PREFIX = 'tidemark-inflate-';

/**
 * About the most a load's fast path puts in memory at once (one scan's inflated files; a file
 * too large to inflate in one call goes to the disk).
 */
export const MEMORY_SCAN_BYTES = 256 << 20;

/** Errors of a folder with no room left (or none for us): the next folder is tried. */
const NO_ROOM = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM']);

/** Whether `err` says a folder has no room (not that the file or the machine is at fault). */
export function isNoRoom(err: unknown): boolean {
  return NO_ROOM.has(String((err as { code?: unknown }).code));
}

/**
 * A new folder in memory for one load, or null when there is none with room for twice
 * MEMORY_SCAN_BYTES (then the disk is used). `root` is for tests.
 */
export async function memoryFolder(root = MEMORY_ROOT): Promise<string | null> {
  if (process.platform !== 'linux' && root === MEMORY_ROOT) return null;
  try {
    const fs = await statfs(root);
    if (fs.bavail * fs.bsize < 2 * MEMORY_SCAN_BYTES) return null;
    await removeOrphans(root);
    return await mkdtemp(join(root, `${PREFIX}${process.pid}-`));
  } catch {
    return null; // no such filesystem, or not ours to write: the disk will do
  }
}

/**
 * Removes the folders under `root` named `<prefix><pid>-*` whose process no longer runs (the
 * inflate folders by default; the tests' scratch folders use it too).
 */
export async function removeOrphans(root = MEMORY_ROOT, prefix = PREFIX): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(root)) {
    const pid = new RegExp(`^${prefix}(\\d+)-`).exec(name)?.[1];
    if (pid === undefined || isRunning(Number(pid))) continue;
    await rm(join(root, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code === 'EPERM'; // running, as another user
  }
}
