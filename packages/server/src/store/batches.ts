/** SQL of the claim path and of batch reports. */
import type { Target } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';

export interface GroupRow {
  org_id: string;
  app_version_id: string;
  /** Highest priority in the group after ageing (priority + waited / agingMs). */
  top_priority: number;
  /** How long the group's oldest ready job has waited, in ms. */
  oldest_wait_ms: number;
  /** The priorities its ready jobs have. */
  levels: number[];
}

/**
 * The ready groups of a target, in index probes, never a scan: a loose index scan over
 * `jobs_ready` finds each (org, app version, priority) level with one descent, and one
 * more descent per level finds its oldest ready job. The cost follows the number of
 * levels, not the jobs queued: the same at 1,000 queued jobs and at 1,000,000.
 */
export async function readyGroups(q: Queryable, target: Target, agingMs: number): Promise<GroupRow[]> {
  const { rows } = await q.query<GroupRow>(
    `WITH RECURSIVE levels AS (
       (SELECT org_id, app_version_id, priority FROM jobs
         WHERE status = 'queued' AND target = $1
         ORDER BY org_id, app_version_id, priority LIMIT 1)
       UNION ALL
       SELECT n.org_id, n.app_version_id, n.priority
         FROM levels l CROSS JOIN LATERAL (
           SELECT j.org_id, j.app_version_id, j.priority FROM jobs j
            WHERE j.status = 'queued' AND j.target = $1
              AND (j.org_id, j.app_version_id, j.priority) > (l.org_id, l.app_version_id, l.priority)
            ORDER BY j.org_id, j.app_version_id, j.priority LIMIT 1) n)
     SELECT l.org_id, l.app_version_id,
            max(l.priority + extract(epoch FROM now() - o.queued_at) * 1000 / $2::float8)::float8 AS top_priority,
            max(extract(epoch FROM now() - o.queued_at) * 1000)::float8 AS oldest_wait_ms,
            array_agg(l.priority::int) AS levels
       FROM levels l CROSS JOIN LATERAL (
         SELECT j.queued_at FROM jobs j
          WHERE j.status = 'queued' AND j.target = $1 AND j.org_id = l.org_id
            AND j.app_version_id = l.app_version_id AND j.priority = l.priority AND j.run_after <= now()
          ORDER BY j.queued_at LIMIT 1) o
      GROUP BY l.org_id, l.app_version_id`,
    [target, agingMs],
  );
  return rows;
}

/** Devices busy per org on a target (active batches). */
export async function busyByOrg(q: Queryable, target: Target): Promise<Map<string, number>> {
  const { rows } = await q.query<{ org_id: string; n: number }>(
    `SELECT org_id, count(*)::int AS n FROM batches WHERE state = 'active' AND target = $1 GROUP BY org_id`,
    [target],
  );
  return new Map(rows.map((r) => [r.org_id, r.n]));
}

/**
 * Does any org other than `orgId` have ready jobs on this target? Two index range
 * probes (below and above the org), so it stays cheap however long the queue is.
 */
