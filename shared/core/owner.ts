/**
 * This process as an owner of claims and commits: `host:pid`. The host name is read once per
 * process (a system call each time otherwise, on every event).
 */
import { hostname } from 'node:os';

let id: string | undefined;

export function processOwner(): string {
  return (id ??= `${hostname()}:${process.pid}`);
}
