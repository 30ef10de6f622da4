/** `qgjob artifacts`: its flags, help and required flags; the code that runs it is ./run.ts. */
import { type CommandOptions, defineCommand, FIND_JOB_IDS, flag } from '../define.js';

const FLAGS = [
  flag('--job-id <id>', 'the job whose files to download'),
  flag('--run <n>', 'only this run (attempt number, from 1); default: every run'),
  flag('--dir <dir>', 'where to put them (default: ./qgjob-artifacts/<job-id>)'),
];

export type ArtifactsOptions = CommandOptions<typeof FLAGS>;

export const artifacts = defineCommand({
  name: 'artifacts',
  description: "Download the files a job's runs left (screenshots, videos, traces) into DIR/run-<n>/<name>.",
  flags: FLAGS,
  required: [['--job-id']],
  hint: FIND_JOB_IDS,
  load: async () => (await import('./run.js')).run,
  examples: [
    'qgjob artifacts --job-id=job_123',
    'qgjob artifacts --job-id=job_123 --run=2 --dir=out/failed-login',
    "qgjob artifacts --job-id=job_123 --json | jq -r '.files[].path'",
  ],
  help: `
Each file goes to DIR/run-<n>/<name>, where name is its path inside the run's output dir,
e.g. qgjob-artifacts/job_123/run-1/login-spec/trace.zip. A file already there is replaced. A name that would land outside DIR is refused, and nothing
is written. Every file is checked against its size and SHA-256 before it is kept.
'qgjob status --job-id=ID' lists them without downloading.

Output: one line per file, its path and size; a job without files says so on stderr.

JSON (--json): {"job_id", "dir", "files": [{"run", "name", "path", "size", "sha256"}]};
  dir and path are absolute.

Exit codes:
  0    downloaded, or the job has no files
  2    no such job or run, or a bad flag
  3    server unreachable or server error; a name, size or hash it sent was refused
  4    authentication or permission error
  130  interrupted (files not yet complete are not kept)`,
});
