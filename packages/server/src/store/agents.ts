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
  infra_streak: number;
  quarantines: number;
  quarantined_until: Date | null;
  drained: boolean;
}

/**
 * Idle, `d` being the devices table's alias and `${grace}` the parameter of how long a device
 * counts as idle between two claims: a claim is open for it (`waiting_until` ahead), or none is
 * and it was heard from within the grace (`waiting_until` null: it just registered, finished a
 * batch or had a claim answered). A claim whose connection closed sets `waiting_until` to that
 * moment: the device is gone at once, grace or not.
 */
const IDLE = (grace: string) => `(d.waiting_until > now()
  OR d.waiting_until IS NULL AND d.last_seen_at > now() - make_interval(secs => ${grace}::float8 / 1000))`;
/** Idle, neither drained nor quarantined: it would take a batch now. */
const AVAILABLE = (grace: string) =>
  `${IDLE(grace)} AND NOT d.drained AND (d.quarantined_until IS NULL OR d.quarantined_until <= now())`;
/**
 * A device's state (protocol DEVICE_STATES), `d` the devices table's alias and `$offline` the
 * parameter holding how long a device with nothing open stays idle after it was heard from.
 */
export const DEVICE_STATE = (offlineParam: string) => `CASE
  WHEN d.drained AND d.batch_id IS NOT NULL THEN 'draining'
  WHEN d.drained THEN 'drained'
  WHEN d.quarantined_until > now() THEN 'quarantined'
  WHEN d.batch_id IS NOT NULL THEN 'busy'
  WHEN ${IDLE(offlineParam)} THEN 'idle'
  ELSE 'offline' END`;

