/**
 * Applies the events of one report, inside the report's transaction: installs, then every
 * start in one statement, then the run output it carries, then every pass in one
 * statement, then failures and errors one by one (they may retry). Order within a report
 * only matters per job: a job's start precedes its output, and its output its finish.
 * What the device did, in order, feeds its health; the lengths of runs and installs feed
 * the durations claims plan with.
 */
import type { BatchEvent, LogChunkIn } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';
import { newId } from '../ids.js';
import * as agents from '../store/agents.js';
import * as batches from '../store/batches.js';
import * as durations from '../store/durations.js';
import * as runs from '../store/runs.js';
import type { BatchLifecycle } from './batch-lifecycle.js';
import { healthOf, recordHealth } from './device-health.js';
import type { DeviceOutcome } from './retry-rules.js';
import type { SchedulerContext } from './scheduler-context.js';

export interface AppliedEvents {
  /** Final statuses reached. */
  finished: string[];
  requeued: boolean;
  truncated?: string[];
  /** Installs the batch asked for that succeeded, and installs that failed. */
  installs: number;
  installFailures: number;
}

type FinishEvent = Extract<BatchEvent, { type: 'finish' }>;
type InstallEvent = Extract<BatchEvent, { type: 'install' }>;

/** A report's events sorted in one pass, before the runs are written. */
interface Sorted {
  starts: string[];
  passes: { jobId: string; durationMs: number | null }[];
  /** Failures and errors. */
  others: FinishEvent[];
  /**
   * What the device did, in order: its health follows. Only what is the device's own counts
   * against it (it could not be readied, could not install); a test that ran to a verdict,
   * or an install that worked, shows it works.
   */
  outcomes: DeviceOutcome[];
  installsTimed: number[];
  /** The batch could not start on this device: its unstarted jobs error (infrastructure). */
  setupFailure: string | undefined;
  /** A failed install installed nothing: no run of the batch is marked app_installed. */
  installed: boolean;
}

export class ReportEvents {
  constructor(
    private readonly ctx: SchedulerContext,
    private readonly lifecycle: BatchLifecycle,
  ) {}

  async apply(
    tx: Queryable,
    batch: batches.BatchRow,
    events: BatchEvent[],
    logs: LogChunkIn[],
    touched: string[],
  ): Promise<AppliedEvents> {
    const applied: AppliedEvents = { finished: [], requeued: false, installs: 0, installFailures: 0 };
    const { finished } = applied;
    const sorted = await this.sort(tx, batch, events, applied);
    // Runs whose length says how long their test takes (passed or failed by the test's verdict).
    const timed: { jobId: string; ms: number }[] = [];
    if (sorted.setupFailure) {
      applied.requeued = await this.lifecycle.failUnstarted(tx, batch, sorted.setupFailure, finished, touched);
    }
    if (sorted.starts.length > 0) await this.start(tx, batch, sorted.starts, sorted.installed);
    const written = logs.length > 0 && this.ctx.logs ? await this.ctx.logs.write(tx, batch.id, logs) : undefined;
    if (sorted.passes.length > 0) await this.pass(tx, batch, sorted.passes, finished, timed);
    for (const e of sorted.others) {
      const r = await this.lifecycle.endRun(
        tx,
        batch,
        e.job_id,
        e.status,
        e.error ?? null,
        e.duration_ms ?? null,
        e.final,
      );
      if (r.finished) finished.push(r.finished);
      if (r.failedMs !== undefined) timed.push({ jobId: e.job_id, ms: r.failedMs });
      applied.requeued ||= r.requeued;
    }
    if (sorted.outcomes.length > 0) {
      const current = healthOf(batch.device_infra_streak, batch.device_quarantines, batch.device_quarantined_until);
      await recordHealth(this.ctx, tx, { id: batch.device_id, name: batch.device_name }, current, sorted.outcomes);
    }
    await this.recordTimes(tx, batch, timed, sorted.installsTimed);
    applied.truncated = written?.truncated;
    return applied;
  }

