/**
 * Where blob bytes live: app builds and test bundles, content-addressed by SHA-256. The
 * database says which org holds which blob; this only keeps bytes, once per hash.
 *
 * `BlobStore` is the seam for other backends (an object store); `DirBlobStore` keeps
 * files in a directory: `<dir>/sha256/<ab>/<hash>`, written to `<dir>/tmp` first and
 * renamed into place, so a reader never sees a partial file. A store shared by several
 * job-servers must be a shared directory (NFS, a mounted volume).
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Bytes received and hashed, not yet visible under their hash. */
export interface StagedBlob {
  sha256: string;
  size: number;
  /** Makes the bytes readable under their hash (a no-op when the store already has them). */
  commit(): Promise<void>;
  discard(): Promise<void>;
}

export class BlobTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`larger than the limit of ${limit} bytes`);
    this.name = 'BlobTooLargeError';
  }
}

export interface BlobStore {
  /** Reads `source` to the end (or to `maxBytes`: then BlobTooLargeError), hashing as it goes. */
  stage(source: Readable, maxBytes: number): Promise<StagedBlob>;
  /** Size in bytes, or undefined when absent. */
  size(sha256: string): Promise<number | undefined>;
  open(sha256: string): Promise<{ stream: Readable; size: number } | undefined>;
  delete(sha256: string): Promise<void>;
  /** Every hash held, with when it was written (to find bytes no row refers to). */
  list(): AsyncIterable<{ sha256: string; modifiedAt: Date }>;
  close(): Promise<void>;
}

const HASH = /^[0-9a-f]{64}$/;
/** A file in tmp/ untouched this long is no upload in progress. */
const STALE_TMP_MS = 6 * 3600_000;

export class DirBlobStore implements BlobStore {
  private ready: Promise<void> | undefined;

  /** `removeOnClose`: a scratch store (--memory) that leaves nothing behind. */
  constructor(
    readonly dir: string,
    private readonly removeOnClose = false,
  ) {}

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(join(this.dir, 'sha256'), { recursive: true });
      await mkdir(join(this.dir, 'tmp'), { recursive: true });
      // Partial uploads a crashed process left behind. Only old ones: other job-servers
      // sharing this directory may be receiving uploads right now.
      const before = Date.now() - STALE_TMP_MS;
      for (const name of await readdir(join(this.dir, 'tmp'))) {
        const path = join(this.dir, 'tmp', name);
        const s = await stat(path).catch(() => undefined);
        if (s && s.mtimeMs < before) await rm(path, { recursive: true, force: true });
      }
    })();
    return this.ready;
  }

  private path(sha256: string): string {
    if (!HASH.test(sha256)) throw new TypeError(`not a SHA-256: ${sha256}`);
    return join(this.dir, 'sha256', sha256.slice(0, 2), sha256);
  }

  async stage(source: Readable, maxBytes: number): Promise<StagedBlob> {
    await this.init();
    const temp = join(this.dir, 'tmp', randomUUID());
    const hash = createHash('sha256');
    let size = 0;
    try {
      await pipeline(
        source,
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            size += chunk.length;
            if (size > maxBytes) throw new BlobTooLargeError(maxBytes);
            hash.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(temp, { flags: 'wx' }),
      );
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    const sha256 = hash.digest('hex');
    const final = this.path(sha256);
    return {
      sha256,
      size,
      commit: async () => {
        if ((await this.size(sha256)) === size) {
          await rm(temp, { force: true });
          return;
        }
        await mkdir(join(final, '..'), { recursive: true });
        await rename(temp, final);
      },
      discard: () => rm(temp, { force: true }),
    };
  }

  async size(sha256: string): Promise<number | undefined> {
    try {
      const s = await stat(this.path(sha256));
      return s.isFile() ? s.size : undefined;
    } catch {
      return undefined;
    }
  }

  async open(sha256: string): Promise<{ stream: Readable; size: number } | undefined> {
    const size = await this.size(sha256);
    if (size === undefined) return undefined;
    return { stream: createReadStream(this.path(sha256)), size };
  }

  async delete(sha256: string): Promise<void> {
    await rm(this.path(sha256), { force: true });
  }

  async *list(): AsyncIterable<{ sha256: string; modifiedAt: Date }> {
    await this.init();
    for (const prefix of await readdir(join(this.dir, 'sha256'))) {
      for (const name of await readdir(join(this.dir, 'sha256', prefix)).catch(() => [])) {
        if (!HASH.test(name)) continue;
        const s = await stat(join(this.dir, 'sha256', prefix, name)).catch(() => undefined);
        if (s) yield { sha256: name, modifiedAt: s.mtime };
      }
    }
  }

  async close(): Promise<void> {
    if (this.removeOnClose) await rm(this.dir, { recursive: true, force: true });
  }
}
