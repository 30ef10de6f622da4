/** `qgjob list`: its flags and help; the code that runs it is ./run.ts. */
import { type CommandOptions, defineCommand, flag } from '../define.js';

const FLAGS = [
  flag('--org-id <org>', 'only this tenant'),
  flag('--status <status>', 'only jobs in this status: queued, assigned, running, passed, failed, errored, cancelled'),
  flag('--app-version-id <id>', 'only this app version'),
  flag('--target <target>', 'only this target: emulator, device or browserstack'),
  flag('--submission-id <id>', 'only jobs of this submission'),
  flag('--limit <n>', 'jobs per page, 1-500 (default: 50)'),
  flag('--cursor <cursor>', 'next page, as printed after the previous page'),
];

export type ListOptions = CommandOptions<typeof FLAGS>;

export const list = defineCommand({
  name: 'list',
  description: 'List jobs, newest first.',
  flags: FLAGS,
  load: async () => (await import('./run.js')).run,
  examples: [
    'qgjob list --org-id=qualgent',
    'qgjob list --org-id=qualgent --status=failed --limit=10',
    'qgjob list --app-version-id=xyz123 --json',
  ],
  help: '\nJSON (--json): {"jobs": [...], "next_cursor": "..." or null}',
});
