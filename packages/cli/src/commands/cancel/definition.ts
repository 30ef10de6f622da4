/** `qgjob cancel`: its flags, help and required flags; the code that runs it is ./run.ts. */
import { type CommandOptions, defineCommand, FIND_JOB_IDS, flag } from '../define.js';

const FLAGS = [flag('--job-id <id>', 'the job to cancel')];

export type CancelOptions = CommandOptions<typeof FLAGS>;

export const cancel = defineCommand({
  name: 'cancel',
  description: 'Cancel a job that has not finished: queued, assigned or running.',
  flags: FLAGS,
  required: [['--job-id']],
  hint: FIND_JOB_IDS,
  load: async () => (await import('./run.js')).run,
  examples: ['qgjob cancel --job-id=job_123', 'qgjob cancel --job-id=job_123 --json'],
  help: `
A queued or assigned job ends cancelled and never runs. A running job ends cancelled at
once too: its agent stops the test within seconds (at its next report to the server). A
job that already passed, failed or errored keeps its outcome: cancelling it is refused
(exit 2); cancelling a cancelled job again is fine.

Output: JOB_ID cancelled

JSON (--json): the job as the server returns it (see 'qgjob status --help').`,
});
