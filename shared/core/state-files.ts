/**
 * The parts of a partition's state that grow with its file count, kept out of the head object
 * so that reading the head costs the same at 10 files or 10,000:
 *
 * - claim objects, `<prefix>claims/<table>/<P>/<claimId>.json`: the file list of one claim
 *   (written before the head names it, immutable, removed once the head no longer names it);
 *   the head's `loaded.claimId` names the one of the last successful load.
 * - loaded markers, `<prefix>loaded/<table>/<P>/<epoch>/<key>`: one empty-ish object per
 *   (name, generation) a successful job of this state epoch loaded, written after the job
 *   succeeded and before the state records it. A finalize event asks "already loaded?" with one
 *   read of its marker. A marker only ever claims what is true (the job succeeded, so the file is
 *   in the partition, and only a later load of a listing without it, i.e. after it was deleted
 *   or quarantined, takes it out); a missing marker only costs a listing. So markers may be
 *   deleted at any time (a lifecycle rule on `<prefix>loaded/`), and a new epoch (a state object
 *   lost or rebuilt) ignores the old ones.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { StateConfig } from '../config/types.ts';
import type { ObjectStore } from './ports.ts';
import { parseClaimFiles } from './state-codec.ts';
import type { FileRef } from './state.ts';

type Version = { name: string; generation: string };

/** Markers are written this many at a time (a first load may add 10,000 files). */
const MARKER_CONCURRENCY = 32;

/** A fresh random id (state epochs, claim ids). */
export function randomId(): string {
  return randomBytes(8).toString('hex');
}

export function claimObjectName(cfg: StateConfig, table: string, partition: string, claimId: string): string {
  return `${cfg.prefix}claims/${table}/${partition}/${claimId}.json`;
}

export function markerName(cfg: StateConfig, table: string, partition: string, epoch: string, v: Version): string {
  const key = createHash('sha256').update(`${v.name}\u0000${v.generation}`).digest('hex').slice(0, 40);
  return `${cfg.prefix}loaded/${table}/${partition}/${epoch}/${key}`;
}

/** Writes a claim's file list (its name is unique to the claim, so no precondition is needed). */
export async function writeClaimFiles(
  store: ObjectStore,
  cfg: StateConfig,
  table: string,
  partition: string,
  claim: { claimId: string; jobId: string; files: FileRef[]; added: Version[]; load?: FileRef[] },
): Promise<void> {
  const body = JSON.stringify({
    jobId: claim.jobId,
    files: claim.files,
    added: claim.added,
    ...(claim.load ? { load: claim.load } : {}),
  });
  await store.write(cfg.bucket, claimObjectName(cfg, table, partition, claim.claimId), body, {
    contentType: 'application/json',
  });
}

/** A claim's files; null when the object does not exist; a string naming what is wrong when corrupt. */
export async function readClaimFiles(
  store: ObjectStore,
  cfg: StateConfig,
  table: string,
  partition: string,
  claimId: string,
  jobId: string,
): Promise<{ files: FileRef[]; added: Version[]; load?: FileRef[] } | null | string> {
  const found = await store.read(cfg.bucket, claimObjectName(cfg, table, partition, claimId));
  if (!found) return null;
  return parseClaimFiles(found.data.toString('utf8'), jobId);
}

/** Best effort: a leftover claim object is only garbage. */
export async function removeClaimFiles(
  store: ObjectStore,
  cfg: StateConfig,
  table: string,
  partition: string,
  claimId: string,
): Promise<void> {
  await store.remove(cfg.bucket, claimObjectName(cfg, table, partition, claimId)).catch(() => {});
}

/** Records that `versions` are in the partition (job `jobId` of `epoch` succeeded). Idempotent. */
export async function writeMarkers(
  store: ObjectStore,
  cfg: StateConfig,
  table: string,
  partition: string,
  epoch: string,
  versions: readonly Version[],
  jobId: string,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < versions.length) {
      const v = versions[next++]!;
      await store.write(cfg.bucket, markerName(cfg, table, partition, epoch, v), jobId);
    }
  };
  await Promise.all(Array.from({ length: Math.min(MARKER_CONCURRENCY, versions.length) }, worker));
}

/** True when a job of `epoch` loaded exactly this (name, generation). One small read. */
export async function hasMarker(
  store: ObjectStore,
  cfg: StateConfig,
  table: string,
  partition: string,
  epoch: string,
  v: Version,
): Promise<boolean> {
  return (await store.read(cfg.bucket, markerName(cfg, table, partition, epoch, v))) !== null;
}
