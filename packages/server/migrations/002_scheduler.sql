-- Agents, their devices, what each device holds installed, and batches (leases).

CREATE TABLE agents (
  id             text PRIMARY KEY,
  name           text NOT NULL UNIQUE,
  version        text,
  registered_at  timestamptz NOT NULL DEFAULT now(),
  last_seen_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
  id                    text PRIMARY KEY,
  agent_id              text NOT NULL REFERENCES agents (id),
  name                  text NOT NULL,
  target                text NOT NULL CHECK (target IN ('emulator', 'device', 'browserstack')),
  -- The batch it works on; null when idle.
  batch_id              text,
  -- The group it served last and since when: "stay warm" and its bound.
  last_org_id           text,
  last_app_version_id   text,
  group_since           timestamptz,
  last_seen_at          timestamptz NOT NULL DEFAULT now(),
  UNIQUE (agent_id, name)
);
CREATE INDEX devices_idle ON devices (target, last_seen_at) WHERE batch_id IS NULL;

-- Which build of each org's app a device holds. `install -r` replaces the org's
-- previous build, so one row per (device, org). Survives restarts: affinity is durable.
CREATE TABLE device_apps (
  device_id       text NOT NULL REFERENCES devices (id),
  org_id          text NOT NULL,
  app_version_id  text NOT NULL,
  installed_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device_id, org_id)
);

CREATE TABLE batches (
  id                text PRIMARY KEY,
  device_id         text NOT NULL REFERENCES devices (id),
  agent_id          text NOT NULL REFERENCES agents (id),
  org_id            text NOT NULL,
  app_version_id    text NOT NULL,
  target            text NOT NULL,
  install           boolean NOT NULL,
  size              integer NOT NULL,
  state             text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'done', 'expired')),
  lease_expires_at  timestamptz NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  finished_at       timestamptz
);
CREATE INDEX batches_active ON batches (target, org_id) WHERE state = 'active';

ALTER TABLE jobs ADD COLUMN batch_id text;
CREATE INDEX jobs_by_batch ON jobs (batch_id) WHERE batch_id IS NOT NULL;

ALTER TABLE runs ADD COLUMN duration_ms integer;
CREATE INDEX runs_by_batch ON runs (batch_id);
