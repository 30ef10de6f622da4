/** `qgjob submit`: its flags, help and required flags; the code that runs it is ./run.ts. */
import { BUNDLE_LIMIT, EXIT_CODES, GITHUB, RESULTS_JSON } from '../../help.js';
import { type CommandOptions, defineCommand, flag } from '../define.js';
import { INTERRUPT_FLAGS, INTERRUPT_HELP, WAIT_FLAGS } from '../waiting.js';

const FLAGS = [
  flag('--org-id <org>', 'tenant id, e.g. qualgent'),
  flag('--app-version-id <id>', 'the build of the app under test, e.g. xyz123'),
  flag('--test <path>', 'test file, or a quoted glob expanded here; repeat for more', { repeat: true }),
  flag('--target <target>', 'emulator, device or browserstack', { default: 'emulator' }),
  flag('--priority <priority>', '0-9 or low (2), normal (5), high (8), urgent (9); higher runs first (default: 5)'),
  flag('--max-retries <n>', 'extra runs when the test itself fails, 0-5 (default: 0)'),
  ...WAIT_FLAGS,
  flag(
    '--bundle-root <dir>',
    'bundle every file under DIR (not node_modules/, .git/, .qgjob/, .env*, .npmrc) instead of only the tests and project files; must hold every test',
  ),
  flag('--no-bundle', 'upload no test sources: agents run their own copy of the tests'),
  flag('--dry-run', 'list the files the bundle would hold, with sizes, and submit nothing'),
  ...INTERRUPT_FLAGS,
];

export type SubmitOptions = CommandOptions<typeof FLAGS>;

export const submit = defineCommand({
  name: 'submit',
  description: 'Queue one job per test file for an app version; optionally wait for the results.',
  flags: FLAGS,
  required: [['--org-id'], ['--app-version-id'], ['--test']],
  // A dry run submits nothing: it only needs the tests.
  relax: (options, required) => (options.dryRun === true ? required.filter(([flag]) => flag === '--test') : required),
  load: async () => (await import('./run.js')).run,
  examples: [
    'qgjob submit --org-id=qualgent --app-version-id=xyz123 --test=tests/onboarding.spec.js',
    "qgjob submit --org-id=qualgent --app-version-id=xyz123 --test='tests/**/*.spec.js' --target=device --priority=high",
    "qgjob submit --org-id=qualgent --app-version-id=$BUILD --test='tests/*.spec.js' --wait --timeout=30m --junit=qgjob.xml",
    "cd e2e/login && qgjob submit --org-id=qualgent --app-version-id=xyz123 --test='*.spec.ts' --bundle-root=../..",
  ],
  help: `\nJSON (--json): {"submission_id", "jobs": [{"id", "status", "deduplicated", "org_id", "app_version_id",
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
});
