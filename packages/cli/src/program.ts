/**
 * The command line as commander sees it: commands, flags, help texts. Loads no command
 * code, so `--help` stays instant; `dispatch` imports the chosen command on demand.
 */
import { Command, CommanderError } from 'commander';
import { defineRerun, INTERRUPT_HELP, withInterruptOptions } from './commands/definitions.js';
import { UsageError } from './errors.js';
import {
  BUNDLE_LIMIT,
  collect,
  ENVIRONMENT,
  EXIT_CODES,
  examples,
  GITHUB,
  GLOBAL_OPTIONS,
  RESULTS_JSON,
  withGlobals,
} from './help.js';
import { checkRequired, markRequired, type Requirement } from './required.js';
import { suggestion } from './suggest.js';
import { VERSION } from './version.js';

export type CommandName =
  | 'submit'
  | 'status'
  | 'wait'
  | 'list'
  | 'cancel'
  | 'logs'
  | 'artifacts'
  | 'agents'
  | 'drain'
  | 'enable'
  | 'app upload'
  | 'token create'
  | 'token list'
  | 'token revoke';
export type Dispatch = (command: CommandName, options: Record<string, unknown>) => Promise<void>;

type UnknownOption = (this: Command, flag: string) => never;
const commanderUnknownOption = (Command.prototype as unknown as { unknownOption: UnknownOption }).unknownOption;

/** Commander's Command, with "did you mean" also for a mistyped flag written `--flag=value`. */
class QgjobCommand extends Command {
  override createCommand(name?: string): QgjobCommand {
    return new QgjobCommand(name);
  }

  /** Called by commander for an unknown flag: `--tst=a.js` is looked up as `--tst`. */
  unknownOption(flag: string): never {
    const match = /^(--[^=]+)=/.exec(flag);
    if (!match) return commanderUnknownOption.call(this, flag);
    const name = match[1] as string;
    try {
      return commanderUnknownOption.call(this, name);
    } catch (error) {
      if (!(error instanceof CommanderError)) throw error;
      throw new CommanderError(error.exitCode, error.code, error.message.replace(`'${name}'`, `'${flag}'`));
    }
  }
}

/** The options every command takes, before its name (`qgjob --json status`) or after it. */
const GLOBAL_KEYS = ['server', 'token', 'json', 'color'] as const;

/**
 * The command's options, with the global ones given before its name (they are parsed by
 * the program, or by `app`) in place of the command's environment values and defaults.
 */
function optionsOf(command: Command): Record<string, unknown> {
  const options: Record<string, unknown> = { ...command.opts() };
  for (const key of GLOBAL_KEYS) {
    if (command.getOptionValueSource(key) === 'cli') continue;
    for (let parent = command.parent; parent; parent = parent.parent) {
      if (parent.getOptionValueSource(key) === 'cli') {
        options[key] = parent.getOptionValue(key);
        break;
      }
    }
  }
  return options;
}

