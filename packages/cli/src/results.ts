/** Tallies of finished jobs: the summary line, the `--json` summary and the exit code. */
import { isTerminal, type JobSummary } from '@qgjob/protocol';
import { formatDuration } from './duration.js';
import { EXIT } from './errors.js';
import type { Style } from './output.js';

export interface Tally {
  passed: number;
  failed: number;
  errored: number;
  cancelled: number;
  /** Still queued, assigned or running (only after a timeout). */
  unfinished: number;
}

export function tally(jobs: readonly Pick<JobSummary, 'status'>[]): Tally {
  const out: Tally = { passed: 0, failed: 0, errored: 0, cancelled: 0, unfinished: 0 };
  for (const job of jobs) {
    if (isTerminal(job.status)) out[job.status]++;
    else out.unfinished++;
  }
  return out;
}

/** `5 passed, 1 failed, 0 errored, 0 cancelled in 12.3s` (plus `, 2 unfinished` after a timeout). */
export function summaryLine(t: Tally, elapsedMs: number, style: Style): string {
  const parts = [
    t.passed > 0 ? style.green(`${t.passed} passed`) : `${t.passed} passed`,
    t.failed > 0 ? style.red(`${t.failed} failed`) : `${t.failed} failed`,
    t.errored > 0 ? style.red(`${t.errored} errored`) : `${t.errored} errored`,
    t.cancelled > 0 ? style.yellow(`${t.cancelled} cancelled`) : `${t.cancelled} cancelled`,
  ];
  if (t.unfinished > 0) parts.push(style.yellow(`${t.unfinished} unfinished`));
  return `${parts.join(', ')} in ${formatDuration(elapsedMs)}`;
}

/** 0 when every job passed, 1 when any failed, errored or was cancelled. */
export function exitCodeFor(t: Tally): number {
  return t.failed + t.errored + t.cancelled > 0 ? EXIT.jobsFailed : EXIT.ok;
}
