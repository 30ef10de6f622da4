-- Claims that cost the same at any queue depth, and the history that sizes batches by time.

-- The claim path probes this index, never scans it: one descent finds the next
-- (org, app version, priority) level of a target (a loose index scan), one more the oldest
-- ready job of that level, and a batch reads the first jobs of a level in queue order.
CREATE INDEX jobs_ready ON jobs (target, org_id, app_version_id, priority, queued_at, id)
  WHERE status = 'queued';
DROP INDEX jobs_queued;

-- How long a test takes, per org, target and test path: a running average of its passed and
-- failed runs (errored runs say nothing about the test). Kept across app versions, so a new
-- build's first batch is planned from the last build's figures; `app_version_id` is the
-- build of the last run counted.
CREATE TABLE test_durations (
  org_id          text NOT NULL,
  target          text NOT NULL,
  test_path       text NOT NULL,
  app_version_id  text NOT NULL,
  avg_ms          double precision NOT NULL,
  runs            integer NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, target, test_path)
);

-- How long installing a build takes on a target: a running average of successful installs.
CREATE TABLE install_durations (
  org_id          text NOT NULL,
  app_version_id  text NOT NULL,
  target          text NOT NULL,
  avg_ms          double precision NOT NULL,
  installs        integer NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, app_version_id, target)
);
CREATE INDEX install_durations_recent ON install_durations (target, updated_at DESC);
