/**
 * Errors the agent throws or aborts with on purpose. `main.ts` maps them to exit codes;
 * abort reasons tell a killed test why it was killed (and whether to report it).
 */

/** A bad flag or flag value: one line naming the flag, exit 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The server refused this agent for good (bad token, invalid device names): no retry helps. */
export class RegisterRejectedError extends Error {
  override readonly name = 'RegisterRejectedError';
  constructor(
    message: string,
    readonly status: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The batch's lease is gone: the server fenced this agent off (409), forgot the batch, or
 * reports failed for longer than the lease lasts. Stop the batch at once, report nothing more.
 */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

/** Abort reason: a user cancelled the running job. Nothing more is reported for it. */
export class JobCancelledError extends Error {
  override readonly name = 'JobCancelledError';
}

/** Abort reason: the agent is shutting down and the grace period has elapsed. */
export class ShutdownError extends Error {
  override readonly name = 'ShutdownError';
}

/** Abort reason: a second signal. Kill at once (SIGKILL), report nothing, exit. */
export class ForcedStopError extends Error {
  override readonly name = 'ForcedStopError';
}

/** A message for logs and reports, whatever was thrown. */
export function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return error.message + cause;
  }
  return String(error);
}
