-- Test artifacts: the files a test left in its run's output dir (screenshots, videos,
-- traces), uploaded by the agent while the run runs. The bytes are blobs of kind
-- 'artifact', held once per org and hash like builds and bundles; a row here names one
-- file of one run. Garbage collection keeps every blob a row refers to; the rows go with
-- their run.
ALTER TABLE blobs DROP CONSTRAINT blobs_kind_check;
ALTER TABLE blobs ADD CONSTRAINT blobs_kind_check CHECK (kind IN ('app', 'bundle', 'artifact'));

CREATE TABLE run_artifacts (
  job_id        text NOT NULL,
  run_n         integer NOT NULL,
  name          text NOT NULL,
  org_id        text NOT NULL,
  sha256        text NOT NULL,
  size          bigint NOT NULL,
  content_type  text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, run_n, name),
  FOREIGN KEY (job_id, run_n) REFERENCES runs (job_id, n) ON DELETE CASCADE
);
-- Garbage collection asks whether any run refers to an org's blob.
CREATE INDEX run_artifacts_by_blob ON run_artifacts (org_id, sha256);
