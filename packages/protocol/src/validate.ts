/**
 * Validation shared by the server (request bodies and queries) and the CLI (before it
 * sends anything): one schema, one wording of every error.
 */
import type { TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { AppRegisterRequest } from './artifacts.js';
import { LIMITS } from './constants.js';
import { edgeErrors, preview } from './edge.js';
import { SubmitRequest } from './schemas.js';

export interface FieldError {
  /** Dotted field name, e.g. `target` or `tests[3]`; `body` for the whole payload. */
  field: string;
  message: string;
  allowed?: string[];
}

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function checker(schema: TSchema): TypeCheck<TSchema> {
  let check = compiled.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  return check;
}

function fieldName(path: string): string {
  if (path === '') return 'body';
  return path
    .slice(1)
    .split('/')
    .map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join('');
}

function literalsOf(schema: TSchema): string[] | undefined {
  const options = (schema as { anyOf?: TSchema[] }).anyOf;
  if (!options?.every((s) => 'const' in s)) return undefined;
  return options.map((s) => String((s as unknown as { const: unknown }).const));
}

function describe(error: ValueError): FieldError {
  const field = fieldName(error.path);
  const schema = error.schema as TSchema & {
    errorMessage?: string;
    minimum?: number;
    maximum?: number;
    maxItems?: number;
    minItems?: number;
  };
  const allowed = literalsOf(schema);
  if (allowed) {
    return { field, message: `${field} must be one of ${allowed.join(', ')} (got ${preview(error.value)})`, allowed };
  }
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return { field, message: `${field} is required` };
    case ValueErrorType.ObjectAdditionalProperties:
      return { field, message: `unknown field ${field}: remove it or check its spelling` };
    case ValueErrorType.Integer:
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.Number:
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.NumberMaximum:
      if (schema.minimum !== undefined && schema.maximum !== undefined) {
        return {
          field,
          message: `${field} must be an integer from ${schema.minimum} to ${schema.maximum} (got ${preview(error.value)})`,
        };
      }
      return { field, message: `${field} must be an integer (got ${preview(error.value)})` };
    case ValueErrorType.ArrayMaxItems:
      return {
        field,
        message: `${field} may hold at most ${schema.maxItems} entries (got ${(error.value as unknown[]).length})`,
      };
    case ValueErrorType.ArrayMinItems:
      return { field, message: `${field} must hold at least ${schema.minItems} entry` };
    case ValueErrorType.String:
      return { field, message: `${field} must be a string (got ${preview(error.value)})` };
    case ValueErrorType.Object:
      return { field, message: `${field} must be a JSON object` };
    case ValueErrorType.Array:
      return { field, message: `${field} must be an array` };
    default:
      if (schema.errorMessage)
        return { field, message: `${field} ${schema.errorMessage} (got ${preview(error.value)})` };
      return { field, message: `${field}: ${error.message.toLowerCase()} (got ${preview(error.value)})` };
  }
}

/**
 * Every problem of `value` against `schema`, one per field, in a stable order; once the
 * schema holds, the edge rule for strings and named entries (edge.ts), which also makes
 * free text storable in place.
 */
export function validationErrors(schema: TSchema, value: unknown): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const error of expandTagged(checker(schema).Errors(value))) {
    // Unions report once for the union and once per failed branch: keep the first per field.
    const described = describe(error);
    if (seen.has(described.field)) continue;
    seen.add(described.field);
    out.push(described);
    // Enough to act on; a hostile body may hold thousands of problems.
    if (out.length >= MAX_ERRORS) break;
  }
  return out.length > 0 ? out : edgeErrors(schema, value).slice(0, MAX_ERRORS);
}

const MAX_ERRORS = 20;

/**
 * A union of objects tagged by `type` (a report's events) that failed: the errors of the
 * branch its `type` names, so the message names the field (`events[0].duration_ms`), not
 * just the event.
 */
function* expandTagged(errors: Iterable<ValueError>, depth = 0): Generator<ValueError> {
  for (const error of errors) {
    const options = (error.schema as { anyOf?: { properties?: { type?: { const?: unknown } } }[] }).anyOf;
    const tag = (error.value as { type?: unknown } | null)?.type;
    const index =
      error.type === ValueErrorType.Union && depth < 4 && typeof error.value === 'object' && tag !== undefined
        ? (options ?? []).findIndex((o) => o.properties?.type?.const === tag)
        : -1;
    const branch = index >= 0 ? error.errors[index] : undefined;
    if (branch) yield* expandTagged(branch, depth + 1);
    else yield error;
  }
}

export function isValid<T extends TSchema>(schema: T, value: unknown): boolean {
  return checker(schema).Check(value);
}

/** Schema check plus the rules one schema cannot say: exactly one of test_path and tests. */
export function submitErrors(value: unknown): FieldError[] {
  const errors = validationErrors(SubmitRequest, value);
  if (errors.length > 0 || typeof value !== 'object' || value === null) return errors;
  const body = value as SubmitRequest;
  if (body.test_path === undefined && body.tests === undefined) {
    return [{ field: 'test_path', message: 'test_path is required (or tests, a list of test paths)' }];
  }
  if (body.test_path !== undefined && body.tests !== undefined) {
    return [{ field: 'tests', message: 'give either test_path or tests, not both' }];
  }
  if (body.tests && body.tests.length > LIMITS.testsPerSubmission) {
    return [{ field: 'tests', message: `tests may hold at most ${LIMITS.testsPerSubmission} entries` }];
  }
  return [];
}

/** Schema check plus: exactly one of sha256 and url. */
export function appRegisterErrors(value: unknown): FieldError[] {
  const errors = validationErrors(AppRegisterRequest, value);
  if (errors.length > 0 || typeof value !== 'object' || value === null) return errors;
  const body = value as AppRegisterRequest;
  if (body.sha256 === undefined && body.url === undefined) {
    return [{ field: 'sha256', message: 'sha256 is required (an uploaded build), or url (a build to fetch)' }];
  }
  if (body.sha256 !== undefined && body.url !== undefined) {
    return [{ field: 'url', message: 'give either sha256 or url, not both' }];
  }
  return [];
}
