/**
 * Runs one batch on one device: install the app if the batch says so, then its jobs in
 * order, one at a time, reporting install/start/finish through a coalescing Reporter, and
 * `done` with the jobs it never started.
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
 * Output goes to the server as it is produced (LogShipper), held back until the job's start
 * is acknowledged and flushed before its finish is reported, so a finished job's log is
 * complete. The install's output (its last 16 KiB) goes with the first job started, the run
 * the server marks `app_installed`; a failed install has no run, and its output stays only
 * in the error. The agent adds a line of its own (stream `agent`) as each test starts and ends.
 */
import type { QgjobClient } from '@qgjob/client';
import type { Batch, BatchJob, DeviceSpec } from '@qgjob/protocol';
import { formatDuration } from './duration.js';
import { describe, JobCancelledError } from './errors.js';
import type { ExecContext, Executor, InstallOutcome, OutputSink } from './executors/types.js';
import type { Logger } from './log.js';
import { LogShipper } from './log-shipper.js';
import type { Provisioned } from './provision.js';
import { Reporter } from './reporter.js';

export interface BatchRunnerOptions {
  /** Without `sendLogs`, run output is not shipped. */
  client: Pick<QgjobClient, 'report'> & Partial<Pick<QgjobClient, 'sendLogs'>>;
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
}

const never = new AbortController().signal;

/** A test at least this long waits for its finish report's answer before the next starts. */
const ASK_BEFORE_NEXT_MS = 50;
/** How long a finish waits for the test's output to reach the server. */
const LOG_FLUSH_MS = 5_000;
/** The end of an install's output, kept for the first run's log. */
const INSTALL_TAIL_CHARS = 16 * 1024;

