/**
 * Device health as the scheduler keeps it: a run of infrastructure failures puts a device
 * in quarantine (no batch until its cool-down ends), after which each batch it gets is a
 * one-job probe (probation) until the device shows it works. The rules are retry-rules.ts's;
 * this writes their outcome to the device's row, records each change for the timeline
 * (`device_events`) and logs it.
 */
import type { Queryable } from '../db/db.js';
import * as agents from '../store/agents.js';
import { insertDeviceEvent } from '../store/timeline.js';
import { afterOutcomes, type DeviceHealth, type DeviceOutcome, sameHealth } from './retry-rules.js';
import type { SchedulerContext } from './scheduler-context.js';

/** A device's health from the columns of its row. */
export function healthOf(streak: number, quarantines: number, until: Date | null): DeviceHealth {
  return { streak, quarantines, quarantinedUntil: until ? until.getTime() : null };
}

/** The device's health after these outcomes; written (and logged) only when it changed. */
export async function recordHealth(
  ctx: Pick<SchedulerContext, 'health' | 'log'>,
  tx: Queryable,
  device: { id: string; name: string },
  current: DeviceHealth,
  outcomes: DeviceOutcome[],
): Promise<void> {
  const next = afterOutcomes(current, outcomes, Date.now(), ctx.health);
  if (sameHealth(current, next.health)) return;
  const h = next.health;
  await agents.setDeviceHealth(tx, device.id, {
    infra_streak: h.streak,
    quarantines: h.quarantines,
    quarantined_until: h.quarantinedUntil === null ? null : new Date(h.quarantinedUntil),
  });
  if (next.change === 'quarantined' || next.change === 'healed') {
    const until = next.change === 'quarantined' && h.quarantinedUntil !== null ? new Date(h.quarantinedUntil) : null;
    await insertDeviceEvent(tx, { deviceId: device.id, kind: next.change, until });
  }
  if (next.change === 'quarantined') {
    ctx.log.warn(
      {
        device: device.id,
        name: device.name,
        failures: h.streak,
        cool_down_ms: next.coolDownMs,
        until: h.quarantinedUntil === null ? undefined : new Date(h.quarantinedUntil).toISOString(),
      },
      'device quarantined',
    );
  } else if (next.change === 'healed') {
    ctx.log.info({ device: device.id, name: device.name }, 'device healthy again');
  }
}
