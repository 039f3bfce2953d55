#!/usr/bin/env node
// The `tidemark` command. Node >= 22.18 runs the TypeScript sources as they are (type
// stripping: no compiler, no loader at run time). Node refuses to strip files under
// node_modules, and older Nodes cannot strip at all: only then is tsx's loader registered.
// `npm link` (and `npm install -g .`) symlink this file, so from a clone its real path, and the
// sources', are the clone's: the fast path.
import module from 'node:module';
import { fileURLToPath } from 'node:url';

// V8's code cache for every module loaded below (in the OS temp folder): later starts skip
// compiling commander, yaml, zod and the sources again.
module.enableCompileCache?.();

const entry = new URL('../shared/cli/main.ts', import.meta.url);
const strips = process.features.typescript === 'strip' || process.features.typescript === 'transform';
if (!strips || fileURLToPath(entry).split(/[\\/]/).includes('node_modules')) {
  const { register } = await import('tsx/esm/api');
  register();
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv, process.env);