/** `qgjob app upload`. */
function pathOf(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** What a missing required flag's message ends with, when not `see 'qgjob CMD --help'`. */
const FIND_JOB = "find job ids with 'qgjob list'";
const HINTS: Partial<Record<CommandName, string>> = {
  status: "find ids with 'qgjob list'",
  wait: "find ids with 'qgjob list'",
  cancel: FIND_JOB,
  logs: FIND_JOB,
  artifacts: FIND_JOB,
  'token revoke': "list tokens with 'qgjob token list'",
};

interface Act {
  /** Flags the command cannot run without: marked `(required)` in its help, checked before it runs. */
  required?: readonly Requirement[];
  /** Fewer requirements for some combinations of flags (e.g. submit --dry-run). */
  relax?: (options: Record<string, unknown>, required: readonly Requirement[]) => readonly Requirement[];
  /** Added to the options the command gets. */
  extra?: Record<string, unknown>;
  /** Names for the command's arguments, in order (`file`). */
  args?: readonly string[];
  /** What a missing required flag's message ends with, instead of HINTS. */
  hint?: string;
}

/** The action of a command: its options (with the global ones), checked for required flags, dispatched. */
function act(command: Command, name: CommandName, dispatch: Dispatch, how: Act = {}): Command {
  const required = how.required ?? [];
  markRequired(command, required);
  return command.action((...args: unknown[]) => {
    const self = args.at(-1) as Command;
    const options = { ...optionsOf(self), ...how.extra };
    for (const [i, key] of (how.args ?? []).entries()) options[key] = args[i];
    const needed = how.relax ? how.relax(options, required) : required;
    checkRequired(options, needed, how.hint ?? HINTS[name] ?? `see '${pathOf(self)} --help'`);
    return dispatch(name, options);
  });
}

/** `qgjob help [COMMAND...]`, `qgjob app help upload`: the help on stdout, exit 0. */
function addHelpCommand(parent: Command): void {
  parent
    .command('help')
    .description('Show the help of a command, the same as COMMAND --help.')
    .argument('[command...]', 'the command, e.g. submit or app upload')
    .action((words: string[]) => {
      let target = parent;
      for (const word of words) {
        const next = target.commands.find((c) => c.name() === word || c.aliases().includes(word));
        if (!next) {
          const names = target.commands.map((c) => c.name());
          throw new UsageError(`unknown command '${word}'${suggestion(word, names)}`, {
            hint: `see '${pathOf(target)} --help'`,
          });
        }
        target = next;
      }
      target.outputHelp();
    });
}

export function buildProgram(dispatch: Dispatch): Command {
  const program = new QgjobCommand('qgjob')
    .description(
      'Queue AppWright tests on emulators, devices and BrowserStack, follow them, fail the build when one fails.',
    )
    .usage('<command> [flags]')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .configureOutput({ outputError: () => {} })
    .showSuggestionAfterError(true)
    // The global flags, also before the command name; `optionsOf` hands them to the command.
    .option('--server <url>', 'job-server URL; a comma-separated list fails over')
    .option('--token <token>', 'API token (never printed)')
    .option('--json', 'print exactly one JSON document on stdout')
    .option('--no-color', 'no colour')
    .addHelpText(
      'after',
      `\n${examples(
        'qgjob submit --org-id=qualgent --app-version-id=xyz123 --test=tests/onboarding.spec.js',
        "qgjob submit --org-id=qualgent --app-version-id=xyz123 --test='tests/**/*.spec.js' --wait",
        'qgjob rerun --submission-id=sub_456 --failed --wait',
        'qgjob status --job-id=job_123',
        'qgjob logs --job-id=job_123 --follow',
        'qgjob artifacts --job-id=job_123',
        'qgjob list --org-id=qualgent --status=failed',
        'qgjob agents',
        'qgjob drain --device=emulator-5554 --agent=lab-host-1',
        'qgjob enable --agent=lab-host-1',
        'qgjob app upload --org-id=qualgent --app-version-id=xyz123 build/app-release.apk',
        'qgjob token create --kind=org --org-id=qualgent --name=github-ci --expires=90d',
        'qgjob help submit',
      )}\n${GLOBAL_OPTIONS}\n\n${EXIT_CODES}\n\n${ENVIRONMENT}\n\n${GITHUB}`,
    );

  act(
    withGlobals(
      withInterruptOptions(
        program
          .command('submit')
          .description('Queue one job per test file for an app version; optionally wait for the results.')
          .option('--org-id <org>', 'tenant id, e.g. qualgent')
          .option('--app-version-id <id>', 'the build of the app under test, e.g. xyz123')
          .option('--test <path>', 'test file, or a quoted glob expanded here; repeat for more', collect)
          .option('--target <target>', 'emulator, device or browserstack', 'emulator')
          .option(
            '--priority <priority>',
            '0-9 or low (2), normal (5), high (8), urgent (9); higher runs first (default: 5)',
          )
          .option('--max-retries <n>', 'extra runs when the test itself fails, 0-5 (default: 0)')
          .option('--wait', 'wait until every job finished; exit 1 if one failed, errored or was cancelled')
          .option(
            '--timeout <duration>',
            'give up waiting after this long (exit 5): 90s, 30m, 1h30m, 500ms; implies --wait',
          )
          .option('--junit <file>', 'write JUnit XML results to FILE; implies --wait')
          .option(
            '--bundle-root <dir>',
            'bundle every file under DIR (not node_modules/, .git/, .qgjob/, .env*, .npmrc) instead of only the tests and project files; must hold every test',
          )
          .option('--no-bundle', 'upload no test sources: agents run their own copy of the tests')
          .option('--dry-run', 'list the files the bundle would hold, with sizes, and submit nothing'),
      ),
    )
      .addHelpText(
        'before',
        examples(
          'qgjob submit --org-id=qualgent --app-version-id=xyz123 --test=tests/onboarding.spec.js',
          "qgjob submit --org-id=qualgent --app-version-id=xyz123 --test='tests/**/*.spec.js' --target=device --priority=high",
          "qgjob submit --org-id=qualgent --app-version-id=$BUILD --test='tests/*.spec.js' --wait --timeout=30m --junit=qgjob.xml",
          "cd e2e/login && qgjob submit --org-id=qualgent --app-version-id=xyz123 --test='*.spec.ts' --bundle-root=../..",
        ),
      )
      .addHelpText(
        'after',
        `\nJSON (--json): {"submission_id", "jobs": [{"id", "status", "deduplicated", "org_id", "app_version_id",
  "test_path", "target", "priority"}], "bundle": {"sha256", "files", "bytes", "uploaded"} or null};
  with --wait the same document plus
  ${RESULTS_JSON}

Globs are expanded relative to the current directory and sorted; a plain path is sent as
given. Each invocation carries an idempotency key, so a retried request never queues twice.

Test sources: submit packs the test files, the local files they import (helpers, page
objects, fixtures), appwright.config.*, package.json, package-lock.json /
npm-shrinkwrap.json and tsconfig.json of the current directory into a bundle (at most
${BUNDLE_LIMIT}), uploads it unless the server already holds the same content, and the
agents run the tests from it. With --bundle-root=DIR the bundle holds every file under DIR
instead (run qgjob from inside DIR; test paths stay relative to the current directory).
.env* and .npmrc files are never bundled. When no test path is a file here, nothing is
bundled and the agents run their own copy, as with --no-bundle.

${INTERRUPT_HELP}

${GITHUB}

${EXIT_CODES}`,
      ),
    'submit',
    dispatch,
    {
      required: [['--org-id'], ['--app-version-id'], ['--test']],
      // A dry run submits nothing: it only needs the tests.
      relax: (options, required) =>
        options.dryRun === true ? required.filter(([flag]) => flag === '--test') : required,
    },
  );

  // Dispatched to submit's module, which re-runs through submit's own code.
  act(defineRerun(program), 'submit', dispatch, {
    required: [['--submission-id']],
    extra: { rerun: true },
    hint: "use the id qgjob submit printed, or find ids with 'qgjob list'",
  });

  act(
    withGlobals(
      program
        .command('status')
        .description('Show a job with its runs, or the jobs of a submission.')
        .option('--job-id <id>', 'the job to show')
        .option('--submission-id <id>', 'show every job of this submission instead'),
    )
      .addHelpText(
        'before',
        examples(
          'qgjob status --job-id=job_123',
          'qgjob status --submission-id=sub_456',
          'qgjob status --job-id=job_123 --json',
        ),
      )
      .addHelpText(
        'after',
        `\nA job's runs are followed by the files they left (test artifacts), with the command that
downloads them.

JSON (--json): the job as the server returns it: {"id", "status", "org_id", "app_version_id", "test_path",
  "target", "priority", "attempts", "created_at", "started_at", "finished_at", "runs": [{"n", "status",
  "agent", "device", "batch_id", "app_installed", "started_at", "finished_at", "error",
  "artifacts": [{"name", "size", "sha256", "content_type", "created_at"}]}], ...}
  With --submission-id: {"id", "org_id", "created_at", "jobs": [...]}.`,
      ),
    'status',
    dispatch,
    { required: [['--job-id', '--submission-id']] },
  );

  act(
    withGlobals(
      withInterruptOptions(
        program
          .command('wait')
          .description('Wait until jobs finish; exit 0 when every one passed, 1 otherwise.')
          .option('--job-id <id>', 'a job to wait for; repeat for more', collect)
          .option('--submission-id <id>', 'wait for every job of this submission')
          .option('--timeout <duration>', 'give up after this long (exit 5): 90s, 30m, 1h30m, 500ms')
          .option('--junit <file>', 'write JUnit XML results to FILE'),
      ),
    )
      .addHelpText(
        'before',
        examples(
          'qgjob wait --submission-id=sub_456 --timeout=30m',
          'qgjob wait --job-id=job_123 --job-id=job_124',
          'qgjob wait --submission-id=sub_456 --junit=qgjob.xml',
        ),
      )
      .addHelpText(
        'after',
        `\nJSON (--json): {"jobs": [final job states], "summary": {...}}, i.e.\n  ${RESULTS_JSON.replace('"results": ', '')}\n\n${INTERRUPT_HELP}\n\n${GITHUB}\n\n${EXIT_CODES}`,
      ),
    'wait',
    dispatch,
    { required: [['--job-id', '--submission-id']] },
  );

  act(
    withGlobals(
      program
        .command('list')
        .description('List jobs, newest first.')
        .option('--org-id <org>', 'only this tenant')
        .option(
          '--status <status>',
          'only jobs in this status: queued, assigned, running, passed, failed, errored, cancelled',
        )
        .option('--app-version-id <id>', 'only this app version')
        .option('--target <target>', 'only this target: emulator, device or browserstack')
        .option('--submission-id <id>', 'only jobs of this submission')
        .option('--limit <n>', 'jobs per page, 1-500 (default: 50)')
        .option('--cursor <cursor>', 'next page, as printed after the previous page'),
    )
      .addHelpText(
        'before',
        examples(
          'qgjob list --org-id=qualgent',
          'qgjob list --org-id=qualgent --status=failed --limit=10',
          'qgjob list --app-version-id=xyz123 --json',
        ),
      )
      .addHelpText('after', '\nJSON (--json): {"jobs": [...], "next_cursor": "..." or null}'),
    'list',
    dispatch,
  );

  act(
    withGlobals(
      program
        .command('cancel')
        .description('Cancel a job that has not finished: queued, assigned or running.')
        .option('--job-id <id>', 'the job to cancel'),
    )
      .addHelpText('before', examples('qgjob cancel --job-id=job_123', 'qgjob cancel --job-id=job_123 --json'))
      .addHelpText(
        'after',
        `
A queued or assigned job ends cancelled and never runs. A running job ends cancelled at
once too: its agent stops the test within seconds (at its next report to the server). A
job that already passed, failed or errored keeps its outcome: cancelling it is refused
(exit 2); cancelling a cancelled job again is fine.

Output: JOB_ID cancelled

JSON (--json): the job as the server returns it (see 'qgjob status --help').`,
      ),
    'cancel',
    dispatch,
    { required: [['--job-id']] },
  );

  act(
    withGlobals(
      program
        .command('logs')
        .description("Print a job's test output, every run in order; --follow prints it as it is produced.")
        .option('--job-id <id>', 'the job whose output to print')
        .option(
          '--follow',
          'keep printing new output until the job finishes; exit 0 if it passed, 1 if it failed, errored or was cancelled',
        ),
    )
      .addHelpText(
        'before',
        examples(
          'qgjob logs --job-id=job_123',
          'qgjob logs --job-id=job_123 --follow',
          'qgjob logs --job-id=job_123 --json | jq -r \'.chunks[] | select(.stream == "stderr") | .text\'',
        ),
      )
      .addHelpText(
        'after',
        `
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
      ),
    'logs',
    dispatch,
    { required: [['--job-id']] },
  );

  act(
    withGlobals(
      program
        .command('artifacts')
        .description("Download the files a job's runs left (screenshots, videos, traces) into DIR/run-<n>/<name>.")
        .option('--job-id <id>', 'the job whose files to download')
        .option('--run <n>', 'only this run (attempt number, from 1); default: every run')
        .option('--dir <dir>', 'where to put them (default: ./qgjob-artifacts/<job-id>)'),
    )
      .addHelpText(
        'before',
        examples(
          'qgjob artifacts --job-id=job_123',
          'qgjob artifacts --job-id=job_123 --run=2 --dir=out/failed-login',
          "qgjob artifacts --job-id=job_123 --json | jq -r '.files[].path'",
        ),
      )
      .addHelpText(
        'after',
        `
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
      ),
    'artifacts',
    dispatch,
    { required: [['--job-id']] },
  );

  const app = program
    .command('app')
    .description('Register the build of an app version, so agents install exactly that build.')
    .addHelpText(
      'before',
      examples(
        'qgjob app upload --org-id=qualgent --app-version-id=xyz123 build/app-release.apk',
        'qgjob app upload --org-id=qualgent --app-version-id=xyz123 --url=https://ci.example.com/builds/xyz123.apk',
      ),
    );

  act(
    withGlobals(
      app
        .command('upload')
        .description(
          'Register FILE (uploaded unless the server holds it already) or --url as the build of an app version.',
        )
        .argument('[file]', 'the built app: .apk, .aab or .ipa')
        .option('--org-id <org>', 'tenant id, e.g. qualgent')
        .option('--app-version-id <id>', 'the app version this build is, e.g. xyz123')
        .option('--url <url>', 'instead of FILE: an http(s) URL the server downloads the build from')
        .option(
          '--filename <name>',
          "with --url: the build's file name, e.g. app-release.apk (default: the URL's last part)",
        ),
    )
      .addHelpText(
        'before',
        examples(
          'qgjob app upload --org-id=qualgent --app-version-id=xyz123 build/app-release.apk',
          'qgjob app upload --org-id=qualgent --app-version-id=$BUILD app.ipa --json',
          'qgjob app upload --org-id=qualgent --app-version-id=xyz123 --url=https://ci.example.com/builds/xyz123.apk',
        ),
      )
      .addHelpText(
        'after',
        `
FILE is hashed (SHA-256) and uploaded only when the server does not hold that content yet;
--url has the server download the build itself. An app version keeps the build it was
registered with: registering the same build again is fine, a different one is refused (exit 2).

Output: app version VER (org ORG): build SHA (SIZE, NAME) uploaded | already on the server |
  fetched by the server from URL | already registered for this version

JSON (--json): {"org_id", "app_version_id", "sha256", "size", "filename", "source_url",
  "browserstack", "created_at", "created", "uploaded"}; created is false when the version
  already had this build, uploaded is true when this command sent the file's bytes.

${EXIT_CODES}`,
      ),
    'app upload',
    dispatch,
    { required: [['--org-id'], ['--app-version-id'], ['FILE', '--url']], args: ['file'] },
  );
  addHelpCommand(app);

  act(
    withGlobals(
      program
        .command('agents')
        .description('List the agents and their devices: state, current group, installed builds.'),
    )
      .addHelpText('before', examples('qgjob agents', 'qgjob agents --json'))
      .addHelpText(
        'after',
        `
One row per device. STATE is one of
  busy         holding a batch
  idle         its agent is waiting for work for it
  offline      neither, for 5 s or more (its agent is gone, or resting after a failed batch)
  quarantined  too many infrastructure failures in a row (install failed, device
               unavailable, lease lost): no work until its cool-down ends, then one probe
               job; a success heals it. Shown with the time left: quarantined (25s left)
  draining     drained by an operator, finishing the test it runs
  drained      takes no work until 'qgjob enable'
followed by infrastructure failures in a row, if any: idle (2 failures), and "probation"
once a quarantine's cool-down is over. GROUP is the org/app version of the batch it runs.
LAST SEEN is the agent's last request. WARM lists the builds the device holds installed,
one per org.

JSON (--json): the server's answer, untouched: {"agents": [{"id", "name", "last_seen_at",
  "devices": [{"id", "name", "target", "state", "quarantined_until" (ISO time or null),
  "infra_failures", "batch_id", "org_id", "app_version_id",
  "warm": [{"org_id", "app_version_id"}]}]}]}`,
      ),
    'agents',
    dispatch,
  );

  for (const drained of [true, false]) {
    const verb = drained ? 'drain' : 'enable';
    act(
      withGlobals(
        program
          .command(verb)
          .description(
            drained
              ? 'Admin: take a device, or every device of an agent, out of rotation: it finishes the test it runs and takes no more work.'
              : 'Admin: put drained or quarantined devices back into rotation.',
          )
          .option('--device <id-or-name>', 'a device, by id or by name (as qgjob agents lists it)')
          .option('--agent <name-or-id>', 'an agent: with --device, the one holding it; alone, every device of it'),
      )
        .addHelpText(
          'before',
          examples(
            `qgjob ${verb} --device=emulator-5554`,
            `qgjob ${verb} --device=emulator-5554 --agent=lab-host-1`,
            `qgjob ${verb} --agent=lab-host-1`,
            `qgjob ${verb} --device=dev_123 --json`,
          ),
        )
        .addHelpText(
          'after',
          `
${
  drained
    ? `A drained device finishes the test it is running, hands the rest of its batch back to the
queue (the jobs run elsewhere) and takes no more work until 'qgjob enable'. qgjob agents
shows it draining, then drained.`
    : `An enabled device takes work again. Enabling also lifts a quarantine (a device resting
after infrastructure failures in a row) and clears its failure count.`
}

--device takes a device id, or a device name looked up with GET /v1/agents (on --agent
when given); a name that several agents use needs --agent. --agent alone applies to every
device of that agent (by name or id). Needs an admin token (--token or QGJOB_TOKEN).

Output: one line per device, e.g.
  ${drained ? 'drained emulator-5554 on agent lab-host-1 (finishing batch bat_123)' : 'enabled emulator-5554 on agent lab-host-1'}

JSON (--json): {"devices": [{"id", "name", "target", "agent", "drained", "batch_id"}]};
  agent is the agent's name, batch_id the batch a drained device is finishing, or null.

Exit codes:
  0    done (also when the device already was ${drained ? 'drained' : 'enabled'})
  2    no such device or agent, a device name on several agents, or a bad flag
  3    server unreachable or server error
  4    authentication error, or a token that is not an admin token
  130  interrupted`,
        ),
      verb,
      dispatch,
      { extra: { drained } },
    );
  }

  addTokenCommands(program, dispatch);
  addHelpCommand(program);
  // Top-level help: Usage, the commands, then the examples and the flags of every command
  // (in the text after), so commander's own list of the program's options is left out.
  program.configureHelp({ visibleOptions: () => [] });
  return program;
}

const TOKEN_ADMIN = `Needs an admin token (--token or QGJOB_TOKEN): the server's QGJOB_ADMIN_TOKEN, or a token
made with 'qgjob token create --kind=admin'. A server started with --open takes no tokens.`;

const TOKEN_EXIT = `Exit codes:
  0    done
  2    a bad flag; no such token
  3    server unreachable or server error
  4    authentication error, or a token that is not an admin token
  130  interrupted`;

/** `qgjob token create | list | revoke` (admin). */
function addTokenCommands(program: Command, dispatch: Dispatch): void {
  const token = program
    .command('token')
    .description('Admin: create, list and revoke the API tokens of a job-server that requires them.')
    .addHelpText(
      'before',
      examples(
        'qgjob token create --kind=org --org-id=qualgent --name=github-ci --expires=90d',
        'qgjob token list',
        'qgjob token revoke --id=tok_123',
      ),
    )
    .addHelpText('after', `\n${TOKEN_ADMIN}`);

  act(
    withGlobals(
      token
        .command('create')
        .description('Create a token; its secret is printed once, on stdout.')
        .option(
          '--kind <kind>',
          "org (one org's jobs, apps and artifacts), agent (for qgjob-agent: register, claim, report) or admin (everything)",
        )
        .option('--org-id <org>', 'with --kind=org (and only with it): the org the token reaches')
        .option('--name <name>', 'what it is for, e.g. github-ci (at most 100 characters)')
        .option(
          '--expires <duration>',
          'it stops working after this long: 30d, 12h, 90m; 1m to 3650d (default: never)',
        ),
    )
      .addHelpText(
        'before',
        examples(
          'qgjob token create --kind=org --org-id=qualgent --name=github-ci --expires=90d',
          'qgjob token create --kind=agent --name=lab-host-1',
          'QGJOB_TOKEN=$(qgjob token create --kind=org --org-id=qualgent --name=nightly) qgjob list',
        ),
      )
      .addHelpText(
        'after',
        `
Output: the secret alone on stdout, shown this once (the server keeps only its hash); on
stderr what was created, and that it is not shown again.

JSON (--json): the server's answer: {"id", "kind", "org_id", "name", "created_at",
  "expires_at", "revoked_at", "token"}; token is the secret.

${TOKEN_ADMIN}

${TOKEN_EXIT}`,
      ),
    'token create',
    dispatch,
    { required: [['--kind'], ['--name']], extra: { tokenCommand: 'create' } },
  );

  act(
    withGlobals(token.command('list').description('List the tokens: id, kind, org, name, dates; never their secrets.'))
      .addHelpText('before', examples('qgjob token list', "qgjob token list --json | jq -r '.tokens[].id'"))
      .addHelpText(
        'after',
        `
One row per token: ID KIND ORG NAME CREATED EXPIRES REVOKED ('-' when none). The server's
own admin token (QGJOB_ADMIN_TOKEN) is not listed.

JSON (--json): {"tokens": [{"id", "kind", "org_id", "name", "created_at", "expires_at", "revoked_at"}]}

${TOKEN_ADMIN}

${TOKEN_EXIT}`,
      ),
    'token list',
    dispatch,
    { extra: { tokenCommand: 'list' } },
  );

  act(
    withGlobals(
      token
        .command('revoke')
        .description('Revoke a token: requests with it are refused (401) from now on.')
        .option('--id <id>', "the token's id, as 'qgjob token list' shows it (tok_...)"),
    )
      .addHelpText('before', examples('qgjob token revoke --id=tok_123'))
      .addHelpText(
        'after',
        `
Output: revoked KIND token ID "NAME"

JSON (--json): the token as 'qgjob token list --json' shows it, with revoked_at set.

${TOKEN_ADMIN}

${TOKEN_EXIT}`,
      ),
    'token revoke',
    dispatch,
    { required: [['--id']], extra: { tokenCommand: 'revoke' } },
  );
  addHelpCommand(token);
}
