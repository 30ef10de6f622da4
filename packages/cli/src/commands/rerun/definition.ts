/** `qgjob rerun`: its flags, help and required flags; the code that runs it is ./run.ts. */
import { EXIT_CODES, GITHUB, RESULTS_JSON } from '../../help.js';
import { type CommandOptions, defineCommand, flag } from '../define.js';
import { INTERRUPT_FLAGS, INTERRUPT_HELP, WAIT_FLAGS } from '../waiting.js';

const FLAGS = [
  flag('--submission-id <id>', 'the submission to run again, as qgjob submit printed it'),
  flag('--failed', 'only the tests whose job failed, errored or was cancelled'),
  ...WAIT_FLAGS,
  ...INTERRUPT_FLAGS,
];

export type RerunOptions = CommandOptions<typeof FLAGS>;

export const rerun = defineCommand({
  name: 'rerun',
  description:
    'Submit the tests of a submission again, as a new submission; with --failed only those that did not pass.',
  flags: FLAGS,
  required: [['--submission-id']],
  hint: "use the id qgjob submit printed, or find ids with 'qgjob list'",
  load: async () => (await import('./run.js')).run,
  examples: [
    'qgjob rerun --submission-id=sub_456 --failed',
    'qgjob rerun --submission-id=sub_456 --failed --wait --timeout=30m --junit=qgjob.xml',
    'qgjob rerun --submission-id=sub_456 --json',
  ],
  help: `
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
});
