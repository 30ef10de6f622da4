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
 */
import {
  type Batch,
  type BatchEvent,
  type ClaimResponse,
  type DrainResponse,
  type LogChunkIn,
  OFFLINE_AFTER_MS,
  type RegisterRequest,
  type RegisterResponse,
  type ReportRequest,
  type ReportResponse,
  type Target,
} from '@qgjob/protocol';
import type { Db, Queryable } from '../db/db.js';
import { AppError, NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import * as agents from '../store/agents.js';
import { lockPool, upsertPool } from '../store/artifacts.js';
import * as batches from '../store/batches.js';
import * as durations from '../store/durations.js';
import * as runs from '../store/runs.js';
import type { ArtifactService } from './artifacts.js';
import { heldBatch } from './held-batch.js';
import type { JobChanges } from './job-changes.js';
import type { LogService } from './logs.js';
import type { Metrics } from './metrics.js';
import {
  type ClaimInput,
  DEFAULT_POLICY_CONFIG,
  POLICIES,
  type Policy,
  type PolicyConfig,
  quantumMs,
  shouldYield,
} from './policy.js';
import { InstallTimes, TestTimes } from './recent-durations.js';
import {
  afterOutcomes,
  afterRun,
  DEFAULT_HEALTH_CONFIG,
  type DeviceHealth,
  type DeviceOutcome,
  type HealthConfig,
  healthState,
  type RetryConfig,
  sameHealth,
} from './retry-rules.js';
import type { Wakeups } from './wakeups.js';

/** What the scheduler logs through: pino's shape, one line per state change. */
export interface SchedulerLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

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

const ALIVE_MS = 60_000;
/** A claim that found every ready job of its choices held by other claims asks again after this. */
const CONTENDED_RETRY_MS = 20;
const CONTENDED_RETRIES = 5;
/** A running batch runs the full yield check at most this often. */
const YIELD_CHECK_MS = 1_000;
/** The most ready jobs one claim reads (and locks) to plan a batch from. */
const MAX_WINDOW = 400;

export class Scheduler {
  readonly policy: Policy;
  readonly config: PolicyConfig;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  readonly health: HealthConfig;
  private readonly retry: RetryConfig;
  private readonly pollMs: number;
  private readonly maxDevicesPerOrg: number;
  private readonly log: SchedulerLog;
  private readonly artifacts: ArtifactService | undefined;
  private readonly installTimes = new InstallTimes();
  private readonly testTimes = new TestTimes();
  private readonly logs: LogService | undefined;
  private readonly changes: JobChanges | undefined;
  /** When each active batch last ran the full yield check (the check is rate-limited per batch). */
  private readonly yieldCheckedAt = new Map<string, number>();

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
    this.retry = { infraRetries: options.infraRetries ?? 2, retryBaseMs: options.retryBaseMs ?? 2_000 };
    this.health = { ...DEFAULT_HEALTH_CONFIG, ...options.health };
    this.pollMs = options.pollMs ?? 2_000;
    this.maxDevicesPerOrg = options.maxDevicesPerOrg ?? Number.POSITIVE_INFINITY;
    this.log = options.log ?? SILENT;
    this.artifacts = options.artifacts;
    this.logs = options.logs;
    this.changes = options.changes;
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
      this.log.info(
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
        const { batch, target, contended, restUntil } = await this.tryClaim(deviceId, deadline, agentToken);
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

  /** One claim: lock → guard → snapshot → policy.choose → lease, in one transaction. */
  private async tryClaim(
    deviceId: string,
    waitingUntil: Date,
    agentToken?: string,
  ): Promise<{ batch: Batch | null; target: Target; contended: boolean; restUntil?: number }> {
    const touched: string[] = [];
    const result = await this.db.transaction(async (tx) => {
      const device = await this.lockDevice(tx, deviceId, waitingUntil, agentToken, touched);
      // Drained: nothing until enabled (wait out the poll). Quarantined: nothing until the cool-down ends.
      if (device.drained)
        return { batch: null, target: device.target, contended: false, restUntil: waitingUntil.getTime() };
      const health = healthOf(device.infra_streak, device.quarantines, device.quarantined_until);
      const state = healthState(health, Date.now(), this.health);
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
    this.changes?.changed(touched);
    if (result.batch) {
      this.metrics.batches.inc();
      const b = result.batch;
      this.log.info(
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
    return result;
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
      await this.expireBatch(
        tx,
        { id: device.batch_id, device_id: device.id, target: device.target },
        'the agent asked for new work for this device while holding it',
        touched,
      );
    }
    return device;
  }

  /** What the policy decides from; null when there is nothing this device may take. */
  private async snapshot(
    tx: Queryable,
    device: agents.DeviceRow,
  ): Promise<(ClaimInput & { liveDevices: number }) | null> {
    // A pool at its limit (all of a BrowserStack account's parallel sessions busy) waits.
    if (device.pool) {
      const pool = await lockPool(tx, device.pool);
      if (pool && pool.busy >= pool.maxBusy) return null;
    }
    const ready = await batches.readyGroups(tx, device.target, this.config.agingMs);
    if (ready.length === 0) return null;
    const { busy, idle, live, warm } = await agents.claimContext(
      tx,
      device.target,
      device.id,
      ALIVE_MS,
      OFFLINE_AFTER_MS,
    );
    // An org at its device cap waits for one of its batches to end.
    const groups = ready.filter((g) => (busy.get(g.org_id) ?? 0) < this.maxDevicesPerOrg);
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
      installMs: await this.installTimes.get(tx, device.target),
      config: this.config,
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
    { liveDevices, ...input }: ClaimInput & { liveDevices: number },
    probe = false,
  ): Promise<Batch | 'contended' | null> {
    let contended = false;
    // Infrastructure retries go to another device, if this target has another live one.
    const others = liveDevices > 1;
    const levels = new Map(input.groups.map((g) => [groupKey(g), (g as batches.GroupRow).levels]));
    let candidates = input.groups;
    // Another claim may hold a group's jobs (SKIP LOCKED finds none): try the next choice.
    for (let round = 0; round < 4 && candidates.length > 0; round++) {
      const chosen = this.policy.choose({ ...input, groups: candidates });
      if (!chosen) break;
      const decision = probe ? { ...chosen, size: 1, share: 1 } : chosen;
      const window = this.policy.plan ? Math.min(MAX_WINDOW, this.config.maxBatch * decision.share) : decision.size;
      // Concurrent claims of one group plan from disjoint windows; what is not taken is let go
      // before the batch is written, so those claims are not left with nothing to take.
      const partial = window > decision.size;
      if (partial) await batches.markCandidates(tx);
      const locked = await batches.lockCandidates(tx, {
        target: device.target,
        orgId: decision.org_id,
        appVersionId: decision.app_version_id,
        levels: levels.get(groupKey(decision)) ?? [],
        limit: Math.max(1, window),
        agingMs: this.config.agingMs,
        avoidDeviceId: others ? device.id : null,
      });
      const plan = this.policy.plan
        ? this.policy.plan({
            candidates: locked,
            decision,
            installMs: input.installMs,
            typicalTestMs: this.testTimes.get(device.target),
            config: this.config,
          })
        : locked.slice(0, decision.size).map((j) => j.id);
      const planned = probe ? plan.slice(0, 1) : plan;
      if (partial && planned.length < locked.length) await batches.releaseCandidates(tx);
      const batchId = newId('bat');
      const taken = new Set(planned.length > 0 ? await batches.assignJobs(tx, batchId, planned) : []);
      const ids = planned.filter((id) => taken.has(id));
      if (ids.length === 0) {
        // The snapshot saw ready jobs here that other claims hold right now: worth asking again soon.
        contended = true;
        candidates = candidates.filter((g) => groupKey(g) !== groupKey(decision));
        continue;
      }
      const leaseExpiresAt = await batches.leaseBatch(tx, {
        id: batchId,
        deviceId: device.id,
        agentId: device.agent_id,
        orgId: decision.org_id,
        appVersionId: decision.app_version_id,
        target: device.target,
        install: decision.install,
        size: ids.length,
        leaseMs: this.leaseMs,
      });
      const app = (await this.artifacts?.batchApp(tx, decision.org_id, decision.app_version_id, device.pool)) ?? null;
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
    return contended ? 'contended' : null;
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
      if (request.logs && request.logs.length > 0 && !this.logs) {
        throw new AppError('validation_failed', 'this job-server keeps no run logs: send the report without logs', {
          field: 'logs',
        });
      }
      const applied = await this.applyEvents(tx, batch, request.events, request.logs ?? [], touched);
      finished.push(...applied.finished);
      installs.made = applied.installs;
      installs.failed = applied.installFailures;
      let requeued = applied.requeued;
      if (request.done) {
        // The unstarted jobs go back to the queue as they were (abandonBatch puts back every job
        // not started, listed or not); a run still going is lost with the batch.
        requeued =
          (await this.abandonBatch(tx, batch, 'the agent ended the batch without finishing it', touched)) || requeued;
        await batches.endBatch(tx, batch.id, 'done');
        await agents.clearDeviceBatch(tx, batch.device_id, batch.id);
        // A freed slot of a pool (a BrowserStack account) may be what a waiting device of it needs.
        requeued ||= batch.device_pool !== null;
        this.yieldCheckedAt.delete(batch.id);
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
      const yieldNow = batch.device_drained || (this.policy.yields && (await this.shouldYield(tx, batch)));
      return { yield: yieldNow, lease, requeued, target: batch.target, cancelled, truncated: applied.truncated };
    });
    this.changes?.changed(touched);
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
   * Applies a report's events: installs, then every start in one statement, then the run
   * output it carries, then every pass in one statement, then failures and errors one by
   * one (they may retry). Order within a report only matters per job: a job's start
   * precedes its output, and its output its finish.
   */
  private async applyEvents(
    tx: Queryable,
    batch: batches.BatchRow,
    events: BatchEvent[],
    logs: LogChunkIn[],
    touched: string[],
  ): Promise<AppliedEvents> {
    const applied: AppliedEvents = { finished: [], requeued: false, installs: 0, installFailures: 0 };
    const { finished } = applied;
    const starts: string[] = [];
    const passes: { jobId: string; durationMs: number | null }[] = [];
    const others: Extract<BatchEvent, { type: 'finish' }>[] = [];
    // Runs whose length says how long their test takes (passed or failed by the test's verdict).
    const timed: { jobId: string; ms: number }[] = [];
    const installsTimed: number[] = [];
    // What the device did, in order: its health follows. Only what is the device's own counts
    // against it (it could not be readied, could not install); a test that ran to a verdict,
    // or an install that worked, shows it works.
    const outcomes: DeviceOutcome[] = [];
    // The batch could not start on this device: its unstarted jobs error (infrastructure).
    let setupFailure: string | undefined;
    // A failed install installed nothing: no run of the batch is marked app_installed.
    let installed = batch.install;
    for (const event of events) {
      if (event.type === 'install') {
        if (event.ok) {
          outcomes.push('ok');
          if (batch.install) applied.installs++;
          if (batch.install && event.duration_ms !== undefined && event.duration_ms > 0) {
            await durations.recordInstallDuration(tx, {
              orgId: batch.org_id,
              appVersionId: batch.app_version_id,
              target: batch.target,
              durationMs: event.duration_ms,
            });
            installsTimed.push(event.duration_ms);
          }
        } else {
          outcomes.push('fail');
          applied.installFailures++;
          await agents.forgetInstall(tx, batch.device_id, batch.org_id, batch.app_version_id);
          if (installed) await batches.markNotInstalled(tx, batch.id);
          installed = false;
          setupFailure ??= `install failed on ${batch.device_name}: ${event.error || 'no reason given'}`;
        }
      } else if (event.type === 'unavailable') {
        outcomes.push('fail');
        setupFailure ??= `${batch.device_name} not ready: ${event.error}`;
      } else if (event.type === 'start') {
        starts.push(event.job_id);
      } else {
        if (event.status !== 'errored') outcomes.push('ok');
        if (event.status === 'passed') passes.push({ jobId: event.job_id, durationMs: event.duration_ms ?? null });
        else others.push(event);
      }
    }
    if (setupFailure) applied.requeued = await this.failUnstarted(tx, batch, setupFailure, finished, touched);
    if (starts.length > 0) {
      const started = await runs.startRuns(tx, {
        jobIds: starts,
        runIds: starts.map(() => newId('run')),
        batchId: batch.id,
        agent: batch.agent_name,
        device: batch.device_name,
        batchInstalled: installed,
      });
      for (const r of started) {
        this.metrics.queueWait.observe({ target: batch.target }, Math.max(0, r.wait_ms) / 1000);
        if (!r.app_installed) this.metrics.installsAvoided.inc();
        this.log.info(
          {
            job: r.job_id,
            run: r.n,
            batch: batch.id,
            device: batch.device_name,
            agent: batch.agent_name,
            installed: r.app_installed,
          },
          'run started',
        );
      }
    }
    const written = logs.length > 0 && this.logs ? await this.logs.write(tx, batch.id, logs) : undefined;
    if (passes.length > 0) {
      const passed = await runs.passRuns(tx, {
        jobIds: passes.map((p) => p.jobId),
        durations: passes.map((p) => p.durationMs),
        batchId: batch.id,
      });
      for (const r of passed) {
        finished.push('passed');
        this.metrics.runDuration.observe({ target: batch.target, status: 'passed' }, (r.duration_ms ?? 0) / 1000);
        if (r.duration_ms !== null) timed.push({ jobId: r.job_id, ms: r.duration_ms });
      }
      for (const p of passes) {
        this.log.info(
          { job: p.jobId, batch: batch.id, device: batch.device_name, agent: batch.agent_name },
          'run passed',
        );
      }
    }
    for (const e of others) {
      const r = await this.finish(tx, batch, e.job_id, e.status, e.error ?? null, e.duration_ms ?? null, e.final);
      if (r.finished) finished.push(r.finished);
      if (r.failedMs !== undefined) timed.push({ jobId: e.job_id, ms: r.failedMs });
      applied.requeued ||= r.requeued;
    }
    if (outcomes.length > 0) {
      const current = healthOf(batch.device_infra_streak, batch.device_quarantines, batch.device_quarantined_until);
      await this.recordHealth(tx, { id: batch.device_id, name: batch.device_name }, current, outcomes);
    }
    if (timed.length > 0) {
      await durations.recordTestDurations(tx, {
        orgId: batch.org_id,
        target: batch.target,
        appVersionId: batch.app_version_id,
        jobIds: timed.map((t) => t.jobId),
        durations: timed.map((t) => t.ms),
      });
    }
    for (const ms of installsTimed) this.installTimes.observe(batch.target, ms);
    if (timed.length > 0) {
      this.testTimes.observe(batch.target, timed.reduce((sum, t) => sum + t.ms, 0) / timed.length);
    }
    applied.truncated = written?.truncated;
    return applied;
  }

  /**
   * The batch could not start on its device (install failed, device unavailable): each job not
   * started gets a run that errored with the reason, and goes back for another device within
   * its infrastructure budget, or ends `errored`.
   */
  private async failUnstarted(
    tx: Queryable,
    batch: batches.BatchRow,
    error: string,
    finished: string[],
    touched: string[],
  ): Promise<boolean> {
    const jobIds = await batches.unstartedJobsOfBatch(tx, batch.id);
    if (jobIds.length === 0) return false;
    touched.push(...jobIds);
    await runs.startRuns(tx, {
      jobIds,
      runIds: jobIds.map(() => newId('run')),
      batchId: batch.id,
      agent: batch.agent_name,
      device: batch.device_name,
      batchInstalled: false,
    });
    let requeued = false;
    // One draw of the jitter for the whole batch: its jobs come back together, one group again.
    const draw = Math.random();
    for (const jobId of jobIds) {
      const r = await this.finish(tx, batch, jobId, 'errored', error.slice(0, 4000), 0, false, () => draw);
      if (r.finished) finished.push(r.finished);
      requeued ||= r.requeued;
    }
    return requeued;
  }

  /** The device's health after these outcomes; written (and logged) only when it changed. */
  private async recordHealth(
    tx: Queryable,
    device: { id: string; name: string },
    current: DeviceHealth,
    outcomes: DeviceOutcome[],
  ): Promise<void> {
    const next = afterOutcomes(current, outcomes, Date.now(), this.health);
    if (sameHealth(current, next.health)) return;
    const h = next.health;
    await agents.setDeviceHealth(tx, device.id, {
      infra_streak: h.streak,
      quarantines: h.quarantines,
      quarantined_until: h.quarantinedUntil === null ? null : new Date(h.quarantinedUntil),
    });
    if (next.change === 'quarantined') {
      this.log.warn(
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
      this.log.info({ device: device.id, name: device.name }, 'device healthy again');
    }
  }

  /** Records a run's end and moves its job on: final, or back to the queue for a retry. */
  private async finish(
    tx: Queryable,
    batch: { id: string; device_id: string; target?: Target },
    jobId: string,
    status: 'passed' | 'failed' | 'errored' | 'lost',
    error: string | null,
    durationMs: number | null,
    /** An infrastructure error no retry can cure: end the job now. */
    final = false,
    random: () => number = Math.random,
  ): Promise<{ finished?: string; requeued: boolean; failedMs?: number }> {
    const run = await runs.finishRun(tx, { jobId, batchId: batch.id, status, error, durationMs });
    if (!run) return { requeued: false };
    this.metrics.runDuration.observe({ target: batch.target ?? 'unknown', status }, (run.duration_ms ?? 0) / 1000);
    const ids = { job: jobId, run: run.n, batch: batch.id, device: batch.device_id };
    if (status === 'passed') {
      await runs.completeJob(tx, { jobId, status: 'passed', error: null });
      return { finished: 'passed', requeued: false };
    }
    const failedMs = status === 'failed' ? (run.duration_ms ?? undefined) : undefined;
    const next = afterRun(
      {
        status,
        testFailures: run.test_failures,
        maxRetries: run.max_retries,
        infraFailures: run.infra_failures,
        final,
        error,
      },
      this.retry,
      random,
    );
    if (next.retry) {
      // An infrastructure error steers the next run away from this device.
      await runs.requeueJob(tx, { jobId, delayMs: next.delayMs, infra: next.infra, deviceId: batch.device_id });
      this.metrics.retries.inc({ reason: next.reason });
      this.log.info(
        {
          ...ids,
          reason: next.infra ? status : 'test failed, retries left',
          error: next.infra ? error : undefined,
          delay_ms: Math.round(next.delayMs),
        },
        'job requeued',
      );
      return { requeued: true, failedMs };
    }
    if (next.status === 'failed') this.log.info({ ...ids, error }, 'run failed');
    else this.log.warn({ ...ids, error: next.error }, 'job errored');
    await runs.completeJob(tx, { jobId, status: next.status, error: next.error });
    return { finished: next.status, requeued: false, failedMs };
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
        await this.expireBatch(tx, b, 'lease expired: no report from the agent in time', touched);
        // The device went away mid-batch: that counts against its health.
        const health = await agents.lockDeviceHealth(tx, b.device_id);
        if (health) {
          const current = healthOf(health.infra_streak, health.quarantines, health.quarantined_until);
          await this.recordHealth(tx, { id: b.device_id, name: health.name }, current, ['fail']);
        }
      }
      return rows;
    });
    this.changes?.changed(touched);
    for (const b of expired) {
      this.metrics.leaseExpirations.inc();
      this.log.warn({ batch: b.id, device: b.device_id, target: b.target }, 'lease expired: batch taken back');
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
      await this.expireBatch(tx, row, 'the agent hung up before receiving the batch', touched);
      return true;
    });
    this.changes?.changed(touched);
    if (released) this.wakeups.queued(batch.target);
  }

  private async expireBatch(
    tx: Queryable,
    b: { id: string; device_id: string; target?: Target },
    reason: string,
    touched: string[],
  ): Promise<void> {
    await this.abandonBatch(tx, b, reason, touched);
    this.yieldCheckedAt.delete(b.id);
    await batches.endBatch(tx, b.id, 'expired');
    await agents.clearDeviceBatch(tx, b.device_id, b.id);
  }

  /**
   * Ends a batch whose agent lost it: jobs never started go back to the queue as they
   * were; runs still going become `lost` (an infrastructure error, retried within budget).
   */
  private async abandonBatch(
    tx: Queryable,
    batch: { id: string; device_id: string; target?: Target },
    reason: string,
    touched: string[],
  ): Promise<boolean> {
    const released = await batches.releaseJobs(tx, batch.id);
    touched.push(...released);
    let requeued = released.length > 0;
    for (const jobId of await runs.runningJobsOfBatch(tx, batch.id)) {
      touched.push(jobId);
      const r = await this.finish(tx, batch, jobId, 'lost', reason, null);
      requeued ||= r.requeued;
    }
    return requeued;
  }

  /**
   * Cheap checks first: most reports end at the first line (the device has not served its
   * group for a quantum yet, so no switch would pay for its install) or the next two.
   */
  private async shouldYield(tx: Queryable, batch: batches.BatchRow): Promise<boolean> {
    const groupForMs = batch.group_since ? Date.now() - batch.group_since.getTime() : 0;
    const installMs = await this.installTimes.get(tx, batch.target);
    if (groupForMs < quantumMs(installMs, this.config)) return false;
    // The shares change at the pace of batches, not of reports: once a second per batch is enough.
    const now = Date.now();
    if (now - (this.yieldCheckedAt.get(batch.id) ?? 0) < YIELD_CHECK_MS) return false;
    if (this.yieldCheckedAt.size >= 100_000) this.yieldCheckedAt.clear();
    this.yieldCheckedAt.set(batch.id, now);
    if (!(await batches.batchHasUnstarted(tx, batch.id))) return false;
    if (!(await batches.otherOrgWaiting(tx, batch.target, batch.org_id))) return false;
    // An idle device (long-polling, so seen in the last few seconds) will take that work: no need to preempt.
    if ((await agents.countIdleDevices(tx, batch.target, OFFLINE_AFTER_MS)) > 0) return false;
    const groups = await batches.readyGroups(tx, batch.target, this.config.agingMs);
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
      config: this.config,
    });
  }
}

interface AppliedEvents {
  /** Final statuses reached. */
  finished: string[];
  requeued: boolean;
  truncated?: string[];
  /** Installs the batch asked for that succeeded, and installs that failed. */
  installs: number;
  installFailures: number;
}

function healthOf(streak: number, quarantines: number, until: Date | null): DeviceHealth {
  return { streak, quarantines, quarantinedUntil: until ? until.getTime() : null };
}

const groupKey = (g: { org_id: string; app_version_id: string }) => `${g.org_id}\u0000${g.app_version_id}`;
