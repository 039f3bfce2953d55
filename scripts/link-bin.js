#!/usr/bin/env node
// Puts the `tidemark` command on a PATH by symlinking bin/tidemark.js:
//   node scripts/link-bin.js            node_modules/.bin/tidemark (run by `npm install` as
//                                       `prepare`): `npx tidemark` in the clone starts it directly
//   node scripts/link-bin.js --global   <npm global prefix>/bin/tidemark: `tidemark` from any folder
//   node scripts/link-bin.js --global --remove
// package.json declares no "bin" on purpose: npx treats a bin of the project's own package as a
// package to install into its cache (it loads the whole dependency tree first, about a second,
// and npm warns about engines when it runs on an older Node). A link in node_modules/.bin is
// started as it is. Plain JavaScript: it runs before anything else is known to work.
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, symlinkSync, unlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'bin', 'tidemark.js');
const global = process.argv.includes('--global');
const remove = process.argv.includes('--remove');
const binDir = global
  ? join(execFileSync('npm', ['prefix', '-g'], { encoding: 'utf8' }).trim(), 'bin')
  : join(root, 'node_modules', '.bin');
const link = join(binDir, 'tidemark');

const exists = (p) => {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
};
if (exists(link)) unlinkSync(link);
if (!remove) {
  mkdirSync(binDir, { recursive: true });
  symlinkSync(target, link);
}
process.stdout.write(`${remove ? 'removed' : 'linked'} ${link}${remove ? '' : ` -> ${target}`}\n`);
