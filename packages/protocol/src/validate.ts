/**
 * Validation shared by the server (request bodies and queries) and the CLI (before it
 * sends anything): one schema, one wording of every error.
 */
import type { TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { AppRegisterRequest } from './artifacts.js';
import { LIMITS } from './constants.js';
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

function shown(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) return String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
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
    return { field, message: `${field} must be one of ${allowed.join(', ')} (got ${shown(error.value)})`, allowed };
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
          message: `${field} must be an integer from ${schema.minimum} to ${schema.maximum} (got ${shown(error.value)})`,
        };
      }
      return { field, message: `${field} must be an integer (got ${shown(error.value)})` };
    case ValueErrorType.ArrayMaxItems:
      return {
        field,
        message: `${field} may hold at most ${schema.maxItems} entries (got ${(error.value as unknown[]).length})`,
      };
    case ValueErrorType.ArrayMinItems:
      return { field, message: `${field} must hold at least ${schema.minItems} entry` };
    case ValueErrorType.String:
      return { field, message: `${field} must be a string (got ${shown(error.value)})` };
    case ValueErrorType.Object:
      return { field, message: `${field} must be a JSON object` };
    case ValueErrorType.Array:
      return { field, message: `${field} must be an array` };
    default:
      if (schema.errorMessage) return { field, message: `${field} ${schema.errorMessage} (got ${shown(error.value)})` };
      return { field, message: `${field}: ${error.message.toLowerCase()} (got ${shown(error.value)})` };
  }
}

/** Every problem of `value` against `schema`, one per field, in a stable order. */
export function validationErrors(schema: TSchema, value: unknown): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const error of checker(schema).Errors(value)) {
    // Unions report once for the union and once per failed branch: keep the first per field.
    const described = describe(error);
    if (seen.has(described.field)) continue;
    seen.add(described.field);
    out.push(described);
  }
  return out;
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
