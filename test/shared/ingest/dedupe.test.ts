/**
 * The dedupe rule's pure parts: reading a file name's time back, the redelivery window, and
 * which files of hour P-1 are P's tail.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../../shared/config/load.ts';
import { redeliveryWindowMs, tailFiles } from '../../../shared/ingest/dedupe.ts';
import { fileNameTime, streamObjectName } from '../../../shared/ingest/file-names.ts';
import { streamYaml } from '../../helpers/streams.ts';

const stream = parseConfig(streamYaml(), '/tmp/tidemark.config.yaml').streams[0]!;
const UUID = '0b6c7d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e';
const at = (h: number, m: number, s = 0) => Date.UTC(2026, 10, 24, h, m, s);

describe('stream dedupe', () => {
  it('reads back the time of every name it generates, in any valid format', () => {
    for (const datetimeFormat of ['YYYY-MM-DD/hh/mm_ssZ', 'YYYY-MM-DDThh:mm:ssZ', 'YYYYMMDDhhmmss']) {
      const naming = { ...stream.files, datetimeFormat };
      for (const ms of [at(0, 0), at(23, 59, 59), Date.UTC(2028, 1, 29, 12, 30, 1)])
        assert.equal(fileNameTime(naming, streamObjectName(naming, ms, UUID)), ms, `${datetimeFormat} ${ms}`);
    }
  });

  const names: [string, string | null][] = [
    [`streams/locations/2026-11-24/12/59_59Z_${UUID}.ndjson`, '2026-11-24T12:59:59.000Z'],
    [`streams/locations/2026-11-24/24/00_00Z_${UUID}.ndjson`, null],
    [`streams/locations/2026-02-30/12/00_00Z_${UUID}.ndjson`, null],
    [`streams/locations/2026-11-24/12/00_00Z.ndjson`, null],
    [`streams/other/2026-11-24/12/00_00Z_${UUID}.ndjson`, null],
    [`streams/locations/2026-11-24/12/00_00Z_${UUID}.json`, null],
    [`streams/locations/2026-11-24/12/00_00Z_a/b.ndjson`, null],
  ];
  for (const [name, want] of names) {
    it(`${name} -> ${want ?? 'not a stream file'}`, () => {
      const t = fileNameTime(stream.files, name);
      assert.equal(t === null ? null : new Date(t).toISOString(), want);
    });
  }

  it('the window is maxDuration + the ack deadline + a minute of backoff', () => {
    assert.equal(redeliveryWindowMs(stream), 300_000 + 300_000 + 60_000);
  });

  it('the tail: files of P-1 named within the window before P, quarantined ones left out', () => {
    const file = (h: number, m: number, s = 0, generation = '1') => ({
      name: streamObjectName(stream.files, at(h, m, s), UUID),
      generation,
    });
    const previous = [
      file(12, 0),
      file(12, 48, 59),
      file(12, 49),
      file(12, 55),
      file(12, 59, 59),
      file(12, 58, 0, '7'),
      { name: 'streams/locations/2026-11-24/12/README', generation: '1' },
    ];
    const skip = new Set([`${file(12, 58).name}\u00007`]);
    const tail = tailFiles(stream, previous, at(13, 0), skip);
    assert.deepEqual(
      tail.map((f) => f.name.slice(32, 37)),
      ['49_00', '55_00', '59_59'],
    );
  });
});
