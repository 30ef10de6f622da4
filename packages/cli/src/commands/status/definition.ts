/** `qgjob status`: its flags, help and required flags; the code that runs it is ./run.ts. */
import { type CommandOptions, defineCommand, FIND_IDS, flag } from '../define.js';

const FLAGS = [
  flag('--job-id <id>', 'the job to show'),
  flag('--submission-id <id>', 'show every job of this submission instead'),
];

export type StatusOptions = CommandOptions<typeof FLAGS>;

export const status = defineCommand({
  name: 'status',
  description: 'Show a job with its runs, or the jobs of a submission.',
  flags: FLAGS,
  required: [['--job-id', '--submission-id']],
  hint: FIND_IDS,
  load: async () => (await import('./run.js')).run,
  examples: [
    'qgjob status --job-id=job_123',
    'qgjob status --submission-id=sub_456',
    'qgjob status --job-id=job_123 --json',
  ],
  help: `\nA job's runs are followed by the files they left (test artifacts), with the command that
downloads them.

JSON (--json): the job as the server returns it: {"id", "status", "org_id", "app_version_id", "test_path",
  "target", "priority", "attempts", "created_at", "started_at", "finished_at", "runs": [{"n", "status",
  "agent", "device", "batch_id", "app_installed", "started_at", "finished_at", "error",
  "artifacts": [{"name", "size", "sha256", "content_type", "created_at"}]}], ...}
  With --submission-id: {"id", "org_id", "created_at", "jobs": [...]}.`,
});
