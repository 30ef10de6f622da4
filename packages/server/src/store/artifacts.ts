/** SQL of blobs, app builds and BrowserStack upload leases (device pools: pools.ts). */
import type { BlobKind } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';
import { ACTIVE_STATUSES_SQL } from './rows.js';

/** Uploads take it shared, garbage collection exclusive: GC never deletes bytes a concurrent upload just registered. */
const BLOB_LOCK = 0x71676a62; // 'qgjb'

export async function lockBlobsShared(q: Queryable): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock_shared($1)', [BLOB_LOCK]);
}

export async function lockBlobsExclusive(q: Queryable): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock($1)', [BLOB_LOCK]);
}

/** What a blob is: an app build, a test bundle, or a file a run left (a test artifact). */
export type StoredBlobKind = BlobKind | 'artifact';

export interface BlobRow {
  org_id: string;
  sha256: string;
  kind: StoredBlobKind;
  size: number;
}

/**
 * Records that the org holds the blob (again: refreshes its last use). Returns the row.
 * Bytes held as a test artifact that are uploaded as a build or bundle become one, so
 * agents may fetch them; a build or bundle stays what it is.
 */
export async function upsertBlob(
  q: Queryable,
  b: { orgId: string; sha256: string; kind: StoredBlobKind; size: number },
): Promise<{ row: BlobRow; inserted: boolean }> {
  const { rows } = await q.query<BlobRow & { inserted: boolean }>(
    `INSERT INTO blobs (org_id, sha256, kind, size) VALUES ($1, $2, $3, $4)
     ON CONFLICT (org_id, sha256) DO UPDATE
       SET last_used_at = now(), kind = CASE WHEN blobs.kind = 'artifact' THEN EXCLUDED.kind ELSE blobs.kind END
     RETURNING org_id, sha256, kind, size::float8 AS size, (xmax = 0) AS inserted`,
    [b.orgId, b.sha256, b.kind, b.size],
  );
  const row = rows[0] as BlobRow & { inserted: boolean };
  return { row, inserted: row.inserted };
}

/**
 * The org's blob; without an org, any org's build or bundle (agents fetch whatever their
 * batches need, but never the files tests left: those only their org reads).
 */
export async function findBlob(q: Queryable, sha256: string, orgId: string | null): Promise<BlobRow | undefined> {
  const { rows } = await q.query<BlobRow>(
    `SELECT org_id, sha256, kind, size::float8 AS size FROM blobs
      WHERE sha256 = $1 AND ($2::text IS NULL AND kind <> 'artifact' OR org_id = $2) LIMIT 1`,
    [sha256, orgId],
  );
  return rows[0];
}

/**
 * Checks a submit's bundle and refreshes the last use of it and of the app version's
 * build. Rows used within `touchMs` are left alone, so busy submits take no row locks.
 */
export async function touchForSubmit(
  q: Queryable,
  s: { orgId: string; appVersionId: string; bundleSha256: string | null; touchMs: number },
): Promise<{ bundleKnown: boolean }> {
  const { rows } = await q.query<{ bundle_known: boolean }>(
    `WITH b AS (
       UPDATE blobs SET last_used_at = now()
        WHERE org_id = $1 AND sha256 = $3 AND last_used_at < now() - make_interval(secs => $4::float8 / 1000)
        RETURNING 1),
     a AS (
       UPDATE app_builds SET last_used_at = now()
        WHERE org_id = $1 AND app_version_id = $2 AND last_used_at < now() - make_interval(secs => $4::float8 / 1000)
        RETURNING 1)
     SELECT ($3::text IS NULL OR EXISTS (SELECT 1 FROM blobs WHERE org_id = $1 AND sha256 = $3))
            AS bundle_known,
            (SELECT count(*) FROM b) + (SELECT count(*) FROM a) AS touched`,
    [s.orgId, s.appVersionId, s.bundleSha256, s.touchMs],
  );
  return { bundleKnown: rows[0]?.bundle_known ?? false };
}

export interface AppBuildRow {
  org_id: string;
  app_version_id: string;
  sha256: string;
  size: number;
  filename: string;
  source_url: string | null;
  created_at: Date;
}

const BUILD_COLUMNS = `org_id, app_version_id, sha256, size::float8 AS size, filename, source_url, created_at`;

/** Registers the build; undefined when the app version already has one (getAppBuild reads it, the caller compares). */
export async function insertAppBuild(
  q: Queryable,
  b: { orgId: string; appVersionId: string; sha256: string; size: number; filename: string; sourceUrl: string | null },
): Promise<AppBuildRow | undefined> {
  const { rows } = await q.query<AppBuildRow>(
    `INSERT INTO app_builds (org_id, app_version_id, sha256, size, filename, source_url)
     VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (org_id, app_version_id) DO NOTHING
     RETURNING ${BUILD_COLUMNS}`,
    [b.orgId, b.appVersionId, b.sha256, b.size, b.filename, b.sourceUrl],
  );
  return rows[0];
}

