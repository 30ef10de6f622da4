/**
 * What the agent writes into the runs' logs of a batch besides each test's own output: the
 * end of the install's output (with the first job started, the run the server marks
 * `app_installed`), and lines of its own (stream `agent`) as each test starts and ends and
 * as its artifacts are kept. Only a batch whose output is shipped has one.
 */
import type { Batch, BatchJob, DeviceSpec } from '@qgjob/protocol';
import { formatDuration } from './duration.js';
import type { OutputSink, RunOutcome } from './executors/types.js';
import type { LogShipper } from './log-shipper.js';

/** The end of an install's output, kept for the first run's log. */
const INSTALL_TAIL_CHARS = 16 * 1024;

export class RunLog {
  private installOutput = '';
  private installCut = 0;

  constructor(
    private readonly shipper: LogShipper,
    private readonly batch: Batch,
    private readonly device: DeviceSpec,
  ) {}

  /** Keeps the end of what provisioning, readying and installing printed. */
  readonly keepInstallOutput: OutputSink = (_stream, text) => {
    this.installOutput += text;
    if (this.installOutput.length > INSTALL_TAIL_CHARS) {
      this.installCut += this.installOutput.length - INSTALL_TAIL_CHARS;
      this.installOutput = this.installOutput.slice(-INSTALL_TAIL_CHARS);
    }
  };

  /** The server keeps output only for a running run: it is held until `started` resolves. */
  open(job: BatchJob, started: Promise<unknown>): void {
    this.shipper.open(job.id, started);
    if (this.installOutput) {
      const cut =
        this.installCut > 0 ? `[… the first ${this.installCut} characters of the install's output are not kept]\n` : '';
      this.shipper.write(job.id, 'install', cut + this.installOutput);
      this.installOutput = '';
    }
    const { device, batch } = this;
    this.note(job.id, `run ${job.attempt} of ${job.test_path} on ${device.target}:${device.name} (batch ${batch.id})`);
  }

  /** Where the test's own output goes. */
  output(jobId: string): OutputSink {
    return (stream, text) => this.shipper.write(jobId, stream, text);
  }

  ended(jobId: string, outcome: RunOutcome): void {
    const why = outcome.status === 'passed' ? '' : `: ${firstLine(outcome.error) ?? 'no reason given'}`;
    this.note(jobId, `${outcome.status} in ${formatDuration(outcome.duration_ms)}${why}`);
  }

  /** A line of the agent's own. */
  note(jobId: string, text: string): void {
    this.shipper.write(jobId, 'agent', `qgjob-agent: ${text}\n`);
  }

  /** A cancelled job's output is sent nowhere. */
  discard(jobId: string): void {
    this.shipper.discard(jobId);
  }
}

export function firstLine(text: string | undefined): string | undefined {
  return text?.split('\n', 1)[0];
}
