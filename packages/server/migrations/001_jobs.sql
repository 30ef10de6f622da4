-- Jobs, their runs, the submissions that created them, and submit idempotency keys.

CREATE TABLE submissions (
  id            text PRIMARY KEY,
  org_id        text NOT NULL,
  -- In submit order; a deduplicated entry points at the job that already existed.
  job_ids       text[] NOT NULL,
  deduplicated  boolean[] NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE idempotency_keys (
  org_id         text NOT NULL,
  key            text NOT NULL,
  request_hash   text NOT NULL,
  submission_id  text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

CREATE TABLE jobs (
  id              text PRIMARY KEY,
  submission_id   text NOT NULL,
  org_id          text NOT NULL,
  app_version_id  text NOT NULL,
  test_path       text NOT NULL,
  target          text NOT NULL CHECK (target IN ('emulator', 'device', 'browserstack')),
  priority        smallint NOT NULL CHECK (priority BETWEEN 0 AND 9),
  max_retries     smallint NOT NULL DEFAULT 0 CHECK (max_retries BETWEEN 0 AND 5),
  status          text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'assigned', 'running', 'passed', 'failed', 'errored', 'cancelled')),
  attempts        integer NOT NULL DEFAULT 0,
  infra_failures  integer NOT NULL DEFAULT 0,
  flaky           boolean NOT NULL DEFAULT false,
  error           text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  -- When the job (re)entered the queue: the base of priority ageing.
  queued_at       timestamptz NOT NULL DEFAULT now(),
  -- Not claimable before this (retry backoff).
  run_after       timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz
);

-- Dedup: at most one unfinished job per (org, app version, target, test).
CREATE UNIQUE INDEX jobs_active_identity ON jobs (org_id, app_version_id, target, test_path)
  WHERE status IN ('queued', 'assigned', 'running');

-- The claim path reads only queued jobs; finished jobs never slow it down.
CREATE INDEX jobs_queued ON jobs (target, org_id, app_version_id, priority DESC, id)
  WHERE status = 'queued';

CREATE INDEX jobs_by_org ON jobs (org_id, id DESC);
CREATE INDEX jobs_by_submission ON jobs (submission_id);

CREATE TABLE runs (
  id             text PRIMARY KEY,
  job_id         text NOT NULL REFERENCES jobs (id),
  n              integer NOT NULL,
  status         text NOT NULL
                 CHECK (status IN ('running', 'passed', 'failed', 'errored', 'cancelled', 'lost')),
  agent          text,
  device         text,
  batch_id       text,
  app_installed  boolean NOT NULL DEFAULT false,
  started_at     timestamptz,
  finished_at    timestamptz,
  error          text,
  UNIQUE (job_id, n)
);
