/**
 * Blobs: downloaded files (app builds and bundle archives) at `blobs/<sha256>`.
 *
 * Invariants: a blob is in place only once its bytes hashed to its name; a download goes
 * to `tmp/` and is renamed into place, discarded on a hash mismatch or when it is over
 * `maxBlobBytes` (by Content-Length or by the bytes received). A cached blob is hashed
 * again on every use and downloaded again when it no longer matches.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { sha256File } from '@qgjob/bundle';
import type { CacheContext } from './context.js';
import { isMissing } from './fs.js';
import { CacheError, type Lease } from './types.js';

export class Blobs {
  constructor(
    private readonly ctx: CacheContext,
    private readonly evictQuietly: () => Promise<void>,
  ) {}

  path(sha256: string): string {
    return this.ctx.path('blobs', sha256);
  }

  /** The verified blob, pinned until released; `fetched`: this call, or the one it waited on, downloaded it. */
  async get(sha256: string, signal: AbortSignal): Promise<{ path: string; fetched: boolean } & Lease> {
    const id = `blob:${sha256}`;
    const lease = this.ctx.pins.pin(id);
    try {
      const fetched = await this.ctx.flights.run(id, signal, (s) => this.ensure(sha256, s));
      return { path: this.path(sha256), fetched, release: lease.release };
    } catch (error) {
      lease.release();
      throw error;
    }
  }

  private async ensure(sha256: string, signal: AbortSignal): Promise<boolean> {
    const id = `blob:${sha256}`;
    await this.ctx.ready(id);
    const path = this.path(sha256);
    let actual: string | null = null;
    try {
      actual = await sha256File(path);
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    if (actual === sha256) {
      await this.ctx.touch(id, path);
      return false;
    }
    if (actual !== null) {
      this.ctx.log.warn('cached blob is corrupted: downloading it again', { sha256, actual_sha256: actual });
    }
    await this.download(sha256, path, signal);
    this.ctx.uses.touch(id);
    await this.evictQuietly();
    return true;
  }

  private async download(sha256: string, dest: string, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    const max = this.ctx.options.maxBlobBytes;
    const tooLarge = (size: string) =>
      new CacheError(`blob ${sha256} is ${size}, over the ${max} bytes this agent accepts`, 'too_large');
    const tmp = this.ctx.tempPath('blob', sha256);
    try {
      const response = await this.ctx.options.fetchBlob(sha256, signal);
      const length = response.headers.get('content-length');
      if (max !== undefined && length !== null && Number(length) > max) {
        await response.body?.cancel().catch(() => {});
        throw tooLarge(`${length} bytes`);
      }
      const hash = createHash('sha256');
      let bytes = 0;
      const body = response.body
        ? Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>)
        : Readable.from([]);
      await pipeline(
        body,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            bytes += chunk.length;
            if (max !== undefined && bytes > max) throw tooLarge(`over ${bytes} bytes`);
            hash.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(tmp, { flags: 'wx' }),
        { signal },
      );
      const actual = hash.digest('hex');
      if (actual !== sha256) {
        throw new CacheError(
          `blob ${sha256}: hash mismatch (expected ${sha256}, got ${actual}); the download was discarded`,
          'hash_mismatch',
        );
      }
      await rename(tmp, dest);
      this.ctx.log.info('blob downloaded', { sha256, bytes, duration_ms: Math.round(performance.now() - started) });
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }
}
