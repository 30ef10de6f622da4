-- What the dashboard's timeline and trends draw from.

-- When the server first told the batch to hand its device back (a yield); null if never.
ALTER TABLE batches ADD COLUMN yielded_at timestamptz;
-- The timeline reads the batches that ended within its window (active ones by batches_active).
CREATE INDEX batches_finished ON batches (finished_at) WHERE finished_at IS NOT NULL;
-- Trend samples count the batches leased in each interval.
CREATE INDEX batches_created ON batches (created_at);

-- Changes of a device's health the timeline marks: quarantined (with the cool-down's end)
-- and healthy again. Kept 48 hours.
CREATE TABLE device_events (
  device_id  text NOT NULL,
  at         timestamptz NOT NULL DEFAULT now(),
  kind       text NOT NULL CHECK (kind IN ('quarantined', 'healed')),
  until      timestamptz
);
CREATE INDEX device_events_at ON device_events (at);

-- The farm per target once an interval (a minute by default), kept 24 hours: at most
-- 1,440 rows per target. Replicas sampling the same interval write it once (the key).
CREATE TABLE farm_samples (
  target            text NOT NULL,
  at                timestamptz NOT NULL,
  queued            integer NOT NULL,
  oldest_wait_ms    bigint NOT NULL,
  installs_made     integer NOT NULL,
  installs_avoided  integer NOT NULL,
  devices           integer NOT NULL,
  busy              integer NOT NULL,
  PRIMARY KEY (target, at)
);
CREATE INDEX farm_samples_at ON farm_samples (at);
