-- An infrastructure error retries on another device when there is one.
ALTER TABLE jobs ADD COLUMN avoid_device_id text;
