import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blameUris, namesUri } from '../../../shared/core/blame.ts';
import type { JobErrorItem } from '../../../shared/core/ports.ts';

describe('namesUri: a whole URI as a token, never a prefix', () => {
  const cases: { message: string; uri: string; names: boolean }[] = [
    { message: 'Error while reading data: gs://b/batch-10 is corrupt', uri: 'gs://b/batch-1', names: false },
    { message: 'Error while reading data: gs://b/batch-10 is corrupt', uri: 'gs://b/batch-10', names: true },
    { message: 'File: gs://b/a.csv.gz', uri: 'gs://b/a.csv', names: false },
    { message: 'File: gs://b/a.csv.gz', uri: 'gs://b/a.csv.gz', names: true },
    { message: 'bad gzip in gs://b/a.csv.', uri: 'gs://b/a.csv', names: true },
    { message: 'gs://b/a.csv: Could not parse', uri: 'gs://b/a.csv', names: true },
    { message: "Could not read 'gs://b/a.csv'", uri: 'gs://b/a.csv', names: true },
    { message: 'Could not read (gs://b/a.csv)', uri: 'gs://b/a.csv', names: true },
    { message: 'gs://b/x/gs://b/a.csv is odd', uri: 'gs://b/a.csv', names: false },
    { message: 'gs://b/a.csv.1 and later gs://b/a.csv', uri: 'gs://b/a.csv', names: true },
    { message: 'Schema does not match', uri: 'gs://b/a.csv', names: false },
  ];
  for (const c of cases)
    it(`${JSON.stringify(c.message)} ${c.names ? 'names' : 'does not name'} ${c.uri}`, () =>
      assert.equal(namesUri(c.message, c.uri), c.names));
});

describe('blameUris', () => {
  const uris = ['gs://b/batch-1', 'gs://b/batch-10', 'gs://b/batch-2'];
  const cases: { name: string; errors: JobErrorItem[]; blamed: string[] }[] = [
    {
      name: 'location wins',
      errors: [
        { reason: 'invalid', location: 'gs://b/batch-10', message: 'gs://b/batch-1 and gs://b/batch-2 mentioned' },
      ],
      blamed: ['gs://b/batch-10'],
    },
    {
      name: 'message token only',
      errors: [{ reason: 'invalid', message: 'Error reading gs://b/batch-10: bad' }],
      blamed: ['gs://b/batch-10'],
    },
    {
      name: 'location that is not a source: read the message',
      errors: [{ reason: 'invalid', location: 'query', message: 'in gs://b/batch-2' }],
      blamed: ['gs://b/batch-2'],
    },
    {
      name: 'notFound blames nobody',
      errors: [{ reason: 'notFound', location: 'gs://b/batch-1', message: 'Not found: URI gs://b/batch-1' }],
      blamed: [],
    },
    {
      name: 'no file named',
      errors: [{ reason: 'invalid', message: 'Provided schema does not match table' }],
      blamed: [],
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual([...blameUris(c.errors, uris).keys()].sort(), c.blamed));
});
