/**
 * Errors the CLI throws on purpose. Each carries its exit code; `exit.ts` maps these and
 * every other error (API, network, commander) to one line on stderr and an exit code.
 */

export const EXIT = {
  ok: 0,
  jobsFailed: 1,
  usage: 2,
  unreachable: 3,
  auth: 4,
  timeout: 5,
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export abstract class CliError extends Error {
  abstract readonly exitCode: number;
  /** What the user can do next; printed after the message. */
  readonly hint: string | undefined;
  constructor(message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options?.hint;
  }
}

/** A bad flag or a payload the server would reject: exit 2. */
export class UsageError extends CliError {
  override readonly name = 'UsageError';
  readonly exitCode = EXIT.usage;
}

/** The server refused the credentials, or they do not allow what was asked: exit 4. */
export class AuthError extends CliError {
  override readonly name = 'AuthError';
  readonly exitCode = EXIT.auth;
}

/** `--timeout` elapsed before every job finished: exit 5. */
export class WaitTimeoutError extends CliError {
  override readonly name = 'WaitTimeoutError';
  readonly exitCode = EXIT.timeout;
}

/** The server does not offer what the command needs (an older job-server): exit 3. */
export class UnsupportedError extends CliError {
  override readonly name = 'UnsupportedError';
  readonly exitCode = EXIT.unreachable;
}

/**
 * The server answered something the CLI will not act on (an artifact name that would be
 * written outside the directory, bytes that do not match their hash): a server error, exit 3.
 */
export class ServerAnswerError extends CliError {
  override readonly name = 'ServerAnswerError';
  readonly exitCode = EXIT.unreachable;
}

/** Ctrl-C: exit 130. */
export class InterruptedError extends CliError {
  override readonly name = 'InterruptedError';
  readonly exitCode = EXIT.interrupted;
}
