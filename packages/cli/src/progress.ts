/**
 * Progress while waiting, on stderr. On a terminal: one line redrawn in place (counts by
 * status and elapsed time). Elsewhere (CI logs): one plain line per job state change.
 */
import type { JobStatus, JobSummary } from '@qgjob/protocol';
import { JOB_STATUSES } from '@qgjob/protocol';
import { formatDuration } from './duration.js';
import { paintStatus, type Style, stripAnsi } from './output.js';

export interface Progress {
  update(jobs: readonly JobSummary[], elapsedMs: number): void;
  trouble(error: unknown): void;
  /** Removes anything transient from the terminal. */
  stop(): void;
}

type Write = (text: string) => void;
const writeErr: Write = (text) => {
  process.stderr.write(text);
};

function counts(jobs: readonly JobSummary[]): Map<JobStatus, number> {
  const out = new Map<JobStatus, number>();
  for (const job of jobs) out.set(job.status, (out.get(job.status) ?? 0) + 1);
  return out;
}

export function countsText(jobs: readonly JobSummary[], style: Style): string {
  const byStatus = counts(jobs);
  return JOB_STATUSES.filter((s) => byStatus.has(s))
    .map((s) => `${byStatus.get(s)} ${paintStatus(style, s)}`)
    .join(' · ');
}

function troubleText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** One plain line per change; the first poll gives one overview line instead of one per job. */
export function lineProgress(style: Style, write: Write = writeErr): Progress {
  const last = new Map<string, JobStatus>();
  let first = true;
  return {
    update(jobs) {
      if (first) {
        first = false;
        write(`waiting for ${jobs.length} job${jobs.length === 1 ? '' : 's'}: ${countsText(jobs, style)}\n`);
        for (const job of jobs) last.set(job.id, job.status);
        return;
      }
      for (const job of jobs) {
        if (last.get(job.id) === job.status) continue;
        last.set(job.id, job.status);
        write(`${job.id} ${job.test_path} ${paintStatus(style, job.status)}\n`);
      }
    },
    trouble(error) {
      write(`warning: ${troubleText(error)}; still trying\n`);
    },
    stop() {},
  };
}

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** A single line redrawn in place, ticking between polls so the clock keeps moving. */
export function liveProgress(style: Style, write: Write = writeErr, tickMs = 100): Progress {
  let jobs: readonly JobSummary[] = [];
  let baseElapsed = 0;
  let baseAt = Date.now();
  let frame = 0;
  let note = '';
  const render = () => {
    const elapsed = baseElapsed + (Date.now() - baseAt);
    const spin = style.cyan(SPINNER[frame++ % SPINNER.length] ?? '');
    const body = jobs.length === 0 ? 'waiting for the server' : countsText(jobs, style);
    const line = `${spin} ${body}  ${style.dim(formatDuration(elapsed))}`;
    // A line wider than the terminal wraps, and then \r can no longer redraw it in place.
    const columns = process.stderr.columns ?? 80;
    const withNote = stripAnsi(line + note).length < columns ? line + note : line;
    write(`\r\x1b[2K${withNote}`);
  };
  const timer = setInterval(render, tickMs);
  timer.unref();
  return {
    update(next, elapsedMs) {
      jobs = next;
      baseElapsed = elapsedMs;
      baseAt = Date.now();
      note = '';
      render();
    },
    trouble(error) {
      note = `  ${style.yellow(`(${troubleText(error)}; retrying)`)}`;
      render();
    },
    stop() {
      clearInterval(timer);
      write('\r\x1b[2K');
    },
  };
}
