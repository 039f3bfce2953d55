/** Finding a command the way a shell would, without starting one. */
import { existsSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

/** The first `cmd` on PATH, or undefined. */
export function findOnPath(cmd: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}

/**
 * The gcloud wrapper script behind `bin` (the `gcloud` on PATH, through any symlinks) and the SDK
 * it belongs to (`<root>/bin/gcloud`), as the wrapper finds its own root.
 */
export function gcloudSdk(bin: string): { wrapper: string; root: string } {
  const wrapper = realpathSync(bin);
  return { wrapper, root: dirname(dirname(wrapper)) };
}
