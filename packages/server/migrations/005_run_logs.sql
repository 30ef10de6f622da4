-- Run logs: a test's output in chunks, in the order the agent sent them, per run.
-- A run's install output (stream 'install') belongs to the first run of the batch that
-- installed, the run marked app_installed.
CREATE TABLE run_logs (
  job_id  text NOT NULL,
  run_n   integer NOT NULL,
  seq     integer NOT NULL,
  stream  text NOT NULL CHECK (stream IN ('stdout', 'stderr', 'install', 'agent')),
  text    text NOT NULL,
  at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, run_n, seq)
);

-- Each run keeps a bounded log. Its counters live on the run row, which a log write
-- locks: two writes for one run never interleave, and a run that finishes meanwhile
-- takes no more chunks.
ALTER TABLE runs ADD COLUMN log_seq integer NOT NULL DEFAULT 0;
-- Bytes of text stored (UTF-8), the truncation marker not counted.
ALTER TABLE runs ADD COLUMN log_bytes integer NOT NULL DEFAULT 0;
-- Past the bound: bytes dropped, and the seq of the one marker chunk saying so.
ALTER TABLE runs ADD COLUMN log_dropped bigint NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN log_marker_seq integer;
