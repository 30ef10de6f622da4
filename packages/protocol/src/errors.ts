/**
 * Error codes of the API, each defined once with its HTTP status. The server maps
 * thrown errors to these; the CLI maps them to exit codes.
 */
export const ERROR_CODES = {
  validation_failed: 400,
  invalid_json: 400,
  /** The request line, a header or the URL could not be read (malformed, not UTF-8). */
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  conflict: 409,
  artifact_limit: 409,
  body_too_large: 413,
  uri_too_long: 414,
  unsupported_media_type: 415,
  idempotency_conflict: 422,
  hash_mismatch: 422,
  fetch_failed: 422,
  rate_limited: 429,
  queue_full: 429,
  headers_too_large: 431,
  internal: 500,
  unavailable: 503,
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

export function statusOf(code: ErrorCode): number {
  return ERROR_CODES[code];
}