/** A device heard from within $aliveMs that is neither drained nor quarantined. */
const HEALTHY_LIVE = (aliveMsParam: string) =>
  `d.last_seen_at > now() - make_interval(secs => ${aliveMsParam}::float8 / 1000) AND NOT d.drained
   AND (d.quarantined_until IS NULL OR d.quarantined_until <= now())`;

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
 * Locks the device row and records that it was heard from and that a claim waits for it until
 * `waitingUntil`, in one statement: claims for one device are serialised, claims for others
 * are not (the agent's row is read, never locked).
 */
export async function lockDevice(q: Queryable, id: string, waitingUntil: Date): Promise<DeviceRow | undefined> {
  const { rows } = await q.query<DeviceRow>(
    `UPDATE devices d SET last_seen_at = now(), waiting_until = $2
       FROM agents a
      WHERE d.id = $1 AND a.id = d.agent_id
      RETURNING d.id, d.agent_id, a.name AS agent_name, a.token_id AS agent_token_id, d.name, d.target, d.batch_id,
                d.last_org_id, d.last_app_version_id, d.group_since, d.pool,
                d.infra_streak, d.quarantines, d.quarantined_until, d.drained`,
    [id, waitingUntil],
  );
  return rows[0];
}

/**
 * The claim that set `waiting_until` to `until` has ended: answered or timed out (`gone` false:
 * its agent will ask again at once), or its connection closed (`gone`: the device is not idle,
 * from now). A newer claim's wait is left alone.
 */
export async function stopWaiting(q: Queryable, id: string, until: Date, gone: boolean): Promise<void> {
  await q.query('UPDATE devices SET waiting_until = CASE WHEN $3 THEN now() END WHERE id = $1 AND waiting_until = $2', [
    id,
    until,
    gone,
  ]);
}

/** Devices of a target that would take a batch now: idle (IDLE), not drained, not quarantined. */
export async function countIdleDevices(q: Queryable, target: Target, graceMs: number): Promise<number> {
  const { rows } = await q.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM devices d WHERE d.target = $1 AND d.batch_id IS NULL AND ${AVAILABLE('$2')}`,
    [target, graceMs],
  );
  return rows[0]?.n ?? 0;
}

export interface HealthRow {
  infra_streak: number;
  quarantines: number;
  quarantined_until: Date | null;
}

/** The device's name and health, its row locked (the reaper is about to change it). */
export async function lockDeviceHealth(q: Queryable, id: string): Promise<(HealthRow & { name: string }) | undefined> {
  const { rows } = await q.query<HealthRow & { name: string }>(
    'SELECT name, infra_streak, quarantines, quarantined_until FROM devices WHERE id = $1 FOR UPDATE',
    [id],
  );
  return rows[0];
}

export async function setDeviceHealth(q: Queryable, id: string, h: HealthRow): Promise<void> {
  await q.query('UPDATE devices SET infra_streak = $2, quarantines = $3, quarantined_until = $4 WHERE id = $1', [
    id,
    h.infra_streak,
    h.quarantines,
    h.quarantined_until,
  ]);
}

export interface DrainedDevice {
  id: string;
  name: string;
  target: Target;
  agent_name: string;
  batch_id: string | null;
}

/**
 * Drains (`drained` true) or enables the devices named: by device id, or every device of an
 * agent (by id or name). Enabling also lifts a quarantine. Returns the devices changed or
 * already so; none when nothing matches.
 */
export async function setDrained(
  q: Queryable,
  which: { deviceId?: string; agent?: string },
  drained: boolean,
): Promise<DrainedDevice[]> {
  const { rows } = await q.query<DrainedDevice>(
    `UPDATE devices d SET drained = $3,
            infra_streak = CASE WHEN $3 THEN d.infra_streak ELSE 0 END,
            quarantines = CASE WHEN $3 THEN d.quarantines ELSE 0 END,
            quarantined_until = CASE WHEN $3 THEN d.quarantined_until ELSE NULL END
       FROM agents a
      WHERE a.id = d.agent_id AND (d.id = $1 OR a.id = $2 OR a.name = $2)
      RETURNING d.id, d.name, d.target, a.name AS agent_name, d.batch_id`,
    [which.deviceId ?? null, which.agent ?? null, drained],
  );
  return rows;
}

export async function clearDeviceBatch(q: Queryable, deviceId: string, batchId: string): Promise<void> {
  await q.query('UPDATE devices SET batch_id = NULL WHERE id = $1 AND batch_id = $2', [deviceId, batchId]);
}

/**
 * A batch leased to install records its build on the device at once (the lease). When the
 * batch ends without a run that had the build installed, nothing shows the install happened:
 * the device is not taken to hold that build any more. One statement.
 */
export async function forgetUnconfirmedInstall(q: Queryable, batchId: string): Promise<void> {
  await q.query(
    `DELETE FROM device_apps da USING batches b
      WHERE b.id = $1 AND b.install
        AND da.device_id = b.device_id AND da.org_id = b.org_id AND da.app_version_id = b.app_version_id
        AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.batch_id = b.id AND r.app_installed)`,
    [batchId],
  );
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
  /** Devices of the target that would take a batch now (the one asking included): see countIdleDevices. */
  idle: number;
  /** Devices of the target heard from within aliveMs, busy or idle, neither drained nor quarantined. */
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
  /** How long a device with no claim open counts as idle after it was heard from (IDLE). */
  graceMs: number,
): Promise<ClaimContext> {
  const { rows } = await q.query<{
    idle: number;
    live: number;
    busy: Record<string, number> | null;
    warm: Record<string, string> | null;
  }>(
    `SELECT
       (SELECT count(*)::int FROM devices d WHERE d.target = $1 AND d.batch_id IS NULL
           AND (d.id = $2 OR ${AVAILABLE('$4')})) AS idle,
       (SELECT count(*)::int FROM devices d WHERE d.target = $1 AND ${HEALTHY_LIVE('$3')}) AS live,
       (SELECT json_object_agg(org_id, n) FROM (
          SELECT org_id, count(*)::int AS n FROM batches WHERE state = 'active' AND target = $1 GROUP BY org_id) b)
         AS busy,
       (SELECT json_object_agg(org_id, app_version_id) FROM device_apps WHERE device_id = $2) AS warm`,
    [target, deviceId, aliveMs, graceMs],
  );
  const r = rows[0];
  return {
    idle: r?.idle ?? 0,
    live: r?.live ?? 0,
    busy: new Map(Object.entries(r?.busy ?? {})),
    warm: new Map(Object.entries(r?.warm ?? {})),
  };
}
