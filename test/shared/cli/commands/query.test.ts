/**
 * `tidemark query` reads: it opens the local warehouse read-only and answers. A job that a dead
 * process left RUNNING is not adopted and run by a query (that is the engine's work).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, it } from 'node:test';
import { main } from '../../../../shared/cli/main.ts';

const dir = mkdtempSync(join(tmpdir(), 'tidemark-query-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const MODULE = resolve(import.meta.dirname, '../../../../shared/backends/local/duckdb-warehouse.ts');

async function query(sql: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(
    ['node', 'tidemark', 'query', sql, '--json'],
    {},
    { out: (s) => void (out += s), err: (s) => void (err += s) },
    dir,
  );
  return { code, out, err };
}

it('answers without adopting a job a dead process left RUNNING, and refuses writes', { timeout: 60_000 }, async () => {
  const file = join(dir, '.tidemark', 'warehouse.duckdb');
  // A process inserts a job (kept RUNNING for a minute) and dies.
  const child = await new Promise<{ code: number | null; stderr: string }>((done, fail) => {
    const code = `const { DuckDbWarehouse } = await import(${JSON.stringify(MODULE)});
      const w = new DuckDbWarehouse({ file: ${JSON.stringify(file)}, jobDelayMs: () => 60000, idleCloseMs: 10 });
      await w.insertJob({ kind: 'noop', jobId: 'orphan_q', labels: {} });
      process.exit(0);`;
    const p = spawn(process.execPath, ['--input-type=module', '-e', code], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (b: Buffer) => (stderr += b));
    p.on('error', fail);
    p.on('close', (c) => done({ code: c, stderr }));
  });
  assert.equal(child.code, 0, child.stderr);

  const sql = "SELECT state, split_part(owner, ':', 1) AS pid FROM _tidemark.jobs WHERE job_id = 'orphan_q'";
  const first = await query(sql);
  assert.equal(first.code, 0, first.err);
  const [row] = JSON.parse(first.out) as { state: string; pid: string }[];
  assert.equal(row!.state, 'RUNNING');
  assert.notEqual(row!.pid, String(process.pid), 'the query did not take the job over');
  const again = await query(sql);
  assert.deepEqual(JSON.parse(again.out), [row], 'nor did it run the job');

  const write = await query("DELETE FROM _tidemark.jobs WHERE job_id = 'orphan_q'");
  assert.equal(write.code, 1);
  assert.match(write.err, /read-only/);
});
