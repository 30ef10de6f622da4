/**
 * Runs one batch on one device (BatchRun): provision its build and test sources, ready the
 * device (Executor.prepare: is it there, its Appium up), install the app if the batch says
 * so, then its jobs in order, one at a time, reporting install/start/finish through a
 * coalescing Reporter, and `done` with the jobs it never started.
 *
 *   provisioning → readying → installing → running jobs → done
 *                      │            │
 *                      └── failed ──┴──► `unavailable` or a failed `install`, done
 *
 * A batch that could not start is one event: the server gives each job an errored run with
 * the reason, retries it elsewhere within its budget, and counts it against the device.
 *
 * Before each job it checks whether to go on: not after the server answered `yield`, not
 * for a job in `cancelled`, not once the agent drains. A heartbeat keeps the lease alive
 * while an install or a test takes long. Three ways to stop early:
 * - drain (graceful stop): start nothing more; the running test finishes.
 * - kill (grace elapsed): kill the running test, report it errored, end the batch normally.
 * - lost lease (409) or force (second signal): kill the running test, report nothing more.
 * A job cancelled while it runs is killed and nothing is reported for it: the server
 * already holds it as cancelled.
 *
 * Output rides in the reports as it is produced (LogShipper in carrier mode): a job's output
 * goes with or after its start and with or before its finish, so a finished job's log is
 * complete, and a short test's start, output and finish cost one request; what the test
 * left (screenshots, videos, traces) is uploaded before the finish too. The install's output
 * and the agent's own lines are the RunLog's (run-log.ts); a failed install has no run, and
 * its output stays only in the error.
 */
import type { QgjobClient } from '@qgjob/client';
import type { Batch, BatchJob, DeviceSpec } from '@qgjob/protocol';
import { type PutArtifact, uploadArtifacts } from './artifact-upload.js';
import { describe, JobCancelledError } from './errors.js';
import type { ExecContext, Executor, OutputSink, Prepared, RunOutcome } from './executors/types.js';
import type { Logger } from './log.js';
import { LogShipper } from './log-shipper.js';
import type { Provisioned } from './provision.js';
import { Reporter } from './reporter.js';
import { firstLine, RunLog } from './run-log.js';

export interface BatchRunnerOptions {
  /** Without `sendLogs`, run output is not shipped; without `putRunArtifact`, artifacts are not kept. */
  client: Pick<QgjobClient, 'report'> & Partial<Pick<QgjobClient, 'sendLogs'>> & { putRunArtifact?: PutArtifact };
  executor: Executor;
  device: DeviceSpec;
  /** Build location for this batch (local file or bs:// URL) when the server names no build. */
  appPath: (batch: Batch) => string;
  /** Fetches the batch's build and test bundles (see Provisioner). */
  provision?: (batch: Batch, signal: AbortSignal, output?: OutputSink) => Promise<Provisioned>;
  heartbeatMs: number;
  leaseMs: number;
  log: Logger;
  /** Graceful stop: start no more jobs. */
  drain?: AbortSignal;
  /** Grace elapsed: kill the running test, report it, end the batch. */
  kill?: AbortSignal;
  /** Second signal: kill everything, report nothing. */
  force?: AbortSignal;
}

export interface BatchSummary {
  batchId: string;
  passed: number;
  failed: number;
  errored: number;
  /** Handed back to the queue in `done`. */
  unstarted: number;
  /** The lease was lost (or the agent forced to stop): the end of the batch was not reported. */
  dropped: boolean;
  yielded: boolean;
  /** The device could not run the batch (not ready, install failed): the agent rests before claiming for it again. */
  setupFailed: boolean;
}

const never = new AbortController().signal;

/**
 * A test at least this long waits for its finish report's answer before the next starts, so
 * a `yield` takes effect at once. Shorter tests do not pay a round trip each: a yield then
 * takes effect one test later, within a second.
 */
const ASK_BEFORE_NEXT_MS = 1_000;

export function runBatch(batch: Batch, options: BatchRunnerOptions): Promise<BatchSummary> {
  return new BatchRun(batch, options).run();
}

/**
 * What the setup steps left to do: go on with the jobs, hand them all back (stopping),
 * end with every job already reported errored, or drop the batch.
 */
type Step = 'go' | 'end' | 'failed' | 'drop';

export class BatchRun {
  private readonly summary: BatchSummary;
  private readonly log: Logger;
  private readonly drain: AbortSignal;
  private readonly force: AbortSignal;
  private readonly reporter: Reporter;
  private readonly shipper: LogShipper | undefined;
  private readonly runLog: RunLog | undefined;
  /** Kill the running test: grace elapsed, forced, or the lease was lost. */
  private readonly stop: AbortSignal;
  private readonly ctx: ExecContext;
  private running: { job: BatchJob; cancel: AbortController } | undefined;
  private provisioned: Provisioned | undefined;
  private device: Extract<Prepared, { ok: true }> | undefined;

