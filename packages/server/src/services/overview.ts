/**
 * The farm at a glance: queue per group, agents and devices, the latest runs, installs
 * made and avoided, jobs per status. Read from the database each time (another job-server
 * may have changed anything), so every replica shows the same farm.
 *
 * An org sees its own queue, runs and totals, and every device (how busy the farm is),
 * but not what another org's batch is or which of its builds a device holds.
 */
import {
  type AgentList,
  type AgentView,
  type DeviceView,
  type JobStatus,
  OFFLINE_AFTER_MS,
  type Overview,
  type WarmApp,
} from '@qgjob/protocol';
import type { Db } from '../db/db.js';
import * as store from '../store/overview.js';

const RECENT_RUNS = 50;
/** A streamed overview this fresh is shared by every watcher of the same scope. */
const SHARE_MS = 500;

/** Where each job status counts in the totals (a new status will not compile until placed). */
const TOTAL_OF: Record<JobStatus, keyof Overview['totals']> = {
  queued: 'queued',
  assigned: 'running',
  running: 'running',
  passed: 'passed',
  failed: 'failed',
  errored: 'errored',
  cancelled: 'cancelled',
};

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export class OverviewService {
  private readonly shared = new Map<string, { at: number; overview: Promise<Overview> }>();

  constructor(private readonly db: Db) {}

  /** `orgId`: the caller's org (an org token), undefined for every org. */
  async overview(orgId: string | undefined): Promise<Overview> {
    const scope = orgId ?? null;
    // On PostgreSQL these run side by side on the pool; PGlite takes them in turn.
    const [queues, agents, runs, totals, installs] = await Promise.all([
      store.queueGroups(this.db, scope),
      this.agentViews(orgId),
      store.recentRuns(this.db, scope, RECENT_RUNS),
      store.jobTotals(this.db, scope),
      store.installCounts(this.db, scope),
    ]);
    const counts: Overview['totals'] = { queued: 0, running: 0, passed: 0, failed: 0, errored: 0, cancelled: 0 };
    for (const [status, n] of totals) counts[TOTAL_OF[status]] += n;
    return {
      queues: queues.map((g) => ({ ...g, oldest_wait_ms: Math.max(0, Math.round(g.oldest_wait_ms)) })),
      agents,
      recent_runs: runs.map((r) => ({
        ...r,
        started_at: iso(r.started_at),
        finished_at: iso(r.finished_at),
      })),
      installs,
      totals: counts,
    };
  }

  /**
   * The overview for a stream: one read serves every watcher of a scope that asks within
   * SHARE_MS, so however many dashboards are open, a scope costs at most two reads a second.
   */
  sharedOverview(orgId: string | undefined): Promise<Overview> {
    const key = orgId ?? '';
    const now = Date.now();
    const hit = this.shared.get(key);
    if (hit && now - hit.at < SHARE_MS) return hit.overview;
    const overview = this.overview(orgId);
    this.shared.set(key, { at: now, overview });
    // A failed read is not shared: the next tick tries again.
    overview.catch(() => {
      if (this.shared.get(key)?.overview === overview) this.shared.delete(key);
    });
    // Stale entries of scopes nobody watches any more.
    for (const [k, v] of this.shared) if (now - v.at > 10 * SHARE_MS) this.shared.delete(k);
    return overview;
  }

  async agents(orgId: string | undefined): Promise<AgentList> {
    return { agents: await this.agentViews(orgId) };
  }

  private async agentViews(orgId: string | undefined): Promise<AgentView[]> {
    const [rows, warmRows] = await Promise.all([
      store.agentDevices(this.db, OFFLINE_AFTER_MS),
      store.warmAppsOfDevices(this.db),
    ]);
    const warm = new Map<string, WarmApp[]>();
    for (const w of warmRows) {
      if (orgId !== undefined && w.org_id !== orgId) continue;
      const list = warm.get(w.device_id) ?? [];
      list.push({ org_id: w.org_id, app_version_id: w.app_version_id });
      warm.set(w.device_id, list);
    }
    const agents = new Map<string, AgentView>();
    for (const r of rows) {
      let agent = agents.get(r.agent_id);
      if (!agent) {
        agent = { id: r.agent_id, name: r.agent_name, last_seen_at: r.agent_last_seen_at.toISOString(), devices: [] };
        agents.set(r.agent_id, agent);
      }
      if (r.device_id === null || r.device_name === null || r.target === null) continue;
      // Another org's batch: the device is busy, and that is all this org learns.
      const visible = r.batch_id !== null && (orgId === undefined || r.batch_org_id === orgId);
      const device: DeviceView = {
        id: r.device_id,
        name: r.device_name,
        target: r.target,
        state: r.state ?? 'offline',
        quarantined_until: iso(r.quarantined_until),
        infra_failures: r.infra_failures ?? 0,
        batch_id: visible ? r.batch_id : null,
        org_id: visible ? r.batch_org_id : null,
        app_version_id: visible ? r.batch_app_version_id : null,
        warm: warm.get(r.device_id) ?? [],
      };
      agent.devices.push(device);
    }
    return [...agents.values()];
  }
}
