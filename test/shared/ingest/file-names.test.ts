/**
 * The storage subscription's file names: `<prefix><UTC datetime>_<uuid><suffix>`, formats that
 * are refused, and names routed by the stream table's pattern to the hour they were written.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { datetimeFormatProblem, formatFileDatetime, streamObjectName } from '../../../shared/ingest/file-names.ts';

describe('storage subscription file names', () => {
  it('formats UTC time with the default format, and builds prefix + time + _uuid + suffix', () => {
    const ms = Date.UTC(2026, 10, 24, 3, 4, 5, 678);
    assert.equal(formatFileDatetime('YYYY-MM-DD/hh/mm_ssZ', ms), '2026-11-24/03/04_05Z');
    assert.equal(formatFileDatetime('YYYY-MM-DDThh:mm:ssZ', ms), '2026-11-24T03:04:05Z');
    assert.equal(
      streamObjectName(
        { prefix: 'streams/locations/', datetimeFormat: 'YYYY-MM-DD/hh/mm_ssZ', suffix: '.ndjson' },
        ms,
        '0b6c7d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e',
      ),
      'streams/locations/2026-11-24/03/04_05Z_0b6c7d1e-2f3a-4b5c-8d9e-0f1a2b3c4d5e.ndjson',
    );
  });

  const formats: [string, RegExp | null][] = [
    ['YYYY-MM-DD/hh/mm_ssZ', null],
    ['YYYY-MM-DDThh:mm:ssZ', null],
    ['YYYYMMDDhhmmss', null],
    ['YYYY-MM-DD/mm_ss', /missing hh/],
    ['YYYY-MM-DD hh:mm:ss', /unexpected " "/],
    ['hh/YYYY-MM-DD/mm_ss', /from the year down/],
    ['YYYY-MM-DD/hh/mm_ss/', /"\/" may not/],
    ['YYYY-MM-DD//hh/mm_ss', /"\/" may not/],
    ['YYYY-MM-DD/hh/mm_ss_ss', /once/],
  ];
  for (const [format, problem] of formats) {
    it(`format ${format}: ${problem ? 'refused' : 'valid'}`, () => {
      const got = datetimeFormatProblem(format);
      if (problem === null) assert.equal(got, null);
      else assert.match(got ?? '', problem);
    });
  }
});
