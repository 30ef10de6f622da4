/**
 * Reading the server's OpenAPI document (`GET /docs/json`) and checking an answer against
 * it: the status is one the operation lists (or one the framework gives on any route), the
 * body matches the JSON schema documented for that status, error answers have the error
 * shape, and every API answer carries the security headers.
 *
 * The schema checker covers the subset @fastify/swagger emits from the protocol's TypeBox
 * schemas: type, properties, required, additionalProperties, items, anyOf/oneOf/allOf,
 * const/enum, nullable, minimum/maximum, minLength/maxLength, minItems/maxItems, pattern,
 * format date-time (loosely), $ref into components.
 */

export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  nullable?: boolean;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number | boolean;
  exclusiveMaximum?: number | boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  example?: unknown;
  examples?: unknown[];
  [extension: `x-${string}`]: unknown;
}

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: JsonSchema;
  example?: unknown;
}

export interface MediaType {
  schema?: JsonSchema;
}

export interface ResponseObject {
  description?: string;
  content?: Record<string, MediaType>;
}

export interface OperationObject {
  summary?: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, MediaType> };
  responses?: Record<string, ResponseObject>;
}

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, OperationObject>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

/** One path × method of the document. */
export interface Operation {
  method: string;
  /** As the document writes it, e.g. `/v1/jobs/{id}/runs/{n}/artifacts/{*}`. */
  path: string;
  parameters: Parameter[];
  /** The JSON schema of the request body, when the operation takes JSON. */
  body?: JsonSchema;
  bodyRequired: boolean;
  responses: Record<string, ResponseObject>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

/** Every operation of the document but /docs itself, in document order. */
export function operations(doc: OpenApiDocument): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    if (path === '/docs' || path.startsWith('/docs/')) continue;
    for (const [method, op] of Object.entries(item)) {
      if (!METHODS.includes(method)) continue;
      out.push({
        method: method.toUpperCase(),
        path,
        parameters: op.parameters ?? [],
        body: op.requestBody?.content?.['application/json']?.schema,
        bodyRequired: op.requestBody?.required ?? false,
        responses: op.responses ?? {},
      });
    }
  }
  return out;
}

export const opKey = (op: { method: string; path: string }) => `${op.method} ${op.path}`;