  constructor(
    private readonly batch: Batch,
    private readonly options: BatchRunnerOptions,
  ) {
    this.drain = options.drain ?? never;
    this.force = options.force ?? never;
    this.log = options.log.child({ batch: batch.id });
    this.summary = {
      batchId: batch.id,
      passed: 0,
      failed: 0,
      errored: 0,
      unstarted: 0,
      dropped: false,
      yielded: false,
      setupFailed: false,
    };
    this.reporter = new Reporter({
      client: options.client,
      batchId: batch.id,
      retryForMs: options.leaseMs,
      signal: this.force,
      log: this.log,
      onAnswer: (answer) => {
        const running = this.running;
        if (running && answer.cancelled.includes(running.job.id)) {
          running.cancel.abort(new JobCancelledError(`job ${running.job.id} was cancelled`));
        }
      },
    });
    // Run output rides in the reports: a test's start, output and finish in as few requests as can be.
    const sendLogs = options.client.sendLogs?.bind(options.client);
    this.shipper = sendLogs
      ? new LogShipper({
          client: { sendLogs },
          batchId: batch.id,
          retryForMs: options.leaseMs,
          signal: this.force,
          log: this.log,
          carrier: this.reporter,
        })
      : undefined;
    if (this.shipper) this.reporter.carry(this.shipper);
    this.runLog = this.shipper && new RunLog(this.shipper, batch, options.device);
    this.stop = AbortSignal.any([options.kill ?? never, this.force, this.reporter.lostSignal]);
    this.ctx = { batch, device: options.device, appPath: options.appPath(batch) };
  }

  async run(): Promise<BatchSummary> {
    const { batch } = this;
    const heartbeat = setInterval(() => this.reporter.heartbeat(), Math.max(100, this.options.heartbeatMs));
    this.log.info('batch claimed', {
      org: batch.org_id,
      app_version: batch.app_version_id,
      jobs: batch.jobs.length,
      install: batch.install,
    });
    try {
      if (this.drain.aborted || this.stop.aborted) return await this.finish(batch.jobs);
      const step = await this.setUp();
      if (step === 'drop') return this.drop();
      if (step === 'end') return await this.finish(batch.jobs);
      if (step === 'failed') return await this.finish([]);
      return await this.runJobs();
    } finally {
      clearInterval(heartbeat);
      this.shipper?.stop();
      this.provisioned?.release();
      await this.device?.close().catch((error: unknown) => {
        this.log.warn('could not release the device', { error: describe(error) });
      });
    }
  }

  private get dropped(): boolean {
    return this.reporter.lostSignal.aborted || this.force.aborted;
  }

  /** Provision, ready the device, install. */
  private async setUp(): Promise<Step> {
    const { batch, options, ctx } = this;
    const keep = this.runLog?.keepInstallOutput;
    this.provisioned = options.provision ? await options.provision(batch, this.stop, keep) : undefined;
    if (this.dropped) return 'drop';
    if (this.stop.aborted) return 'end';
    if (this.provisioned?.appPath) ctx.appPath = this.provisioned.appPath;
    const first = batch.jobs[0];
    const prepared = options.executor.prepare
      ? await options.executor.prepare(
          { ...ctx, workdir: first && this.provisioned?.workdirOf(first) },
          this.stop,
          keep,
        )
      : undefined;
    if (prepared?.ok) this.device = prepared;
    if (this.dropped) return 'drop';
    if (this.stop.aborted) return 'end';
    if (prepared && !prepared.ok) {
      // The server gives each job a run that errored (infrastructure): it counts against the
      // job's budget and is retried with backoff elsewhere, instead of coming back here at once.
      this.log.warn('device not ready', { error: firstLine(prepared.error) });
      this.reporter.push({ type: 'unavailable', error: prepared.error.slice(0, 4000) || 'no reason given' });
      this.setupFailed();
      return 'failed';
    }
    // A build that could not be fetched (or uploaded to BrowserStack) fails like an install.
    const appError = this.provisioned?.appError;
    if (!batch.install && !appError) return 'go';
    this.log.info('installing app', { app_path: ctx.appPath });
    const outcome = appError
      ? { ok: false, duration_ms: 0, error: appError }
      : await options.executor.install(ctx, this.stop, keep);
    if (this.dropped) return 'drop';
    // Killed during shutdown: the jobs are not to blame, hand them all back.
    if (this.stop.aborted) return 'end';
    this.reporter.push({
      type: 'install',
      ok: outcome.ok,
      duration_ms: outcome.duration_ms,
      error: outcome.error?.slice(0, 4000),
    });
    if (!outcome.ok) {
      this.log.warn('install failed', { error: firstLine(outcome.error) });
      this.setupFailed();
      return 'failed';
    }
    this.log.info('app installed', { duration_ms: outcome.duration_ms });
    return 'go';
  }

