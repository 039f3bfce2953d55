/**
 * What every benchmark shares: the median it reports, and an older revision's sources extracted
 * beside this tree (with this tree's node_modules) to run in the same rounds.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The median (the mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Extracts `paths` of revision `rev` (git archive, no worktree touched) into a temporary folder
 * whose node_modules links to `root`'s; returns the folder and the short commit.
 */
export function extractRevision(root: string, rev: string, paths: string[]): { dir: string; commit: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-bench-base-'));
  execFileSync('tar', ['-x', '-C', dir], {
    input: execFileSync('git', ['archive', rev, ...paths], { cwd: root, maxBuffer: 1 << 28 }),
  });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const commit = execFileSync('git', ['rev-parse', '--short', rev], { cwd: root, encoding: 'utf8' }).trim();
  return { dir, commit };
}
