/** `qgjob wait`: its flags, help and required flags; the code that runs it is ./run.ts. */
import { EXIT_CODES, GITHUB, RESULTS_JSON } from '../../help.js';
import { type CommandOptions, defineCommand, FIND_IDS, flag } from '../define.js';
import { INTERRUPT_FLAGS, INTERRUPT_HELP } from '../waiting.js';

const FLAGS = [
  flag('--job-id <id>', 'a job to wait for; repeat for more', { repeat: true }),
  flag('--submission-id <id>', 'wait for every job of this submission'),
  flag('--timeout <duration>', 'give up after this long (exit 5): 90s, 30m, 1h30m, 500ms'),
  flag('--junit <file>', 'write JUnit XML results to FILE'),
  ...INTERRUPT_FLAGS,
];

export type WaitOptions = CommandOptions<typeof FLAGS>;

export const wait = defineCommand({
  name: 'wait',
  description: 'Wait until jobs finish; exit 0 when every one passed, 1 otherwise.',
  flags: FLAGS,
  required: [['--job-id', '--submission-id']],
  hint: FIND_IDS,
  load: async () => (await import('./run.js')).run,
  examples: [
    'qgjob wait --submission-id=sub_456 --timeout=30m',
    'qgjob wait --job-id=job_123 --job-id=job_124',
    'qgjob wait --submission-id=sub_456 --junit=qgjob.xml',
  ],
  help: `\nJSON (--json): {"jobs": [final job states], "summary": {...}}, i.e.\n  ${RESULTS_JSON.replace('"results": ', '')}\n\n${INTERRUPT_HELP}\n\n${GITHUB}\n\n${EXIT_CODES}`,
});
