#!/usr/bin/env node
/**
 * Entry point of `qgjob-agent`. Parses the flags, runs the agent until a signal: the first
 * SIGTERM/SIGINT drains (exit 0 once running tests finished and unstarted jobs are handed
 * back), a second kills running tests and exits 130 at once.
 */
import { Agent } from './agent.js';
import { describe, RegisterRejectedError, UsageError } from './errors.js';
import { parseFlags } from './flags.js';
import { HELP } from './help.js';
import { createLogger } from './log.js';
import { VERSION } from './version.js';

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`qgjob-agent: ${error.message}\n`);
    return 2;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (parsed.kind === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }

  const logger = createLogger({ level: parsed.config.logLevel });
  const agent = new Agent({ ...parsed.config, logger });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      logger.info(`${signal}: draining; send it again to kill running tests`);
      void agent.stop();
      return;
    }
    logger.warn(`${signal} again: killing running tests`);
    agent.kill();
    process.exit(130);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    await agent.start();
    return 0;
  } catch (error) {
    if (error instanceof RegisterRejectedError) {
      logger.error(describe(error));
      return error.status === 401 || error.status === 403 ? 4 : 2;
    }
    logger.error('agent failed', { error: describe(error) });
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Exit once stderr and stdout are flushed; idle keep-alive sockets must not hold the process.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
