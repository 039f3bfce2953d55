/**
 * A folder as a Cloud Storage bucket: objects are files at `<root>/<bucket>/<name>`, so data can
 * be dropped in with `cp`. What a file system lacks is kept with the lake, outside every bucket
 * folder: custom metadata in sidecar JSON and cross-process locks under
 * `<root>/.tidemark/<bucket>/` (no bucket name starts with "."), so every process that opens the
 * same root, from whatever working directory, sees the same metadata and takes the same locks.
 *
 * Generations are the file's ctime in nanoseconds: every rewrite changes it (including one that
 * keeps mtime, like `cp -p`), and nobody can set it by hand. Writes through this store are atomic
 * (temp file + rename) and serialized per object by a lock, which is also where
 * `ifGenerationMatch` is checked.
 *
 * Every file operation here is a synchronous call: each is one or a few small metadata or
 * file operations, and an asynchronous call's thread-pool round trip costs many times the
 * operation itself (a small file's read: about 12 times on a VM whose system calls are slow;
 * BENCHMARKS.md, "Local object store"). Only the object lock waits asynchronously.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { BigIntStats, Dirent } from 'node:fs';
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PreconditionFailedError, UnsafeIdentifierError } from '../../core/errors.ts';
import type { ListOptions, ListPage, ObjectInfo, ObjectStore, WriteOptions } from '../../core/ports.ts';
import { withFileLock } from './file-lock.ts';

export interface LocalObjectStoreOptions {
  /** Folder holding one sub-folder per bucket. */
  root: string;
  /**
   * Folder for sidecar metadata and locks (default `<root>/.tidemark`). Inside root it must be a
   * dot-folder, which no bucket can be named.
   */
  metaDir?: string;
  /** How long a write waits for another writer of the same object (default 10 s). */
  lockWaitMs?: number;
  /** Named in lock messages (default "tidemark"). */
  holder?: string;
}

/** GCS returns at most this many objects per page. */
const MAX_PAGE = 1000;
const TEMP_PREFIX = '.tidemark-';
const TEMP_SUFFIX = '.tmp';

/** Where tidemark keeps what belongs to the lake at `root` (metadata, locks, dead letters). */
export function lakeMetaDir(root: string): string {
  return join(resolve(root), '.tidemark');
}

/** The generation of a file: its ctime in nanoseconds, as a decimal string. */
export function generationOf(stats: BigIntStats): string {
  return stats.ctimeNs.toString();
}

/** True for the temp files a write leaves for an instant before its rename (watchers skip them). */
export function isTempFile(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.startsWith(TEMP_PREFIX) && base.endsWith(TEMP_SUFFIX);
}

/** Throws UnsafeIdentifierError unless `bucket` follows the Cloud Storage naming rules. */
export function validateBucketName(bucket: string): void {
  const fail = (why: string) => {
    throw new UnsafeIdentifierError(`invalid bucket name ${JSON.stringify(bucket)}: ${why}`, { bucket });
  };
  if (typeof bucket !== 'string' || bucket.length < 3 || bucket.length > 222) fail('must be 3-222 characters');
  if (!/^[a-z0-9][a-z0-9._-]*[a-z0-9]$/.test(bucket)) {
    fail('only lowercase letters, digits, "-", "_" and "."; must start and end with a letter or digit');
  }
  const parts = bucket.split('.');
  if (parts.length === 1 && bucket.length > 63) fail('must be at most 63 characters without dots');
  if (parts.some((p) => p.length === 0 || p.length > 63)) fail('each dot-separated part must be 1-63 characters');
  if (/^\d+\.\d+\.\d+\.\d+$/.test(bucket)) fail('must not look like an IP address');
  if (bucket.startsWith('goog')) fail('must not start with "goog"');
}

/**
 * Throws UnsafeIdentifierError unless `name` is an object name that maps to exactly one file
 * inside the bucket folder: no NUL, no absolute path, no `.`/`..`/empty segments (which would
 * escape the folder or alias another name), at most 1,024 bytes.
 */
