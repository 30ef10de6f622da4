-- App builds and test bundles: blobs content-addressed by SHA-256. The bytes live in the
-- blob store once per hash; a row here says an org holds them (an org never learns that
-- another org uploaded the same bytes). last_used_at drives garbage collection.
CREATE TABLE blobs (
  org_id        text NOT NULL,
  sha256        text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('app', 'bundle')),
  size          bigint NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, sha256)
);
CREATE INDEX blobs_by_sha ON blobs (sha256);
CREATE INDEX blobs_last_used ON blobs (last_used_at);

-- The build registered for an app version.
CREATE TABLE app_builds (
  org_id          text NOT NULL,
  app_version_id  text NOT NULL,
  sha256          text NOT NULL,
  size            bigint NOT NULL,
  filename        text NOT NULL,
  source_url      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  last_used_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, app_version_id)
);

-- A build's upload to a BrowserStack account (an app_url works for the account that
-- uploaded it): made once per build and account by the one batch holding the lease, then
-- reused by every agent on that account. Account '' is agents that did not say theirs.
CREATE TABLE browserstack_uploads (
  org_id          text NOT NULL,
  app_version_id  text NOT NULL,
  account         text NOT NULL,
  url             text,
  uploaded_at     timestamptz,
  lease_batch     text,
  lease_expires   timestamptz,
  PRIMARY KEY (org_id, app_version_id, account),
  FOREIGN KEY (org_id, app_version_id) REFERENCES app_builds (org_id, app_version_id) ON DELETE CASCADE
);

-- The test sources a job runs in. Jobs of different sources are different jobs: dedup
-- holds only between jobs of the same bundle (or both without one).
ALTER TABLE jobs ADD COLUMN bundle_sha256 text;
DROP INDEX jobs_active_identity;
CREATE UNIQUE INDEX jobs_active_identity ON jobs (org_id, app_version_id, target, test_path, (coalesce(bundle_sha256, '')))
  WHERE status IN ('queued', 'assigned', 'running');
CREATE INDEX jobs_active_bundle ON jobs (org_id, bundle_sha256)
  WHERE bundle_sha256 IS NOT NULL AND status IN ('queued', 'assigned', 'running');

-- Device pools share a limit on busy devices across agents: a BrowserStack account's
-- parallel sessions (pool 'browserstack:<username>').
CREATE TABLE device_pools (
  name        text PRIMARY KEY,
  max_busy    integer NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE devices ADD COLUMN pool text;