  /** One pass over the events; installs are applied as they come, the rest sorted for later. */
  private async sort(
    tx: Queryable,
    batch: batches.BatchRow,
    events: BatchEvent[],
    applied: AppliedEvents,
  ): Promise<Sorted> {
    const sorted: Sorted = {
      starts: [],
      passes: [],
      others: [],
      outcomes: [],
      installsTimed: [],
      setupFailure: undefined,
      installed: batch.install,
    };
    for (const event of events) {
      if (event.type === 'install') {
        await this.install(tx, batch, event, sorted, applied);
      } else if (event.type === 'unavailable') {
        sorted.outcomes.push('fail');
        sorted.setupFailure ??= `${batch.device_name} not ready: ${event.error}`;
      } else if (event.type === 'start') {
        sorted.starts.push(event.job_id);
      } else {
        if (event.status !== 'errored') sorted.outcomes.push('ok');
        if (event.status === 'passed') {
          sorted.passes.push({ jobId: event.job_id, durationMs: event.duration_ms ?? null });
        } else sorted.others.push(event);
      }
    }
    return sorted;
  }

  private async install(
    tx: Queryable,
    batch: batches.BatchRow,
    event: InstallEvent,
    sorted: Sorted,
    applied: AppliedEvents,
  ): Promise<void> {
    if (event.ok) {
      sorted.outcomes.push('ok');
      if (batch.install) applied.installs++;
      if (batch.install && event.duration_ms !== undefined && event.duration_ms > 0) {
        await durations.recordInstallDuration(tx, {
          orgId: batch.org_id,
          appVersionId: batch.app_version_id,
          target: batch.target,
          durationMs: event.duration_ms,
        });
        sorted.installsTimed.push(event.duration_ms);
      }
      return;
    }
    sorted.outcomes.push('fail');
    applied.installFailures++;
    await agents.forgetInstall(tx, batch.device_id, batch.org_id, batch.app_version_id);
    if (sorted.installed) await batches.markNotInstalled(tx, batch.id);
    sorted.installed = false;
    sorted.setupFailure ??= `install failed on ${batch.device_name}: ${event.error || 'no reason given'}`;
  }

  /** Every start of the report in one statement. */
  private async start(tx: Queryable, batch: batches.BatchRow, jobIds: string[], installed: boolean): Promise<void> {
    const started = await runs.startRuns(tx, {
      jobIds,
      runIds: jobIds.map(() => newId('run')),
      batchId: batch.id,
      agent: batch.agent_name,
      device: batch.device_name,
      batchInstalled: installed,
    });
    for (const r of started) {
      this.ctx.metrics.queueWait.observe({ target: batch.target }, Math.max(0, r.wait_ms) / 1000);
      if (!r.app_installed) this.ctx.metrics.installsAvoided.inc();
      this.ctx.log.info(
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

  /** Every pass of the report in one statement. */
  private async pass(
    tx: Queryable,
    batch: batches.BatchRow,
    passes: { jobId: string; durationMs: number | null }[],
    finished: string[],
    timed: { jobId: string; ms: number }[],
  ): Promise<void> {
    const passed = await runs.passRuns(tx, {
      jobIds: passes.map((p) => p.jobId),
      durations: passes.map((p) => p.durationMs),
      batchId: batch.id,
    });
    for (const r of passed) {
      finished.push('passed');
      this.ctx.metrics.runDuration.observe({ target: batch.target, status: 'passed' }, (r.duration_ms ?? 0) / 1000);
      if (r.duration_ms !== null) timed.push({ jobId: r.job_id, ms: r.duration_ms });
    }
    for (const p of passes) {
      this.ctx.log.info(
        { job: p.jobId, batch: batch.id, device: batch.device_name, agent: batch.agent_name },
        'run passed',
      );
    }
  }

  /** Test lengths go to the durations table and, with install lengths, to the running averages. */
  private async recordTimes(
    tx: Queryable,
    batch: batches.BatchRow,
    timed: { jobId: string; ms: number }[],
    installsTimed: number[],
  ): Promise<void> {
    if (timed.length > 0) {
      await durations.recordTestDurations(tx, {
        orgId: batch.org_id,
        target: batch.target,
        appVersionId: batch.app_version_id,
        jobIds: timed.map((t) => t.jobId),
        durations: timed.map((t) => t.ms),
      });
    }
    for (const ms of installsTimed) this.ctx.installTimes.observe(batch.target, ms);
    if (timed.length > 0) {
      this.ctx.testTimes.observe(batch.target, timed.reduce((sum, t) => sum + t.ms, 0) / timed.length);
    }
  }
}