export async function runBatch(batch: Batch, options: BatchRunnerOptions): Promise<BatchSummary> {
  const { executor, device } = options;
  const drain = options.drain ?? never;
  const force = options.force ?? never;
  const log = options.log.child({ batch: batch.id });
  const summary: BatchSummary = {
    batchId: batch.id,
    passed: 0,
    failed: 0,
    errored: 0,
    unstarted: 0,
    dropped: false,
    yielded: false,
  };
  let running: { job: BatchJob; cancel: AbortController } | undefined;
  const reporter = new Reporter({
    client: options.client,
    batchId: batch.id,
    retryForMs: options.leaseMs,
    signal: force,
    log,
    onAnswer: (answer) => {
      if (running && answer.cancelled.includes(running.job.id)) {
        running.cancel.abort(new JobCancelledError(`job ${running.job.id} was cancelled`));
      }
    },
  });
  const sendLogs = options.client.sendLogs?.bind(options.client);
  const shipper = sendLogs
    ? new LogShipper({ client: { sendLogs }, batchId: batch.id, retryForMs: options.leaseMs, signal: force, log })
    : undefined;
  const stop = AbortSignal.any([options.kill ?? never, force, reporter.lostSignal]);
  const heartbeat = setInterval(() => reporter.heartbeat(), Math.max(100, options.heartbeatMs));
  const ctx: ExecContext = { batch, device, appPath: options.appPath(batch) };
  let prepared: Provisioned | undefined;
  const dropped = () => reporter.lostSignal.aborted || force.aborted;
  const finish = async (unstarted: BatchJob[]) => {
    const ids = unstarted.filter((job) => !reporter.cancelled.has(job.id)).map((job) => job.id);
    summary.unstarted = ids.length;
    reporter.done(ids);
    await reporter.flush();
    summary.dropped = dropped();
    summary.yielded = reporter.yielded;
    return summary;
  };
  const drop = () => {
    summary.dropped = true;
    const reason = reporter.lostSignal.aborted ? describe(reporter.lostSignal.reason) : 'agent stopped';
    log.warn('batch dropped', { reason });
    return summary;
  };

  log.info('batch claimed', {
    org: batch.org_id,
    app_version: batch.app_version_id,
    jobs: batch.jobs.length,
    install: batch.install,
  });
  try {
    if (drain.aborted || stop.aborted) return await finish(batch.jobs);
    let installOutput = '';
    let installCut = 0;
    const keep: OutputSink = (_stream, text) => {
      installOutput += text;
      if (installOutput.length > INSTALL_TAIL_CHARS) {
        installCut += installOutput.length - INSTALL_TAIL_CHARS;
        installOutput = installOutput.slice(-INSTALL_TAIL_CHARS);
      }
    };
    prepared = options.provision ? await options.provision(batch, stop, shipper ? keep : undefined) : undefined;
    if (dropped()) return drop();
    if (stop.aborted) return await finish(batch.jobs);
    if (prepared?.appPath) ctx.appPath = prepared.appPath;
    // A build that could not be fetched (or uploaded to BrowserStack) fails like an install.
    if (batch.install || prepared?.appError) {
      log.info('installing app', { app_path: ctx.appPath });
      const outcome: InstallOutcome = prepared?.appError
        ? { ok: false, duration_ms: 0, error: prepared.appError }
        : await executor.install(ctx, stop, shipper ? keep : undefined);
      if (dropped()) return drop();
      // Killed during shutdown: the jobs are not to blame, hand them all back.
      if (stop.aborted) return await finish(batch.jobs);
      reporter.push({ type: 'install', ok: outcome.ok, duration_ms: outcome.duration_ms, error: outcome.error });
      if (!outcome.ok) {
        log.warn('install failed', { error: firstLine(outcome.error) });
        for (const job of batch.jobs) {
          reporter.push({
            type: 'finish',
            job_id: job.id,
            status: 'errored',
            error: `install failed: ${outcome.error}`.slice(0, 4000),
          });
        }
        summary.errored = batch.jobs.length;
        return await finish([]);
      }
      log.info('app installed', { duration_ms: outcome.duration_ms });
    }

    let next = 0;
    for (; next < batch.jobs.length; next++) {
      const job = batch.jobs[next] as BatchJob;
      if (reporter.cancelled.has(job.id)) continue;
      if (reporter.yielded || drain.aborted || stop.aborted) break;
      reporter.push({ type: 'start', job_id: job.id });
      const bundleError = prepared?.bundleErrorOf(job);
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
        summary.errored++;
        log.warn('job errored', { job: job.id, error: bundleError.error });
        continue;
      }
      log.info('job started', { job: job.id, test: job.test_path });
      if (shipper) {
        // The server keeps output only for a running run: hold it until the start is acknowledged.
        shipper.open(job.id, reporter.flush());
        if (installOutput) {
          const cut =
            installCut > 0 ? `[… the first ${installCut} characters of the install's output are not kept]\n` : '';
          shipper.write(job.id, 'install', cut + installOutput);
          installOutput = '';
        }
        shipper.write(
          job.id,
          'agent',
          `qgjob-agent: run ${job.attempt} of ${job.test_path} on ${device.target}:${device.name} (batch ${batch.id})\n`,
        );
      }
      running = { job, cancel: new AbortController() };
      const output: OutputSink | undefined = shipper && ((stream, text) => shipper.write(job.id, stream, text));
      const jobCtx: ExecContext = { ...ctx, workdir: prepared?.workdirOf(job) };
      const outcome = await executor.run(job, jobCtx, AbortSignal.any([stop, running.cancel.signal]), output);
      const cancelled = running.cancel.signal.aborted;
      running = undefined;
      if (dropped()) return drop();
      if (cancelled) {
        shipper?.discard(job.id);
        log.info('job cancelled', { job: job.id });
        continue;
      }
      if (shipper) {
        const why = outcome.status === 'passed' ? '' : `: ${firstLine(outcome.error) ?? 'no reason given'}`;
        shipper.write(
          job.id,
          'agent',
          `qgjob-agent: ${outcome.status} in ${formatDuration(outcome.duration_ms)}${why}\n`,
        );
        // Past the grace period the wait is short: stopping stays bounded.
        await shipper.flush(stop.aborted ? 1000 : LOG_FLUSH_MS);
      }
      reporter.push({
        type: 'finish',
        job_id: job.id,
        status: outcome.status,
        duration_ms: outcome.duration_ms,
        error: outcome.error,
      });
      summary[outcome.status]++;
      // Ask before starting the next test, so a `yield` takes effect now rather than one test
      // later. One round trip is nothing next to a real test; very short tests skip the wait
      // and keep their reports coalesced.
      if (next + 1 < batch.jobs.length && outcome.duration_ms >= ASK_BEFORE_NEXT_MS) await reporter.flush();
      if (dropped()) return drop();
      log.info(`job ${outcome.status}`, {
        job: job.id,
        duration_ms: outcome.duration_ms,
        error: outcome.status === 'passed' ? undefined : firstLine(outcome.error),
      });
    }
    const result = await finish(batch.jobs.slice(next));
    if (result.dropped) return drop();
    log.info('batch done', {
      passed: result.passed,
      failed: result.failed,
      errored: result.errored,
      unstarted: result.unstarted,
      yielded: result.yielded || undefined,
    });
    return result;
  } finally {
    clearInterval(heartbeat);
    shipper?.stop();
    prepared?.release();
  }
}

function firstLine(text: string | undefined): string | undefined {
  return text?.split('\n', 1)[0];
}
