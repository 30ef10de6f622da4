import type { ErrorCode } from '@qgjob/protocol';

/** The server answered with an error body. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: ErrorCode | string,
    message: string,
    readonly url: string,
    readonly field?: string,
    readonly allowed?: string[],
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** No server answered at any of the URLs. */
export class UnreachableError extends Error {
  override readonly name = 'UnreachableError';
  constructor(
    readonly urls: string[],
    options?: { cause?: unknown },
  ) {
    super(`cannot reach the qgjob server at ${urls.join(', ')}`, options);
  }
}

/** Worth trying again later: no server answered, or it answered 408, 429 or a 5xx. */
export function isTransient(error: unknown): boolean {
  if (error instanceof ApiError) return error.status >= 500 || error.status === 408 || error.status === 429;
  return error instanceof UnreachableError;
}
