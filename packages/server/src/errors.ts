import type { ErrorCode, FieldError } from '@qgjob/protocol';

/** An error the API answers with as-is: a stable code (and so an HTTP status) and a message. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { field?: string; allowed?: string[]; retryAfterSeconds?: number } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AppError';
  }
}

export class ValidationError extends AppError {
  constructor(readonly errors: FieldError[]) {
    const first = errors[0] ?? { field: 'body', message: 'invalid request' };
    const more =
      errors.length > 1
        ? ` (and ${errors.length - 1} more: ${errors
            .slice(1)
            .map((e) => e.field)
            .join(', ')})`
        : '';
    super('validation_failed', first.message + more, { field: first.field, allowed: first.allowed });
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends AppError {
  constructor(kind: string, id: string) {
    super('not_found', `no ${kind} with id ${id}`);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends AppError {
  constructor(message: string) {
    super('conflict', message);
    this.name = 'ConflictError';
  }
}

/** Another live process holds the embedded store's data directory. */
export class StoreInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `the data directory ${dataDir} is in use by process ${pid}: stop that job-server, or give this one --data-dir, --memory or --database-url`,
    );
    this.name = 'StoreInUseError';
  }
}
