/**
 * App builds and test bundles: blobs uploaded once per org and hash, app versions
 * registered against a build, the one BrowserStack upload per build, and garbage
 * collection of what nothing refers to any more.
 *
 * Bytes are hashed as they arrive and refused when they do not match the declared
 * SHA-256; they become visible under their hash only once complete (see BlobStore).
 * Uploads register under a shared advisory lock and garbage collection runs under the
 * exclusive one, so collection never deletes bytes an upload has just claimed.
 */
import type { IncomingMessage } from 'node:http';
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
import { type BlobStore, BlobTooLargeError, type StagedBlob } from '../blobs/store.js';
import type { Db, Queryable } from '../db/db.js';
import { AppError, NotFoundError, ValidationError } from '../errors.js';
import * as artifacts from '../store/artifacts.js';
import * as batches from '../store/batches.js';
import { heldBatch } from './held-batch.js';
import type { Metrics } from './metrics.js';
import { guardedGet, InternalAddressError } from './url-guard.js';

export interface ArtifactOptions {
  /** Largest app build accepted. Default 4 GiB. */
  maxAppBytes: number;
  /** Largest test bundle accepted. Default 256 MiB. */
  maxBundleBytes: number;
  /** Blobs and builds nothing used for this long are deleted. Default 7 days. */
  retentionMs: number;
  /** How long an agent may take to upload a build to BrowserStack before another may try. */
  browserstackLeaseMs: number;
  /** BrowserStack deletes uploads after 30 days: older ones are uploaded again. */
  browserstackFreshMs: number;
  /** Time allowed to fetch a build from a URL. */
  fetchTimeoutMs: number;
  /** May a build URL point into the server's own network (loopback, private addresses)? */
  fetchInternalUrls: boolean;
}

export const DEFAULT_ARTIFACT_OPTIONS: ArtifactOptions = {
  maxAppBytes: 4 * 1024 ** 3,
  maxBundleBytes: 256 * 1024 ** 2,
  retentionMs: 7 * 24 * 3600_000,
  browserstackLeaseMs: 10 * 60_000,
  browserstackFreshMs: 29 * 24 * 3600_000,
  fetchTimeoutMs: 10 * 60_000,
  fetchInternalUrls: false,
};

const MAX_REDIRECTS = 5;

/** A BrowserStack batch that must wait for another agent's upload asks again this soon. */
const BROWSERSTACK_RETRY_MS = 1000;

export interface ArtifactLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export class ArtifactService {
  readonly options: ArtifactOptions;

  constructor(
    private readonly db: Db,
    readonly blobs: BlobStore,
    private readonly metrics: Metrics,
    options: Partial<ArtifactOptions> = {},
    private readonly log: ArtifactLog = { info() {}, warn() {} },
  ) {
    this.options = { ...DEFAULT_ARTIFACT_OPTIONS, ...options };
  }

  maxBytes(kind: BlobKind): number {
    return kind === 'app' ? this.options.maxAppBytes : this.options.maxBundleBytes;
  }

  /** The blob's row when `orgId` (any org when null) holds it and its bytes are there. */
  async find(sha256: string, orgId: string | null): Promise<artifacts.BlobRow | undefined> {
    const row = await artifacts.findBlob(this.db, sha256, orgId);
    if (!row || (await this.blobs.size(sha256)) === undefined) return undefined;
    return row;
  }

