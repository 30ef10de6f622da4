/**
 * `qgjob logs`: a job's run logs, every run in order, as the agent shipped them. With
 * --follow it keeps polling, prints new output as it arrives, and exits once the job has
 * finished, with wait's exit code (0 passed; 1 failed, errored or cancelled).
 *
 * All log text goes to stdout, as it was printed (stderr included, interleaved in the order
 * the agent read it); messages go to stderr. --json prints one document at the end, or with
 * --follow one JSON object per line: each chunk as it arrives, then the job's final status.
 */

import { isTransient } from '@qgjob/client';
import type { JobLogs, LogChunk } from '@qgjob/protocol';
import { LOG_LIMITS } from '@qgjob/protocol';
import { type Context, createContext } from '../../context.js';
import { EXIT, InterruptedError, UsageError } from '../../errors.js';
import { paintStatus } from '../../output.js';
import { notFound } from '../../sources.js';
import { pause, pollIntervalFromEnv } from '../../wait.js';
import type { LogsOptions } from './definition.js';

/** How long --follow polls through a server that is down before giving up. */
const TOLERANCE_MS = 30_000;
const INTERRUPTED = 'interrupted — the job keeps running on the server';

class Printer {
  private endsWithNewline = true;
  readonly chunks: LogChunk[] = [];

  constructor(
    private readonly jobId: string,
    private readonly json: boolean,
    private readonly follow: boolean,
  ) {}

  print(chunks: readonly LogChunk[]): void {
    if (this.json && !this.follow) {
      this.chunks.push(...chunks);
      return;
    }
    let out = '';
    for (const chunk of chunks) {
      out += this.json ? `${JSON.stringify({ job_id: this.jobId, ...chunk })}\n` : chunk.text;
    }
    if (out === '') return;
    if (!this.json) this.endsWithNewline = out.endsWith('\n');
    process.stdout.write(out);
  }

  end(logs: JobLogs): void {
    if (this.json) {
      if (this.follow) process.stdout.write(`${JSON.stringify({ job_id: logs.job_id, status: logs.status })}\n`);
      else {
        const doc = { job_id: logs.job_id, status: logs.status, chunks: this.chunks };
        process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
      }
    } else if (!this.endsWithNewline && process.stdout.isTTY) {
      // Keep the prompt (and our own messages) off the log's last line.
      process.stdout.write('\n');
    }
  }
}

async function read(ctx: Context, jobId: string, after: string | null): Promise<JobLogs> {
  return ctx.client.getLogs(jobId, after).catch(notFound('job', jobId));
}

export async function run(options: LogsOptions, signal: AbortSignal): Promise<number> {
  const jobId = options.jobId;
  if (jobId === undefined || jobId === '') {
    throw new UsageError('--job-id is required', { hint: "find job ids with 'qgjob list'" });
  }
  const ctx = createContext(options, signal);
  const follow = options.follow === true;
  const printer = new Printer(jobId, ctx.json, follow);
  const intervalMs = pollIntervalFromEnv();
  let after: string | null = null;
  let troubleSince: number | undefined;
  let told = false;
  for (;;) {
    if (signal.aborted) throw new InterruptedError(INTERRUPTED);
    let logs: JobLogs;
    try {
      logs = await read(ctx, jobId, after);
      troubleSince = undefined;
    } catch (error) {
      if (signal.aborted) throw new InterruptedError(INTERRUPTED, { cause: error });
      if (!follow || !isTransient(error)) throw error;
      troubleSince ??= Date.now();
      if (Date.now() - troubleSince >= TOLERANCE_MS) throw error;
      await pause(intervalMs, signal);
      continue;
    }
    printer.print(logs.chunks);
    after = logs.next_after;
    if (logs.done) {
      printer.end(logs);
      if (!follow) return EXIT.ok;
      process.stderr.write(`job ${jobId} ${paintStatus(ctx.err, logs.status)}\n`);
      return logs.status === 'passed' ? EXIT.ok : EXIT.jobsFailed;
    }
    if (!follow) {
      // A page that is not the last one: read on at once; otherwise this is all there is for now.
      if (logs.chunks.length > 0) continue;
      printer.end(logs);
      process.stderr.write(
        `job ${jobId} is ${logs.status}: its log may go on — follow it with 'qgjob logs --job-id=${jobId} --follow'\n`,
      );
      return EXIT.ok;
    }
    if (!told && after === null && (logs.status === 'queued' || logs.status === 'assigned')) {
      process.stderr.write(`job ${jobId} is ${logs.status}: waiting for it to start\n`);
      told = true;
    }
    if (logs.chunks.length < LOG_LIMITS.readChunks) await pause(intervalMs, signal);
  }
}
