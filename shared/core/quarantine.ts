/** Reads the quarantine lists of many partitions: a bulk listing first, then only the partitions that have any. */
import type { StateConfig } from '../config/types.ts';
import type { ObjectStore } from './ports.ts';
import { listStateSummaries, readState } from './state.ts';
import type { QuarantineEntry } from './state.ts';

export interface QuarantinedFile extends QuarantineEntry {
  table: string;
  partition: string;
}

export async function listQuarantine(
  store: ObjectStore,
  cfg: StateConfig,
  tables: string[],
): Promise<QuarantinedFile[]> {
  const out: QuarantinedFile[] = [];
  for (const table of tables) {
    const summaries = await listStateSummaries(store, cfg, table);
    for (const s of summaries.filter((x) => x.quarantined > 0)) {
      const { state } = await readState(store, cfg, table, s.partition, Date.now());
      for (const q of state.quarantine) out.push({ table, partition: s.partition, ...q });
    }
  }
  return out;
}
