/**
 * `tidemark commit`: which tables a selection names, one line per table result, exit codes, on
 * the local backend with a fake commit function (what a commit does is the core's, tested there).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { commitRows, runCommit, selectCommitTables } from '../../../../shared/cli/commands/commit.ts';
import type { CliContext } from '../../../../shared/cli/context.ts';
import { parseConfig } from '../../../../shared/config/load.ts';
import { main } from '../../../../shared/cli/main.ts';
import { commitResult, DML_YAML, fakeCommit } from '../../../helpers/commit.ts';
import { EVENTS_YAML } from '../../../helpers/local-env.ts';

const DML = parseConfig(DML_YAML, '/x/tidemark.config.yaml');

describe('selectCommitTables', () => {
  const cases: [string, string | undefined, string[] | RegExp, string?][] = [
    ['every dml table without --table', undefined, ['events']],
    ['a dml table by name', 'events', ['events']],
    ['a table committed by loads', 'orders', /"orders" has commit\.mode load/],
    ['an unknown table', 'nosuch', /unknown table "nosuch"; tables: events, orders/],
    ['no dml table at all', undefined, /no table has commit\.mode dml/, EVENTS_YAML],
  ];
  for (const [name, table, expected, yaml] of cases) {
    it(name, () => {
      const config = yaml ? parseConfig(yaml, '/x/tidemark.config.yaml') : DML;
      const got = selectCommitTables(config, table);
      if (Array.isArray(expected)) assert.deepEqual(got, expected);
      else assert.match((got as { usage: string }).usage, expected);
    });
  }
});

it('commitRows: outcome, partitions, files and bytes read, bytes billed, load jobs and DML statements', () => {
  assert.deepEqual(
    commitRows([
      commitResult('events'),
      commitResult('events', {
        outcome: 'idle',
        partitions: [],
        jobId: null,
        bytesBilled: null,
        message: 'nothing dirty',
      }),
    ]),
    [
      {
        table: 'events',
        outcome: 'committed',
        partitions: 2,
        files: 3,
        read: '4.0 KiB',
        billed: '10.0 MiB',
        loads: 2,
        dml: 3,
        jobId: 'tidemark_commit_events_1',
      },
      {
        table: 'events',
        outcome: 'idle',
        partitions: 0,
        files: 3,
        read: '4.0 KiB',
        billed: '-',
        loads: 2,
        dml: 3,
        jobId: '-',
        detail: 'nothing dirty',
      },
    ],
  );
});

describe('runCommit (local backend)', () => {
  let dir: string;
  let out: string;
  let err: string;
  const ctx = (): CliContext => ({
    options: { backend: 'local' },
    env: {},
    cwd: dir,
    out: (s) => void (out += s + '\n'),
    err: (s) => void (err += s + '\n'),
  });
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tidemark-commit-cli-'));
    writeFileSync(join(dir, 'tidemark.config.yaml'), DML_YAML);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const reset = () => {
    out = '';
    err = '';
  };

  it('commits now (ignoring the interval) and prints one line per table', async () => {
    reset();
    const commit = fakeCommit(async () => [commitResult('events')]);
    assert.equal(await runCommit(ctx(), {}, commit), 0);
    assert.deepEqual(commit.calls, [{ tables: ['events'], now: true }]);
    const lines = out.trim().split('\n');
    assert.equal(lines.length, 3, out);
    assert.match(lines[0]!, /^table\s+outcome\s+partitions\s+files\s+read\s+billed\s+loads\s+dml\s+jobId$/);
    assert.match(lines[2]!, /^events\s+committed\s+2\s+3\s+4\.0 KiB\s+10\.0 MiB\s+2\s+3\s+tidemark_commit_events_1$/);
  });

  it('--json prints the results as they are', async () => {
    reset();
    const commit = fakeCommit(async () => [commitResult('events')]);
    assert.equal(await runCommit(ctx(), { table: 'events', json: true }, commit), 0);
    assert.deepEqual(JSON.parse(out), [commitResult('events')]);
  });

  it('exit 1 when a table aborted or the commit failed; 2 for a table that is not dml', async () => {
    reset();
    const aborted = fakeCommit(async () => [commitResult('events', { outcome: 'aborted', message: 'lost the lease' })]);
    assert.equal(await runCommit(ctx(), {}, aborted), 1);
    assert.match(out, /aborted.*lost the lease/);
    reset();
    const failing = fakeCommit(async () => {
      throw new Error('BigQuery is down');
    });
    assert.equal(await runCommit(ctx(), {}, failing), 1);
    assert.match(err, /commit failed: BigQuery is down/);
    reset();
    const unused = fakeCommit(async () => []);
    assert.equal(await runCommit(ctx(), { table: 'orders' }, unused), 2);
    assert.deepEqual(unused.calls, []);
  });

  it('is registered: `tidemark commit --table orders` is a usage error naming the mode', async () => {
    let text = '';
    const code = await main(
      ['node', 'tidemark', 'commit', '--table', 'orders'],
      {},
      { out: (s) => void (text += s), err: (s) => void (text += s) },
      dir,
    );
    assert.equal(code, 2);
    assert.match(text, /"orders" has commit\.mode load/);
  });
});
