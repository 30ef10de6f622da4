/**
 * What the help of several commands shares: the exit codes, the global options and the
 * environment, the GitHub Actions behaviour, and how examples are shown. Loads no command
 * code.
 */
import { BUNDLE_MAX_BYTES, DEFAULT_SERVER } from './constants.js';

export const EXIT_CODES = `Exit codes:
  0    done (with --wait / wait: every job passed)
  1    with --wait / wait: a job failed, errored or was cancelled
  2    bad flag or rejected payload; unknown id
  3    server unreachable or server error
  4    authentication or permission error
  5    --timeout elapsed before the jobs finished
  130  interrupted`;

export const GLOBAL_OPTIONS = `Options of every command, before or after its name:
  --server=URL     job-server URL; a comma-separated list fails over (default ${DEFAULT_SERVER})
  --token=TOKEN    API token
  --json           print exactly one JSON document on stdout
  --no-color       no colour
  -h, --help       help for the command, with examples (or: qgjob help COMMAND)
  -V, --version    print the version`;

export const ENVIRONMENT = `Environment:
  QGJOB_SERVER            server URL(s), like --server
  QGJOB_TOKEN             API token, like --token
  NO_COLOR                no colour when set
  COLUMNS                 terminal width for tables, when the terminal does not tell
  QGJOB_POLL_INTERVAL_MS  how often wait and logs --follow poll, in ms (default 1000)
  QGJOB_DEBUG=1           print stack traces with errors
  GITHUB_ACTIONS=true     set by GitHub Actions: see "In GitHub Actions" below`;

export const GITHUB = `In GitHub Actions (GITHUB_ACTIONS=true), submit --wait and wait also:
  - fold the progress lines into one log group
  - annotate each failed, errored or cancelled test (::error lines, on stderr)
  - append a Markdown table of the jobs to the file $GITHUB_STEP_SUMMARY names
  - append the outputs submission-id (when the jobs are one submission's), passed, failed,
    errored, cancelled, unfinished, total, timed-out and junit to the file $GITHUB_OUTPUT names
  - annotate an elapsed --timeout (::error)
  - on a cancelled run (SIGINT, SIGTERM), cancel the unfinished jobs before exiting 130
    (--no-cancel-on-interrupt leaves them running)
  stdout (also with --json) and the exit codes stay the same.`;

export const BUNDLE_LIMIT = `${BUNDLE_MAX_BYTES / (1024 * 1024)} MiB of files`;

export const RESULTS_JSON = `"results": {"jobs": [final job states], "summary": {"passed", "failed",
  "errored", "cancelled", "unfinished", "elapsed_ms", "timed_out"}}`;

export function examples(...lines: string[]): string {
  return `Examples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`;
}
