/**
 * Blobs: bytes held once per org and hash (app builds, test bundles, the files runs
 * leave), and the garbage collection of those nothing refers to any more.
 *
 * Bytes are hashed as they arrive and refused when they do not match the declared
 * SHA-256; they become visible under their hash only once complete (see BlobStore).
 * Commits run under a shared advisory lock and garbage collection under the exclusive
 * one, so collection never deletes bytes an upload has just claimed.
 */
import type { Readable } from 'node:stream';
import type { BlobInfo, BlobKind } from '@qgjob/protocol';
import { type BlobStore, BlobTooLargeError, type StagedBlob } from '../blobs/store.js';
import type { Db, Queryable } from '../db/db.js';
import { AppError, NotFoundError } from '../errors.js';
import * as artifacts from '../store/artifacts.js';
import type { Metrics } from './metrics.js';

export interface BlobOptions {
  /** Largest app build accepted. Default 4 GiB. */
  maxAppBytes: number;
  /** Largest test bundle accepted. Default 256 MiB. */
  maxBundleBytes: number;
  /** Blobs and builds nothing used for this long are deleted. Default 7 days. */
  retentionMs: number;
}

export const DEFAULT_BLOB_OPTIONS: BlobOptions = {
  maxAppBytes: 4 * 1024 ** 3,
  maxBundleBytes: 256 * 1024 ** 2,
  retentionMs: 7 * 24 * 3600_000,
};

/** What the artifact services log through: pino's shape. */
export interface ArtifactLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** What refers to a blob being committed, written in the commit's transaction. */
export interface CommitHooks {
  /** Runs first and may refuse (nothing is kept then). */
  check?: (tx: Queryable) => Promise<void>;
  /** Records what refers to the blob. */
  record?: (tx: Queryable) => Promise<void>;
}

export class BlobService {
  constructor(
    private readonly db: Db,
    readonly store: BlobStore,
    private readonly metrics: Metrics,
    private readonly options: BlobOptions,
    private readonly log: ArtifactLog,
  ) {}

  maxBytes(kind: BlobKind): number {
    return kind === 'app' ? this.options.maxAppBytes : this.options.maxBundleBytes;
  }

  /** The blob's row when `orgId` (any org when null) holds it and its bytes are there. */
  async find(sha256: string, orgId: string | null): Promise<artifacts.BlobRow | undefined> {
    return this.withBytes(await artifacts.findBlob(this.db, sha256, orgId));
  }

  /** Under the shared blob lock (collection waits): the org's blob, when its bytes are there. */
  async findLocked(tx: Queryable, sha256: string, orgId: string): Promise<artifacts.BlobRow | undefined> {
    await artifacts.lockBlobsShared(tx);
    return this.withBytes(await artifacts.findBlob(tx, sha256, orgId));
  }

  private async withBytes(row: artifacts.BlobRow | undefined): Promise<artifacts.BlobRow | undefined> {
    if (!row || (await this.store.size(row.sha256)) === undefined) return undefined;
    return row;
  }

  async open(sha256: string, orgId: string | null): Promise<{ stream: Readable; size: number }> {
    const row = await this.find(sha256, orgId);
    const opened = row ? await this.store.open(sha256) : undefined;
    if (!opened) throw new NotFoundError('blob', sha256);
    return opened;
  }

  /** Stores an upload under its declared hash, refusing bytes that hash otherwise. */
  async upload(orgId: string, sha256: string, kind: BlobKind, source: Readable): Promise<BlobInfo> {
    const staged = await this.stage(source, kind, 'body');
    if (staged.sha256 !== sha256) {
      await staged.discard();
      throw new AppError(
        'hash_mismatch',
        `the uploaded content has SHA-256 ${staged.sha256}, not ${sha256} as declared: nothing was stored; upload the file again`,
        { field: 'sha256' },
      );
    }
    const { row, created } = await this.commit(orgId, staged, kind);
    if (created) this.countUpload(kind, staged.size);
    this.log.info({ org: orgId, sha256, kind, size: staged.size, stored: created }, 'blob uploaded');
    return {
      sha256,
      org_id: orgId,
      kind: row.kind === 'artifact' ? kind : row.kind,
      size: row.size,
      uploaded: created,
    };
  }