export function validateObjectName(name: string): void {
  const fail = (why: string) => {
    throw new UnsafeIdentifierError(`invalid object name ${JSON.stringify(name)}: ${why}`, { object: name });
  };
  if (typeof name !== 'string' || name.length === 0) fail('must not be empty');
  if (Buffer.byteLength(name) > 1024) fail('must be at most 1024 bytes');
  if (name.includes('\0')) fail('must not contain NUL');
  if (/[\r\n]/.test(name)) fail('must not contain CR or LF');
  if (name.startsWith('/')) fail('must not be absolute');
  const segments = (name.endsWith('/') ? name.slice(0, -1) : name).split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) fail('must not contain empty, "." or ".." segments');
  if (isTempFile(name)) fail("clashes with the store's temp files");
}

/** Compares strings in UTF-8 byte order, as GCS orders names (JS `<` compares UTF-16 units). */
function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

interface Sidecar {
  name: string;
  generation: string;
  metadata?: Record<string, string>;
  contentType?: string;
}

/** An ObjectStore over a folder. */
export class LocalObjectStore implements ObjectStore {
  private readonly root: string;
  private readonly metaDir: string;
  private readonly lockWaitMs: number;
  private readonly holder: string;

  constructor(options: LocalObjectStoreOptions) {
    this.root = resolve(options.root);
    this.metaDir = resolve(options.metaDir ?? lakeMetaDir(this.root));
    const inside = (parent: string, child: string) => child === parent || child.startsWith(parent + '/');
    if (
      inside(this.root, this.metaDir) &&
      (this.metaDir === this.root || !this.metaDir.slice(this.root.length + 1).startsWith('.'))
    ) {
      throw new UnsafeIdentifierError(
        `metaDir ${this.metaDir} must not be a bucket folder of the lake root ${this.root} (use a dot-folder such as ${lakeMetaDir(this.root)})`,
        {
          root: this.root,
          metaDir: this.metaDir,
        },
      );
    }
    this.lockWaitMs = options.lockWaitMs ?? 10_000;
    this.holder = options.holder ?? 'tidemark';
  }

  /** The absolute path of the object's file. */
  uri(bucket: string, name: string): string {
    validateBucketName(bucket);
    validateObjectName(name);
    return join(this.root, bucket, name);
  }

  async listPage(bucket: string, options: ListOptions = {}): Promise<ListPage> {
    validateBucketName(bucket);
    const prefix = options.prefix ?? '';
    const pageSize = Math.min(MAX_PAGE, Math.max(1, Math.floor(options.maxResults ?? MAX_PAGE)));
    const after = options.pageToken === undefined ? undefined : decodePageToken(options.pageToken);
    const bucketDir = join(this.root, bucket);
    // Only the folder named by the prefix's directory part can hold matching names.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/') + 1) : '';
    if (dirPart && !isSafeDirPrefix(dirPart)) return { objects: [] };

    // Walk lazily in name order from where the page starts and stop one name after it ends: a
    // page costs the folders on its way and its own objects, however large the table folder.
    const from =
      after !== undefined && (options.startOffset === undefined || compareNames(after, options.startOffset) >= 0)
        ? after
        : options.startOffset;
    const names = walkSorted(bucketDir, dirPart, { prefix, from, endOffset: options.endOffset });
    const objects: ObjectInfo[] = [];
    let last: string | undefined;
    let more = false;
    for await (const name of names) {
      if (name === after) continue; // the page token names the last object already listed
      if (objects.length === pageSize) {
        more = true;
        break;
      }
      last = name;
      const info = await this.info(bucket, name);
      if (info) objects.push(info); // a file removed since the walk is simply not listed
    }
    return more ? { objects, nextPageToken: encodePageToken(last!) } : { objects };
  }

  async read(
    bucket: string,
    name: string,
  ): Promise<{ data: Buffer; generation: string; metadata?: Record<string, string> } | null> {
    const path = this.uri(bucket, name);
    if (name.endsWith('/')) return null;
    let fd;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    try {
      // Stat and read the same open file, so data and generation belong together even if a
      // writer renames a new version into place meanwhile.
      const stats = fstatSync(fd, { bigint: true });
      if (!stats.isFile()) return null;
      const data = readFileSync(fd);
      const generation = generationOf(stats);
      const metadata = this.readSidecar(bucket, name, generation)?.metadata;
      return metadata ? { data, generation, metadata } : { data, generation };
    } finally {
      closeSync(fd);
    }
  }

