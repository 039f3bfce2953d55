import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../shared/config/load.ts';
import {
  parseResolvedConfig,
  readResolvedConfig,
  RESOLVED_CONFIG_FORMAT,
  serializeConfig,
} from '../../../shared/config/resolved.ts';
import { ConfigError } from '../../../shared/core/errors.ts';

const YAML = `project: tidemark-test
location: US
lake: { bucket: lake-bucket }
tables:
  - name: events
    source: { pattern: "events/dt={yyyy}-{mm}-{dd}/hr={hh}/*.json.gz", timeZone: UTC }
    format: NEWLINE_DELIMITED_JSON
    schema: schemas/events.json
    target: { dataset: lake_us, table: events }
    partitioning: { type: HOUR }
`;
const SCHEMA = [{ name: 'id', type: 'STRING' }];

describe('resolved config (tidemark.config.json, read by the deployed functions)', () => {
  const config = parseConfig(YAML, '/project/tidemark.config.yaml', () => JSON.stringify(SCHEMA));

  it('round-trips the validated Config exactly, schema inlined, file set to the JSON it was read from', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-resolved-'));
    try {
      writeFileSync(join(dir, 'tidemark.config.json'), serializeConfig(config, 'tidemark.config.yaml'));
      const read = readResolvedConfig(join(dir, 'tidemark.config.json'));
      assert.deepEqual(read, { ...config, file: join(dir, 'tidemark.config.json') });
      assert.deepEqual(read.tables[0]!.spec.schema, SCHEMA);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const bad: [string, string, RegExp][] = [
    ['not JSON', '{project: x', /not JSON/],
    ['the YAML itself', YAML, /not JSON/],
    [
      'another format',
      JSON.stringify({ format: 'tidemark-resolved-config/0', config: {} }),
      /format: expected "tidemark-resolved-config\/1", found "tidemark-resolved-config\/0": rebuild/,
    ],
    ['no envelope', JSON.stringify({ project: 'x' }), /format: expected/],
    [
      'a config without tables',
      JSON.stringify({ format: RESOLVED_CONFIG_FORMAT, config: { ...config, tables: undefined } }),
      /config: incomplete resolved config \(missing tables\)/,
    ],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what} with a ConfigError naming the file`, () => {
      assert.throws(
        () => parseResolvedConfig(text, '/srv/tidemark.config.json'),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.message.startsWith('invalid config /srv/tidemark.config.json') &&
          message.test(err.message),
      );
    });
  }

  it('names a missing file and how it is made', () => {
    assert.throws(
      () => readResolvedConfig('/nonexistent/tidemark.config.json'),
      /cannot read the resolved config \(npm run build writes it beside index\.js\): ENOENT/,
    );
  });
});
