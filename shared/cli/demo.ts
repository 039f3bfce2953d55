/**
 * The demo that `npm start` writes on a fresh clone: a config with three tables (hourly NDJSON
 * in Seoul time, daily CSV, daily Parquet on a DATE column) and a lake folder with a few days of
 * data, one deliberately corrupt file among them. Local only.
 */
import { mkdirSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import type { LocalPaths } from '../runtime/local.ts';

export const DEMO_BUCKET = 'lake-seoul';

export const DEMO_CONFIG_YAML = `# tidemark demo config, written by \`npm start\`. Edit freely; see README.md for every key.
project: demo-project
location: US
lake:
  bucket: ${DEMO_BUCKET}
# The demo catches up on two days of hourly partitions at once: allow more jobs than the
# production default (300 per table per day, 20 back to back).
defaults: { jobBudget: 1000, jobBurst: 200 }
tables:
  - name: events
    source:
      pattern: "events/dt={yyyy}-{mm}-{dd}/hr={hh}/*.json.gz"
      timeZone: Asia/Seoul
    format: NEWLINE_DELIMITED_JSON
    schema: schemas/events.json
    target: { dataset: lake_us, table: events }
    partitioning: { type: HOUR }
    cadence: HOUR
  - name: orders
    source: { pattern: "orders/{yyyy}/{mm}/{dd}/*.csv" }
    format: CSV
    csv: { skipLeadingRows: 1 }
    schema: schemas/orders.json
    target: { dataset: lake_us, table: orders }
    partitioning: { type: DAY }
    cadence: DAY
  - name: sessions
    source:
      pattern: "sessions/{yyyy}{mm}{dd}/*.parquet"
      timeZone: Asia/Seoul
    format: PARQUET
    schema: schemas/sessions.json
    target: { dataset: lake_us, table: sessions }
    partitioning: { type: DAY, field: session_date }
    # Applied by table commits: every dirty day in one transaction, at most every 10 s.
    commit: { mode: dml, interval: 10s }
  # The realtime stream (POST /v1/streams/locations/events): the storage subscription writes
  # one file per batch under streams/locations/<UTC date>/<hour>/, loaded hourly, duplicates removed.
  - name: locations
    source: { pattern: "streams/locations/{yyyy}-{mm}-{dd}/{hh}/*.ndjson" }
    format: NEWLINE_DELIMITED_JSON
    schema: schemas/locations.json
    target: { dataset: lake_us, table: locations }
    partitioning: { type: HOUR }
streams:
  - name: locations
    table: locations
    files: { maxDuration: 1m, localMaxDuration: 5s }
audit:
  schedule: "*/5 * * * *"
  timeZone: Asia/Seoul
  lookback: 48h
  settle: 1h
  auditFrom: 47h
`;

const SCHEMAS: Record<string, unknown[]> = {
  'events.json': [
    { name: 'event_id', type: 'STRING', mode: 'REQUIRED' },
    { name: 'user_id', type: 'INTEGER' },
    { name: 'kind', type: 'STRING' },
    { name: 'amount', type: 'FLOAT' },
    { name: 'ts', type: 'TIMESTAMP' },
  ],
  'orders.json': [
    { name: 'order_id', type: 'INTEGER', mode: 'REQUIRED' },
    { name: 'customer', type: 'STRING' },
    { name: 'total', type: 'NUMERIC' },
    { name: 'placed_at', type: 'TIMESTAMP' },
  ],
  'locations.json': [
    { name: 'device_id', type: 'STRING', mode: 'REQUIRED' },
    { name: 'lat', type: 'FLOAT', mode: 'REQUIRED' },
    { name: 'lon', type: 'FLOAT', mode: 'REQUIRED' },
    { name: 'accuracy', type: 'FLOAT' },
    { name: 'event_time', type: 'TIMESTAMP', mode: 'REQUIRED' },
    { name: 'event_id', type: 'STRING', mode: 'REQUIRED' },
    { name: 'received_at', type: 'TIMESTAMP', mode: 'REQUIRED' },
  ],
  'sessions.json': [
    { name: 'session_id', type: 'STRING' },
    { name: 'session_date', type: 'DATE' },
    { name: 'seconds', type: 'INTEGER' },
  ],
};

export interface DemoLayout {
  configFile: string;
  lakeDir: string;
  /** Object names written, per table. */
  objects: Record<string, string[]>;
  /** The corrupt file, which ends up in quarantine. */
  corrupt: string;
  /** The Seoul hour with no source data at all (the audit reports it upstream-missing). */
  emptyHour: string;
  /**
   * Makes the other deliberate holes, after the history has been loaded and while nothing
   * watches: a partition whose files arrive without an event (never loaded) and a file
   * rewritten after loading. Returns what it did, for the narration.
   */
  punchHoles(): string[];
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Local (Seoul, UTC+9) calendar parts of a UTC instant. */
function seoul(ms: number) {
  const d = new Date(ms + 9 * 3_600_000);
  return { y: d.getUTCFullYear(), m: pad(d.getUTCMonth() + 1), d: pad(d.getUTCDate()), h: pad(d.getUTCHours()) };
}

/** Writes the demo config and lake (days of hourly data up to the start of the current hour). */
export async function writeDemo(
  configFile: string,
  lakeDir: string,
  opts: { days?: number; endMs?: number } = {},
): Promise<DemoLayout> {
  const days = opts.days ?? 2;
  const end = Math.floor((opts.endMs ?? Date.now()) / 3_600_000) * 3_600_000;
  const start = end - days * 86_400_000;
  mkdirSync(join(dirname(configFile), 'schemas'), { recursive: true });
  writeFileSync(configFile, DEMO_CONFIG_YAML);
  for (const [name, fields] of Object.entries(SCHEMAS))
    writeFileSync(join(dirname(configFile), 'schemas', name), JSON.stringify(fields, null, 2) + '\n');
  const bucketDir = join(lakeDir, DEMO_BUCKET);
  const put = (name: string, data: Buffer | string) => {
    const file = join(bucketDir, name);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, data);
  };
  const objects: Record<string, string[]> = { events: [], orders: [], sessions: [] };
  let seq = 0;
  const eventsFile = (t: number, part: number, rows = 20) => {
    const s = seoul(t);
    const lines: string[] = [];
    for (let i = 0; i < rows; i++) {
      seq++;
      lines.push(
        JSON.stringify({
          event_id: `e${seq}`,
          user_id: seq % 97,
          kind: ['view', 'click', 'buy'][seq % 3],
          amount: (seq % 50) / 2,
          ts: new Date(t + i * 60_000).toISOString(),
        }),
      );
    }
    const name = `events/dt=${s.y}-${s.m}-${s.d}/hr=${s.h}/part-${part}.json.gz`;
    put(name, gzipSync(lines.join('\n') + '\n'));
    return name;
  };
  // events: two NDJSON.gz files per Seoul hour, except two hours: one never has data (upstream
  // missing), the other gets its files only after the history is loaded (never loaded).
  const emptyAt = end - 30 * 3_600_000;
  const lateAt = end - 20 * 3_600_000;
  for (let t = start; t < end; t += 3_600_000) {
    if (t === emptyAt || t === lateAt) continue;
    for (const part of [0, 1]) objects.events!.push(eventsFile(t, part));
  }
  // The corrupt file: a gzip stream cut short.
  const last = seoul(end - 3_600_000);
  const corrupt = `events/dt=${last.y}-${last.m}-${last.d}/hr=${last.h}/part-2.json.gz`;
  const whole = gzipSync('{"event_id":"broken","user_id":1}\n'.repeat(200));
  put(corrupt, whole.subarray(0, Math.floor(whole.length / 2)));
  objects.events!.push(corrupt);
  // orders: one CSV per UTC day
  for (let t = start - (start % 86_400_000); t < end; t += 86_400_000) {
    const d = new Date(t);
    let csv = 'order_id,customer,total,placed_at\n';
    for (let i = 0; i < 50; i++)
      csv += `${t / 1000 + i},customer-${i % 13},${(i * 3.25).toFixed(2)},${new Date(t + i * 1_000_000).toISOString()}\n`;
    const name = `orders/${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/orders.csv`;
    put(name, csv);
    objects.orders!.push(name);
  }
  // sessions: one Parquet file per Seoul day, partitioned on its DATE column
  const duck = await DuckDBInstance.create(':memory:');
  const conn = await duck.connect();
  try {
    for (let t = start; t < end + 86_400_000; t += 86_400_000) {
      const s = seoul(t);
      const name = `sessions/${s.y}${s.m}${s.d}/sessions.parquet`;
      const file = join(bucketDir, name);
      if (existsSync(file)) continue;
      mkdirSync(dirname(file), { recursive: true });
      const escaped = file.replace(/'/g, "''");
      await conn.run(
        `COPY (SELECT 's' || i::VARCHAR AS session_id, DATE '${s.y}-${s.m}-${s.d}' AS session_date, (i * 7 % 3600)::BIGINT AS seconds FROM range(30) t(i)) TO '${escaped}' (FORMAT PARQUET)`,
      );
      objects.sessions!.push(name);
    }
  } finally {
    conn.closeSync();
    duck.closeSync();
  }
  const es = seoul(emptyAt);
  const emptyHour = `events/dt=${es.y}-${es.m}-${es.d}/hr=${es.h}/`;
  const punchHoles = () => {
    const late = [eventsFile(lateAt, 0), eventsFile(lateAt, 1)];
    const rewritten = eventsFile(start + 5 * 3_600_000, 1, 35);
    return [
      `${late[0]!.replace(/part-0.*$/, '')} got its files without an event (never loaded)`,
      `${rewritten} was rewritten after loading (35 rows instead of 20)`,
      `${emptyHour} has no source data at all (the events table's cadence is hourly)`,
    ];
  };
  return { configFile, lakeDir, objects, corrupt, emptyHour, punchHoles };
}

/**
 * Removes a demo (for `npm start -- --reset`): its config, its bucket in this config's lake with
 * that bucket's metadata and locks, the lake's dead letters and the warehouse. Nothing of another
 * lake, nor other buckets of this one.
 */
export function removeDemo(configFile: string, paths: LocalPaths): void {
  const { lakeDir, lakeMetaDir, warehouseFile, deadLetterFile } = paths;
  for (const p of [
    dirname(configFile),
    join(lakeDir, DEMO_BUCKET),
    join(lakeMetaDir, DEMO_BUCKET),
    warehouseFile,
    `${warehouseFile}.wal`,
    deadLetterFile,
  ])
    rmSync(p, { recursive: true, force: true });
}
