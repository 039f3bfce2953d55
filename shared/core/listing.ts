/**
 * Lists what the source holds for one partition: the objects under the route's prefixes whose
 * names map to that partition. Names that match the pattern but carry an invalid time are
 * skipped with a warning (they can never be loaded anywhere). Names no load can take (a `*`,
 * a line feed, too long: object-names.ts) are turned into quarantine entries here, before any
 * claim, so they never reach a load job.
 */
import type { Logger } from '../log.ts';
import type { TableRoute } from '../routing/router.ts';
import { RouteError } from './errors.ts';
import { errorMessage } from './errors.ts';
import { unloadableReason } from './object-names.ts';
import type { ObjectInfo, ObjectStore } from './ports.ts';
import type { QuarantineEntry } from './state.ts';

/** Pages through a listing under one prefix. */
export async function* listAll(
  store: Pick<ObjectStore, 'listPage'>,
  bucket: string,
  prefix: string,
  range: { startOffset?: string; endOffset?: string } = {},
): AsyncGenerator<ObjectInfo> {
  let pageToken: string | undefined;
  do {
    const page = await store.listPage(bucket, { prefix, pageToken, ...range });
    yield* page.objects;
    pageToken = page.nextPageToken;
  } while (pageToken);
}

/** The objects of `partition`, sorted by name. */
export async function listPartitionObjects(
  store: ObjectStore,
  route: TableRoute,
  partition: string,
  log?: Logger,
): Promise<ObjectInfo[]> {
  const byName = new Map<string, ObjectInfo>();
  for (const prefix of route.prefixesFor(partition)) {
    for await (const obj of listAll(store, route.table.source.bucket, prefix)) {
      if (byName.has(obj.name)) continue;
      try {
        if (route.partitionOf(obj.name) === partition) byName.set(obj.name, obj);
      } catch (err) {
        if (!(err instanceof RouteError)) throw err;
        log?.warn(err.message, { table: route.table.name, object: obj.name });
      }
    }
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Quarantine entries for the listed objects no load can take: the common rule
 * (`unloadableReason`), then the store's own (its `uri` refuses names it cannot address). An
 * entry already in `previous` keeps its time. `jobId` is empty: no job was involved.
 */
export function refuseUnloadable(
  store: Pick<ObjectStore, 'uri'>,
  bucket: string,
  listing: ObjectInfo[],
  previous: QuarantineEntry[],
  now: number,
): QuarantineEntry[] {
  const out: QuarantineEntry[] = [];
  for (const o of listing) {
    let reason = unloadableReason(o.name);
    if (reason === null) {
      try {
        store.uri(bucket, o.name);
      } catch (err) {
        reason = `${errorMessage(err)}; rename the object`;
      }
    }
    if (reason === null) continue;
    const before = previous.find((q) => q.name === o.name && q.generation === o.generation && q.jobId === '');
    out.push(before ?? { name: o.name, generation: o.generation, error: reason, jobId: '', at: now });
  }
  return out;
}
