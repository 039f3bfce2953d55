/**
 * Loaded before every test file (`node --import` in package.json's test script, after
 * ts-cache.js): the test process's surroundings.
 *
 * 1. Temp folders in memory. `os.tmpdir()` — and so every lake, warehouse and scratch folder the
 *    tests make, and the CLI processes they start — points at a folder in memory (`/dev/shm`)
 *    when the machine has one with room. The tests create and remove tens of thousands of small
 *    files, lock folders and DuckDB databases; on the disks of the machines this project is built
 *    on (ext4 mounted with `discard`) each mkdir, create or rmdir costs 150-250 µs of CPU or
 *    blocking time against 7-20 µs in memory, a third of the suite's time (BENCHMARKS.md, "Test
 *    suite"). The product does not care where its folders are; the tests that are about disks
 *    and memory (inflate-folder, the warehouse's disk fallback) name their roots explicitly.
 *    Each test process gets its own folder (`tidemark-test-<pid>-*`) and removes it when it
 *    exits; the folders of test processes that died without cleaning up are removed by the next
 *    one. `TIDEMARK_TEST_TMPDIR=disk` keeps the system's temp folder (or a user's TMPDIR).
 * 2. One DuckDB thread per warehouse (TIDEMARK_DUCKDB_THREADS=1 unless set): the runner already
 *    runs a test file per core, and DuckDB's own threads on top only fight them (10% more CPU in
 *    the DuckDB-heavy files). The warehouse tests that are about threads set their own.
 */
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MEMORY_ROOT, removeOrphans } from '../../shared/backends/local/inflate-folder.ts';

const PREFIX = 'tidemark-test-';
/** Room a test process may need at most (the largest tests write a few hundred MiB). */
const NEEDED_BYTES = 2 << 30;

/** The root the test processes' temp folders go under: memory when it has room, else the default. */
export function scratchRoot(): string {
  if (process.env['TIDEMARK_TEST_TMPDIR'] === 'disk' || process.env['TMPDIR']) return tmpdir();
  if (process.platform !== 'linux') return tmpdir();
  try {
    const fs = statfsSync(MEMORY_ROOT);
    return fs.bavail * fs.bsize >= NEEDED_BYTES ? MEMORY_ROOT : tmpdir();
  } catch {
    return tmpdir();
  }
}

process.env['TIDEMARK_DUCKDB_THREADS'] ??= '1';

const root = scratchRoot();
if (root === MEMORY_ROOT) {
  await removeOrphans(MEMORY_ROOT, PREFIX);
  const folder = mkdtempSync(join(MEMORY_ROOT, `${PREFIX}${process.pid}-`));
  process.env['TMPDIR'] = folder;
  process.on('exit', () => rmSync(folder, { recursive: true, force: true }));
}