  /** Bytes an org uploaded that it did not hold before. */
  countUpload(kind: artifacts.StoredBlobKind, size: number): void {
    this.metrics.blobUploads.inc({ kind });
    this.metrics.blobBytes.inc({ kind }, size);
  }

  /** Writes the bytes aside, hashing them; too many for `kind` is a 413 naming `field`. */
  async stage(source: Readable, kind: BlobKind, field: string): Promise<StagedBlob> {
    try {
      return await this.store.stage(source, this.maxBytes(kind));
    } catch (error) {
      if (error instanceof BlobTooLargeError) {
        throw new AppError(
          'body_too_large',
          `the ${kind === 'app' ? 'app build' : 'test bundle'} is larger than the limit of ${error.limit} bytes`,
          { field },
        );
      }
      throw error;
    }
  }

  /**
   * Makes staged bytes the org's blob, in one transaction with `hooks` (see CommitHooks).
   * `created`: the org did not hold them before. The staged copy is gone afterwards.
   */
  async commit(
    orgId: string,
    staged: StagedBlob,
    kind: artifacts.StoredBlobKind,
    hooks: CommitHooks = {},
  ): Promise<{ row: artifacts.BlobRow; created: boolean }> {
    try {
      return await this.db.transaction(async (tx) => {
        await hooks.check?.(tx);
        await artifacts.lockBlobsShared(tx);
        await staged.commit();
        const { row, inserted } = await artifacts.upsertBlob(tx, {
          orgId,
          sha256: staged.sha256,
          kind,
          size: staged.size,
        });
        await hooks.record?.(tx);
        return { row, created: inserted };
      });
    } finally {
      await staged.discard();
    }
  }

  /**
   * Deletes builds and blobs nothing used within the retention period and no unfinished
   * job needs, then the bytes no org holds any more; also bytes of uploads that never
   * got a row (a crash between writing and registering), once they are an hour old.
   */
  async collectGarbage(): Promise<{ builds: number; blobs: number; files: number }> {
    const cutoff = new Date(Date.now() - this.options.retentionMs);
    let files = 0;
    const result = await this.db.transaction(async (tx) => {
      await artifacts.lockBlobsExclusive(tx);
      const builds = await artifacts.deleteUnusedBuilds(tx, cutoff);
      const deleted = await artifacts.deleteUnusedBlobs(tx, cutoff);
      const unheld = deleted.length > 0 ? await artifacts.unheldHashes(tx, [...new Set(deleted)]) : [];
      for (const sha256 of unheld) await this.store.delete(sha256);
      files += unheld.length;
      return { builds, blobs: deleted.length };
    });
    files += await this.collectStray();
    if (result.builds + result.blobs + files > 0) {
      this.metrics.blobsCollected.inc(files);
      this.log.info({ ...result, files }, 'unused builds and blobs collected');
    }
    return { ...result, files };
  }

  /** Deletes the files old enough to be strays that no org holds; returns how many. */
  private async collectStray(): Promise<number> {
    const strayBefore = Date.now() - Math.max(3600_000, Math.min(this.options.retentionMs, 24 * 3600_000));
    const stray: string[] = [];
    for await (const file of this.store.list()) {
      if (file.modifiedAt.getTime() < strayBefore) stray.push(file.sha256);
    }
    if (stray.length === 0) return 0;
    return this.db.transaction(async (tx) => {
      await artifacts.lockBlobsExclusive(tx);
      const unheld = await artifacts.unheldHashes(tx, stray);
      for (const sha256 of unheld) await this.store.delete(sha256);
      return unheld.length;
    });
  }

  /** Refreshes the last use of a submit's bundle and build; false when the bundle is unknown. */
  async touchForSubmit(
    q: Queryable,
    s: { orgId: string; appVersionId: string; bundleSha256: string | null },
  ): Promise<boolean> {
    const touchMs = Math.min(3600_000, this.options.retentionMs / 10);
    const { bundleKnown } = await artifacts.touchForSubmit(q, { ...s, touchMs });
    return bundleKnown;
  }
}