export async function otherOrgWaiting(q: Queryable, target: Target, orgId: string): Promise<boolean> {
  const { rows } = await q.query<{ waiting: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'queued' AND target = $1 AND org_id < $2 AND run_after <= now())
         OR EXISTS (SELECT 1 FROM jobs WHERE status = 'queued' AND target = $1 AND org_id > $2 AND run_after <= now())
         AS waiting`,
    [target, orgId],
  );
  return rows[0]?.waiting ?? false;
}

export interface CandidateJob {
  id: string;
  test_path: string;
  priority: number;
  attempts: number;
  bundle_sha256: string | null;
  /** Aged priority: priority + waited / agingMs. */
  aged: number;
  /** The test's running average, null when it never ran. */
  expected_ms: number | null;
}

/**
 * Locks up to `limit` ready jobs of one group, highest aged priority first, with their
 * tests' expected durations: the first `limit` of each priority level in queue order (an
 * index range each), merged. SKIP LOCKED: concurrent claims lock disjoint jobs, never
 * wait. The claim then lets them go (releaseCandidates) and assigns the ones it planned.
 */
export async function lockCandidates(
  q: Queryable,
  r: {
    target: Target;
    orgId: string;
    appVersionId: string;
    levels: number[];
    limit: number;
    agingMs: number;
    /** Skip jobs whose last infrastructure error was on this device (when others exist). */
    avoidDeviceId: string | null;
  },
): Promise<CandidateJob[]> {
  const { rows } = await q.query<CandidateJob>(
    `SELECT j.id, j.test_path, j.priority, j.attempts, j.bundle_sha256,
            (j.priority + extract(epoch FROM now() - j.queued_at) * 1000 / $6::float8)::float8 AS aged,
            -- A subquery per job (never a join the planner might turn into a scan of the org's history).
            (SELECT d.avg_ms FROM test_durations d
              WHERE d.org_id = $2 AND d.target = $1 AND d.test_path = j.test_path) AS expected_ms
       FROM unnest($4::int[]) AS l(p)
       CROSS JOIN LATERAL (
         SELECT id, test_path, priority, attempts, bundle_sha256, queued_at FROM jobs
          WHERE status = 'queued' AND target = $1 AND org_id = $2 AND app_version_id = $3 AND priority = l.p
            AND run_after <= now() AND ($7::text IS NULL OR avoid_device_id IS DISTINCT FROM $7)
          ORDER BY queued_at, id
          LIMIT $5
          FOR UPDATE SKIP LOCKED) j

      ORDER BY aged DESC, j.id
      LIMIT $5`,
    [r.target, r.orgId, r.appVersionId, r.levels, r.limit, r.agingMs, r.avoidDeviceId],
  );
  return rows;
}

/** Marks where a claim's candidate locks begin, so the ones it does not take can be let go at once. */
export async function markCandidates(q: Queryable): Promise<void> {
  await q.query('SAVEPOINT claim_candidates');
}

/** Lets go of every candidate lockCandidates took since markCandidates (nothing else of the transaction). */
export async function releaseCandidates(q: Queryable): Promise<void> {
  await q.query('ROLLBACK TO SAVEPOINT claim_candidates');
}

/**
 * Moves these jobs into the batch (`assigned`), skipping any another claim locked
 * meanwhile or that left the queue. Returns the ids assigned.
 */
export async function assignJobs(q: Queryable, batchId: string, jobIds: string[]): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    `WITH picked AS (
       SELECT id FROM jobs WHERE id = ANY($2::text[]) AND status = 'queued' FOR UPDATE SKIP LOCKED)
     UPDATE jobs j SET status = 'assigned', batch_id = $1 FROM picked WHERE j.id = picked.id
     RETURNING j.id`,
    [batchId, jobIds],
  );
  return rows.map((r) => r.id);
}

export interface BatchRow {
  id: string;
  device_id: string;
  device_name: string;
  agent_id: string;
  agent_name: string;
  agent_token_id: string | null;
  org_id: string;
  app_version_id: string;
  target: Target;
  install: boolean;
  state: 'active' | 'done' | 'expired';
  lease_expires_at: Date;
  created_at: Date;
  group_since: Date | null;
  /** The device's pool: `browserstack:<account>` on a BrowserStack account. */
  device_pool: string | null;
  /** An operator drained the device: the batch yields at its next report. */
  device_drained: boolean;
  device_infra_streak: number;
  device_quarantines: number;
  device_quarantined_until: Date | null;
}

/**
 * Leases a new batch to its device in one statement: the batch row, the device now busy
 * with it (and since when with its group), and the build it will hold if it installs.
 * Returns the lease's expiry.
 */
export async function leaseBatch(
  q: Queryable,
  b: {
    id: string;
    deviceId: string;
    agentId: string;
    orgId: string;
    appVersionId: string;
    target: Target;
    install: boolean;
    size: number;
    leaseMs: number;
  },
): Promise<Date> {
  const { rows } = await q.query<{ lease_expires_at: Date }>(
    `WITH batch AS (
       INSERT INTO batches (id, device_id, agent_id, org_id, app_version_id, target, install, size, lease_expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9::float8 / 1000))
       RETURNING lease_expires_at),
     device AS (
       UPDATE devices SET batch_id = $1,
              group_since = CASE WHEN last_org_id = $4 AND last_app_version_id = $5 THEN group_since ELSE now() END,
              last_org_id = $4, last_app_version_id = $5, last_seen_at = now(), waiting_until = NULL
        WHERE id = $2),
     installed AS (
       INSERT INTO device_apps (device_id, org_id, app_version_id)
       SELECT $2, $4, $5 WHERE $7
       ON CONFLICT (device_id, org_id) DO UPDATE SET app_version_id = EXCLUDED.app_version_id, installed_at = now())
     SELECT lease_expires_at FROM batch`,
    [b.id, b.deviceId, b.agentId, b.orgId, b.appVersionId, b.target, b.install, b.size, b.leaseMs],
  );
  return (rows[0] as { lease_expires_at: Date }).lease_expires_at;
}

/**
 * A batch with its device's and agent's names (and the device's health and drain).
 * `lock`: the batch row is locked until the transaction ends (a report, a release); without,
 * nothing is (a log write locks the runs it appends to, so it never waits on a report).
 * `touch`: its device was heard from (the same statement records it).
 */
export async function findBatch(
  q: Queryable,
  id: string,
  how: { lock: boolean; touch?: boolean },
): Promise<BatchRow | undefined> {
  const { rows } = await q.query<BatchRow>(
    `WITH seen AS (
       UPDATE devices SET last_seen_at = now()
        WHERE $2 AND id = (SELECT device_id FROM batches WHERE id = $1 AND state = 'active'))
     SELECT b.id, b.device_id, d.name AS device_name, b.agent_id, a.name AS agent_name, a.token_id AS agent_token_id, b.org_id,
            b.app_version_id, b.target, b.install, b.state, b.lease_expires_at, b.created_at, d.group_since,
            d.pool AS device_pool, d.drained AS device_drained, d.infra_streak AS device_infra_streak,
            d.quarantines AS device_quarantines, d.quarantined_until AS device_quarantined_until
       FROM batches b JOIN devices d ON d.id = b.device_id JOIN agents a ON a.id = b.agent_id
      WHERE b.id = $1${how.lock ? ' FOR UPDATE OF b' : ''}`,
    [id, how.touch ?? false],
  );
  return rows[0];
}

/** Renews the lease; returns its new expiry and the batch's jobs a user cancelled (the agent must stop them). */
export async function extendLease(
  q: Queryable,
  id: string,
  leaseMs: number,
): Promise<{ lease_expires_at: Date; cancelled: string[] }> {
  const { rows } = await q.query<{ lease_expires_at: Date; cancelled: string[] }>(
    `WITH lease AS (
       UPDATE batches SET lease_expires_at = now() + make_interval(secs => $2::float8 / 1000)
        WHERE id = $1 RETURNING lease_expires_at)
     SELECT (SELECT lease_expires_at FROM lease) AS lease_expires_at,
            coalesce((SELECT array_agg(id) FROM jobs WHERE batch_id = $1 AND status = 'cancelled'), '{}') AS cancelled`,
    [id, leaseMs],
  );
  return rows[0] as { lease_expires_at: Date; cancelled: string[] };
}

/** The batch's install failed (or never happened): none of its runs installed the app. */
export async function markNotInstalled(q: Queryable, id: string): Promise<void> {
  await q.query('UPDATE batches SET install = false WHERE id = $1', [id]);
}

export async function endBatch(q: Queryable, id: string, state: 'done' | 'expired'): Promise<void> {
  await q.query(`UPDATE batches SET state = $2, finished_at = now() WHERE id = $1 AND state = 'active'`, [id, state]);
}

/** Puts the batch's not-yet-started jobs back in the queue, keeping their age. Returns their ids. */
export async function releaseJobs(q: Queryable, batchId: string): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    `UPDATE jobs SET status = 'queued', batch_id = NULL WHERE batch_id = $1 AND status = 'assigned' RETURNING id`,
    [batchId],
  );
  return rows.map((r) => r.id);
}

/** Active batches whose lease ran out, locked; another replica sweeping at once skips them. */
export async function lockExpiredBatches(
  q: Queryable,
  limit: number,
): Promise<{ id: string; device_id: string; target: Target }[]> {
  const { rows } = await q.query<{ id: string; device_id: string; target: Target }>(
    `SELECT id, device_id, target FROM batches
      WHERE state = 'active' AND lease_expires_at < now()
      ORDER BY lease_expires_at
      LIMIT $1
      FOR UPDATE SKIP LOCKED`,
    [limit],
  );
  return rows;
}

/** Whether the batch still holds jobs not yet started. */
export async function batchHasUnstarted(q: Queryable, batchId: string): Promise<boolean> {
  const { rows } = await q.query<{ any: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM jobs WHERE batch_id = $1 AND status = 'assigned') AS any`,
    [batchId],
  );
  return rows[0]?.any ?? false;
}

export async function batchIsActive(q: Queryable, batchId: string): Promise<boolean> {
  const { rows } = await q.query<{ active: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM batches WHERE id = $1 AND state = 'active') AS active`,
    [batchId],
  );
  return rows[0]?.active ?? false;
}

/** The jobs of the batch not started yet (assigned to it), in queue order. */
export async function unstartedJobsOfBatch(q: Queryable, batchId: string): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    `SELECT id FROM jobs WHERE batch_id = $1 AND status = 'assigned' ORDER BY priority DESC, queued_at, id`,
    [batchId],
  );
  return rows.map((r) => r.id);
}