/** Follows a local `$ref` (`#/components/schemas/X`). */
export function deref(doc: OpenApiDocument, schema: JsonSchema): JsonSchema {
  let s = schema;
  for (let hops = 0; s.$ref !== undefined && hops < 20; hops++) {
    const name = s.$ref.replace(/^#\/components\/schemas\//, '');
    const target = doc.components?.schemas?.[name];
    if (!target) throw new Error(`unresolvable $ref ${s.$ref}`);
    s = target;
  }
  return s;
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})$/;
const patterns = new Map<string, RegExp>();

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function typeMatches(type: string, value: unknown): boolean {
  const actual = typeOf(value);
  if (type === 'number') return actual === 'number' || actual === 'integer';
  return type === actual;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

const show = (value: unknown) => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

/** What is wrong with `value` against `schema` (at most `limit` problems), each naming where. */
export function schemaErrors(doc: OpenApiDocument, schema: JsonSchema, value: unknown, at = '$', limit = 10): string[] {
  const out: string[] = [];
  walk(doc, schema, value, at, out, limit);
  return out.slice(0, limit);
}

function walk(
  doc: OpenApiDocument,
  schema: JsonSchema,
  value: unknown,
  at: string,
  out: string[],
  limit: number,
): void {
  if (out.length >= limit) return;
  const s = deref(doc, schema);
  if (value === null && s.nullable === true) return;
  if (s.allOf) for (const part of s.allOf) walk(doc, part, value, at, out, limit);
  for (const union of [s.anyOf, s.oneOf]) {
    if (!union) continue;
    const matches = union.filter((option) => schemaErrors(doc, option, value, at, 1).length === 0).length;
    if (matches === 0) {
      const first = schemaErrors(doc, union[0] as JsonSchema, value, at, 1)[0];
      out.push(`${at}: ${show(value)} matches none of ${union.length} alternatives (first: ${first})`);
      return;
    }
  }
  if ('const' in s && !deepEqual(s.const, value)) out.push(`${at}: ${show(value)} is not ${show(s.const)}`);
  if (s.enum && !s.enum.some((e) => deepEqual(e, value))) {
    out.push(`${at}: ${show(value)} is not one of ${show(s.enum)}`);
  }
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((t) => typeMatches(t, value))) {
      out.push(`${at}: expected ${types.join(' or ')}, got ${typeOf(value)} ${show(value)}`);
      return;
    }
  }
  if (typeof value === 'string') {
    const length = [...value].length;
    if (s.minLength !== undefined && length < s.minLength) out.push(`${at}: shorter than ${s.minLength}`);
    if (s.maxLength !== undefined && length > s.maxLength) out.push(`${at}: longer than ${s.maxLength}`);
    if (s.pattern !== undefined) {
      let re = patterns.get(s.pattern);
      if (!re) {
        re = new RegExp(s.pattern);
        patterns.set(s.pattern, re);
      }
      if (!re.test(value)) out.push(`${at}: ${show(value)} does not match ${s.pattern}`);
    }
    if (s.format === 'date-time' && !DATE_TIME.test(value)) out.push(`${at}: ${show(value)} is not a date-time`);
  }
  if (typeof value === 'number') {
    if (s.minimum !== undefined && value < s.minimum) out.push(`${at}: ${value} is below ${s.minimum}`);
    if (s.maximum !== undefined && value > s.maximum) out.push(`${at}: ${value} is above ${s.maximum}`);
    if (typeof s.exclusiveMinimum === 'number' && value <= s.exclusiveMinimum) out.push(`${at}: ${value} too small`);
    if (typeof s.exclusiveMaximum === 'number' && value >= s.exclusiveMaximum) out.push(`${at}: ${value} too large`);
  }
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < s.minItems) out.push(`${at}: fewer than ${s.minItems} items`);
    if (s.maxItems !== undefined && value.length > s.maxItems) out.push(`${at}: more than ${s.maxItems} items`);
    const items = s.items;
    if (items) {
      for (const [i, item] of value.entries()) walk(doc, items, item, `${at}[${i}]`, out, limit);
    }
  } else if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const name of s.required ?? []) {
      if (!(name in record)) out.push(`${at}: missing required ${name}`);
    }
    for (const [name, child] of Object.entries(record)) {
      const property = s.properties?.[name];
      if (property) walk(doc, property, child, `${at}.${name}`, out, limit);
      else if (s.additionalProperties === false) out.push(`${at}: unexpected property ${name}`);
      else if (typeof s.additionalProperties === 'object') {
        walk(doc, s.additionalProperties, child, `${at}.${name}`, out, limit);
      }
    }
  }
}

/** `{"error": {"code": string, "message": string, ...}}`, the body of every error answer. */
export const ERROR_SHAPE: JsonSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string', minLength: 1 }, message: { type: 'string', minLength: 1 } },
    },
  },
};

/**
 * Answers the framework and the HTTP edge give on any route, whether or not the operation
 * lists them (packages/server/src/http/edge.ts, auth.ts, packages/protocol/src/errors.ts):
 * a credential missing or refused, no such route, a known path asked with another method, a
 * body too large or of the wrong type, a path segment past its length, the rate limit, a
 * header section too large, a request too slow; and a 400 only with the edge's own code
 * `bad_request` (a URL that is not UTF-8, an unreadable request line or header).
 * Each must still carry the error shape.
 */
export const GENERIC_STATUSES: Record<number, string[] | undefined> = {
  400: ['bad_request'],
  401: undefined,
  403: undefined,
  404: undefined,
  405: undefined,
  408: undefined,
  413: undefined,
  414: undefined,
  415: undefined,
  429: undefined,
  431: undefined,
};

