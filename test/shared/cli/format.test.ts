/** CLI text: long texts end at a whole word, never mid-word, and say where the full text is. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clip, formatTable } from '../../../shared/cli/format.ts';

describe('clip', () => {
  const cases: [string, string, number, string, string][] = [
    ['short text unchanged', 'load failed', 40, '', 'load failed'],
    [
      'cut at the last whole word',
      'Provided Schema does not match Table lake_us.events',
      30,
      '',
      'Provided Schema does not…',
    ],
    [
      'says where the full text is',
      'Provided Schema does not match Table lake_us.events',
      40,
      'see --json',
      'Provided Schema does not… (see --json)',
    ],
    ['newlines become spaces', 'CSV error\n  on line 2', 40, '', 'CSV error on line 2'],
    ['one long word is cut (nothing better)', 'gs://bucket/a/very/long/object/name.csv', 12, '', 'gs://bucket…'],
  ];
  for (const [name, text, width, where, expected] of cases) {
    it(name, () => {
      const out = clip(text, width, where);
      assert.equal(out, expected);
      assert.ok(out.length <= width);
    });
  }
  it('table cells end at a whole word too', () => {
    const t = formatTable([{ error: 'x'.repeat(10) + ' ' + 'word '.repeat(30) }]);
    const cell = t.split('\n')[2]!;
    assert.ok(cell.length <= 80);
    assert.match(cell, / word…$/);
    const withWhere = formatTable([{ error: 'word '.repeat(40) }], undefined, 'full text: --json').split('\n')[2]!;
    assert.match(withWhere, / word… \(full text: --json\)$/);
    assert.ok(withWhere.length <= 80);
  });
});