  /** Every job of the batch errored (infrastructure) without running: the server records it; nothing to hand back. */
  private setupFailed(): void {
    this.summary.errored = this.batch.jobs.length;
    this.summary.setupFailed = true;
  }

  private async runJobs(): Promise<BatchSummary> {
    const jobs = this.batch.jobs;
    let next = 0;
    for (; next < jobs.length; next++) {
      const job = jobs[next] as BatchJob;
      if (this.reporter.cancelled.has(job.id)) continue;
      if (this.reporter.yielded || this.drain.aborted || this.stop.aborted) break;
      if ((await this.runJob(job, next + 1 < jobs.length)) === 'drop') return this.drop();
    }
    const result = await this.finish(jobs.slice(next));
    if (result.dropped) return this.drop();
    this.log.info('batch done', {
      passed: result.passed,
      failed: result.failed,
      errored: result.errored,
      unstarted: result.unstarted,
      yielded: result.yielded || undefined,
    });
    return result;
  }

  private async runJob(job: BatchJob, more: boolean): Promise<'next' | 'drop'> {
    const { reporter, runLog, options } = this;
    reporter.push({ type: 'start', job_id: job.id });
    const bundleError = this.provisioned?.bundleErrorOf(job);
    if (bundleError) {
      // Its test sources could not be provided: an infrastructure error, final when the
      // bundle itself was refused (another device would refuse it too).
      reporter.push({
        type: 'finish',
        job_id: job.id,
        status: 'errored',
        duration_ms: 0,
        error: bundleError.error,
        final: bundleError.final || undefined,
      });
      this.summary.errored++;
      this.log.warn('job errored', { job: job.id, error: bundleError.error });
      return 'next';
    }
    this.log.info('job started', { job: job.id, test: job.test_path });
    runLog?.open(job, reporter.flush());
    this.running = { job, cancel: new AbortController() };
    const output = runLog?.output(job.id);
    const jobCtx: ExecContext = { ...this.ctx, workdir: this.provisioned?.workdirOf(job) };
    const outcome = await options.executor.run(
      job,
      jobCtx,
      AbortSignal.any([this.stop, this.running.cancel.signal]),
      output,
    );
    const cancelled = this.running.cancel.signal.aborted;
    this.running = undefined;
    if (this.dropped) {
      await outcome.artifacts?.discard().catch(() => {});
      return 'drop';
    }
    if (cancelled) {
      await outcome.artifacts?.discard().catch(() => {});
      runLog?.discard(job.id);
      this.log.info('job cancelled', { job: job.id });
      return 'next';
    }
    await this.keepArtifacts(job, outcome);
    runLog?.ended(job.id, outcome);
    reporter.push({
      type: 'finish',
      job_id: job.id,
      status: outcome.status,
      duration_ms: outcome.duration_ms,
      error: outcome.error,
    });
    this.summary[outcome.status]++;
    // Ask before starting the next test, so a `yield` takes effect now rather than one test
    // later. One round trip is nothing next to a real test; short tests skip the wait and
    // keep their reports coalesced.
    if (more && outcome.duration_ms >= ASK_BEFORE_NEXT_MS) await reporter.flush();
    if (this.dropped) return 'drop';
    this.log.info(`job ${outcome.status}`, {
      job: job.id,
      duration_ms: outcome.duration_ms,
      error: outcome.status === 'passed' ? undefined : firstLine(outcome.error),
    });
    return 'next';
  }

  private async keepArtifacts(job: BatchJob, outcome: RunOutcome): Promise<void> {
    const { artifacts } = outcome;
    if (!artifacts) return;
    const put = this.options.client.putRunArtifact?.bind(this.options.client);
    if (!put || artifacts.files.length === 0) {
      await artifacts.discard().catch(() => {});
      return;
    }
    // The server takes artifacts for a running run: its start must have arrived.
    await this.reporter.flush();
    const { uploaded, notes } = await uploadArtifacts(put, this.batch.id, job.id, artifacts);
    for (const note of notes) this.runLog?.note(job.id, note);
    if (uploaded > 0) this.runLog?.note(job.id, `kept ${uploaded} artifact(s)`);
  }

  private async finish(unstarted: BatchJob[]): Promise<BatchSummary> {
    const { reporter, summary } = this;
    const ids = unstarted.filter((job) => !reporter.cancelled.has(job.id)).map((job) => job.id);
    summary.unstarted = ids.length;
    reporter.done(ids);
    await reporter.flush();
    summary.dropped = this.dropped;
    summary.yielded = reporter.yielded;
    return summary;
  }

  private drop(): BatchSummary {
    this.summary.dropped = true;
    const lost = this.reporter.lostSignal;
    this.log.warn('batch dropped', { reason: lost.aborted ? describe(lost.reason) : 'agent stopped' });
    return this.summary;
  }
}
