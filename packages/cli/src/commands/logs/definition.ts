/** `qgjob logs`: its flags, help and required flags; the code that runs it is ./run.ts. */
import { type CommandOptions, defineCommand, FIND_JOB_IDS, flag } from '../define.js';

const FLAGS = [
  flag('--job-id <id>', 'the job whose output to print'),
  flag(
    '--follow',
    'keep printing new output until the job finishes; exit 0 if it passed, 1 if it failed, errored or was cancelled',
  ),
];

export type LogsOptions = CommandOptions<typeof FLAGS>;

export const logs = defineCommand({
  name: 'logs',
  description: "Print a job's test output, every run in order; --follow prints it as it is produced.",
  flags: FLAGS,
  required: [['--job-id']],
  hint: FIND_JOB_IDS,
  load: async () => (await import('./run.js')).run,
  examples: [
    'qgjob logs --job-id=job_123',
    'qgjob logs --job-id=job_123 --follow',
    'qgjob logs --job-id=job_123 --json | jq -r \'.chunks[] | select(.stream == "stderr") | .text\'',
  ],
  help: `
The output is printed as the agent read it: stdout and stderr of the test interleaved (all on
stdout here), after the install's output on the first run of a batch that installed, with a
line from the agent as each run starts and ends. A retried job prints each run in turn. A
run keeps at most 256 KiB of output; past that a line says how many bytes were dropped.
--follow polls every QGJOB_POLL_INTERVAL_MS (default 1000) and rides out a server restart
of up to 30 s.

JSON (--json): {"job_id", "status", "chunks": [{"run", "seq", "stream", "text", "at"}]}, one
  document once everything so far is read. With --follow, one JSON object per line instead:
  {"job_id", "run", "seq", "stream", "text", "at"} for each chunk as it arrives, then
  {"job_id", "status"} when the job has finished. stream is stdout, stderr, install or agent.

Exit codes:
  0    printed (with --follow: the job passed)
  1    with --follow: the job failed, errored or was cancelled
  2    no such job, or a bad flag
  3    server unreachable or server error
  4    authentication or permission error
  130  interrupted (the job keeps running)`,
});
