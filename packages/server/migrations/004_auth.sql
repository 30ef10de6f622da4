-- Credentials, stored only as SHA-256 hashes of their secret part.
CREATE TABLE tokens (
  id          text PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('admin', 'org', 'agent')),
  org_id      text,
  name        text NOT NULL,
  secret_hash text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz,
  revoked_at  timestamptz,
  CHECK ((kind = 'org') = (org_id IS NOT NULL))
);

-- The agent token that registered an agent: only it may claim and report for its devices.
ALTER TABLE agents ADD COLUMN token_id text;

-- The per-org cap on queued jobs counts these.
CREATE INDEX jobs_queued_by_org ON jobs (org_id) WHERE status = 'queued';