  async write(
    bucket: string,
    name: string,
    data: Buffer | string,
    options: WriteOptions = {},
  ): Promise<{ generation: string }> {
    const path = this.uri(bucket, name);
    return this.withObjectLock(bucket, name, async () => {
      const previous = currentGeneration(path);
      if (options.ifGenerationMatch !== undefined && options.ifGenerationMatch !== previous) {
        throw new PreconditionFailedError(
          `precondition failed writing ${bucket}/${name}: expected generation ${options.ifGenerationMatch}, found ${previous === '0' ? 'none (object missing)' : previous}`,
          { bucket, object: name, expected: options.ifGenerationMatch, actual: previous },
        );
      }
      if (name.endsWith('/')) {
        // A folder placeholder: GCS keeps a zero-byte object; a folder is the honest local equivalent.
        mkdirSync(path, { recursive: true });
        return { generation: generationOf(statSync(path, { bigint: true })) };
      }
      try {
        mkdirSync(dirname(path), { recursive: true });
      } catch (err) {
        throw folderClash(bucket, name, err);
      }
      const temp = join(dirname(path), `${TEMP_PREFIX}${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`);
      try {
        writeFileSync(temp, data);
        renameSync(temp, path);
      } catch (err) {
        rmSync(temp, { force: true });
        throw folderClash(bucket, name, err);
      }
      let generation = generationOf(statSync(path, { bigint: true }));
      // ctime ticks with the kernel's coarse clock (a few ms): two writes in one tick would share
      // a generation and defeat compare-and-swap. Touch the inode until its ctime moves on.
      while (generation === previous) {
        await new Promise((r) => setTimeout(r, 1));
        const now = new Date();
        utimesSync(path, now, now);
        generation = generationOf(statSync(path, { bigint: true }));
      }
      this.writeSidecar(bucket, name, generation, options);
      return { generation };
    });
  }

  async remove(bucket: string, name: string): Promise<void> {
    const path = this.uri(bucket, name);
    await this.withObjectLock(bucket, name, async () => {
      if (name.endsWith('/')) {
        try {
          rmdirSync(path); // only an empty folder goes, as GCS keeps the objects under it
        } catch {
          // not empty, or gone
        }
      } else {
        rmSync(path, { force: true });
      }
      rmSync(this.sidecarPath(bucket, name), { force: true });
    });
  }

  private async info(bucket: string, name: string): Promise<ObjectInfo | null> {
    let stats: BigIntStats;
    try {
      stats = statSync(join(this.root, bucket, name), { bigint: true });
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    if (!stats.isFile()) return null;
    const generation = generationOf(stats);
    const info: ObjectInfo = {
      bucket,
      name,
      generation,
      size: Number(stats.size),
      // ctime, like the generation: `cp -p` keeps an old mtime, but the object was written now.
      updated: new Date(Number(stats.ctimeMs)).toISOString(),
    };
    const metadata = this.readSidecar(bucket, name, generation)?.metadata;
    if (metadata) info.metadata = metadata;
    return info;
  }

  private key(name: string): string {
    return createHash('sha256').update(name).digest('hex');
  }

  /** Sidecars live in a flat folder keyed by a hash, so no object name can collide with another's. */
  private sidecarPath(bucket: string, name: string): string {
    return join(this.metaDir, bucket, 'meta', `${this.key(name)}.json`);
  }

  private readSidecar(bucket: string, name: string, generation: string): Sidecar | undefined {
    try {
      const sidecar = JSON.parse(readFileSync(this.sidecarPath(bucket, name), 'utf8')) as Sidecar;
      // Metadata belongs to one generation; a file rewritten behind our back has none.
      return sidecar.name === name && sidecar.generation === generation ? sidecar : undefined;
    } catch {
      return undefined;
    }
  }

  private writeSidecar(bucket: string, name: string, generation: string, options: WriteOptions): void {
    const path = this.sidecarPath(bucket, name);
    if (!options.metadata && !options.contentType) {
      rmSync(path, { force: true });
      return;
    }
    const sidecar: Sidecar = { name, generation };
    if (options.metadata) sidecar.metadata = { ...options.metadata };
    if (options.contentType) sidecar.contentType = options.contentType;
    mkdirSync(dirname(path), { recursive: true });
    const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    writeFileSync(temp, JSON.stringify(sidecar));
    renameSync(temp, path);
  }

  private withObjectLock<T>(bucket: string, name: string, fn: () => Promise<T>): Promise<T> {
    const lockPath = join(this.metaDir, bucket, 'locks', `${this.key(name)}.lock`);
    return withFileLock(lockPath, fn, { waitMs: this.lockWaitMs, holder: `${this.holder}, writing ${bucket}/${name}` });
  }
}

/** '0' when the object does not exist (the GCS convention for ifGenerationMatch). */
function currentGeneration(path: string): string {
  try {
    const stats = statSync(path, { bigint: true });
    return stats.isFile() ? generationOf(stats) : '0';
  } catch (err) {
    if (isMissing(err)) return '0';
    throw err;
  }
}

/**
 * GCS can hold both `a` and `a/b`; a folder cannot (`a` would be a file and a folder). Such a
 * write fails permanently, saying why; other errors pass through.
 */
function folderClash(bucket: string, name: string, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== 'EEXIST' && code !== 'ENOTDIR' && code !== 'EISDIR') return err;
  return new UnsafeIdentifierError(
    `cannot write ${bucket}/${name} in a folder lake: a file and a folder would need the same path (an object is named like a prefix of another)`,
    { bucket, object: name },
    { cause: err },
  );
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}

