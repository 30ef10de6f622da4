/**
 * The server and protocol name payload fields (`org_id`, `tests[3]`); the user typed flags.
 * This turns the first into the second so every validation message names what to fix.
 */
import type { FieldError } from '@qgjob/protocol';
import { UsageError } from './errors.js';

const FLAGS: Record<string, string> = {
  org_id: '--org-id',
  app_version_id: '--app-version-id',
  test_path: '--test',
  tests: '--test',
  target: '--target',
  priority: '--priority',
  max_retries: '--max-retries',
  status: '--status',
  limit: '--limit',
  cursor: '--cursor',
  submission_id: '--submission-id',
  url: '--url',
  filename: 'FILE',
};

/** `tests[3]` → `--test`; unknown fields are returned unchanged. */
export function flagFor(field: string): string {
  const root = /^[a-z_]+/.exec(field)?.[0] ?? field;
  return FLAGS[root] ?? field;
}

/** Rewrites a message that starts with the field name to start with the flag instead. */
export function messageForFlag(error: Pick<FieldError, 'field' | 'message'>): string {
  const flag = flagFor(error.field);
  if (flag === error.field) return error.message;
  if (!error.message.startsWith(error.field)) return `${flag}: ${error.message}`;
  const rest = error.message.slice(error.field.length);
  // "test_path is required (or tests, ...)" speaks of the payload; the user only knows --test.
  if (rest.startsWith(' is required')) return `${flag} is required`;
  return flag + rest;
}

/** All field errors as one line, one clause per flag, so several mistakes are fixed in one go. */
export function fieldErrorsMessage(errors: readonly FieldError[]): string {
  const seen = new Set<string>();
  const clauses: string[] = [];
  for (const error of errors) {
    const flag = flagFor(error.field);
    if (seen.has(flag)) continue;
    seen.add(flag);
    clauses.push(messageForFlag(error));
  }
  return clauses.join('; ');
}

/** Throws a usage error when there are field errors. */
export function throwFieldErrors(errors: readonly FieldError[], hint?: string): void {
  if (errors.length === 0) return;
  throw new UsageError(fieldErrorsMessage(errors), hint === undefined ? undefined : { hint });
}
