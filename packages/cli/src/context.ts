/** What every command gets: the parsed global options, a client, styles and the Ctrl-C signal. */
import { parseServers, QgjobClient } from '@qgjob/client';
import type { GlobalOptions } from './commands/define.js';
import { DEFAULT_SERVER } from './constants.js';
import { UsageError } from './errors.js';
import { type GitHub, gitHubFromEnv } from './github.js';
import { colourWanted, makeStyle, type Style } from './output.js';
import { VERSION } from './version.js';

/** --server, --token, --json and --no-color, as commands/define.ts declares them. */
export type { GlobalOptions };

export interface Context {
  client: QgjobClient;
  servers: string[];
  json: boolean;
  /** Styles for stdout and stderr; each is plain unless its stream is a colour terminal. */
  out: Style;
  err: Style;
  /** stderr is a terminal: live progress is possible. */
  interactive: boolean;
  /** Set when running in GitHub Actions (GITHUB_ACTIONS=true): wait adds annotations, a summary, outputs. */
  github: GitHub | undefined;
  signal: AbortSignal;
}

export function createContext(options: GlobalOptions, signal: AbortSignal): Context {
  const server = options.server?.trim() || DEFAULT_SERVER;
  let servers: string[];
  try {
    servers = parseServers(server);
  } catch (error) {
    throw new UsageError(`--server ${(error as Error).message.replace(/^server URL /, '')}`, {
      hint: 'give a URL such as http://localhost:8080, or several separated by commas',
    });
  }
  const token = options.token?.trim() || undefined;
  const colour = options.color !== false;
  return {
    client: new QgjobClient({ server: servers, token, userAgent: `qgjob-cli/${VERSION}`, signal }),
    servers,
    json: options.json === true,
    out: makeStyle(colourWanted(process.stdout, colour)),
    err: makeStyle(colourWanted(process.stderr, colour)),
    interactive: process.stderr.isTTY === true,
    github: gitHubFromEnv(),
    signal,
  };
}
