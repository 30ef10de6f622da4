/**
 * App builds: each app version of an org is one build, registered from a blob the org
 * uploaded (sha256) or from a URL the server fetches (url-fetch.ts), then handed to the
 * batches that install it. Registering again is answered with the build already there:
 * the same build is a no-op, another build is a conflict.
 */
import type { AppBuild, AppRegisterRequest, BatchApp } from '@qgjob/protocol';
import type { Db, Queryable } from '../db/db.js';
import { AppError, NotFoundError, ValidationError } from '../errors.js';
import * as artifacts from '../store/artifacts.js';
import type { ArtifactLog, BlobService } from './blobs.js';
import type { BrowserStackUploads } from './browserstack-uploads.js';
import { type FetchOptions, fetchBuild } from './url-fetch.js';

interface NewBuild {
  orgId: string;
  appVersionId: string;
  sha256: string;
  size: number;
  filename: string;
  sourceUrl: string | null;
}

export class AppBuilds {
  constructor(
    private readonly db: Db,
    private readonly blobs: BlobService,
    private readonly browserstack: BrowserStackUploads,
    private readonly options: FetchOptions & { maxAppBytes: number },
    private readonly log: ArtifactLog,
  ) {}

  register(request: AppRegisterRequest): Promise<AppBuild> {
    if (request.sha256 !== undefined) return this.registerBlob(request, request.sha256);
    return this.registerUrl(request, request.url as string);
  }

  private registerBlob(request: AppRegisterRequest, sha256: string): Promise<AppBuild> {
    const { org_id: orgId, app_version_id: appVersionId } = request;
    // Under the blob lock: garbage collection cannot take the bytes between check and insert.
    return this.db.transaction(async (tx) => {
      const blob = await this.blobs.findLocked(tx, sha256, orgId);
      if (!blob) {
        throw new ValidationError([
          {
            field: 'sha256',
            message: `sha256 ${sha256} is not uploaded for org ${orgId}: PUT the build to /v1/blobs/${sha256}?kind=app first`,
          },
        ]);
      }
      return this.insert(tx, {
        orgId,
        appVersionId,
        sha256,
        size: blob.size,
        filename: request.filename ?? 'app',
        sourceUrl: null,
      });
    });
  }

  private async registerUrl(request: AppRegisterRequest, url: string): Promise<AppBuild> {
    const { org_id: orgId, app_version_id: appVersionId } = request;
    const existing = await artifacts.getAppBuild(this.db, orgId, appVersionId, false);
    // Registering the same URL again (a retried CI step) need not fetch it again.
    if (existing?.source_url === url) return buildView(existing, false);
    const staged = await fetchBuild(url, this.options, (body) => this.blobs.stage(body, 'app', 'url'));
    const filename = request.filename ?? filenameOf(url);
    let build: AppBuild | undefined;
    const { created } = await this.blobs.commit(orgId, staged, 'app', {
      record: async (tx) => {
        build = await this.insert(tx, {
          orgId,
          appVersionId,
          sha256: staged.sha256,
          size: staged.size,
          filename,
          sourceUrl: url,
        });
      },
    });
    if (created) this.blobs.countUpload('app', staged.size);
    return build as AppBuild;
  }

  /** Records the build, or refuses it when the app version already has another. */
  private async insert(tx: Queryable, b: NewBuild): Promise<AppBuild> {
    const inserted = await artifacts.insertAppBuild(tx, b);
    const row =
      inserted ?? ((await artifacts.getAppBuild(tx, b.orgId, b.appVersionId, false)) as artifacts.AppBuildRow);
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
    return buildView(row, inserted !== undefined);
  }

  async get(orgId: string, appVersionId: string): Promise<AppBuild> {
    const row = await artifacts.getAppBuild(this.db, orgId, appVersionId, false);
    if (!row) throw new NotFoundError('app build for app version', appVersionId);
    const uploads = await artifacts.browserStackUploadsOf(this.db, orgId, appVersionId);
    return buildView(row, false, uploads);
  }

  /**
   * The build a batch of this group installs, as the claim answer carries it; on a
   * BrowserStack device (`pool` names its account), with that account's upload when fresh.
   */
  async forBatch(q: Queryable, orgId: string, appVersionId: string, pool: string | null): Promise<BatchApp | null> {
    const row = await artifacts.getAppBuild(q, orgId, appVersionId, false);
    if (!row) return null;
    return {
      sha256: row.sha256,
      size: row.size,
      filename: row.filename,
      browserstack_url: pool === null ? null : await this.browserstack.freshUrlFor(q, orgId, appVersionId, pool),
    };
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

/** A file name for a build fetched from `url`: the last segment of its path, made safe. */
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
