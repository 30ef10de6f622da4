/**
 * The command line of `qgjob-agent` (SPEC.md) turned into an AgentConfig. Every problem is
 * a UsageError whose message names the flag; both `--flag=value` and `--flag value` work.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseServers } from '@qgjob/client';
import {
  type DeviceSpec,
  type FlagWording,
  parseDurationFlag,
  parseIntFlag,
  parseSizeFlag,
  TARGETS,
  type Target,
} from '@qgjob/protocol';
import { type AgentConfig, EXECUTORS, type ExecutorName } from './config.js';
import { UsageError } from './errors.js';
import { APP_PATH_PLACEHOLDERS } from './executors/app-path.js';
import { COMMAND_PLACEHOLDERS } from './executors/command.js';
import { INSTALL_PLACEHOLDERS } from './executors/install.js';
import { placeholders } from './executors/template.js';
import { LOG_LEVELS, type LogLevel } from './log.js';

export type ParsedFlags = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; config: AgentConfig };

const OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
  name: { type: 'string' },
  device: { type: 'string', multiple: true },
  executor: { type: 'string' },
  command: { type: 'string' },
  workdir: { type: 'string' },
  project: { type: 'string' },
  'test-timeout': { type: 'string' },
  'install-command': { type: 'string' },
  'install-timeout': { type: 'string' },
  'app-path': { type: 'string' },
  'local-parallel': { type: 'boolean' },
  'appium-command': { type: 'string' },
  'appium-port': { type: 'string' },
  adb: { type: 'string' },
  'sim-test-ms': { type: 'string' },
  'sim-install-ms': { type: 'string' },
  'sim-fail': { type: 'string' },
  grace: { type: 'string' },
  'cache-dir': { type: 'string' },
  'cache-max-size': { type: 'string' },
  'deps-command': { type: 'string' },
  'browserstack-api': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

/** Device and agent names the server accepts. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/;

export function parseFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): ParsedFlags {
  let values: Values;
  try {
    ({ values } = parse(argv));
  } catch (error) {
    throw new UsageError(parseArgsMessage(error));
  }
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };

  const serverText = values.server ?? env.QGJOB_SERVER;
  if (!serverText)
    throw new UsageError('--server is required (or set QGJOB_SERVER), e.g. --server=http://localhost:8080');
  let server: string[];
  try {
    server = parseServers(serverText);
  } catch (error) {
    throw new UsageError(`--server: ${(error as Error).message}`);
  }

  const name = values.name;
  if (name !== undefined && !NAME.test(name)) {
    throw new UsageError(
      `--name must be 1-128 letters, digits and ._:@/- starting with a letter or digit (got ${JSON.stringify(name)})`,
    );
  }

  const devices = parseDevices(values.device ?? []);

  const executor = parseExecutor(values);
  const appPath = values['app-path'] ?? (env.QGJOB_APP_PATH || undefined);
  if (appPath !== undefined) checkTemplate('--app-path', appPath, APP_PATH_PLACEHOLDERS);

  if (values.project !== undefined && !/^\S+$/.test(values.project)) {
    throw new UsageError(`--project must be an AppWright project name (got ${JSON.stringify(values.project)})`);
  }

  const logLevel = (values['log-level'] ?? env.LOG_LEVEL ?? 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(logLevel)})`);
  }

  const config: AgentConfig = {
    server,
    token: values.token || env.QGJOB_TOKEN || undefined,
    name,
    devices,
    executor,
    command: values.command,
    workdir: parseWorkdir(values.workdir),
    project: values.project,
    testTimeoutMs: durationFlag('--test-timeout', values['test-timeout'], false),
    installCommand: values['install-command'],
    installTimeoutMs: durationFlag('--install-timeout', values['install-timeout'], false),
    appPath,
    localParallel: values['local-parallel'],
    appiumCommand: nonEmpty('--appium-command', values['appium-command']),
    appiumPort: portFlag('--appium-port', values['appium-port']),
    adb: nonEmpty('--adb', values.adb),
    simTestMs: integerFlag('--sim-test-ms', values['sim-test-ms']),
    simInstallMs: integerFlag('--sim-install-ms', values['sim-install-ms']),
    simFail: regexFlag('--sim-fail', values['sim-fail']),
    graceMs: durationFlag('--grace', values.grace, true),
    cacheDir: optionalPath(values['cache-dir'] ?? (env.QGJOB_CACHE_DIR || undefined)),
    cacheMaxBytes: sizeFlag('--cache-max-size', values['cache-max-size']),
    depsCommand: nonEmpty('--deps-command', values['deps-command']),
    browserstackApi: urlFlag('--browserstack-api', values['browserstack-api']),
    logLevel,
  };
  return { kind: 'run', config };
}

type Values = ReturnType<typeof parse>['values'];

/** --executor, and the flags that go only with some executors (checked against it). */
function parseExecutor(values: Values): ExecutorName {
  const executor = (values.executor ?? 'appwright') as ExecutorName;
  if (!EXECUTORS.includes(executor)) {
    throw new UsageError(`--executor must be one of ${EXECUTORS.join(', ')} (got ${JSON.stringify(values.executor)})`);
  }
  const only = (flag: keyof typeof OPTIONS, allowed: ExecutorName[]) => {
    if (values[flag] !== undefined && !allowed.includes(executor)) {
      throw new UsageError(
        `--${flag} applies only to --executor=${allowed.join(' or ')} (the executor is ${executor})`,
      );
    }
  };
  only('command', ['command']);
  only('project', ['appwright']);
  only('local-parallel', ['appwright']);
  only('appium-command', ['appwright']);
  only('appium-port', ['appwright']);
  only('adb', ['appwright']);
  only('install-command', ['appwright', 'command']);
  only('sim-test-ms', ['simulate']);
  only('sim-install-ms', ['simulate']);
  only('sim-fail', ['simulate']);
  if (executor === 'command' && !values.command) {
    throw new UsageError("--executor=command needs --command='TEMPLATE', e.g. --command='./run-test.sh {test_path}'");
  }
  if (values.command !== undefined) checkTemplate('--command', values.command, COMMAND_PLACEHOLDERS);
  if (values['install-command'] !== undefined) {
    checkTemplate('--install-command', values['install-command'], INSTALL_PLACEHOLDERS);
  }
  return executor;
}

