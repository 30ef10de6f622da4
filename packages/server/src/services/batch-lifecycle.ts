/**
 * How runs end and batches are taken back, inside the transaction of a report, a claim or
 * the reaper. A run ends passed, failed, errored or lost; retry-rules.ts decides whether its
 * job is final or goes back to the queue (an infrastructure error steers it to another
 * device). A batch ends `done` (its agent said so) or `expired` (its lease ran out, or its
 * agent lost it): jobs never started go back as they were, runs still going are lost.
 */
import type { Target } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';
import { newId } from '../ids.js';
import * as agents from '../store/agents.js';
import * as batches from '../store/batches.js';
import * as runs from '../store/runs.js';
import { afterRun } from './retry-rules.js';
import type { SchedulerContext } from './scheduler-context.js';
import type { YieldCheck } from './yields.js';

/** The batch a run belongs to, as far as ending the run needs it. */
export interface RunBatch {
  id: string;
  device_id: string;
  target?: Target;
}

export type RunEnd = 'passed' | 'failed' | 'errored' | 'lost';

export class BatchLifecycle {
  constructor(
    private readonly ctx: SchedulerContext,
    private readonly yields: YieldCheck,
  ) {}

  /** Records a run's end and moves its job on: final, or back to the queue for a retry. */
  async endRun(
    tx: Queryable,
    batch: RunBatch,
    jobId: string,
    status: RunEnd,
    error: string | null,
    durationMs: number | null,
    /** An infrastructure error no retry can cure: end the job now. */
    final = false,
    random: () => number = Math.random,
  ): Promise<{ finished?: string; requeued: boolean; failedMs?: number }> {
    const { metrics, log } = this.ctx;
    const run = await runs.finishRun(tx, { jobId, batchId: batch.id, status, error, durationMs });
    if (!run) return { requeued: false };
    metrics.runDuration.observe({ target: batch.target ?? 'unknown', status }, (run.duration_ms ?? 0) / 1000);
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
      this.ctx.retry,
      random,
    );
    if (next.retry) {
      // An infrastructure error steers the next run away from this device.
      await runs.requeueJob(tx, { jobId, delayMs: next.delayMs, infra: next.infra, deviceId: batch.device_id });
      metrics.retries.inc({ reason: next.reason });
      log.info(
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
    if (next.status === 'failed') log.info({ ...ids, error }, 'run failed');
    else log.warn({ ...ids, error: next.error }, 'job errored');
    await runs.completeJob(tx, { jobId, status: next.status, error: next.error });
    return { finished: next.status, requeued: false, failedMs };
  }

  /**
   * The batch could not start on its device (install failed, device unavailable): each job not
   * started gets a run that errored with the reason, and goes back for another device within
   * its infrastructure budget, or ends `errored`.
   */
  async failUnstarted(
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
      const r = await this.endRun(tx, batch, jobId, 'errored', error.slice(0, 4000), 0, false, () => draw);
      if (r.finished) finished.push(r.finished);
      requeued ||= r.requeued;
    }
    return requeued;
  }

  /**
   * Ends the batch (`done`: its agent said so; `expired`: taken back from it) and frees its
   * device; what it did not finish is abandoned. True when a job went back to the queue.
   */
  async close(
    tx: Queryable,
    b: RunBatch,
    state: 'done' | 'expired',
    reason: string,
    touched: string[],
  ): Promise<boolean> {
    const requeued = await this.abandon(tx, b, reason, touched);
    // Taken back before any of its runs had the build: whether it was installed is unknown,
    // so the next batch of that build on this device installs it again.
    if (state === 'expired') await agents.forgetUnconfirmedInstall(tx, b.id);
    this.yields.forget(b.id);
    await batches.endBatch(tx, b.id, state);
    await agents.clearDeviceBatch(tx, b.device_id, b.id);
    return requeued;
  }

  /**
   * What a batch leaves when it ends: jobs never started go back to the queue as they
   * were; runs still going become `lost` (an infrastructure error, retried within budget).
   */
  private async abandon(tx: Queryable, batch: RunBatch, reason: string, touched: string[]): Promise<boolean> {
    const released = await batches.releaseJobs(tx, batch.id);
    touched.push(...released);
    let requeued = released.length > 0;
    for (const jobId of await runs.runningJobsOfBatch(tx, batch.id)) {
      touched.push(jobId);
      const r = await this.endRun(tx, batch, jobId, 'lost', reason, null);
      requeued ||= r.requeued;
    }
    return requeued;
  }
}