  async open(sha256: string, orgId: string | null): Promise<{ stream: Readable; size: number }> {
    const row = await this.find(sha256, orgId);
    const opened = row ? await this.blobs.open(sha256) : undefined;
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
    const { row, created } = await this.register(orgId, staged, kind);
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

  private async stage(source: Readable, kind: BlobKind, field: string): Promise<StagedBlob> {
    try {
      return await this.blobs.stage(source, this.maxBytes(kind));
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
   * Makes staged bytes the org's blob. `created`: the org did not hold them before.
   * `check` runs first in the transaction and may refuse (nothing is kept then); `record`
   * records what refers to the blob, in the same transaction.
   */
  async register(
    orgId: string,
    staged: StagedBlob,
    kind: artifacts.StoredBlobKind,
    hooks: { check?: (tx: Queryable) => Promise<void>; record?: (tx: Queryable) => Promise<void> } = {},
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

  async registerApp(request: AppRegisterRequest): Promise<AppBuild> {
    const { org_id: orgId, app_version_id: appVersionId } = request;
    if (request.sha256 !== undefined) {
      const sha256 = request.sha256;
      // Under the blob lock: garbage collection cannot take the bytes between check and insert.
      return this.db.transaction(async (tx) => {
        await artifacts.lockBlobsShared(tx);
        const blob = await artifacts.findBlob(tx, sha256, orgId);
        if (!blob || (await this.blobs.size(sha256)) === undefined) {
          throw new ValidationError([
            {
              field: 'sha256',
              message: `sha256 ${sha256} is not uploaded for org ${orgId}: PUT the build to /v1/blobs/${sha256}?kind=app first`,
            },
          ]);
        }
        return this.insertBuild(tx, {
          orgId,
          appVersionId,
          sha256,
          size: blob.size,
          filename: request.filename ?? 'app',
          sourceUrl: null,
        });
      });
    }
    const url = request.url as string;
    const existing = await artifacts.getAppBuild(this.db, orgId, appVersionId, false);
    // Registering the same URL again (a retried CI step) need not fetch it again.
    if (existing?.source_url === url) return buildView(existing, false);
    const staged = await this.fetch(url);
    const filename = request.filename ?? filenameOf(url);
    let build: AppBuild | undefined;
    const { created } = await this.register(orgId, staged, 'app', {
      record: async (tx) => {
        build = await this.insertBuild(tx, {
          orgId,
          appVersionId,
          sha256: staged.sha256,
          size: staged.size,
          filename,
          sourceUrl: url,
        });
      },
    });
    if (created) this.countUpload('app', staged.size);
    return build as AppBuild;
  }

  private async insertBuild(
    tx: Queryable,
    b: {
      orgId: string;
      appVersionId: string;
      sha256: string;
      size: number;
      filename: string;
      sourceUrl: string | null;
    },
  ): Promise<AppBuild> {
    const { row, inserted } = await artifacts.insertAppBuild(tx, b);
    if (!inserted && row.sha256 !== b.sha256) {
      throw new AppError(
        'conflict',
        `app version ${b.appVersionId} of org ${b.orgId} already has build ${row.sha256.slice(0, 12)} (${row.filename}); an app version is one build: register this one under a new app_version_id`,
        { field: 'app_version_id' },
      );
    }
    if (inserted) {
      this.log.info(
        { org: b.orgId, app_version: b.appVersionId, sha256: b.sha256, size: b.size },
        'app build registered',
      );
    }
    return buildView(row, inserted);
  }

  private async fetch(url: string): Promise<StagedBlob> {
    const signal = AbortSignal.timeout(this.options.fetchTimeoutMs);
    const fail = (message: string) => new AppError('fetch_failed', message, { field: 'url' });
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw new ValidationError([{ field: 'url', message: `url is not a valid URL (got ${JSON.stringify(url)})` }]);
    }
    let response: IncomingMessage;
    // Redirects are followed by hand, so every hop is checked like the first.
    for (let hop = 0; ; hop++) {
      try {
        response = await guardedGet(target, { signal, allowInternal: this.options.fetchInternalUrls });
      } catch (error) {
        if (error instanceof InternalAddressError) {
          throw fail(
            `refusing to fetch ${target.href}: ${error.message}; give a public URL, or upload the file (qgjob app upload FILE)`,
          );
        }
        const { code, message } = error as NodeJS.ErrnoException;
        throw fail(`could not fetch ${target.href}: ${signal.aborted ? 'timed out' : (code ?? message)}`);
      }
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      if (status < 300 || status >= 400 || !location) break;
      response.resume();
      if (hop === MAX_REDIRECTS) throw fail(`fetching ${url} redirected more than ${MAX_REDIRECTS} times`);
      try {
        target = new URL(location, target);
      } catch {
        throw fail(`fetching ${url} redirected to an invalid URL`);
      }
      if (target.protocol !== 'http:' && target.protocol !== 'https:') {
        throw fail(`fetching ${url} redirected to a ${target.protocol} URL`);
      }
    }
    const status = response.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      response.resume();
      throw fail(`fetching ${target.href} answered ${status} ${response.statusMessage ?? ''}`.trim());
    }
    const declared = Number(response.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.options.maxAppBytes) {
      response.destroy();
      throw new AppError(
        'body_too_large',
        `${url} is ${declared} bytes, more than the limit of ${this.options.maxAppBytes} for an app build`,
        { field: 'url' },
      );
    }
    try {
      return await this.stage(response, 'app', 'url');
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw fail(`fetching ${url} broke off: ${signal.aborted ? 'timed out' : (error as Error).message}`);
    }
  }

  async getApp(orgId: string, appVersionId: string): Promise<AppBuild> {
    const row = await artifacts.getAppBuild(this.db, orgId, appVersionId, false);
    if (!row) throw new NotFoundError('app build for app version', appVersionId);
    const uploads = await artifacts.browserStackUploadsOf(this.db, orgId, appVersionId);
    return buildView(row, false, uploads);
  }

  /**
   * The build a batch of this group installs, as the claim answer carries it; on a
   * BrowserStack device (`pool` names its account), with that account's upload when fresh.
   */
  async batchApp(q: Queryable, orgId: string, appVersionId: string, pool: string | null): Promise<BatchApp | null> {
    const row = await artifacts.getAppBuild(q, orgId, appVersionId, false);
    if (!row) return null;
    const upload =
      pool === null
        ? undefined
        : await artifacts.getBrowserStackUpload(q, { orgId, appVersionId, account: accountOf(pool) }, false);
    return {
      sha256: row.sha256,
      size: row.size,
      filename: row.filename,
      browserstack_url: upload ? this.freshUrl(upload) : null,
    };
  }

  private freshUrl(upload: artifacts.BrowserStackUploadRow): string | null {
    if (!upload.url || !upload.uploaded_at) return null;
    const age = Date.now() - upload.uploaded_at.getTime();
    return age < this.options.browserstackFreshMs ? upload.url : null;
  }

  /**
   * A BrowserStack batch asks for its build's bs:// URL: ready, or the lease to upload
   * it (given to one batch at a time), or wait for the batch holding the lease.
   */
  async browserstackApp(batchId: string, agentToken?: string): Promise<BrowserStackAppResponse> {
    const answer = await this.db.transaction(async (tx) => {
      const { batch, key, upload } = await this.lockUploadOfBatch(tx, batchId, agentToken);
      const url = upload ? this.freshUrl(upload) : null;
      if (url) return this.answer('ready', url);
      const holder = upload?.lease_batch ?? null;
      const held =
        holder !== null &&
        holder !== batch.id &&
        (upload?.lease_expires?.getTime() ?? 0) > Date.now() &&
        (await batches.batchIsActive(tx, holder));
      if (held) return this.answer('wait', null);
      // Taken, or renewed by the batch already holding it.
      await artifacts.leaseBrowserStackUpload(tx, {
        ...key,
        batchId: batch.id,
        leaseMs: this.options.browserstackLeaseMs,
      });
      return this.answer('upload', null);
    });
    if (answer.state === 'upload') this.log.info({ batch: batchId }, 'browserstack upload leased');
    return answer;
  }

  /** The outcome of the upload this batch held the lease for. */
  async browserstackResult(
    batchId: string,
    result: BrowserStackAppResult,
    agentToken?: string,
  ): Promise<BrowserStackAppResponse> {
    if ((result.browserstack_url === undefined) === (result.error === undefined)) {
      throw new ValidationError([
        { field: 'browserstack_url', message: 'give browserstack_url (the upload worked) or error (it failed)' },
      ]);
    }
    return this.db.transaction(async (tx) => {
      const { batch, key, upload } = await this.lockUploadOfBatch(tx, batchId, agentToken);
      const held = await artifacts.finishBrowserStackUpload(tx, {
        ...key,
        batchId: batch.id,
        url: result.browserstack_url ?? null,
      });
      if (held && result.browserstack_url) {
        this.metrics.browserstackUploads.inc();
        this.log.info(
          {
            batch: batch.id,
            org: key.orgId,
            app_version: key.appVersionId,
            account: key.account,
            url: result.browserstack_url,
          },
          'browserstack upload recorded',
        );
        return this.answer('ready', result.browserstack_url);
      }
      if (result.error) this.log.warn({ batch: batch.id, error: result.error }, 'browserstack upload failed');
      const url = upload ? this.freshUrl(upload) : null;
      return this.answer(url ? 'ready' : 'wait', url);
    });
  }

  private answer(state: BrowserStackAppResponse['state'], url: string | null): BrowserStackAppResponse {
    return {
      state,
      browserstack_url: url,
      retry_ms: BROWSERSTACK_RETRY_MS,
      lease_ms: this.options.browserstackLeaseMs,
    };
  }

  /**
   * The batch (an active BrowserStack batch of this agent) and the upload of its build to
   * its device's account, locked: one lease decision at a time per build.
   */
  private async lockUploadOfBatch(
    tx: Queryable,
    batchId: string,
    agentToken: string | undefined,
  ): Promise<{
    batch: batches.BatchRow;
    key: { orgId: string; appVersionId: string; account: string };
    upload: artifacts.BrowserStackUploadRow | undefined;
  }> {
    const batch = await heldBatch(tx, batchId, agentToken, { lock: true, closed: 'drop it' });
    if (batch.target !== 'browserstack') {
      throw new AppError('conflict', `batch ${batchId} runs on ${batch.target}, not browserstack`);
    }
    // Locking the build serialises the lease decisions of every batch of this build.
    const build = await artifacts.getAppBuild(tx, batch.org_id, batch.app_version_id, true);
    if (!build) {
      throw new NotFoundError('app build for app version', batch.app_version_id);
    }
    const key = { orgId: batch.org_id, appVersionId: batch.app_version_id, account: accountOf(batch.device_pool) };
    return { batch, key, upload: await artifacts.getBrowserStackUpload(tx, key, true) };
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
      const { builds, deleted } = await artifacts.collectGarbage(tx, cutoff);
      const unheld = deleted.length > 0 ? await artifacts.unheldHashes(tx, [...new Set(deleted)]) : [];
      for (const sha256 of unheld) await this.blobs.delete(sha256);
      files += unheld.length;
      return { builds, blobs: deleted.length };
    });
    const strayBefore = Date.now() - Math.max(3600_000, Math.min(this.options.retentionMs, 24 * 3600_000));
    const stray: string[] = [];
    for await (const file of this.blobs.list()) {
      if (file.modifiedAt.getTime() < strayBefore) stray.push(file.sha256);
    }
    if (stray.length > 0) {
      files += await this.db.transaction(async (tx) => {
        await artifacts.lockBlobsExclusive(tx);
        const unheld = await artifacts.unheldHashes(tx, stray);
        for (const sha256 of unheld) await this.blobs.delete(sha256);
        return unheld.length;
      });
    }
    if (result.builds + result.blobs + files > 0) {
      this.metrics.blobsCollected.inc(files);
      this.log.info({ ...result, files }, 'unused builds and blobs collected');
    }
    return { ...result, files };
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

function buildView(
  row: artifacts.AppBuildRow,
  created: boolean,
  uploads: artifacts.BrowserStackUploadRow[] = [],
): AppBuild {
  return {
    org_id: row.org_id,
    app_version_id: row.app_version_id,
    sha256: row.sha256,
    size: row.size,
    filename: row.filename,
    source_url: row.source_url,
    browserstack: uploads.map((u) => ({
      account: u.account,
      url: u.url as string,
      uploaded_at: (u.uploaded_at as Date).toISOString(),
    })),
    created_at: row.created_at.toISOString(),
    created,
  };
}

/** The BrowserStack account of a device pool (`browserstack:<account>`); '' when unknown. */
function accountOf(pool: string | null): string {
  return pool?.startsWith('browserstack:') ? pool.slice('browserstack:'.length) : '';
}

function filenameOf(url: string): string {
  const last = new URL(url).pathname.split('/').filter(Boolean).pop() ?? '';
  let decoded = last;
  try {
    decoded = decodeURIComponent(last);
  } catch {
    // Not valid percent-encoding: keep it as it is.
  }
  const name = [...decoded].map((c) => (c === '/' || c === '\\' || c < ' ' ? '_' : c)).join('');
  return name.length > 0 && name.length <= 255 ? name : 'app';
}