function parse(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
}

function parseArgsMessage(error: unknown): string {
  const { code, message } = error as { code?: string; message: string };
  const quoted = /'([^']+)'/.exec(message)?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && quoted) return `unknown flag ${quoted} (see qgjob-agent --help)`;
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' && quoted) {
    return `unexpected argument ${JSON.stringify(quoted)}: every setting is a --flag (see qgjob-agent --help)`;
  }
  return message.split('. ')[0] ?? message;
}

export function parseDevice(text: string): DeviceSpec {
  const at = text.indexOf(':');
  const target = text.slice(0, at) as Target;
  const name = text.slice(at + 1);
  if (at < 0 || !TARGETS.includes(target)) {
    throw new UsageError(
      `--device must be TARGET:NAME with TARGET one of ${TARGETS.join(', ')}, e.g. --device=emulator:emulator-5554 (got ${JSON.stringify(text)})`,
    );
  }
  if (!NAME.test(name)) {
    throw new UsageError(
      `--device name must be 1-128 letters, digits and ._:@/- starting with a letter or digit (got ${JSON.stringify(text)})`,
    );
  }
  return { target, name };
}

function parseDevices(list: string[]): DeviceSpec[] {
  if (list.length === 0) {
    throw new UsageError('--device is required, once per device slot, e.g. --device=emulator:emulator-5554');
  }
  const seen = new Set<string>();
  return list.map((text) => {
    const device = parseDevice(text);
    if (seen.has(device.name)) throw new UsageError(`--device ${device.name} is given twice`);
    seen.add(device.name);
    return device;
  });
}

function checkTemplate(flag: string, template: string, allowed: string[]): void {
  if (template.trim() === '') throw new UsageError(`${flag} must not be empty`);
  for (const name of placeholders(template)) {
    if (!allowed.includes(name)) {
      throw new UsageError(
        `${flag} has an unknown placeholder {${name}}; known: ${allowed.map((a) => `{${a}}`).join(' ')}`,
      );
    }
  }
}

function parseWorkdir(text: string | undefined): string {
  const dir = resolve(text ?? '.');
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new UsageError(`--workdir ${dir} is not a directory`);
  return dir;
}

function optionalPath(text: string | undefined): string | undefined {
  return text === undefined ? undefined : resolve(text);
}

function nonEmpty(flag: string, text: string | undefined): string | undefined {
  if (text !== undefined && text.trim() === '') throw new UsageError(`${flag} must not be empty`);
  return text;
}

function urlFlag(flag: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!/^https?:\/\/\S+$/.test(text)) {
    throw new UsageError(`${flag} must be an http:// or https:// URL (got ${JSON.stringify(text)})`);
  }
  return text;
}

function regexFlag(flag: string, text: string | undefined): RegExp | undefined {
  if (text === undefined) return undefined;
  try {
    return new RegExp(text);
  } catch (error) {
    throw new UsageError(`${flag} is not a valid regular expression: ${(error as Error).message}`);
  }
}

/** Flag values as the agent words them: a UsageError naming the flag. */
const WORDING: FlagWording = {
  fail: (message) => {
    throw new UsageError(message);
  },
};

function durationFlag(flag: string, text: string | undefined, zero: boolean): number | undefined {
  return parseDurationFlag(flag, text, { ...WORDING, zero, examples: '90s, 15m, 1h30m or 500ms' });
}

function sizeFlag(flag: string, text: string | undefined): number | undefined {
  return parseSizeFlag(flag, text, { ...WORDING, examples: '512MiB or 20GiB' });
}

/** Milliseconds, up to a day. */
function integerFlag(flag: string, text: string | undefined): number | undefined {
  return parseIntFlag(flag, text, { ...WORDING, min: 0, max: 86_400_000, takes: 'a whole number of milliseconds' });
}

function portFlag(flag: string, text: string | undefined): number | undefined {
  return parseIntFlag(flag, text, { ...WORDING, min: 1, max: 65535, takes: 'a TCP port, 1-65535' });
}
