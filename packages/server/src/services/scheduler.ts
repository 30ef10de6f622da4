/**
 * The claim side of the queue: devices ask for work, get a batch (jobs of one group
 * and whether to install first), report what happens, and are told when to yield.
 *
 * A job moves queued → assigned (reserved by a batch at claim) → running (a start
 * event made its run) → passed | failed | errored, or back to queued: a retry, a
 * yielded or abandoned batch. Every transition happens in one transaction that holds
 * the batch row (reports) or the device row (claims), so a batch is never changed by
 * two requests at once, and the job rows are moved with guarded UPDATEs (status and
 * batch_id in the WHERE) so a late or repeated event changes nothing.
 *
 * This class holds the entry points and their waiting, waking and counting; the work
 * inside the transactions is done by claims.ts (one claim), report-events.ts (a report's
 * events), batch-lifecycle.ts (runs ending, batches taken back), device-health.ts
 * (quarantine) and yields.ts (when a batch hands its device over).
 */
import type {
  Batch,
  ClaimResponse,
  DrainResponse,
  RegisterRequest,
  RegisterResponse,
  ReportRequest,
  ReportResponse,
} from '@qgjob/protocol';
import type { Db } from '../db/db.js';
import { AppError, NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import * as agents from '../store/agents.js';
import * as batches from '../store/batches.js';
import { upsertPool } from '../store/pools.js';
import * as timeline from '../store/timeline.js';
import type { ArtifactService } from './artifacts.js';
import { BatchLifecycle } from './batch-lifecycle.js';
import { Claims } from './claims.js';
import { healthOf, recordHealth } from './device-health.js';
import { heldBatch } from './held-batch.js';
import type { JobChanges } from './job-changes.js';
import type { LogService } from './logs.js';
import type { Metrics } from './metrics.js';
import { DEFAULT_POLICY_CONFIG, POLICIES, type Policy, type PolicyConfig } from './policy.js';
import { InstallTimes, TestTimes } from './recent-durations.js';
import { ReportEvents } from './report-events.js';
import { DEFAULT_HEALTH_CONFIG, type HealthConfig } from './retry-rules.js';
import type { SchedulerContext, SchedulerLog } from './scheduler-context.js';
import type { Wakeups } from './wakeups.js';
import { YieldCheck } from './yields.js';

const SILENT: SchedulerLog = { info() {}, warn() {} };

export interface SchedulerOptions {
  log?: SchedulerLog;
  policy?: Policy;
  config?: Partial<PolicyConfig>;
  /** How long a batch lease lasts without a report. */
  leaseMs?: number;
  /** How often agents should report while a test runs. */
  heartbeatMs?: number;
  /** Infrastructure errors allowed per job before it is `errored`. */
  infraRetries?: number;
  /** Base of the exponential backoff after an infrastructure error. */
  retryBaseMs?: number;
  /** Re-check for work this often while a claim long-polls, in case a notification was missed. */
  pollMs?: number;
  /** Devices one org may keep busy at once on a target. Default: no cap. */
  maxDevicesPerOrg?: number;
  /** Registered app builds, for the claim answer (and BrowserStack uploads). */
  artifacts?: ArtifactService;
  /** Where the run output a report carries goes. Without it, a report's logs are refused. */
  logs?: LogService;
  /** When a device is quarantined, and for how long. */
  health?: Partial<HealthConfig>;
  /** Told which jobs' status a committed transaction may have changed (waiting reads). */
  changes?: JobChanges;
}

/** A claim that found every ready job of its choices held by other claims asks again after this. */
const CONTENDED_RETRY_MS = 20;
const CONTENDED_RETRIES = 5;

export class Scheduler {
  readonly policy: Policy;
  readonly config: PolicyConfig;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  readonly health: HealthConfig;
  private readonly pollMs: number;
  private readonly ctx: SchedulerContext;
  private readonly yields: YieldCheck;
  private readonly lifecycle: BatchLifecycle;
  private readonly claims: Claims;
  private readonly events: ReportEvents;

  constructor(
    private readonly db: Db,
    private readonly wakeups: Wakeups,
    private readonly metrics: Metrics,
    options: SchedulerOptions = {},
  ) {
    this.policy = options.policy ?? POLICIES.fair;
    this.config = { ...DEFAULT_POLICY_CONFIG, ...options.config };
    this.leaseMs = options.leaseMs ?? 60_000;
    // Frequent enough that a cancel reaches a running test within seconds; the lease outlives many misses.
    this.heartbeatMs = options.heartbeatMs ?? Math.min(3_000, Math.floor(this.leaseMs / 4));
    this.health = { ...DEFAULT_HEALTH_CONFIG, ...options.health };
    this.pollMs = options.pollMs ?? 2_000;
    this.ctx = {
      db,
      wakeups,
      metrics,
      log: options.log ?? SILENT,
      policy: this.policy,
      config: this.config,
      leaseMs: this.leaseMs,
      retry: { infraRetries: options.infraRetries ?? 2, retryBaseMs: options.retryBaseMs ?? 2_000 },
      health: this.health,
      maxDevicesPerOrg: options.maxDevicesPerOrg ?? Number.POSITIVE_INFINITY,
      artifacts: options.artifacts,
      logs: options.logs,
      changes: options.changes,
      installTimes: new InstallTimes(),
      testTimes: new TestTimes(),
    };
    this.yields = new YieldCheck(this.ctx);
    this.lifecycle = new BatchLifecycle(this.ctx, this.yields);
    this.claims = new Claims(this.ctx, this.lifecycle);
    this.events = new ReportEvents(this.ctx, this.lifecycle);
  }

  /** `agentToken`: the agent token calling (undefined: open mode or an admin). */
  async register(request: RegisterRequest, agentToken?: string): Promise<RegisterResponse> {
    return this.db.transaction(async (tx) => {
      const agentId = await agents.upsertAgent(tx, {
        id: newId('agt'),
        name: request.name,
        version: request.version ?? null,
        tokenId: agentToken ?? null,
      });
      if (!agentId) {
        throw new AppError('forbidden', `agent name ${request.name} is registered with another agent token`, {
          field: 'name',
        });
      }
      const devices = await agents.upsertDevices(
        tx,
        agentId,
        request.devices.map((d) => ({ id: newId('dev'), name: d.name, target: d.target })),
      );
      // Every agent using one BrowserStack account shares its parallel-session limit.
      const account = request.browserstack;
      const pool = account ? `browserstack:${account.account}` : null;
      await agents.setDevicePool(tx, agentId, 'browserstack', pool);
      if (account && pool && account.parallel_limit !== undefined) {
        await upsertPool(tx, pool, account.parallel_limit);
      }
      return { agent_id: agentId, devices, heartbeat_ms: this.heartbeatMs, lease_ms: this.leaseMs };
    });
  }

  /**
   * Drains (`drained` true) or enables a device (by id) or every device of an agent (by id or
   * name). A drained device's batch yields at its next report, so the running test finishes
   * and the rest go back to the queue; enabling also lifts a quarantine. One log line per device.
   */
  async setDrained(which: { deviceId: string } | { agent: string }, drained: boolean): Promise<DrainResponse> {
    const rows = await agents.setDrained(this.db, which, drained);
    if (rows.length === 0) {
      if ('deviceId' in which) throw new NotFoundError('device', which.deviceId);
      throw new NotFoundError('agent', which.agent);
    }
    for (const d of rows) {
      this.ctx.log.info(
        { device: d.id, name: d.name, agent: d.agent_name, batch: d.batch_id ?? undefined },
        drained ? 'device drained' : 'device enabled',
      );
    }
    // Enabled devices are waiting on their long-poll: have them look now.
    if (!drained) for (const target of new Set(rows.map((d) => d.target))) this.wakeups.queued(target);
    return {
      devices: rows.map((d) => ({
        id: d.id,
        name: d.name,
        target: d.target,
        agent: d.agent_name,
        drained,
        batch_id: d.batch_id,
      })),
    };
  }

  /**
   * Long-polls up to `waitMs` for a batch for this device. While it waits the device counts
   * as idle (on every replica: the database says so); once it ends, answered, timed out or
   * hung up (`signal`), it does not. A drained device waits out its poll with nothing; a
   * quarantined one until its cool-down ends.
   */
  async claim(deviceId: string, waitMs: number, signal?: AbortSignal, agentToken?: string): Promise<ClaimResponse> {
    const deadline = new Date(Date.now() + waitMs);
    let quickRetries = 0;
    let leased = false;
    try {
      for (;;) {
        const { batch, target, contended, restUntil } = await this.claims.tryClaim(deviceId, deadline, agentToken);
        if (batch) {
          leased = true;
          return { batch };
        }
        const left = deadline.getTime() - Date.now();
        if (left <= 0 || signal?.aborted) return { batch: null };
        // Jobs other claims held may be let go when those commit: look again soon, not at the next poll.
        // (A few times: what it saw may also be jobs this device must not take, retries avoiding it.)
        const quick = contended && quickRetries++ < CONTENDED_RETRIES;
        const next = restUntil
          ? Math.max(CONTENDED_RETRY_MS, restUntil - Date.now())
          : quick
            ? CONTENDED_RETRY_MS
            : this.pollMs;
        await this.wakeups.wait(target, Math.min(left, next), signal);
      }
    } finally {
      // Leasing cleared it in the same statement.
      if (!leased) await agents.stopWaiting(this.db, deviceId, deadline, signal?.aborted === true).catch(() => {});
    }
  }

  async report(batchId: string, request: ReportRequest, agentToken?: string): Promise<ReportResponse> {
    const finished: string[] = [];
    // Jobs whose status this report may change: those its events name, and those it hands back.
    const touched = request.events.flatMap((e) => ('job_id' in e ? [e.job_id] : []));
    const installs = { made: 0, failed: 0 };
    const outcome = await this.db.transaction(async (tx) => {
      const batch = await heldBatch(tx, batchId, agentToken, {
        lock: true,
        touch: true,
        closed: 'its jobs went back to the queue; drop it',
      });
      if (request.logs && request.logs.length > 0 && !this.ctx.logs) {
        throw new AppError('validation_failed', 'this job-server keeps no run logs: send the report without logs', {
          field: 'logs',
        });
      }
      const applied = await this.events.apply(tx, batch, request.events, request.logs ?? [], touched);
      finished.push(...applied.finished);
      installs.made = applied.installs;
      installs.failed = applied.installFailures;
      let requeued = applied.requeued;
      if (request.done) {
        // The unstarted jobs go back to the queue as they were (closing puts back every job
        // not started, listed or not); a run still going is lost with the batch.
        const reason = 'the agent ended the batch without finishing it';
        requeued = (await this.lifecycle.close(tx, batch, 'done', reason, touched)) || requeued;
        // A freed slot of a pool (a BrowserStack account) may be what a waiting device of it needs.
        requeued ||= batch.device_pool !== null;
        return {
          yield: false,
          lease: new Date(),
          requeued,
          target: batch.target,
          cancelled: [] as string[],
          truncated: applied.truncated,
        };
      }
      const { lease_expires_at: lease, cancelled } = await batches.extendLease(tx, batch.id, this.leaseMs);
      // A drained device finishes the test it runs and hands the rest back.
      const yieldNow = batch.device_drained || (this.policy.yields && (await this.yields.shouldYield(tx, batch)));
      // The timeline marks the moment the batch was first told.
      if (yieldNow) await timeline.markYielded(tx, batch.id);
      return { yield: yieldNow, lease, requeued, target: batch.target, cancelled, truncated: applied.truncated };
    });
    this.ctx.changes?.changed(touched);
    if (outcome.requeued && outcome.target) this.wakeups.queued(outcome.target);
    for (const status of finished) this.metrics.jobsFinished.inc({ status });
    if (installs.made > 0) this.metrics.appInstalls.inc(installs.made);
    if (installs.failed > 0) this.metrics.installFailures.inc(installs.failed);
    const answer: ReportResponse = {
      yield: outcome.yield,
      cancelled: outcome.cancelled,
      lease_expires_at: outcome.lease.toISOString(),
    };
    if (outcome.truncated) answer.truncated = outcome.truncated;
    return answer;
  }

  /**
   * Returns the jobs of batches whose lease expired (agent dead, host down, network
   * cut) to the queue; their running runs become `lost`. Safe on every replica: rows
   * are taken with SKIP LOCKED, and a late report on an expired batch is refused.
   */
  async reapExpired(limit = 100): Promise<number> {
    const touched: string[] = [];
    const expired = await this.db.transaction(async (tx) => {
      const rows = await batches.lockExpiredBatches(tx, limit);
      for (const b of rows) {
        await this.lifecycle.close(tx, b, 'expired', 'lease expired: no report from the agent in time', touched);
        // The device went away mid-batch: that counts against its health.
        const health = await agents.lockDeviceHealth(tx, b.device_id);
        if (health) {
          const current = healthOf(health.infra_streak, health.quarantines, health.quarantined_until);
          await recordHealth(this.ctx, tx, { id: b.device_id, name: health.name }, current, ['fail']);
        }
      }
      return rows;
    });
    this.ctx.changes?.changed(touched);
    for (const b of expired) {
      this.metrics.leaseExpirations.inc();
      this.ctx.log.warn({ batch: b.id, device: b.device_id, target: b.target }, 'lease expired: batch taken back');
    }
    for (const t of new Set(expired.map((b) => b.target))) this.wakeups.queued(t);
    return expired.length;
  }

  /** A claim answered to an agent that had already hung up: nobody will run it, hand it back now. */
  async releaseUndelivered(batch: Batch): Promise<void> {
    const touched: string[] = [];
    const released = await this.db.transaction(async (tx) => {
      const row = await batches.findBatch(tx, batch.id, { lock: true });
      if (row?.state !== 'active') return false;
      await this.lifecycle.close(tx, row, 'expired', 'the agent hung up before receiving the batch', touched);
      return true;
    });
    this.ctx.changes?.changed(touched);
    if (released) this.wakeups.queued(batch.target);
  }
}
