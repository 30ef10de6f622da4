-- Device health, operator drain, and liveness a claim can trust.

-- Consecutive infrastructure failures on the device (install, session, device offline);
-- a success sets it back to 0. At the threshold the device is quarantined until
-- `quarantined_until`; `quarantines` counts the quarantines since it was last healthy, so
-- each cool-down doubles. Past the cool-down (failures still at the threshold) its next
-- batch is a probe of one job.
ALTER TABLE devices ADD COLUMN infra_streak integer NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN quarantines integer NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN quarantined_until timestamptz;
-- Drained by an operator: finishes its batch, takes no more until enabled.
ALTER TABLE devices ADD COLUMN drained boolean NOT NULL DEFAULT false;
-- A claim is long-polling for this device until then (set by each look for work, cleared when
-- the claim ends or its connection closes): only such a device is idle, on every replica.
ALTER TABLE devices ADD COLUMN waiting_until timestamptz;

DROP INDEX devices_idle;
CREATE INDEX devices_waiting ON devices (target, waiting_until) WHERE batch_id IS NULL;
