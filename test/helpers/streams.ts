/**
 * A config with one realtime stream (`locations`) for ingestion tests: the table the storage
 * subscription's files load into, hourly on ingestion time, and the stream naming it.
 */
export const LOCATIONS_TABLE_YAML = `
  - name: locations
    source: { pattern: "streams/locations/{yyyy}-{mm}-{dd}/{hh}/*.ndjson", timeZone: UTC }
    format: NEWLINE_DELIMITED_JSON
    schema:
      - { name: device_id, type: STRING, mode: REQUIRED }
      - { name: lat, type: FLOAT, mode: REQUIRED }
      - { name: lon, type: FLOAT, mode: REQUIRED }
      - { name: accuracy, type: FLOAT }
      - { name: event_time, type: TIMESTAMP, mode: REQUIRED }
      - { name: tags, type: STRING, mode: REPEATED }
      - name: meta
        type: RECORD
        fields: [{ name: battery, type: INTEGER }, { name: source, type: STRING }]
      - { name: event_id, type: STRING, mode: REQUIRED }
      - { name: received_at, type: TIMESTAMP, mode: REQUIRED }
    target: { dataset: lake_us, table: locations }
    partitioning: { type: HOUR }
`;

/** A whole config: the locations table and stream, with overridable stream keys. */
export function streamYaml(streamExtra = '', tableYaml = LOCATIONS_TABLE_YAML): string {
  return `
project: test-project
location: US
lake: { bucket: lake }
defaults: { jobBudget: 1000, jobBurst: 1000 }
tables:${tableYaml}
streams:
  - name: locations
    table: locations
${streamExtra}`;
}

/** A valid location record. */
export function location(i: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    device_id: `dev-${i % 50}`,
    lat: 37.5 + (i % 100) / 1000,
    lon: 127 + (i % 100) / 1000,
    accuracy: 5,
    event_time: '2026-11-24T12:00:00Z',
    ...extra,
  };
}
