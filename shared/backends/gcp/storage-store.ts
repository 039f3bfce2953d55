/**
 * The ObjectStore port over Cloud Storage through the injected Node client. Compare-and-swap
 * writes use `ifGenerationMatch` (0: must not exist); a lost race is PreconditionFailedError.
 * Retries happen in `withRetry`: create the client with `retryOptions: { autoRetry: false }` so
 * a 503 is not retried in two layers.
 */
import type { File, FileMetadata, Storage } from '@google-cloud/storage';
import { PreconditionFailedError } from '../../core/errors.ts';
import type { ListOptions, ListPage, ObjectInfo, ObjectStore, WriteOptions } from '../../core/ports.ts';
import { httpStatusOf, withRetry } from './retry.ts';

export interface GcsObjectStoreOptions {
  /** Created once per instance by the caller. */
  storage: Storage;
  /** Backoff sleep; tests pass an instant one. */
  sleep?: (ms: number) => Promise<void>;
}

/** A read that finds its object replaced between metadata and bytes starts over this often. */
const READ_ATTEMPTS = 3;

/** Cloud Storage behind the ObjectStore port. */
export class GcsObjectStore implements ObjectStore {
  private readonly storage: Storage;
  private readonly sleep: ((ms: number) => Promise<void>) | undefined;

  constructor(options: GcsObjectStoreOptions) {
    this.storage = options.storage;
    this.sleep = options.sleep;
  }

  async listPage(bucket: string, options: ListOptions): Promise<ListPage> {
    // Only the options that are set: an undefined value would be sent as an empty parameter.
    const query: Record<string, string | number | boolean> = { autoPaginate: false };
    for (const key of ['prefix', 'startOffset', 'endOffset', 'pageToken', 'maxResults'] as const) {
      const value = options[key];
      if (value !== undefined) query[key] = value;
    }
    const [files, , response] = await this.retry(`objects.list gs://${bucket}/${options.prefix ?? ''}`, () =>
      this.storage.bucket(bucket).getFiles(query),
    );
    const nextPageToken = (response as { nextPageToken?: string } | undefined)?.nextPageToken;
    return { objects: files.map((file) => toObjectInfo(bucket, file)), ...(nextPageToken ? { nextPageToken } : {}) };
  }

  async read(
    bucket: string,
    name: string,
  ): Promise<{ data: Buffer; generation: string; metadata?: Record<string, string> } | null> {
    // Metadata first, then the bytes of exactly that generation, so the pair is consistent
    // (callers compare-and-swap on the generation they read).
    for (let attempt = 1; ; attempt++) {
      const metadata = await this.metadataOf(bucket, name);
      if (!metadata) return null;
      const generation = String(metadata.generation);
      try {
        const [data] = await this.retry(`objects.get gs://${bucket}/${name}#${generation}`, () =>
          this.storage.bucket(bucket).file(name, { generation }).download(),
        );
        const custom = stringValues(metadata.metadata);
        return { data, generation, ...(custom ? { metadata: custom } : {}) };
      } catch (err) {
        // That generation was replaced or deleted meanwhile: read again.
        if (httpStatusOf(err) !== 404 || attempt >= READ_ATTEMPTS) throw err;
      }
    }
  }

  async write(
    bucket: string,
    name: string,
    data: Buffer | string,
    options: WriteOptions = {},
  ): Promise<{ generation: string }> {
    const file = this.storage.bucket(bucket).file(name);
    try {
      await this.retry(`objects.insert gs://${bucket}/${name}`, () =>
        file.save(data, {
          resumable: false,
          ...(options.contentType ? { contentType: options.contentType } : {}),
          ...(options.metadata ? { metadata: { metadata: options.metadata } } : {}),
          ...(options.ifGenerationMatch !== undefined
            ? { preconditionOpts: { ifGenerationMatch: options.ifGenerationMatch } }
            : {}),
        }),
      );
    } catch (err) {
      if (httpStatusOf(err) === 412) {
        throw new PreconditionFailedError(
          `gs://${bucket}/${name} is not at generation ${options.ifGenerationMatch} (write lost a race)`,
          { bucket, object: name, ifGenerationMatch: options.ifGenerationMatch },
          { cause: err },
        );
      }
      throw err;
    }
    return { generation: String(file.metadata.generation) };
  }

  async remove(bucket: string, name: string): Promise<void> {
    try {
      await this.retry(`objects.delete gs://${bucket}/${name}`, () => this.storage.bucket(bucket).file(name).delete());
    } catch (err) {
      if (httpStatusOf(err) !== 404) throw err;
    }
  }

  uri(bucket: string, name: string): string {
    return `gs://${bucket}/${name}`;
  }

  private async metadataOf(bucket: string, name: string): Promise<FileMetadata | null> {
    try {
      const [metadata] = await this.retry(`objects.get gs://${bucket}/${name}`, () =>
        this.storage.bucket(bucket).file(name).getMetadata(),
      );
      return metadata;
    } catch (err) {
      if (httpStatusOf(err) === 404) return null;
      throw err;
    }
  }

  private retry<T>(describe: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, { describe, ...(this.sleep ? { sleep: this.sleep } : {}) });
  }
}

function toObjectInfo(bucket: string, file: File): ObjectInfo {
  const m = file.metadata;
  const info: ObjectInfo = {
    bucket,
    name: m.name ?? file.name,
    generation: String(m.generation),
    size: Number(m.size ?? 0),
  };
  if (m.updated) info.updated = m.updated;
  const custom = stringValues(m.metadata);
  if (custom) info.metadata = custom;
  return info;
}

/** GCS custom metadata as strings; null values (deleted keys) are dropped. */
function stringValues(metadata: FileMetadata['metadata']): Record<string, string> | undefined {
  if (!metadata) return undefined;
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata))
    if (value !== null && value !== undefined) out[key] = String(value);
  return out;
}