export const SECURITY_HEADERS: Record<string, RegExp> = {
  'x-content-type-options': /^nosniff$/i,
  'x-frame-options': /^DENY$/i,
  'content-security-policy': /\S/,
};

export interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
  body: Buffer;
}

const isJson = (contentType: string | undefined) => /^application\/(?:[\w.+-]*\+)?json\b/i.test(contentType ?? '');

/**
 * Every way the answer departs from the document (empty when it conforms). `op` is the
 * documented operation the request was aimed at, or undefined for a method the path does
 * not take (then only the generic answers are allowed). A 5xx is reported here too.
 */
export function conformanceProblems(
  doc: OpenApiDocument,
  op: Operation | undefined,
  request: { method: string; path: string },
  answer: Answer,
): string[] {
  const problems: string[] = [];
  const { status } = answer;
  if (status >= 500) problems.push(`server error ${status}`);
  const documented = op?.responses[String(status)] ?? op?.responses[`${String(status)[0]}XX`] ?? op?.responses.default;
  const contentType = answer.headers['content-type'];
  const head = request.method === 'HEAD';

  let parsed: unknown;
  let parseError: string | undefined;
  if (!head && answer.body.length > 0 && isJson(contentType)) {
    try {
      parsed = JSON.parse(answer.body.toString('utf8'));
    } catch (error) {
      parseError = `body is not JSON although content-type is ${contentType}: ${(error as Error).message}`;
    }
  }

  if (status >= 400 && !head) {
    if (!isJson(contentType)) problems.push(`error answer has content-type ${contentType ?? '(none)'}, not JSON`);
    else if (parseError) problems.push(parseError);
    else {
      const shape = schemaErrors(doc, ERROR_SHAPE, parsed, '$', 3);
      if (shape.length > 0) problems.push(`error body lacks the error shape: ${shape.join('; ')}`);
    }
  }

  if (!documented) {
    // A 5xx is reported above, as itself.
    const generic = status >= 500 || status in GENERIC_STATUSES;
    const codes = GENERIC_STATUSES[status];
    const code = (parsed as { error?: { code?: unknown } } | undefined)?.error?.code;
    if (!generic || (codes && !codes.includes(String(code)))) {
      const listed = op ? Object.keys(op.responses).join(', ') : 'none (method not documented)';
      problems.push(`status ${status}${code ? ` (${String(code)})` : ''} is not documented (listed: ${listed})`);
    }
  } else if (!head) {
    const json = documented.content?.['application/json']?.schema;
    const types = Object.keys(documented.content ?? {});
    if (json) {
      if (!isJson(contentType) && types.length === 1) {
        problems.push(`content-type ${contentType ?? '(none)'} where the document says application/json`);
      } else if (isJson(contentType)) {
        if (parseError) problems.push(parseError);
        else if (answer.body.length === 0) problems.push('empty body where the document has a JSON schema');
        else {
          const errors = schemaErrors(doc, json, parsed);
          if (errors.length > 0)
            problems.push(`body does not match the documented ${status} schema: ${errors.join('; ')}`);
        }
      }
    }
  }

  // A 405 names the methods the path takes; a 429 says when to come back.
  if (status === 405 && !answer.headers.allow) problems.push('405 without an Allow header');
  if (status === 429 && !answer.headers['retry-after']) problems.push('429 without a Retry-After header');

  const path = request.path.split('?')[0] ?? '';
  if (path !== '/' && path !== '/docs' && !path.startsWith('/docs/')) {
    for (const [name, want] of Object.entries(SECURITY_HEADERS)) {
      const got = answer.headers[name];
      if (got === undefined || !want.test(got)) problems.push(`header ${name} is ${got ?? 'missing'}`);
    }
  }
  return problems;
}
