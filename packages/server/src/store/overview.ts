/**
 * SQL of the overview (dashboard, `GET /v1/overview`, `GET /v1/agents`). Read-only, no
 * locks. `orgId` null: every org; otherwise only that org's rows.
 *
 * What each statement costs:
 * - queue groups read only the queued jobs (partial indexes `jobs_ready`, `jobs_queued_by_org`);
 * - recent runs walk the runs' primary key backwards: run ids are time-ordered (ULIDs minted
 *   when the run starts), so "the last 50 by id" is "the last 50 started" (to within the
 *   clock skew of job-servers) without sorting every run;
 * - agents, devices and what they hold are one row per device;
 * - totals and installs count every job and run: one sequential scan each. Measured with
 *   100,000 jobs and 98,000 runs: 22 + 15 ms on PGlite, 13 + 10 ms on PostgreSQL, of a whole
 *   overview of 41 and 28 ms (an org's: 56 and 37 ms). The event stream shares one overview
 *   a second between all its watchers, so this does not grow with the dashboards open.
 */
import type { DeviceState, JobStatus, RunStatus, Target } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';
import { DEVICE_STATE } from './agents.js';

export interface QueueGroupRow {
  org_id: string;
  app_version_id: string;
  target: Target;
  queued: number;
  oldest_wait_ms: number;
}

export async function queueGroups(q: Queryable, orgId: string | null): Promise<QueueGroupRow[]> {
  const { rows } = await q.query<QueueGroupRow>(
    `SELECT org_id, app_version_id, target, count(*)::int AS queued,
            (extract(epoch FROM now() - min(queued_at)) * 1000)::float8 AS oldest_wait_ms
       FROM jobs
      WHERE status = 'queued' AND ($1::text IS NULL OR org_id = $1)
      GROUP BY org_id, app_version_id, target
      ORDER BY org_id, app_version_id, target`,
    [orgId],
  );
  return rows;
}

export interface AgentDeviceRow {
  agent_id: string;
  agent_name: string;
  agent_last_seen_at: Date;
  /** Null for an agent without devices (the LEFT JOIN). */
  device_id: string | null;
  device_name: string | null;
  target: Target | null;
  batch_id: string | null;
  state: DeviceState | null;
  quarantined_until: Date | null;
  infra_failures: number | null;
  batch_org_id: string | null;
  batch_app_version_id: string | null;
}

/** Every agent with its devices and the group of each device's current batch, by agent name. */
export async function agentDevices(q: Queryable, offlineMs: number): Promise<AgentDeviceRow[]> {
  const { rows } = await q.query<AgentDeviceRow>(
    `SELECT a.id AS agent_id, a.name AS agent_name,
            greatest(a.last_seen_at, (SELECT max(x.last_seen_at) FROM devices x WHERE x.agent_id = a.id)) AS agent_last_seen_at,
            d.id AS device_id, d.name AS device_name, d.target, d.batch_id,
            CASE WHEN d.id IS NOT NULL THEN ${DEVICE_STATE('$1')} END AS state,
            d.quarantined_until, d.infra_streak AS infra_failures,
            b.org_id AS batch_org_id, b.app_version_id AS batch_app_version_id
       FROM agents a
       LEFT JOIN devices d ON d.agent_id = a.id
       LEFT JOIN batches b ON b.id = d.batch_id
      ORDER BY a.name, d.name`,
    [offlineMs],
  );
  return rows;
}

export interface WarmAppRow {
  device_id: string;
  org_id: string;
  app_version_id: string;
}

/** The builds every device holds (table `device_apps`). */
export async function warmAppsOfDevices(q: Queryable): Promise<WarmAppRow[]> {
  const { rows } = await q.query<WarmAppRow>(
    'SELECT device_id, org_id, app_version_id FROM device_apps ORDER BY device_id, org_id',
  );
  return rows;
}

export interface RecentRunRow {
  job_id: string;
  run_id: string;
  n: number;
  test_path: string;
  org_id: string;
  app_version_id: string;
  target: Target;
  status: RunStatus;
  agent: string | null;
  device: string | null;
  batch_id: string | null;
  app_installed: boolean;
  duration_ms: number | null;
  started_at: Date | null;
  finished_at: Date | null;
  error: string | null;
  artifact_count: number;
}

/**
 * The `limit` runs started last, newest first, with their job's group and test and how
 * many files each left. The window is taken by id (the index), then ordered by
 * started_at: runs started by one report share the millisecond of their ids, and their
 * random bits say nothing of which started first.
 */
export async function recentRuns(q: Queryable, orgId: string | null, limit: number): Promise<RecentRunRow[]> {
  const { rows } = await q.query<RecentRunRow>(
    `SELECT latest.*,
            (SELECT count(*)::int FROM run_artifacts a WHERE a.job_id = latest.job_id AND a.run_n = latest.n)
              AS artifact_count
       FROM (
       SELECT r.job_id, r.id AS run_id, r.n, j.test_path, j.org_id, j.app_version_id, j.target, r.status,
              r.agent, r.device, r.batch_id, r.app_installed, r.duration_ms, r.started_at, r.finished_at, r.error
         FROM runs r JOIN jobs j ON j.id = r.job_id
        WHERE $1::text IS NULL OR j.org_id = $1
        ORDER BY r.id DESC
        LIMIT $2) latest
      ORDER BY started_at DESC, run_id DESC`,
    [orgId, limit],
  );
  return rows;
}

/** Jobs per status. */
export async function jobTotals(q: Queryable, orgId: string | null): Promise<Map<JobStatus, number>> {
  const { rows } = await q.query<{ status: JobStatus; n: number }>(
    `SELECT status, count(*)::int AS n FROM jobs WHERE $1::text IS NULL OR org_id = $1 GROUP BY status`,
    [orgId],
  );
  return new Map(rows.map((r) => [r.status, r.n]));
}

/** Runs whose batch installed the app first, and finished runs that found it already there. */
export async function installCounts(q: Queryable, orgId: string | null): Promise<{ made: number; avoided: number }> {
  const { rows } = await q.query<{ made: number; avoided: number }>(
    `SELECT (count(*) FILTER (WHERE r.app_installed))::int AS made,
            (count(*) FILTER (WHERE NOT r.app_installed AND r.status <> 'running'))::int AS avoided
       FROM runs r
      WHERE $1::text IS NULL OR r.job_id IN (SELECT id FROM jobs WHERE org_id = $1)`,
    [orgId],
  );
  return rows[0] ?? { made: 0, avoided: 0 };
}
