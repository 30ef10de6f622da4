/**
 * The command line as commander sees it: the program, then one commander command for each
 * definition in commands/ (its flags, arguments, help and required flags). Loads no command
 * code, so `--help` stays instant; `dispatch` is given the definition of the command to
 * run, which imports its code.
 */
import { Command, CommanderError, Option } from 'commander';
import { type CommandDefinition, type FlagSpec, GLOBAL_FLAGS, type GroupDefinition } from './commands/define.js';
import { COMMANDS } from './commands/index.js';
import { UsageError } from './errors.js';
import { ENVIRONMENT, EXIT_CODES, examples, GITHUB, GLOBAL_OPTIONS } from './help.js';
import { checkRequired, markRequired } from './required.js';
import { suggestion } from './suggest.js';
import { VERSION } from './version.js';

export type Dispatch = (command: CommandDefinition, options: Record<string, unknown>) => Promise<void>;

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

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function optionOf(flag: FlagSpec): Option {
  const option = new Option(flag.spec, flag.description);
  if (flag.env !== undefined) option.env(flag.env);
  if (flag.default !== undefined) option.default(flag.default);
  if (flag.repeat === true) option.argParser(collect);
  return option;
}

/**
 * A command from its definition. Its action hands on the options (with the global ones and
 * the arguments, by name) once the required flags are checked.
 */
function addCommand(parent: Command, definition: CommandDefinition, dispatch: Dispatch): void {
  const command = parent.command(definition.name).description(definition.description);
  for (const argument of definition.args ?? []) command.argument(argument.spec, argument.description);
  for (const flag of [...definition.flags, ...GLOBAL_FLAGS]) command.addOption(optionOf(flag));
  command.addHelpText('before', examples(...definition.examples));
  if (definition.help !== undefined) command.addHelpText('after', definition.help);
  const required = definition.required ?? [];
  markRequired(command, required);
  command.action((...args: unknown[]) => {
    const self = args.at(-1) as Command;
    const options = optionsOf(self);
    for (const [i, argument] of self.registeredArguments.entries()) options[argument.name()] = args[i];
    const needed = definition.relax ? definition.relax(options, required) : required;
    checkRequired(options, needed, definition.hint ?? `see '${pathOf(self)} --help'`);
    return dispatch(definition, options);
  });
}

/** `qgjob app`, `qgjob token`: the group, its commands, and its own `help` command. */
function addGroup(program: Command, group: GroupDefinition, dispatch: Dispatch): void {
  const parent = program
    .command(group.name)
    .description(group.description)
    .addHelpText('before', examples(...group.examples));
  if (group.help !== undefined) parent.addHelpText('after', group.help);
  for (const command of group.commands) addCommand(parent, command, dispatch);
  addHelpCommand(parent);
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

  for (const definition of COMMANDS) {
    if (definition.kind === 'group') addGroup(program, definition, dispatch);
    else addCommand(program, definition, dispatch);
  }
  addHelpCommand(program);
  // Top-level help: Usage, the commands, then the examples and the flags of every command
  // (in the text after), so commander's own list of the program's options is left out.
  program.configureHelp({ visibleOptions: () => [] });
  return program;
}
