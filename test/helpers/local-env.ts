/**
 * Builders for engine tests on the embedded backends: a temp lake folder and DuckDB file, a
 * config from YAML text, a manual clock, and helpers to write objects and count rows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../shared/config/load.ts';
import type { Config } from '../../shared/config/types.ts';
import { memoryLogger } from '../../shared/log.ts';
import { createLocalEngine, defaultLocalPaths } from '../../shared/runtime/local.ts';
import type { LocalEngine, LocalEngineOptions } from '../../shared/runtime/local.ts';
import { SimulatedCrashError } from '../../shared/core/errors.ts';
import type { SyncStep } from '../../shared/core/engine.ts';
import { ManualClock } from './clock.ts';

export const EVENTS_YAML = `
project: test-project
location: US
lake: { bucket: lake }
defaults: { jobBudget: 300, jobBurst: 20 }
tables:
  - name: events
    source: { pattern: "events/dt={yyyy}-{mm}-{dd}/hr={hh}/*.csv", timeZone: UTC }
    format: CSV
    csv: { skipLeadingRows: 1 }
    schema:
      - { name: id, type: INTEGER }
      - { name: v, type: STRING }
    target: { dataset: lake_us, table: events }
    partitioning: { type: HOUR }
`;

export interface TestEnv {
  dir: string;
  config: Config;
  clock: ManualClock;
  log: ReturnType<typeof memoryLogger>;
  engine: LocalEngine;
  /** Generation of each object the test wrote last (events carry it, as Eventarc's do). */
  generations: Map<string, string>;
  /** A finalize event for the object as last written. */
  event(name: string, bucket?: string): ReturnType<typeof storageEvent>;
  /** Writes lake object `name` (bucket `lake` unless given). */
  put(name: string, content: string | Buffer, bucket?: string): Promise<{ generation: string }>;
  remove(name: string, bucket?: string): Promise<void>;
  /** Rows of a SQL query on the local warehouse. */
  rows(sql: string): Promise<Record<string, unknown>[]>;
  count(where?: string, table?: string): Promise<number>;
  close(): Promise<void>;
}

export async function createTestEnv(
  opts: {
    yaml?: string;
    engine?: LocalEngineOptions['engine'];
    hooks?: LocalEngineOptions['hooks'];
    jobDelayMs?: LocalEngineOptions['jobDelayMs'];
  } = {},
): Promise<TestEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-test-'));
  const config = parseConfig(opts.yaml ?? EVENTS_YAML, join(dir, 'tidemark.config.yaml'));
  const clock = new ManualClock();
  const log = memoryLogger();
  const engine = createLocalEngine(config, {
    paths: defaultLocalPaths(dir, {
      lakeDir: join(dir, 'lake'),
      warehouseFile: join(dir, 'wh.duckdb'),
      workDir: join(dir, 'work'),
    }),
    clock,
    log,
    engine: { pollMs: 5, submitGraceMs: 60_000, ...opts.engine },
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
    ...(opts.jobDelayMs ? { jobDelayMs: opts.jobDelayMs } : {}),
  });
  for (const t of config.tables) await engine.warehouse.ensureTable(t.spec);
  const generations = new Map<string, string>();
  return {
    dir,
    config,
    clock,
    log,
    engine,
    generations,
    event: (name, bucket = 'lake') =>
      storageEvent({ name, bucket, generation: generations.get(`${bucket}/${name}`) ?? '1' }),
    async put(name, content, bucket = 'lake') {
      const r = await engine.store.write(bucket, name, content);
      generations.set(`${bucket}/${name}`, r.generation);
      return r;
    },
    remove: (name, bucket = 'lake') => engine.store.remove(bucket, name),
    rows: (sql) => engine.warehouse.query(sql),
    async count(where = 'true', table = 'lake_us.events') {
      const r = await engine.warehouse.query(`SELECT count(*)::INTEGER AS n FROM ${table} WHERE ${where}`);
      return Number(r[0]!.n);
    },
    async close() {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** CSV text with a header and rows id=from..from+n-1. */
export function csvRows(from: number, n: number, tag = 'x'): string {
  let s = 'id,v\n';
  for (let i = from; i < from + n; i++) s += `${i},${tag}${i}\n`;
  return s;
}

/** A finalize CloudEvent as Eventarc delivers it (sizes and generations as strings). */
export function storageEvent(
  data: { name: string; bucket?: string; generation?: string; size?: number },
  id = `evt-${Math.random().toString(36).slice(2)}`,
) {
  return {
    specversion: '1.0',
    id,
    source: `//storage.googleapis.com/projects/_/buckets/${data.bucket ?? 'lake'}`,
    type: 'google.cloud.storage.object.v1.finalized',
    time: new Date().toISOString(),
    subject: `objects/${data.name}`,
    data: {
      bucket: data.bucket ?? 'lake',
      name: data.name,
      generation: data.generation ?? '1',
      metageneration: '1',
      size: String(data.size ?? 0),
      contentType: 'text/csv',
    },
  };
}

/** The per-partition sync's steps, in order: where the crash tests inject a crash. */
export const SYNC_STEPS: readonly SyncStep[] = [
  'after-list',
  'after-claim',
  'after-submit',
  'after-complete',
  'after-label',
  'after-settle',
];

/**
 * Engine hooks that throw SimulatedCrashError once, at step `at`, while armed. `armed` starts as
 * given; `arm()` arms it (after setup that must not crash).
 */
export function crashOnce(
  at: SyncStep,
  armed = true,
): { hooks: NonNullable<LocalEngineOptions['hooks']>; arm(): void } {
  let live = armed;
  return {
    hooks: {
      step: (s) => {
        if (live && s === at) {
          live = false;
          throw new SimulatedCrashError(`crash ${s}`);
        }
      },
    },
    arm: () => void (live = true),
  };
}
