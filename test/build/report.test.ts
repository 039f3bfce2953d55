/** scripts/build/report.ts: which package an input is, sizes, the printed table. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { discoverFunctions } from '../../scripts/build/discover.ts';
import { formatBytes, formatSizeTable, packageOf, topBy } from '../../scripts/build/report.ts';
import type { BundleResult } from '../../scripts/build/report.ts';

describe('build report', () => {
  const owners: [string, string][] = [
    ['shared/core/sync.ts', '(project)'],
    ['node_modules/gaxios/build/src/gaxios.js', 'gaxios'],
    ['node_modules/@google-cloud/storage/build/cjs/src/index.js', '@google-cloud/storage'],
    ['node_modules/@google-cloud/bigquery/node_modules/gaxios/build/src/index.js', 'gaxios'],
  ];
  for (const [input, pkg] of owners) it(`${input} belongs to ${pkg}`, () => assert.equal(packageOf(input), pkg));

  it('formats bytes as KiB below a MiB and MiB above', () => {
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(3 * 1024 * 1024), '3.00 MiB');
  });

  it('keeps the largest n entries, largest first', () => {
    assert.deepEqual(
      topBy(
        new Map([
          ['a', 1],
          ['b', 3],
          ['c', 2],
        ]),
        'name',
        2,
      ),
      [
        { name: 'b', bytes: 3 },
        { name: 'c', bytes: 2 },
      ],
    );
  });

  it('prints one row per function with index.js, lazy and map sizes', () => {
    const fn = discoverFunctions(process.cwd()).find((f) => f.name === 'load-on-finalize')!;
    const result: BundleResult = {
      fn,
      dir: '/tmp/x',
      bytes: { eager: 70 * 1024, total: 2 * 1024 * 1024, maps: 1024 },
      inputs: [],
      packages: [{ name: '(project)', bytes: 45 * 1024 }],
      lazy: [{ pkg: '@google-cloud/storage', file: 'lazy/google-cloud-storage.cjs', bytes: 600 * 1024 }],
      chunks: [],
      files: [],
      warnings: [],
    };
    const [head, row] = formatSizeTable([result]).split('\n');
    assert.match(head!, /^function\s+entry point\s+index\.js\s+with lazy files\s+maps/);
    assert.match(
      row!,
      /^load-on-finalize\s+loadOnFinalize\s+70\.0 KiB\s+2\.00 MiB\s+1\.0 KiB\s+\(project\) 45\.0 KiB\s+@google-cloud\/storage 600\.0 KiB$/,
    );
  });
});
