/**
 * An in-memory ObjectStore that counts its calls: for tests that need a very large lake
 * (a year of hourly partitions) where a folder would be slow.
 */
import { PreconditionFailedError } from '../../shared/core/errors.ts';
import type { ListOptions, ListPage, ObjectInfo, ObjectStore, WriteOptions } from '../../shared/core/ports.ts';

interface Entry {
  data: Buffer;
  generation: string;
  metadata?: Record<string, string>;
}

export class MemoryObjectStore implements ObjectStore {
  readonly buckets = new Map<string, Map<string, Entry>>();
  private sorted = new Map<string, string[] | null>();
  private gen = 1_000_000;
  readonly calls = { list: 0, read: 0, write: 0, remove: 0 };

  private bucket(b: string) {
    let m = this.buckets.get(b);
    if (!m) this.buckets.set(b, (m = new Map()));
    return m;
  }

  private names(b: string): string[] {
    let s = this.sorted.get(b);
    if (!s) {
      s = [...this.bucket(b).keys()].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      this.sorted.set(b, s);
    }
    return s;
  }

  async listPage(bucket: string, o: ListOptions): Promise<ListPage> {
    this.calls.list++;
    const names = this.names(bucket);
    const max = Math.min(o.maxResults ?? 1000, 1000);
    const start = o.pageToken ?? (o.startOffset && o.startOffset > (o.prefix ?? '') ? o.startOffset : (o.prefix ?? ''));
    let lo = 0;
    let hi = names.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (names[mid]! < start || (o.pageToken && names[mid] === start)) lo = mid + 1;
      else hi = mid;
    }
    const objects: ObjectInfo[] = [];
    let i = lo;
    for (; i < names.length && objects.length < max; i++) {
      const n = names[i]!;
      if (o.prefix && !n.startsWith(o.prefix)) break;
      if (o.endOffset && n >= o.endOffset) break;
      const e = this.bucket(bucket).get(n)!;
      objects.push({
        bucket,
        name: n,
        generation: e.generation,
        size: e.data.length,
        ...(e.metadata ? { metadata: e.metadata } : {}),
      });
    }
    const more =
      i < names.length && (!o.prefix || names[i]!.startsWith(o.prefix)) && (!o.endOffset || names[i]! < o.endOffset);
    return { objects, ...(more && objects.length ? { nextPageToken: objects[objects.length - 1]!.name } : {}) };
  }

  async read(bucket: string, name: string) {
    this.calls.read++;
    const e = this.bucket(bucket).get(name);
    return e ? { data: e.data, generation: e.generation, ...(e.metadata ? { metadata: e.metadata } : {}) } : null;
  }

  async write(bucket: string, name: string, data: Buffer | string, o: WriteOptions = {}) {
    this.calls.write++;
    const b = this.bucket(bucket);
    const cur = b.get(name);
    if (o.ifGenerationMatch !== undefined && (cur?.generation ?? '0') !== o.ifGenerationMatch) {
      throw new PreconditionFailedError(
        `gs://${bucket}/${name}: generation is ${cur?.generation ?? '0'}, expected ${o.ifGenerationMatch}`,
      );
    }
    const generation = String(++this.gen);
    if (!cur) this.sorted.delete(bucket);
    b.set(name, { data: Buffer.from(data), generation, ...(o.metadata ? { metadata: o.metadata } : {}) });
    return { generation };
  }

  async remove(bucket: string, name: string) {
    this.calls.remove++;
    if (this.bucket(bucket).delete(name)) this.sorted.delete(bucket);
  }

  uri(bucket: string, name: string) {
    return `gs://${bucket}/${name}`;
  }
}