export async function getAppBuild(
  q: Queryable,
  orgId: string,
  appVersionId: string,
  forUpdate: boolean,
): Promise<AppBuildRow | undefined> {
  const { rows } = await q.query<AppBuildRow>(
    `SELECT ${BUILD_COLUMNS} FROM app_builds WHERE org_id = $1 AND app_version_id = $2${forUpdate ? ' FOR UPDATE' : ''}`,
    [orgId, appVersionId],
  );
  return rows[0];
}

export interface BrowserStackUploadRow {
  account: string;
  url: string | null;
  uploaded_at: Date | null;
  lease_batch: string | null;
  lease_expires: Date | null;
}

const UPLOAD_COLUMNS = 'account, url, uploaded_at, lease_batch, lease_expires';

/** The build's upload to this account (locked for the lease decision when `forUpdate`). */
export async function getBrowserStackUpload(
  q: Queryable,
  k: { orgId: string; appVersionId: string; account: string },
  forUpdate: boolean,
): Promise<BrowserStackUploadRow | undefined> {
  const { rows } = await q.query<BrowserStackUploadRow>(
    `SELECT ${UPLOAD_COLUMNS} FROM browserstack_uploads
      WHERE org_id = $1 AND app_version_id = $2 AND account = $3${forUpdate ? ' FOR UPDATE' : ''}`,
    [k.orgId, k.appVersionId, k.account],
  );
  return rows[0];
}

/** Every account's upload of the build. */
export async function browserStackUploadsOf(
  q: Queryable,
  orgId: string,
  appVersionId: string,
): Promise<BrowserStackUploadRow[]> {
  const { rows } = await q.query<BrowserStackUploadRow>(
    `SELECT ${UPLOAD_COLUMNS} FROM browserstack_uploads
      WHERE org_id = $1 AND app_version_id = $2 AND url IS NOT NULL ORDER BY account`,
    [orgId, appVersionId],
  );
  return rows;
}

/** Gives the upload lease of the build on this account to a batch. */
export async function leaseBrowserStackUpload(
  q: Queryable,
  l: { orgId: string; appVersionId: string; account: string; batchId: string; leaseMs: number },
): Promise<void> {
  await q.query(
    `INSERT INTO browserstack_uploads (org_id, app_version_id, account, lease_batch, lease_expires)
     VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5::float8 / 1000))
     ON CONFLICT (org_id, app_version_id, account)
     DO UPDATE SET lease_batch = EXCLUDED.lease_batch, lease_expires = EXCLUDED.lease_expires`,
    [l.orgId, l.appVersionId, l.account, l.batchId, l.leaseMs],
  );
}

/** Ends the lease of this batch: with a URL (the upload is done) or without (it failed). */
export async function finishBrowserStackUpload(
  q: Queryable,
  f: { orgId: string; appVersionId: string; account: string; batchId: string; url: string | null },
): Promise<boolean> {
  const { rowCount } = await q.query(
    `UPDATE browserstack_uploads
        SET url = coalesce($5, url),
            uploaded_at = CASE WHEN $5::text IS NULL THEN uploaded_at ELSE now() END,
            lease_batch = NULL, lease_expires = NULL
      WHERE org_id = $1 AND app_version_id = $2 AND account = $3 AND lease_batch = $4`,
    [f.orgId, f.appVersionId, f.account, f.batchId, f.url],
  );
  return rowCount > 0;
}

/** Garbage collection, step 1: app builds no job used since `cutoff` and no unfinished job needs. */
export async function deleteUnusedBuilds(q: Queryable, cutoff: Date): Promise<number> {
  const { rowCount } = await q.query(
    `DELETE FROM app_builds a
      WHERE a.last_used_at < $1
        AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.org_id = a.org_id AND j.app_version_id = a.app_version_id
                           AND j.status IN ${ACTIVE_STATUSES_SQL})`,
    [cutoff],
  );
  return rowCount;
}

/**
 * Garbage collection, step 2: blob rows unused since `cutoff`, held by no build, no
 * unfinished job and no run's artifact. Returns the hash of each row deleted (see
 * unheldHashes for those whose bytes may go).
 */
export async function deleteUnusedBlobs(q: Queryable, cutoff: Date): Promise<string[]> {
  const { rows } = await q.query<{ sha256: string }>(
    `WITH gone AS (
       DELETE FROM blobs b
        WHERE b.last_used_at < $1
          AND NOT EXISTS (SELECT 1 FROM app_builds a WHERE a.org_id = b.org_id AND a.sha256 = b.sha256)
          AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.org_id = b.org_id AND j.bundle_sha256 = b.sha256
                             AND j.status IN ${ACTIVE_STATUSES_SQL})
          AND NOT EXISTS (SELECT 1 FROM run_artifacts ra WHERE ra.org_id = b.org_id AND ra.sha256 = b.sha256)
        RETURNING b.sha256)
     SELECT sha256 FROM gone`,
    [cutoff],
  );
  return rows.map((r) => r.sha256);
}

/** Of these hashes, those no org holds. */
export async function unheldHashes(q: Queryable, hashes: string[]): Promise<string[]> {
  const { rows } = await q.query<{ sha256: string }>(
    `SELECT h AS sha256 FROM unnest($1::text[]) AS h WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.sha256 = h)`,
    [hashes],
  );
  return rows.map((r) => r.sha256);
}
