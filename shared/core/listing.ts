/**
 * Lists what the source holds for one partition: the objects under the route's prefixes whose
 * names map to that partition. Names that match the pattern but carry an invalid time are
 * skipped with a warning (they can never be loaded anywhere).
 */
import type { Logger } from '../log.ts';
import type { TableRoute } from '../routing/router.ts';
import { RouteError } from './errors.ts';
import type { ObjectInfo, ObjectStore } from './ports.ts';

/** Pages through a listing under one prefix. */
export async function* listAll(store: Pick<ObjectStore, 'listPage'>, bucket: string, prefix: string, range: { startOffset?: string; endOffset?: string } = {}): AsyncGenerator<ObjectInfo> {
  let pageToken: string | undefined;
  do {
    const page = await store.listPage(bucket, { prefix, pageToken, ...range });
    yield* page.objects;
    pageToken = page.nextPageToken;
  } while (pageToken);
}

/** The objects of `partition`, sorted by name. */
export async function listPartitionObjects(store: ObjectStore, route: TableRoute, partition: string, log?: Logger): Promise<ObjectInfo[]> {
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
