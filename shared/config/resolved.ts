/**
 * The config as the deployed functions read it: validated and resolved by the build (with the
 * same loader as `tidemark config check`) and written beside index.js as tidemark.config.json.
 * Reading it takes JSON.parse and a check of the envelope; no YAML parser, no schema library,
 * no schema files, which keeps both out of the bundles and off the cold start.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../core/errors.ts';
import type { Config } from './types.ts';

/** The file the build writes into every dist/<function>/ folder. */
export const RESOLVED_CONFIG_FILE = 'tidemark.config.json';

/** Marks the envelope; a change to Config's shape that old files cannot satisfy bumps it. */
export const RESOLVED_CONFIG_FORMAT = 'tidemark-resolved-config/1';

/** What tidemark.config.json holds. */
export interface ResolvedConfigFile {
  format: typeof RESOLVED_CONFIG_FORMAT;
  /** The YAML file it was built from, relative to the project (for messages only). */
  source: string;
  config: Omit<Config, 'file'>;
}

/** The envelope for a validated config; `source` names the YAML in messages. */
export function serializeConfig(config: Config, source: string): string {
  const { file: _file, ...rest } = config;
  const envelope: ResolvedConfigFile = { format: RESOLVED_CONFIG_FORMAT, source, config: rest };
  return JSON.stringify(envelope, null, 1) + '\n';
}

/**
 * Reads a resolved config written by the build. The content was validated when it was built;
 * this checks only that it is such a file, of this format, so a stray or stale file fails with
 * a clear message instead of deep inside the engine.
 */
export function readResolvedConfig(file: string): Config {
  const absolute = resolve(file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    throw new ConfigError(absolute, [
      {
        path: '',
        message: `cannot read the resolved config (npm run build writes it beside index.js): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      },
    ]);
  }
  return parseResolvedConfig(text, absolute);
}

/** The text of a resolved config; `file` names it in messages and becomes Config.file. */
export function parseResolvedConfig(text: string, file: string): Config {
  let envelope: Partial<ResolvedConfigFile> | null;
  try {
    envelope = JSON.parse(text) as Partial<ResolvedConfigFile> | null;
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `not JSON: ${(err as Error).message}` }]);
  }
  if (envelope === null || typeof envelope !== 'object' || envelope.format !== RESOLVED_CONFIG_FORMAT) {
    const found = envelope !== null && typeof envelope === 'object' ? JSON.stringify(envelope.format) : typeof envelope;
    throw new ConfigError(file, [
      { path: 'format', message: `expected "${RESOLVED_CONFIG_FORMAT}", found ${found}: rebuild with npm run build` },
    ]);
  }
  const c = envelope.config as Partial<Config> | undefined;
  const missing = (['project', 'location', 'lake', 'state', 'tables', 'audit', 'topics'] as const).filter(
    (k) => c?.[k] === undefined || c[k] === null,
  );
  if (!c || missing.length || !Array.isArray(c.tables)) {
    throw new ConfigError(file, [
      {
        path: 'config',
        message: `incomplete resolved config (missing ${missing.join(', ') || 'tables'}): rebuild with npm run build`,
      },
    ]);
  }
  // Files built before `streams:` existed have none.
  return { ...(c as Omit<Config, 'file'>), streams: c.streams ?? [], file };
}
