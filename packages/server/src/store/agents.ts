/** SQL for agents and their devices. */
import type { Target } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';

export interface DeviceRow {
  id: string;
  agent_id: string;
  agent_name: string;
  agent_token_id: string | null;
  name: string;
  target: Target;
  batch_id: string | null;
  last_org_id: string | null;
  last_app_version_id: string | null;
  group_since: Date | null;
  /** Devices of a pool share a cap on busy devices (a BrowserStack account's parallel sessions). */
  pool: string | null;
}

/**
 * Registers an agent by name, or refreshes the one already known by that name. An agent
 * registered with an agent token belongs to it: another agent token cannot take the
 * name over (undefined is returned). `tokenId` null: open mode or an admin.
 */
export async function upsertAgent(
  q: Queryable,
  a: { id: string; name: string; version: string | null; tokenId: string | null },
): Promise<string | undefined> {
  const { rows } = await q.query<{ id: string }>(
    `INSERT INTO agents (id, name, version, token_id) VALUES ($1, $2, $3, $4)
     ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, last_seen_at = now(),
            token_id = coalesce(EXCLUDED.token_id, agents.token_id)
      WHERE agents.token_id IS NULL OR EXCLUDED.token_id IS NULL OR agents.token_id = EXCLUDED.token_id
     RETURNING id`,
    [a.id, a.name, a.version, a.tokenId],
  );
  return rows[0]?.id;
}

export async function upsertDevices(
  q: Queryable,
  agentId: string,
  devices: { id: string; name: string; target: Target }[],
): Promise<{ id: string; name: string; target: Target }[]> {
  const { rows } = await q.query<{ id: string; name: string; target: Target }>(
    `INSERT INTO devices (id, agent_id, name, target)
     SELECT id, $1, name, target FROM unnest($2::text[], $3::text[], $4::text[]) AS d(id, name, target)
     ON CONFLICT (agent_id, name) DO UPDATE SET target = EXCLUDED.target, last_seen_at = now()
     RETURNING id, name, target`,
    [agentId, devices.map((d) => d.id), devices.map((d) => d.name), devices.map((d) => d.target)],
  );
  return rows;
}

/** Puts the agent's devices of a target in a pool (null: none). */
export async function setDevicePool(q: Queryable, agentId: string, target: Target, pool: string | null): Promise<void> {
  await q.query('UPDATE devices SET pool = $3 WHERE agent_id = $1 AND target = $2 AND pool IS DISTINCT FROM $3', [
    agentId,
    target,
    pool,
  ]);
}

/**
 * Locks the device row and records that it was heard from, in one statement: claims for one
 * device are serialised, claims for others are not (the agent's row is read, never locked).
 */
export async function lockDevice(q: Queryable, id: string): Promise<DeviceRow | undefined> {
  const { rows } = await q.query<DeviceRow>(
    `UPDATE devices d SET last_seen_at = now()
       FROM agents a
      WHERE d.id = $1 AND a.id = d.agent_id
      RETURNING d.id, d.agent_id, a.name AS agent_name, a.token_id AS agent_token_id, d.name, d.target, d.batch_id,
                d.last_org_id, d.last_app_version_id, d.group_since, d.pool`,
    [id],
  );
  return rows[0];
}

/** Devices of a target that are idle and were heard from recently (ready to take a batch). */
export async function countIdleDevices(q: Queryable, target: Target, aliveMs: number): Promise<number> {
  const { rows } = await q.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM devices
      WHERE target = $1 AND batch_id IS NULL AND last_seen_at > now() - make_interval(secs => $2::float8 / 1000)`,
    [target, aliveMs],
  );
  return rows[0]?.n ?? 0;
}

export async function clearDeviceBatch(q: Queryable, deviceId: string, batchId: string): Promise<void> {
  await q.query('UPDATE devices SET batch_id = NULL WHERE id = $1 AND batch_id = $2', [deviceId, batchId]);
}

export async function forgetInstall(
  q: Queryable,
  deviceId: string,
  orgId: string,
  appVersionId: string,
): Promise<void> {
  await q.query('DELETE FROM device_apps WHERE device_id = $1 AND org_id = $2 AND app_version_id = $3', [
    deviceId,
    orgId,
    appVersionId,
  ]);
}

export interface ClaimContext {
  /** Idle devices of the target heard from within aliveMs (the one asking included). */
  idle: number;
  /** Devices of the target heard from within aliveMs, busy or idle. */
  live: number;
  /** Devices busy per org on the target. */
  busy: Map<string, number>;
  /** The builds the device holds, by org. */
  warm: Map<string, string>;
}

/** What a claim decides from besides the queue, in one round trip. */
export async function claimContext(
  q: Queryable,
  target: Target,
  deviceId: string,
  aliveMs: number,
): Promise<ClaimContext> {
  const { rows } = await q.query<{
    idle: number;
    live: number;
    busy: Record<string, number> | null;
    warm: Record<string, string> | null;
  }>(
    `SELECT
       (SELECT count(*)::int FROM devices WHERE target = $1 AND batch_id IS NULL
           AND last_seen_at > now() - make_interval(secs => $3::float8 / 1000)) AS idle,
       (SELECT count(*)::int FROM devices WHERE target = $1
           AND last_seen_at > now() - make_interval(secs => $3::float8 / 1000)) AS live,
       (SELECT json_object_agg(org_id, n) FROM (
          SELECT org_id, count(*)::int AS n FROM batches WHERE state = 'active' AND target = $1 GROUP BY org_id) b)
         AS busy,
       (SELECT json_object_agg(org_id, app_version_id) FROM device_apps WHERE device_id = $2) AS warm`,
    [target, deviceId, aliveMs],
  );
  const r = rows[0];
  return {
    idle: r?.idle ?? 0,
    live: r?.live ?? 0,
    busy: new Map(Object.entries(r?.busy ?? {})),
    warm: new Map(Object.entries(r?.warm ?? {})),
  };
}