/** A prefix's directory part may be anything a caller typed; only walk it if it stays inside. */
function isSafeDirPrefix(dirPart: string): boolean {
  if (dirPart.startsWith('/') || dirPart.includes('\0')) return false;
  return dirPart
    .slice(0, -1)
    .split('/')
    .every((s) => s !== '' && s !== '.' && s !== '..');
}

/** Which names a sorted walk yields: those starting with `prefix`, from `from` (inclusive) up to `endOffset` (exclusive). */
interface WalkBounds {
  prefix: string;
  from: string | undefined;
  endOffset: string | undefined;
}

/**
 * Yields the names of regular files under `<bucketDir>/<rel>` in UTF-8 byte order (skipping temp
 * files), reading a folder only when the walk reaches it. Entries of a folder are sorted by their
 * name with a `/` after folders: every name under folder `d` starts with `d/`, which places the
 * whole subtree exactly where its names sort among its siblings. Subtrees entirely before
 * `from`, outside `prefix` or after `endOffset` are never read.
 */
async function* walkSorted(bucketDir: string, rel: string, bounds: WalkBounds): AsyncGenerator<string> {
  let entries: Dirent[];
  try {
    entries = readdirSync(join(bucketDir, rel), { withFileTypes: true });
  } catch (err) {
    if (isMissing(err)) return;
    throw err;
  }
  const sorted = entries
    .filter((e) => e.isDirectory() || e.isFile() || e.isSymbolicLink())
    .map((e) => {
      const key = rel + e.name + (e.isDirectory() ? '/' : '');
      return { key, bytes: Buffer.from(key), dir: e.isDirectory() };
    })
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes));
  for (const { key, dir } of sorted) {
    // Everything from here on sorts after `key`: past endOffset, nothing more can match.
    if (bounds.endOffset !== undefined && compareNames(key, bounds.endOffset) >= 0) return;
    if (dir) {
      if (!key.startsWith(bounds.prefix) && !bounds.prefix.startsWith(key)) continue;
      // Every name under `key` sorts before `from` unless `from` itself lies under `key`.
      if (bounds.from !== undefined && compareNames(key, bounds.from) < 0 && !bounds.from.startsWith(key)) continue;
      yield* walkSorted(bucketDir, key, bounds);
    } else {
      if (!key.startsWith(bounds.prefix) || isTempFile(key)) continue;
      if (bounds.from !== undefined && compareNames(key, bounds.from) < 0) continue;
      yield key;
    }
  }
}

function encodePageToken(lastName: string): string {
  return Buffer.from(lastName).toString('base64url');
}

function decodePageToken(token: string): string {
  if (!/^[A-Za-z0-9_-]*$/.test(token))
    throw new UnsafeIdentifierError(`invalid page token ${JSON.stringify(token)}`, { pageToken: token });
  return Buffer.from(token, 'base64url').toString();
}
