/**
 * Command-line definitions kept out of program.ts: the interrupt flags and their help, shared
 * by submit, rerun and wait, and the `rerun` command's flags and help. Loads no command code.
 */
import type { Command } from 'commander';
import { EXIT_CODES, examples, GITHUB, RESULTS_JSON, withGlobals } from '../help.js';

/** --cancel-on-interrupt and --no-cancel-on-interrupt: unset means "only in GitHub Actions". */
export function withInterruptOptions(command: Command): Command {
  return command
    .option(
      '--cancel-on-interrupt',
      'on Ctrl-C, SIGTERM or SIGHUP while waiting, cancel the unfinished jobs before exiting 130 (default in GitHub Actions)',
    )
    .option('--no-cancel-on-interrupt', 'on an interrupt, leave the jobs running (the default outside GitHub Actions)');
}

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

/** `qgjob rerun`: its flags and help (dispatched to the submit command's module). */
export function defineRerun(program: Command): Command {
  return withGlobals(
    withInterruptOptions(
      program
        .command('rerun')
        .description(
          'Submit the tests of a submission again, as a new submission; with --failed only those that did not pass.',
        )
        .option('--submission-id <id>', 'the submission to run again, as qgjob submit printed it')
        .option('--failed', 'only the tests whose job failed, errored or was cancelled')
        .option('--wait', 'wait until every job finished; exit 1 if one failed, errored or was cancelled')
        .option(
          '--timeout <duration>',
          'give up waiting after this long (exit 5): 90s, 30m, 1h30m, 500ms; implies --wait',
        )
        .option('--junit <file>', 'write JUnit XML results to FILE; implies --wait'),
    ),
  )
    .addHelpText(
      'before',
      examples(
        'qgjob rerun --submission-id=sub_456 --failed',
        'qgjob rerun --submission-id=sub_456 --failed --wait --timeout=30m --junit=qgjob.xml',
        'qgjob rerun --submission-id=sub_456 --json',
      ),
    )
    .addHelpText(
      'after',
      `
The new submission has the same org, app version, target, priority, max retries and test
bundle as the jobs it re-runs (the bundle the server already holds: nothing is packed or
uploaded). Without --failed every test of the submission runs again; with --failed only
those whose job failed, errored or was cancelled (not the passed ones, nor those still
queued or running). Nothing to re-run: a note on stderr, exit 0. An unknown submission: exit 2.

Output: as qgjob submit: the new submission id and its jobs, then with --wait the results.

JSON (--json): as qgjob submit --json, with "rerun_of" (the submission re-run) and
  "rerun_jobs" (its job ids re-run) instead of "bundle"; with --wait also
  ${RESULTS_JSON}
  Nothing to re-run: {"rerun_of", "submission_id": null, "jobs": []}.

${INTERRUPT_HELP}

${GITHUB}

${EXIT_CODES}`,
    );
}
