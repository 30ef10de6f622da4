/**
 * Whether a running batch should hand its unstarted jobs back so its device can serve
 * another org: asked at every report, answered by policy.ts's shouldYield from the shares
 * of devices and the waits of the other orgs.
 */
import { OFFLINE_AFTER_MS } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';
import * as agents from '../store/agents.js';
import * as batches from '../store/batches.js';
import { quantumMs, shouldYield } from './policy.js';
import type { SchedulerContext } from './scheduler-context.js';

/** A running batch runs the full yield check at most this often. */
const YIELD_CHECK_MS = 1_000;

export class YieldCheck {
  /** When each active batch last ran the full yield check (the check is rate-limited per batch). */
  private readonly checkedAt = new Map<string, number>();

  constructor(private readonly ctx: SchedulerContext) {}

  /** The batch ended: its entry goes. */
  forget(batchId: string): void {
    this.checkedAt.delete(batchId);
  }

  /**
   * Cheap checks first: most reports end at the first line (the device has not served its
   * group for a quantum yet, so no switch would pay for its install) or the next two.
   */
  async shouldYield(tx: Queryable, batch: batches.BatchRow): Promise<boolean> {
    const { config } = this.ctx;
    const groupForMs = batch.group_since ? Date.now() - batch.group_since.getTime() : 0;
    const installMs = await this.ctx.installTimes.get(tx, batch.target);
    if (groupForMs < quantumMs(installMs, config)) return false;
    // The shares change at the pace of batches, not of reports: once a second per batch is enough.
    const now = Date.now();
    if (now - (this.checkedAt.get(batch.id) ?? 0) < YIELD_CHECK_MS) return false;
    if (this.checkedAt.size >= 100_000) this.checkedAt.clear();
    this.checkedAt.set(batch.id, now);
    if (!(await batches.batchHasUnstarted(tx, batch.id))) return false;
    if (!(await batches.otherOrgWaiting(tx, batch.target, batch.org_id))) return false;
    // An idle device (long-polling, so seen in the last few seconds) will take that work: no need to preempt.
    if ((await agents.countIdleDevices(tx, batch.target, OFFLINE_AFTER_MS)) > 0) return false;
    const groups = await batches.readyGroups(tx, batch.target, config.agingMs);
    const oldest = new Map<string, number>();
    for (const g of groups) {
      if (g.org_id !== batch.org_id) oldest.set(g.org_id, Math.max(oldest.get(g.org_id) ?? 0, g.oldest_wait_ms));
    }
    return shouldYield({
      orgId: batch.org_id,
      busy: await batches.busyByOrg(tx, batch.target),
      waiting: [...oldest].map(([org_id, oldest_wait_ms]) => ({ org_id, oldest_wait_ms })),
      groupForMs,
      installMs,
      config,
    });
  }
}
