/**
 * The one BrowserStack upload of each build per account, shared by every agent of that
 * account. A BrowserStack batch asks for its build's bs:// URL and is told: `ready` (here
 * it is), `upload` (this batch holds the lease: upload it, then report the outcome), or
 * `wait` (another active batch holds the lease: ask again after retry_ms). A lease lasts
 * browserstackLeaseMs, renewed when its batch asks again, and no longer than its batch; an
 * upload older than browserstackFreshMs counts as gone (BrowserStack deletes uploads after
 * 30 days), so another batch uploads the build again.
 */
import type { BrowserStackAppResponse, BrowserStackAppResult } from '@qgjob/protocol';
import type { Db, Queryable } from '../db/db.js';
import { AppError, NotFoundError, ValidationError } from '../errors.js';
import * as artifacts from '../store/artifacts.js';
import * as batches from '../store/batches.js';
import type { ArtifactLog } from './blobs.js';
import { heldBatch } from './held-batch.js';
import type { Metrics } from './metrics.js';

export interface BrowserStackOptions {
  /** How long an agent may take to upload a build to BrowserStack before another may try. */
  browserstackLeaseMs: number;
  /** BrowserStack deletes uploads after 30 days: older ones are uploaded again. */
  browserstackFreshMs: number;
}

export const DEFAULT_BROWSERSTACK_OPTIONS: BrowserStackOptions = {
  browserstackLeaseMs: 10 * 60_000,
  browserstackFreshMs: 29 * 24 * 3600_000,
};

/** A BrowserStack batch that must wait for another agent's upload asks again this soon. */
const BROWSERSTACK_RETRY_MS = 1000;

type UploadKey = { orgId: string; appVersionId: string; account: string };

export class BrowserStackUploads {
  constructor(
    private readonly db: Db,
    private readonly metrics: Metrics,
    private readonly options: BrowserStackOptions,
    private readonly log: ArtifactLog,
  ) {}

  /** The bs:// URL of the build on the account of device pool `pool`, when uploaded and fresh. */
  async freshUrlFor(q: Queryable, orgId: string, appVersionId: string, pool: string): Promise<string | null> {
    const upload = await artifacts.getBrowserStackUpload(q, { orgId, appVersionId, account: accountOf(pool) }, false);
    return upload ? this.freshUrl(upload) : null;
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
  async urlOrLease(batchId: string, agentToken?: string): Promise<BrowserStackAppResponse> {
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
  async recordOutcome(
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
  ): Promise<{ batch: batches.BatchRow; key: UploadKey; upload: artifacts.BrowserStackUploadRow | undefined }> {
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
}

/** The BrowserStack account of a device pool (`browserstack:<account>`); '' when unknown. */
function accountOf(pool: string | null): string {
  return pool?.startsWith('browserstack:') ? pool.slice('browserstack:'.length) : '';
}
