/**
 * The flags and help of the commands that wait for jobs (submit, rerun, wait): what an
 * interrupt does to the jobs waited for, and submit's and rerun's --wait, --timeout and
 * --junit. Loads no command code.
 */
import { type CommandOptions, flag } from './define.js';

/** --cancel-on-interrupt and --no-cancel-on-interrupt: unset means "only in GitHub Actions". */
export const INTERRUPT_FLAGS = [
  flag(
    '--cancel-on-interrupt',
    'on Ctrl-C, SIGTERM or SIGHUP while waiting, cancel the unfinished jobs before exiting 130 (default in GitHub Actions)',
  ),
  flag('--no-cancel-on-interrupt', 'on an interrupt, leave the jobs running (the default outside GitHub Actions)'),
];

export type InterruptOptions = CommandOptions<typeof INTERRUPT_FLAGS>;

export const INTERRUPT_HELP = `Interrupted while waiting (Ctrl-C, or a CI run cancelled or superseded): exit 130.
  In GitHub Actions (GITHUB_ACTIONS=true) or with --cancel-on-interrupt, the first SIGINT,
  SIGTERM or SIGHUP stops the wait and cancels every job it waits for that has not
  finished (queued, assigned or running; a running test is stopped by its agent within
  seconds), all within 4 s, then says on stderr how many were cancelled and which had
  already finished; in GitHub Actions also as a ::warning (an ::error when some could not
  be cancelled), in the job summary and in the step outputs. Finished jobs keep their
  outcome. A job the cancel did not reach in time keeps running, and is named. A second
  signal exits at once.
  Outside GitHub Actions, or with --no-cancel-on-interrupt, the jobs keep running on the
  server, and the message says how to follow or cancel them.
  A runner signals only a step's own process: in a workflow step, run 'exec qgjob ...'.`;

/** submit's and rerun's: wait for the jobs submitted. */
export const WAIT_FLAGS = [
  flag('--wait', 'wait until every job finished; exit 1 if one failed, errored or was cancelled'),
  flag('--timeout <duration>', 'give up waiting after this long (exit 5): 90s, 30m, 1h30m, 500ms; implies --wait'),
  flag('--junit <file>', 'write JUnit XML results to FILE; implies --wait'),
];

/** What submit and rerun share once the request is built (commands/submit/submission.ts). */
export type FollowOptions = CommandOptions<typeof WAIT_FLAGS> & InterruptOptions;
