/**
 * What a partition's next job must do, decided from what the source lists and what the
 * partition holds: nothing, append only the new files (a delta), replace it from the listing, or
 * empty it. Pure: the sync engine (sync.ts) and the committer (commit.ts) both read it, and its
 * cases are a table in test/shared/core/plan.test.ts.
 *
 * A delta is safe because the partition holds exactly `held` (the files of the last successful
 * job, recorded when it settled), and the appending job runs under the partition's claim with a
 * job id of its own: inserted once, it appends once. When what the partition holds is not known
 * (state lost or rebuilt, its file list gone), only a replacement is exact.
 *
 * `onSourceDelete`: `mirror` replaces the partition when a loaded object is gone. `keep` leaves
 * the rows of deleted objects (`kept`); a rewritten file normally means a replacement, but a
 * replacement would drop those kept rows, so with kept rows the rewritten files are `held` (left
 * for `tidemark reload`, which applies both on purpose) and new files are still appended.
 */
import type { FileRef } from './state.ts';

export type Version = { name: string; generation: string };
/** A version P holds; its size when known (claim objects record it). */
export type HeldVersion = Version & { size?: number };

export interface PlanInput {
  /** Loadable files the source lists for P (quarantined ones left out). */
  listing: readonly FileRef[];
  /**
   * The files whose rows P holds; null when P holds nothing tidemark loaded (never loaded, or
   * emptied); 'unknown' when P holds rows but their file list is lost.
   */
  holds: readonly HeldVersion[] | null | 'unknown';
  /** Reload from the listing whatever P holds (a forced reload, quarantined files released). */
  replace: boolean;
  onSourceDelete: 'keep' | 'mirror';
}

export type PlanAction =
  /** P already holds the listing (with `kept`/`held` as recorded). */
  | { action: 'none' }
  /** WRITE_APPEND `load`; afterwards P holds `files`. */
  | { action: 'append'; load: FileRef[]; files: FileRef[] }
  /** WRITE_TRUNCATE from `files`. */
  | { action: 'replace'; files: FileRef[] }
  /** Remove every row of P. */
  | { action: 'empty' };

export type Plan = PlanAction & {
  /** keep: deleted objects whose rows P holds after this plan. */
  kept: Version[];
  /** keep: listed versions of rewritten files not applied (they wait for a reload). */
  held: Version[];
  /** Why, in a few words (logs, job labels). */
  why: string;
};

const key = (v: Version) => `${v.name}\u0000${v.generation}`;

/** Decides P's next job. See the module header for the rules. */
export function planPartition(input: PlanInput): Plan {
  const { listing, holds } = input;
  const fresh = (why: string): Plan =>
    listing.length === 0
      ? { action: 'empty', kept: [], held: [], why }
      : { action: 'replace', files: [...listing], kept: [], held: [], why };

  if (holds === null)
    return listing.length === 0
      ? { action: 'none', kept: [], held: [], why: 'nothing listed, nothing held' }
      : { action: 'replace', files: [...listing], kept: [], held: [], why: 'first load' };
  if (input.replace) return fresh('reload requested');
  if (holds === 'unknown') return fresh('what the partition holds is unknown');

  const listed = new Map(listing.map((f) => [f.name, f]));
  const heldNames = new Set(holds.map((h) => h.name));
  const deleted: Version[] = [];
  const rewritten: FileRef[] = [];
  for (const h of holds) {
    const now = listed.get(h.name);
    if (!now) deleted.push({ name: h.name, generation: h.generation });
    else if (now.generation !== h.generation) rewritten.push(now);
  }
  const added = listing.filter((f) => !heldNames.has(f.name));

  if (input.onSourceDelete === 'mirror') {
    if (deleted.length || rewritten.length)
      return fresh(deleted.length ? `${deleted.length} object(s) deleted` : `${rewritten.length} object(s) rewritten`);
    if (added.length)
      return {
        action: 'append',
        load: added,
        files: [...listing],
        kept: [],
        held: [],
        why: `${added.length} new object(s)`,
      };
    return { action: 'none', kept: [], held: [], why: 'unchanged' };
  }

  // keep: rows of deleted objects stay, so P holds more than the listing.
  if (rewritten.length && !deleted.length) return fresh(`${rewritten.length} object(s) rewritten`);
  const held = rewritten.map((f) => ({ name: f.name, generation: f.generation }));
  if (!added.length)
    return { action: 'none', kept: deleted, held, why: deleted.length ? 'rows of deleted objects kept' : 'unchanged' };
  // What P holds (every held version, deleted or rewritten ones included) plus the new files.
  const files: FileRef[] = holds.map((h) => ({ name: h.name, generation: h.generation, size: h.size ?? 0 }));
  return {
    action: 'append',
    load: added,
    files: [...files, ...added],
    kept: deleted,
    held,
    why: `${added.length} new object(s)`,
  };
}

/** The same versions, in the same order (an unchanged kept/held record needs no write). */
export function sameVersions(a: readonly Version[] | undefined, b: readonly Version[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((v, i) => key(v) === key(y[i]!));
}
