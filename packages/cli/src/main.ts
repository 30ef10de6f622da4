#!/usr/bin/env node
/**
 * Entry point of `qgjob`. Parses the command line, runs the one command asked for, and turns
 * whatever it throws into a line on stderr and an exit code (exit.ts). The first Ctrl-C
 * aborts the command (exit 130 once it has tidied up); a second one exits at once.
 */
import { buildProgram, type CommandName } from './program.js';

interface CommandModule {
  run(options: Record<string, unknown>, signal: AbortSignal): Promise<number>;
}

const COMMANDS: Record<CommandName, () => Promise<CommandModule>> = {
  submit: () => import('./commands/submit.js') as Promise<CommandModule>,
  status: () => import('./commands/status.js') as Promise<CommandModule>,
  wait: () => import('./commands/wait.js') as Promise<CommandModule>,
  list: () => import('./commands/list.js') as Promise<CommandModule>,
  cancel: () => import('./commands/cancel.js') as Promise<CommandModule>,
  logs: () => import('./commands/logs.js') as Promise<CommandModule>,
  artifacts: () => import('./commands/artifacts.js') as Promise<CommandModule>,
  agents: () => import('./commands/agents.js') as Promise<CommandModule>,
  drain: () => import('./commands/drain.js') as Promise<CommandModule>,
  enable: () => import('./commands/drain.js') as Promise<CommandModule>,
  'app upload': () => import('./commands/app.js') as Promise<CommandModule>,
  'token create': () => import('./commands/token.js') as Promise<CommandModule>,
  'token list': () => import('./commands/token.js') as Promise<CommandModule>,
  'token revoke': () => import('./commands/token.js') as Promise<CommandModule>,
};

const controller = new AbortController();

async function fail(error: unknown): Promise<number> {
  const [{ report }, { InterruptedError }] = await Promise.all([import('./exit.js'), import('./errors.js')]);
  const interrupted = controller.signal.aborted && !(error instanceof InterruptedError);
  return report(interrupted ? new InterruptedError('interrupted', { cause: error }) : error);
}

async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram(async (name, options) => {
    const command = await COMMANDS[name]();
    code = await command.run(options, controller.signal);
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (error) {
    return fail(error);
  }
}

/** Exits once stdout and stderr are flushed, so piped output is never cut short. */
function exit(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

process.on('SIGINT', () => {
  if (controller.signal.aborted) process.exit(130);
  controller.abort();
});
// `qgjob list | head -1`: the reader left; that is not an error of ours.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
}
process.on('uncaughtException', (error) => {
  void fail(error).then(exit);
});
process.on('unhandledRejection', (error) => {
  void fail(error).then(exit);
});

exit(await main(process.argv));
