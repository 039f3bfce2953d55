/** Where the Pulumi project (Pulumi.yaml, index.ts) lives: this folder. */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const INFRA_DIR = dirname(fileURLToPath(import.meta.url));
