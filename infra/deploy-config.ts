/**
 * The optional `deploy:` section of tidemark.config.yaml: regions, service-account naming and the
 * per-function runtime settings the deploy and `tidemark infra` use. The core config loader passes
 * `deploy` through untouched; it is parsed here, from the raw YAML, with its own strict schema.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError, errorMessage } from '../shared/core/errors.ts';

const REGION = /^[a-z]+-[a-z]+\d+$/;
/** Service account ids are 6-30 chars; the longest suffix used is `-committer` (10). */
const PREFIX = /^[a-z][a-z0-9-]{1,18}[a-z0-9]$/;
const MEMORY = /^\d+(Mi|Gi)$/;

const region = (what: string) => z.string().regex(REGION, `${what} must be a Cloud region such as asia-northeast3`);
const maxInstances = z.number().int().min(1).max(1000);
/** Event-driven 2nd-gen functions may run at most 540 s. */
const timeoutSeconds = z.number().int().min(1).max(540);
const memory = z.string().regex(MEMORY, 'memory is a size such as 512Mi or 1Gi');

const DeploySchema = z.strictObject({
  /** Functions and the Cloud Scheduler job. */
  region: region('region').default('asia-northeast3'),
  /** The lake bucket's region: the storage trigger's --trigger-location. */
  lakeRegion: region('lakeRegion').default('asia-northeast3'),
  /** Service accounts and functions are named `<prefix>-<role>`: `<prefix>-loader`, `<prefix>-committer`, ... */
  serviceAccountPrefix: z
    .string()
    .regex(PREFIX, 'lowercase letters, digits and -, 3-20 characters, starting with a letter')
    .default('tidemark'),
  backfill: z
    .strictObject({
      /** Pub/Sub allows 5-100. */
      maxDeliveryAttempts: z.number().int().min(5).max(100).default(10),
      maxInstances: maxInstances.default(10),
    })
    .prefault({}),
  loader: z
    .strictObject({
      maxInstances: maxInstances.default(20),
      memory: memory.default('512Mi'),
      timeoutSeconds: timeoutSeconds.default(540),
    })
    .prefault({}),
  auditor: z
    .strictObject({
      memory: memory.default('512Mi'),
      timeoutSeconds: timeoutSeconds.default(540),
    })
    .prefault({}),
});

/** The resolved `deploy:` section, every default filled in. */
export type DeploySettings = z.infer<typeof DeploySchema>;

/** Values from CLI flags or build substitutions; they win over the file. */
export interface DeployOverrides {
  region?: string;
  lakeRegion?: string;
  serviceAccountPrefix?: string;
}

/**
 * Validates a raw `deploy:` value (undefined when the section is absent) with overrides applied.
 * Unknown keys and bad values are a ConfigError naming `deploy.<path>`.
 */
export function parseDeploySettings(raw: unknown, file: string, overrides: DeployOverrides = {}): DeploySettings {
  if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new ConfigError(file, [{ path: 'deploy', message: 'must be a mapping' }]);
  }
  const merged: Record<string, unknown> = { ...((raw as Record<string, unknown> | null | undefined) ?? {}) };
  for (const [key, value] of Object.entries(overrides)) if (value !== undefined) merged[key] = value;
  const result = DeploySchema.safeParse(merged);
  if (result.success) return result.data;
  const issues = result.error.issues.flatMap((issue) => {
    const base = ['deploy', ...issue.path.map(String)];
    if (issue.code === 'unrecognized_keys')
      return issue.keys.map((key) => ({ path: [...base, key].join('.'), message: 'unknown key' }));
    return [{ path: base.join('.'), message: issue.message }];
  });
  throw new ConfigError(file, issues);
}

/** Reads `deploy:` from the config file itself (the core loader does not interpret it). */
export function loadDeploySettings(configFile: string, overrides: DeployOverrides = {}): DeploySettings {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(configFile, 'utf8'));
  } catch (err) {
    throw new ConfigError(configFile, [{ path: '', message: errorMessage(err) }]);
  }
  const raw =
    doc !== null && typeof doc === 'object' && !Array.isArray(doc)
      ? (doc as Record<string, unknown>).deploy
      : undefined;
  return parseDeploySettings(raw, configFile, overrides);
}
