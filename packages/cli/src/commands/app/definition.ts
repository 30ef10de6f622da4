/** `qgjob app upload`: its flags, help and required flags; the code that runs it is ./run.ts. */
import { EXIT_CODES } from '../../help.js';
import { arg, type CommandOptions, defineCommand, defineGroup, flag } from '../define.js';

const FLAGS = [
  flag('--org-id <org>', 'tenant id, e.g. qualgent'),
  flag('--app-version-id <id>', 'the app version this build is, e.g. xyz123'),
  flag('--url <url>', 'instead of FILE: an http(s) URL the server downloads the build from'),
  flag('--filename <name>', "with --url: the build's file name, e.g. app-release.apk (default: the URL's last part)"),
];
const ARGS = [arg('[file]', 'the built app: .apk, .aab or .ipa')];

export type AppUploadOptions = CommandOptions<typeof FLAGS, typeof ARGS>;

const upload = defineCommand({
  name: 'upload',
  description: 'Register FILE (uploaded unless the server holds it already) or --url as the build of an app version.',
  flags: FLAGS,
  args: ARGS,
  required: [['--org-id'], ['--app-version-id'], ['FILE', '--url']],
  load: async () => (await import('./run.js')).run,
  examples: [
    'qgjob app upload --org-id=qualgent --app-version-id=xyz123 build/app-release.apk',
    'qgjob app upload --org-id=qualgent --app-version-id=$BUILD app.ipa --json',
    'qgjob app upload --org-id=qualgent --app-version-id=xyz123 --url=https://ci.example.com/builds/xyz123.apk',
  ],
  help: `
FILE is hashed (SHA-256) and uploaded only when the server does not hold that content yet;
--url has the server download the build itself. An app version keeps the build it was
registered with: registering the same build again is fine, a different one is refused (exit 2).

Output: app version VER (org ORG): build SHA (SIZE, NAME) uploaded | already on the server |
  fetched by the server from URL | already registered for this version

JSON (--json): {"org_id", "app_version_id", "sha256", "size", "filename", "source_url",
  "browserstack", "created_at", "created", "uploaded"}; created is false when the version
  already had this build, uploaded is true when this command sent the file's bytes.

${EXIT_CODES}`,
});

export const app = defineGroup({
  name: 'app',
  description: 'Register the build of an app version, so agents install exactly that build.',
  examples: [
    'qgjob app upload --org-id=qualgent --app-version-id=xyz123 build/app-release.apk',
    'qgjob app upload --org-id=qualgent --app-version-id=xyz123 --url=https://ci.example.com/builds/xyz123.apk',
  ],
  commands: [upload],
});
