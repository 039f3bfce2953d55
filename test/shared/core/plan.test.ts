import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planPartition, sameVersions } from '../../../shared/core/plan.ts';
import type { PlanInput } from '../../../shared/core/plan.ts';

/** `a@1` is object a, generation 1 (size 10). */
const f = (spec: string) => {
  const [name, generation] = spec.split('@') as [string, string];
  return { name, generation, size: 10 };
};
const fs = (specs: string) => (specs ? specs.split(' ').map(f) : []);
const show = (files: { name: string; generation: string }[]) => files.map((x) => `${x.name}@${x.generation}`).join(' ');

interface Case {
  name: string;
  listing: string;
  holds: string | null | 'unknown';
  replace?: boolean;
  mode: PlanInput['onSourceDelete'];
  /** action, then what it loads (append/replace), then kept, then held. */
  want: [string, string, string, string];
}

const CASES: Case[] = [
  { name: 'first load', listing: 'a@1 b@1', holds: null, mode: 'keep', want: ['replace', 'a@1 b@1', '', ''] },
  { name: 'nothing anywhere', listing: '', holds: null, mode: 'mirror', want: ['none', '', '', ''] },
  { name: 'unchanged', listing: 'a@1 b@1', holds: 'a@1 b@1', mode: 'mirror', want: ['none', '', '', ''] },
  {
    name: 'new file: a delta',
    listing: 'a@1 b@1 c@1',
    holds: 'a@1 b@1',
    mode: 'mirror',
    want: ['append', 'c@1', '', ''],
  },
  { name: 'new file: a delta (keep)', listing: 'a@1 c@1', holds: 'a@1', mode: 'keep', want: ['append', 'c@1', '', ''] },
  {
    name: 'rewritten: replace',
    listing: 'a@2 b@1',
    holds: 'a@1 b@1',
    mode: 'mirror',
    want: ['replace', 'a@2 b@1', '', ''],
  },
  {
    name: 'rewritten: replace (keep)',
    listing: 'a@2 b@1',
    holds: 'a@1 b@1',
    mode: 'keep',
    want: ['replace', 'a@2 b@1', '', ''],
  },
  {
    name: 'deleted, mirror: replace',
    listing: 'b@1',
    holds: 'a@1 b@1',
    mode: 'mirror',
    want: ['replace', 'b@1', '', ''],
  },
  { name: 'all deleted, mirror: empty', listing: '', holds: 'a@1', mode: 'mirror', want: ['empty', '', '', ''] },
  { name: 'deleted, keep: rows stay', listing: 'b@1', holds: 'a@1 b@1', mode: 'keep', want: ['none', '', 'a@1', ''] },
  {
    name: 'all deleted, keep: rows stay',
    listing: '',
    holds: 'a@1 b@1',
    mode: 'keep',
    want: ['none', '', 'a@1 b@1', ''],
  },
  {
    name: 'deleted and new, keep: append the new',
    listing: 'b@1 c@1',
    holds: 'a@1 b@1',
    mode: 'keep',
    want: ['append', 'c@1', 'a@1', ''],
  },
  {
    name: 'deleted and new, mirror: replace',
    listing: 'b@1 c@1',
    holds: 'a@1 b@1',
    mode: 'mirror',
    want: ['replace', 'b@1 c@1', '', ''],
  },
  {
    name: 'rewritten and deleted, mirror: replace from the listing',
    listing: 'b@2',
    holds: 'a@1 b@1',
    mode: 'mirror',
    want: ['replace', 'b@2', '', ''],
  },
  {
    name: 'rewritten and deleted, keep: the rewrite waits for a reload',
    listing: 'b@2',
    holds: 'a@1 b@1',
    mode: 'keep',
    want: ['none', '', 'a@1', 'b@2'],
  },
  {
    name: 'rewritten, deleted and new, keep: the new is appended',
    listing: 'b@2 c@1',
    holds: 'a@1 b@1',
    mode: 'keep',
    want: ['append', 'c@1', 'a@1', 'b@2'],
  },
  {
    name: 'reload on purpose applies deletions (keep)',
    listing: 'b@2',
    holds: 'a@1 b@1',
    replace: true,
    mode: 'keep',
    want: ['replace', 'b@2', '', ''],
  },
  {
    name: 'reload of nothing empties',
    listing: '',
    holds: 'a@1',
    replace: true,
    mode: 'keep',
    want: ['empty', '', '', ''],
  },
  {
    name: 'unknown holdings: replace',
    listing: 'a@1 b@1',
    holds: 'unknown',
    mode: 'keep',
    want: ['replace', 'a@1 b@1', '', ''],
  },
  {
    name: 'a deleted object re-uploaded is a rewrite',
    listing: 'a@5 b@1',
    holds: 'a@1 b@1',
    mode: 'keep',
    want: ['replace', 'a@5 b@1', '', ''],
  },
];

describe('planPartition', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const holds = c.holds === null || c.holds === 'unknown' ? c.holds : fs(c.holds);
      const plan = planPartition({
        listing: fs(c.listing),
        holds,
        replace: !!c.replace,
        onSourceDelete: c.mode,
      });
      const loads = plan.action === 'append' ? show(plan.load) : plan.action === 'replace' ? show(plan.files) : '';
      assert.deepEqual([plan.action, loads, show(plan.kept), show(plan.held)], c.want);
    });
  }

  it('after an append the partition holds what it held plus the new files, kept versions included', () => {
    const plan = planPartition({
      listing: fs('b@2 c@1'),
      holds: [
        { name: 'a', generation: '1', size: 7 },
        { name: 'b', generation: '1', size: 8 },
      ],
      replace: false,
      onSourceDelete: 'keep',
    });
    assert.equal(plan.action, 'append');
    if (plan.action !== 'append') return;
    assert.equal(show(plan.files), 'a@1 b@1 c@1');
    assert.deepEqual(
      plan.files.map((x) => x.size),
      [7, 8, 10],
    );
  });

  it('sameVersions compares versions in order', () => {
    assert.ok(sameVersions(undefined, []));
    assert.ok(sameVersions(fs('a@1 b@2'), fs('a@1 b@2')));
    assert.ok(!sameVersions(fs('a@1'), fs('a@2')));
    assert.ok(!sameVersions(fs('a@1'), fs('a@1 b@1')));
  });
});
