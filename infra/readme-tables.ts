/**
 * The README's function and IAM tables, rendered from the function table and the role table, and
 * written between markers in README.md and infra/README.md (`npm run gen:readme-tables`;
 * test/infra/readme.test.ts fails when they differ).
 */
import { FUNCTION_TABLE } from '../shared/deploy/functions.ts';
import { parseDeploySettings } from './deploy-config.ts';
import { roleTable } from './roles.ts';

/** The functions as deployed with the default `deploy:` section. */
export function functionTable(): string {
  const defaults = parseDeploySettings(undefined, '(defaults)');
  const rows = [
    '| Function | Folder / entry point | Trigger | Runs in | Retry | Memory, timeout, max instances (defaults) | Why |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of FUNCTION_TABLE) {
    const s = r.settings(defaults);
    const trigger =
      r.trigger.kind === 'storage-finalized'
        ? 'object finalized in `lake.bucket`'
        : r.trigger.kind === 'topic'
          ? `topic \`topics.${r.trigger.topic}\``
          : 'HTTP';
    const where = r.runsIn === 'lakeRegion' ? '`deploy.lakeRegion`' : '`deploy.region`';
    rows.push(
      `| \`<prefix>-${r.role}\` | \`functions/${r.folder}\` / \`${r.entryPoint}\` | ${trigger} | ${where} | ${r.retry ? 'yes' : 'no'} | ${s.memory}, ${s.timeoutSeconds} s, ${s.maxInstances} | ${r.why} |`,
    );
  }
  return rows.join('\n');
}

export const README_TABLES: Record<string, () => string> = {
  functions: functionTable,
  iam: () => roleTable('<prefix>'),
};

/** Replaces the text between `<!-- tidemark:NAME -->` and `<!-- /tidemark:NAME -->`; names a missing marker. */
export function fillTables(text: string, file: string): string {
  let out = text;
  for (const [name, render] of Object.entries(README_TABLES)) {
    const open = `<!-- tidemark:${name} -->`;
    const close = `<!-- /tidemark:${name} -->`;
    const start = out.indexOf(open);
    const end = out.indexOf(close);
    if (start < 0 && end < 0) continue;
    if (start < 0 || end < start) throw new Error(`${file}: ${open} ... ${close} markers are unbalanced`);
    out = `${out.slice(0, start + open.length)}\n${render()}\n${out.slice(end)}`;
  }
  return out;
}
