#!/usr/bin/env node
/**
 * Entry point of `qgjob`. Parses the command line, runs the one command asked for, and turns
 * whatever it throws into a line on stderr and an exit code (exit.ts). The first Ctrl-C
 * aborts the command (exit 130 once it has tidied up); a second one exits at once
 * (signals.ts, which a wait cancelling its jobs hooks into).
 */
import { buildProgram } from './program.js';
import { handleSignals } from './signals.js';

const controller = new AbortController();

async function fail(error: unknown): Promise<number> {
  const [{ report }, { InterruptedError }] = await Promise.all([import('./exit.js'), import('./errors.js')]);
  const interrupted = controller.signal.aborted && !(error instanceof InterruptedError);
  return report(interrupted ? new InterruptedError('interrupted', { cause: error }) : error);
}

async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram(async (command, options) => {
    const run = await command.load();
    code = await run(options, controller.signal);
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

handleSignals(controller);
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
