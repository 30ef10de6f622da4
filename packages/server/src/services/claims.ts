/**
 * One claim of a device, in one transaction: lock the device's row → guard (another
 * agent's device, a batch it still holds, drained, quarantined) → snapshot what it may
 * take → policy.choose a group → plan the batch from the group's first ready jobs → lease.
 * Claims for one device take turns on its row; claims for others run side by side, and
 * take jobs with SKIP LOCKED, so two claims never get the same job.
 */
import { type Batch, OFFLINE_AFTER_MS, type Target } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';
import { NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import * as agents from '../store/agents.js';
import * as batches from '../store/batches.js';
import { countBusyInPool, lockPool } from '../store/pools.js';
import type { BatchLifecycle } from './batch-lifecycle.js';
import { healthOf } from './device-health.js';
import type { ClaimInput, Decision } from './policy.js';
import { healthState } from './retry-rules.js';
import type { SchedulerContext } from './scheduler-context.js';

/** What one claim comes to; `contended`: ready jobs were there but other claims held them. */
export interface ClaimAttempt {
  batch: Batch | null;
  target: Target;
  contended: boolean;
  /** Nothing for this device before then (drained: the end of its poll; quarantined: of its cool-down). */
  restUntil?: number;
}

type Snapshot = ClaimInput & { liveDevices: number };

const ALIVE_MS = 60_000;
/** The most ready jobs one claim reads (and locks) to plan a batch from. */
const MAX_WINDOW = 400;

const groupKey = (g: { org_id: string; app_version_id: string }) => `${g.org_id}\u0000${g.app_version_id}`;

export class Claims {
  constructor(
    private readonly ctx: SchedulerContext,
    private readonly lifecycle: BatchLifecycle,
  ) {}

  /** One claim: lock → guard → snapshot → policy.choose → lease, in one transaction. */
  async tryClaim(deviceId: string, waitingUntil: Date, agentToken?: string): Promise<ClaimAttempt> {
    const touched: string[] = [];
    const result = await this.ctx.db.transaction(async (tx): Promise<ClaimAttempt> => {
      const device = await this.lockDevice(tx, deviceId, waitingUntil, agentToken, touched);
      // Drained: nothing until enabled (wait out the poll). Quarantined: nothing until the cool-down ends.
      if (device.drained)
        return { batch: null, target: device.target, contended: false, restUntil: waitingUntil.getTime() };
      const health = healthOf(device.infra_streak, device.quarantines, device.quarantined_until);
      const state = healthState(health, Date.now(), this.ctx.health);
      if (state === 'quarantined') {
        return {
          batch: null,
          target: device.target,
          contended: false,
          restUntil: health.quarantinedUntil ?? undefined,
        };
      }
      const snapshot = await this.snapshot(tx, device);
      const leased = snapshot ? await this.lease(tx, device, snapshot, state === 'probation') : null;
      const batch = leased === 'contended' ? null : leased;
      return { batch, target: device.target, contended: leased === 'contended' };
    });
    if (result.batch) touched.push(...result.batch.jobs.map((j) => j.id));
    this.ctx.changes?.changed(touched);
    if (result.batch) this.logLeased(result.batch);
    return result;
  }

  private logLeased(b: Batch): void {
    this.ctx.metrics.batches.inc();
    this.ctx.log.info(
      {
        batch: b.id,
        device: b.device_id,
        org: b.org_id,
        app_version: b.app_version_id,
        target: b.target,
        jobs: b.jobs.map((j) => j.id),
        install: b.install,
      },
      'batch leased',
    );
  }

  /**
   * Locks the device's row (claims for one device take turns, claims for others do not),
   * refuses another agent's device, records that it was heard from, and takes back a batch
   * it still holds: asking for new work while holding one, the agent lost track of it.
   */
  private async lockDevice(
    tx: Queryable,
    deviceId: string,
    waitingUntil: Date,
    agentToken: string | undefined,
    touched: string[],
  ): Promise<agents.DeviceRow> {
    const device = await agents.lockDevice(tx, deviceId, waitingUntil);
    // Another agent's device is, to this agent, not there (and was not touched: this rolls back).
    if (!device || (agentToken !== undefined && device.agent_token_id !== agentToken)) {
      throw new NotFoundError('device', deviceId);
    }
    if (device.batch_id) {
      // Expired like any lost batch: jobs back, runs lost, and the device no longer busy
      // (pools and idle counts must not see it holding that batch).
      await this.lifecycle.close(
        tx,
        { id: device.batch_id, device_id: device.id, target: device.target },
        'expired',
        'the agent asked for new work for this device while holding it',
        touched,
      );
    }
    return device;
  }

  /** What the policy decides from; null when there is nothing this device may take. */
  private async snapshot(tx: Queryable, device: agents.DeviceRow): Promise<Snapshot | null> {
    const { config } = this.ctx;
    // A pool at its limit (all of a BrowserStack account's parallel sessions busy) waits.
    if (device.pool) {
      const pool = await lockPool(tx, device.pool);
      if (pool && (await countBusyInPool(tx, device.pool)) >= pool.maxBusy) return null;
    }
    const ready = await batches.readyGroups(tx, device.target, config.agingMs);
    if (ready.length === 0) return null;
    const { busy, idle, live, warm } = await agents.claimContext(
      tx,
      device.target,
      device.id,
      ALIVE_MS,
      OFFLINE_AFTER_MS,
    );
    // An org at its device cap waits for one of its batches to end.
    const groups = ready.filter((g) => (busy.get(g.org_id) ?? 0) < this.ctx.maxDevicesPerOrg);
    if (groups.length === 0) return null;
    const last =
      device.last_org_id && device.last_app_version_id
        ? {
            org_id: device.last_org_id,
            app_version_id: device.last_app_version_id,
            forMs: device.group_since ? Date.now() - device.group_since.getTime() : 0,
          }
        : null;
    return {
      device: { warm, last },
      groups,
      busy,
      idleDevices: Math.max(1, idle),
      installMs: await this.ctx.installTimes.get(tx, device.target),
      config,
      liveDevices: live,
    };
  }

  /**
   * Chooses a group, plans its batch from the group's first ready jobs, and leases it to the
   * device. A `probe` (a device back from quarantine) gets one job.
   */
  private async lease(
    tx: Queryable,
    device: agents.DeviceRow,
    { liveDevices, ...input }: Snapshot,
    probe = false,
  ): Promise<Batch | 'contended' | null> {
    let contended = false;
    // Infrastructure retries go to another device, if this target has another live one.
    const avoidDeviceId = liveDevices > 1 ? device.id : null;
    const levels = new Map(input.groups.map((g) => [groupKey(g), (g as batches.GroupRow).levels]));
    let candidates = input.groups;
    // Another claim may hold a group's jobs (SKIP LOCKED finds none): try the next choice.
    for (let round = 0; round < 4 && candidates.length > 0; round++) {
      const chosen = this.ctx.policy.choose({ ...input, groups: candidates });
      if (!chosen) break;
      const decision = probe ? { ...chosen, size: 1, share: 1 } : chosen;
      const levelsOf = levels.get(groupKey(decision)) ?? [];
      const taken = await this.take(tx, device, decision, {
        levels: levelsOf,
        avoidDeviceId,
        probe,
        installMs: input.installMs,
      });
      if (taken.ids.length === 0) {
        // The snapshot saw ready jobs here that other claims hold right now: worth asking again soon.
        contended = true;
        candidates = candidates.filter((g) => groupKey(g) !== groupKey(decision));
        continue;
      }
      return this.write(tx, device, decision, taken);
    }
    return contended ? 'contended' : null;
  }

  /**
   * Locks the group's first ready jobs, plans the batch from them and assigns the planned
   * ones to a new batch id. `ids`: those assigned (none when other claims held them all).
   */
  private async take(
    tx: Queryable,
    device: agents.DeviceRow,
    decision: Decision,
    how: { levels: number[]; avoidDeviceId: string | null; probe: boolean; installMs: number },
  ): Promise<{ batchId: string; ids: string[]; locked: batches.CandidateJob[] }> {
    const { policy, config } = this.ctx;
    const window = policy.plan ? Math.min(MAX_WINDOW, config.maxBatch * decision.share) : decision.size;
    // Concurrent claims of one group plan from disjoint windows; what is not taken is let go
    // before the batch is written, so those claims are not left with nothing to take.
    const partial = window > decision.size;
    if (partial) await batches.markCandidates(tx);
    const locked = await batches.lockCandidates(tx, {
      target: device.target,
      orgId: decision.org_id,
      appVersionId: decision.app_version_id,
      levels: how.levels,
      limit: Math.max(1, window),
      agingMs: config.agingMs,
      avoidDeviceId: how.avoidDeviceId,
    });
    const plan = policy.plan
      ? policy.plan({
          candidates: locked,
          decision,
          installMs: how.installMs,
          typicalTestMs: this.ctx.testTimes.get(device.target),
          config,
        })
      : locked.slice(0, decision.size).map((j) => j.id);
    const planned = how.probe ? plan.slice(0, 1) : plan;
    if (partial && planned.length < locked.length) await batches.releaseCandidates(tx);
    const batchId = newId('bat');
    const taken = new Set(planned.length > 0 ? await batches.assignJobs(tx, batchId, planned) : []);
    return { batchId, ids: planned.filter((id) => taken.has(id)), locked };
  }

  /** Writes the batch's lease and answers it as the claim does, with the app it installs. */
  private async write(
    tx: Queryable,
    device: agents.DeviceRow,
    decision: Decision,
    { batchId, ids, locked }: { batchId: string; ids: string[]; locked: batches.CandidateJob[] },
  ): Promise<Batch> {
    const leaseExpiresAt = await batches.leaseBatch(tx, {
      id: batchId,
      deviceId: device.id,
      agentId: device.agent_id,
      orgId: decision.org_id,
      appVersionId: decision.app_version_id,
      target: device.target,
      install: decision.install,
      size: ids.length,
      leaseMs: this.ctx.leaseMs,
    });
    const app = (await this.ctx.artifacts?.batchApp(tx, decision.org_id, decision.app_version_id, device.pool)) ?? null;
    const byId = new Map(locked.map((j) => [j.id, j]));
    return {
      id: batchId,
      device_id: device.id,
      org_id: decision.org_id,
      app_version_id: decision.app_version_id,
      target: device.target,
      install: decision.install,
      app,
      lease_expires_at: leaseExpiresAt.toISOString(),
      jobs: ids.map((id) => {
        const j = byId.get(id) as batches.CandidateJob;
        return {
          id: j.id,
          test_path: j.test_path,
          priority: j.priority,
          attempt: j.attempts + 1,
          bundle_sha256: j.bundle_sha256,
        };
      }),
    };
  }
}
