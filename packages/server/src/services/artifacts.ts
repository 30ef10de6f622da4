/**
 * App builds and test bundles, behind one service for the routes, the queue and the
 * scheduler. The work is done in three places:
 * - blobs.ts: bytes uploaded once per org and hash (stage, commit), and garbage collection;
 * - app-builds.ts: app versions registered against a build, by blob or by URL (url-fetch.ts);
 * - browserstack-uploads.ts: the one BrowserStack upload of a build per account.
 */
import type { Readable } from 'node:stream';
import type {
  AppBuild,
  AppRegisterRequest,
  BatchApp,
  BlobInfo,
  BlobKind,
  BrowserStackAppResponse,
  BrowserStackAppResult,
} from '@qgjob/protocol';
import type { BlobStore, StagedBlob } from '../blobs/store.js';
import type { Db, Queryable } from '../db/db.js';
import type { BlobRow, StoredBlobKind } from '../store/artifacts.js';
import { AppBuilds } from './app-builds.js';
import { type ArtifactLog, type BlobOptions, BlobService, type CommitHooks, DEFAULT_BLOB_OPTIONS } from './blobs.js';
import { type BrowserStackOptions, BrowserStackUploads, DEFAULT_BROWSERSTACK_OPTIONS } from './browserstack-uploads.js';
import type { Metrics } from './metrics.js';
import { DEFAULT_FETCH_OPTIONS, type FetchOptions } from './url-fetch.js';

export type { ArtifactLog } from './blobs.js';

export interface ArtifactOptions extends BlobOptions, FetchOptions, BrowserStackOptions {}

export const DEFAULT_ARTIFACT_OPTIONS: ArtifactOptions = {
  ...DEFAULT_BLOB_OPTIONS,
  ...DEFAULT_BROWSERSTACK_OPTIONS,
  ...DEFAULT_FETCH_OPTIONS,
};

export class ArtifactService {
  readonly options: ArtifactOptions;
  private readonly stored: BlobService;
  private readonly builds: AppBuilds;
  private readonly browserstack: BrowserStackUploads;

  constructor(
    db: Db,
    readonly blobs: BlobStore,
    metrics: Metrics,
    options: Partial<ArtifactOptions> = {},
    log: ArtifactLog = { info() {}, warn() {} },
  ) {
    this.options = { ...DEFAULT_ARTIFACT_OPTIONS, ...options };
    this.stored = new BlobService(db, blobs, metrics, this.options, log);
    this.browserstack = new BrowserStackUploads(db, metrics, this.options, log);
    this.builds = new AppBuilds(db, this.stored, this.browserstack, this.options, log);
  }

  maxBytes(kind: BlobKind): number {
    return this.stored.maxBytes(kind);
  }

  /** The blob's row when `orgId` (any org when null) holds it and its bytes are there. */
  find(sha256: string, orgId: string | null): Promise<BlobRow | undefined> {
    return this.stored.find(sha256, orgId);
  }

  open(sha256: string, orgId: string | null): Promise<{ stream: Readable; size: number }> {
    return this.stored.open(sha256, orgId);
  }

  upload(orgId: string, sha256: string, kind: BlobKind, source: Readable): Promise<BlobInfo> {
    return this.stored.upload(orgId, sha256, kind, source);
  }

  /** Makes staged bytes the org's blob (see BlobService.commit). */
  commit(
    orgId: string,
    staged: StagedBlob,
    kind: StoredBlobKind,
    hooks?: CommitHooks,
  ): Promise<{ row: BlobRow; created: boolean }> {
    return this.stored.commit(orgId, staged, kind, hooks);
  }

  countUpload(kind: StoredBlobKind, size: number): void {
    this.stored.countUpload(kind, size);
  }

  collectGarbage(): Promise<{ builds: number; blobs: number; files: number }> {
    return this.stored.collectGarbage();
  }

  /** Refreshes the last use of a submit's bundle and build; false when the bundle is unknown. */
  touchForSubmit(
    q: Queryable,
    s: { orgId: string; appVersionId: string; bundleSha256: string | null },
  ): Promise<boolean> {
    return this.stored.touchForSubmit(q, s);
  }

  registerApp(request: AppRegisterRequest): Promise<AppBuild> {
    return this.builds.register(request);
  }

  getApp(orgId: string, appVersionId: string): Promise<AppBuild> {
    return this.builds.get(orgId, appVersionId);
  }

  batchApp(q: Queryable, orgId: string, appVersionId: string, pool: string | null): Promise<BatchApp | null> {
    return this.builds.forBatch(q, orgId, appVersionId, pool);
  }

  browserstackApp(batchId: string, agentToken?: string): Promise<BrowserStackAppResponse> {
    return this.browserstack.urlOrLease(batchId, agentToken);
  }

  browserstackResult(
    batchId: string,
    result: BrowserStackAppResult,
    agentToken?: string,
  ): Promise<BrowserStackAppResponse> {
    return this.browserstack.recordOutcome(batchId, result, agentToken);
  }
}
