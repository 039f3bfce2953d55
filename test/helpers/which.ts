/** Finding a command the way a shell would, without starting one. */
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The first `cmd` on PATH, or undefined. */
export function findOnPath(cmd: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return undefined;
}
