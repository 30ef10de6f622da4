/**
 * A seeded generator of hostile requests for the operations of an OpenAPI document. Each starts from a valid
 * request (the test's fixtures where it has them: seeded ids, a body that passes the
 * cross-field rules; otherwise values derived from the schemas) and makes cases that each
 * change one thing: a path or query parameter, a header, a field of the JSON body, or the
 * body as a whole. Everything is drawn from one PRNG with a fixed seed, so a run sends the
 * same requests every time.
 */

import type { WireRequest } from './http.js';
import { deref, type JsonSchema, type OpenApiDocument, type Operation, type Parameter } from './openapi.js';

/** mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)] as T;
  }
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }
}

export type Cred = 'none' | 'org' | 'agent' | 'admin';
export const CREDS: readonly Cred[] = ['none', 'org', 'agent', 'admin'];

/** Valid values the test knows (seeded ids, a body that passes the cross-field rules). */
export interface Fixtures {
  /** A path parameter's value, unescaped. */
  param(op: Operation, name: string): string | undefined;
  /** Query parameters the base request carries (besides the required ones, derived). */
  query(op: Operation): Record<string, string>;
  /** The base JSON body; undefined: derived from the schema. */
  body(op: Operation): unknown;
  /** A raw body for operations that take bytes rather than JSON (documented with no JSON body). */
  bytes(op: Operation): { contentType: string; data: Buffer } | undefined;
}

/** A request before it is written out: what the mutations change. */
export interface Draft {
  params: Record<string, string>;
  /** Unescaped values, unless `rawQuery` (then written as they are). */
  query: [string, string][];
  rawQuery: Set<number>;
  /** Escaped already (a mutation may put `%ff` or `..` here on purpose). */
  rawParams: Set<string>;
  headers: Record<string, string | string[]>;
  json?: unknown;
  /** The body bytes, when not JSON (or JSON that JSON.stringify cannot write). */
  bytes?: Buffer;
  /** Applied to the serialised JSON body: text swapped in for placeholder strings. */
  splice: [string, string | Buffer][];
  /** Replace the Authorization header (undefined: the case's credential). null: send none. */
  authorization?: string | string[] | null;
  /** Override the method (a method the path does not take). */
  method?: string;
}

export interface FuzzCase {
  op: Operation;
  /** Operation undefined for a method the path does not take. */
  documented: boolean;
  category: string;
  label: string;
  /**
   * `auto`: drawn when the case is sent (`resolveCred`), mostly among the credentials the
   * operation accepted for its valid request, so that most hostile inputs get past the
   * credential check to the validation and the handler behind it.
   */
  cred: Cred | 'hostile' | 'auto';
  /** The draw in [0, 1) that picks an `auto` credential. */
  draw: number;
  draft: Draft;
}

type Mutation = { category: string; label: string; apply(d: Draft): void };

// ---------------------------------------------------------------- valid values from a schema

/** Strings tried, in order, for a string schema with a pattern none of the fixtures fill. */
const STRING_CANDIDATES = [
  'fuzz',
  'fuzz-1',
  'tests/fuzz.spec.js',
  'a',
  'x1',
  'bs://fuzz',
  'https://example.invalid/app.apk',
  '0'.repeat(64),
  'fuzz@example.invalid',
];

function derive(doc: OpenApiDocument, schema: JsonSchema | undefined, depth = 0): unknown {
  if (!schema || depth > 8) return null;
  const s = deref(doc, schema);
  if ('const' in s) return s.const;
  if (s.enum && s.enum.length > 0) return s.enum[0];
  if (s.example !== undefined) return s.example;
  if (s.examples && s.examples.length > 0) return s.examples[0];
  if (s.anyOf?.[0]) return derive(doc, s.anyOf[0], depth + 1);
  if (s.oneOf?.[0]) return derive(doc, s.oneOf[0], depth + 1);
  if (s.allOf) return Object.assign({}, ...s.allOf.map((part) => derive(doc, part, depth + 1)));
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'string': {
      const fits = (v: string) =>
        (s.minLength === undefined || v.length >= s.minLength) &&
        (s.maxLength === undefined || v.length <= s.maxLength) &&
        (s.pattern === undefined || new RegExp(s.pattern).test(v));
      if (s.format === 'date-time') return new Date(0).toISOString();
      return STRING_CANDIDATES.find(fits) ?? 'a'.repeat(Math.max(1, s.minLength ?? 1));
    }
    case 'integer':
    case 'number':
      return s.minimum !== undefined ? s.minimum : 1;
    case 'boolean':
      return true;
    case 'array': {
      const min = Math.max(1, s.minItems ?? 0);
      return Array.from({ length: min }, () => derive(doc, s.items, depth + 1));
    }
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const name of s.required ?? []) out[name] = derive(doc, s.properties?.[name], depth + 1);
      return out;
    }
    default:
      return null;
  }
}

// ---------------------------------------------------------------- hostile values

/** Strings no identifier should take, and some it should survive: [category, label, value]. */
export const HOSTILE_STRINGS: [string, string, string][] = [
  ['nul', 'NUL', '\u0000'],
  ['nul', 'NUL inside', 'fuzz\u0000x'],
  ['unicode', 'lone high surrogate', '\ud800'],
  ['unicode', 'lone low surrogate', 'a\udc00'],
  ['unicode', 'lone surrogate in a path', 't\ud800.spec.js'],
  ['control', 'ESC sequence', '\u001b[2J'],
  ['control', 'DEL', 'a\u007f'],
  ['control', 'C1 control (NEL)', 'a\u0085b'],
  ['control', 'newline', 'a\nb'],
  ['control', 'CR LF header injection', 'a\r\nx-injected: 1'],
  ['control', 'tab', 'a\tb'],
  ['unicode', 'full-width solidus', 'tests\uff0fa.spec.js'],
  ['unicode', 'right-to-left override', 'a\u202eb'],
  ['unicode', 'byte order mark', '\ufeffa'],
  ['unicode', 'zero-width space', 'a\u200bb'],
  ['unicode', 'emoji', '\u{1f600}'],
  ['traversal', 'traversal', '../../../../etc/passwd'],
  ['traversal', 'dot-dot', '..'],
  ['traversal', 'slash', '/'],
  ['traversal', 'absolute path', '/etc/passwd'],
  ['traversal', 'backslash traversal', '..\\..\\windows'],
  ['length', 'empty', ''],
  ['length', 'space', ' '],
  ['traversal', 'percent escapes', '%00%ff%2e%2e%2f'],
  ['injection', 'SQL quote', "' OR '1'='1' --"],
  ['injection', 'HTML', '<script>alert(1)</script>'],
  ['injection', 'JSON text', '{"$gt":""}'],
  ['length', '101 characters', 'a'.repeat(101)],
  ['length', '600 characters', 'b'.repeat(600)],
  ['length', '100,000 characters', 'c'.repeat(100_000)],
];

const LOOKALIKES: Record<string, string> = { a: 'а', e: 'е', o: 'о', c: 'с', p: 'р', x: 'х', i: 'і', s: 'ѕ' };

/** The base value with its first Latin letter that has a Cyrillic twin swapped for it. */
function lookalike(base: string): string {
  const i = [...base].findIndex((ch) => ch in LOOKALIKES);
  if (i < 0) return `а${base}`;
  const chars = [...base];
  chars[i] = LOOKALIKES[chars[i] as string] as string;
  return chars.join('');
}

const DEEP = 100_000;
export const DEEP_ARRAY = '['.repeat(DEEP) + ']'.repeat(DEEP);
const DEEP_OBJECT = '{"a":'.repeat(DEEP) + '1' + '}'.repeat(DEEP);

function numbersFor(s: JsonSchema): [string, string][] {
  const out: [string, string][] = [
    ['1e300', '1e300'],
    ['-1', '-1'],
    ['2**53+1', '9007199254740993'],
    ['1.5', '1.5'],
    ['1e400 (Infinity)', '1e400'],
    ['-0', '-0'],
    ['1e-400', '1e-400'],
  ];
  if (s.maximum !== undefined) out.push(['maximum+1', String(s.maximum + 1)]);
  if (s.minimum !== undefined) out.push(['minimum-1', String(s.minimum - 1)]);
  return out;
}

const QUERY_NUMBERS: [string, string][] = [
  ['1e300', '1e300'],
  ['-1', '-1'],
  ['2**53+1', '9007199254740993'],
  ['1.5', '1.5'],
  ['hex', '0x10'],
  ['Infinity', 'Infinity'],
  ['NaN', 'NaN'],
  ['trailing garbage', '5abc'],
  ['empty', ''],
];

function kindOf(doc: OpenApiDocument, schema: JsonSchema | undefined): string {
  if (!schema) return 'unknown';
  const s = deref(doc, schema);
  if (s.enum || 'const' in s) return 'enum';
  if (s.anyOf?.every((o) => deref(doc, o).enum || 'const' in deref(doc, o))) return 'enum';
  if (s.anyOf) return 'union';
  if (s.allOf) return 'object';
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  return type ?? 'unknown';
}

// ---------------------------------------------------------------- body slots

type PathPart = string | number;

interface BodySlot {
  path: PathPart[];
  schema: JsonSchema;
  value: unknown;
  required: boolean;
}

/** The branch of a union this value takes (by a `type` enum on objects, else the first that fits). */
function branchFor(doc: OpenApiDocument, s: JsonSchema, value: unknown): JsonSchema | undefined {
  const options = (s.anyOf ?? s.oneOf ?? []).map((o) => deref(doc, o));
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const type = (value as { type?: unknown }).type;
    return (
      options.find((o) => {
        const t = o.properties?.type;
        return t !== undefined && (deref(doc, t).enum?.includes(type) || deref(doc, t).const === type);
      }) ?? options.find((o) => o.properties !== undefined)
    );
  }
  return options[0];
}

function bodySlots(doc: OpenApiDocument, schema: JsonSchema, value: unknown, path: PathPart[] = []): BodySlot[] {
  const out: BodySlot[] = [];
  let s = deref(doc, schema);
  if (s.anyOf || s.oneOf) s = branchFor(doc, s, value) ?? s;
  if (path.length > 6) return out;
  const props: Record<string, JsonSchema> | undefined = s.allOf
    ? Object.assign({}, ...s.allOf.map((p) => deref(doc, p).properties ?? {}))
    : s.properties;
  if (props) {
    const required = s.allOf ? s.allOf.flatMap((p) => deref(doc, p).required ?? []) : (s.required ?? []);
    for (const [name, child] of Object.entries(props)) {
      const childValue = (value as Record<string, unknown> | undefined)?.[name];
      out.push({
        path: [...path, name],
        schema: child,
        value: childValue,
        required: required.includes(name),
      });
      if (childValue !== undefined) out.push(...bodySlots(doc, child, childValue, [...path, name]));
    }
  } else if (s.items && Array.isArray(value) && value.length > 0) {
    out.push({ path: [...path, 0], schema: s.items, value: value[0], required: true });
    out.push(...bodySlots(doc, s.items, value[0], [...path, 0]));
  }
  return out;
}

const fieldName = (path: PathPart[]) =>
  path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || 'body';

function setAt(root: unknown, path: PathPart[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [PathPart, ...PathPart[]];
  const container = (root ?? (typeof head === 'number' ? [] : {})) as Record<PathPart, unknown>;
  container[head] = setAt(container[head], rest, value);
  return container;
}

function deleteAt(root: unknown, path: PathPart[]): void {
  const parent = path.slice(0, -1).reduce<unknown>((v, p) => (v as Record<PathPart, unknown>)?.[p], root);
  const last = path[path.length - 1] as PathPart;
  if (parent && typeof parent === 'object') delete (parent as Record<PathPart, unknown>)[last];
}

function getAt(root: unknown, path: PathPart[]): unknown {
  return path.reduce<unknown>((v, p) => (v as Record<PathPart, unknown> | undefined)?.[p], root);
}

let placeholders = 0;
/** Puts raw JSON text (or bytes) where the slot's value goes, past what JSON.stringify can write. */
function spliceAt(d: Draft, path: PathPart[], raw: string | Buffer): void {
  const marker = `__fuzz_raw_${placeholders++}__`;
  d.json = setAt(d.json, path, marker);
  d.splice.push([JSON.stringify(marker), raw]);
}

function bodyMutations(doc: OpenApiDocument, op: Operation, base: unknown): Mutation[] {
  if (!op.body) return [];
  const out: Mutation[] = [];
  const slot = (category: string, path: PathPart[], label: string, apply: (d: Draft) => void) =>
    out.push({ category, label: `body ${fieldName(path)}: ${label}`, apply });

  for (const s of bodySlots(doc, op.body, base)) {
    // A union slot is mutated as the branch its value takes (an event object, a literal).
    let schema = deref(doc, s.schema);
    let kind = kindOf(doc, schema);
    if (kind === 'union') {
      schema = branchFor(doc, schema, s.value) ?? schema;
      kind = kindOf(doc, schema);
    }
    const set = (value: unknown) => (d: Draft) => {
      d.json = setAt(d.json, s.path, value);
    };
    if (s.required && typeof s.path[s.path.length - 1] === 'string') {
      slot('missing', s.path, 'missing', (d) => deleteAt(d.json, s.path));
    }
    slot('deep', s.path, `an array nested ${DEEP.toLocaleString('en')} levels`, (d) => spliceAt(d, s.path, DEEP_ARRAY));
    slot('deep', s.path, `an object nested ${DEEP.toLocaleString('en')} levels`, (d) =>
      spliceAt(d, s.path, DEEP_OBJECT),
    );
    if (kind === 'string' || kind === 'enum' || kind === 'unknown') {
      const baseText = typeof s.value === 'string' ? s.value : 'fuzz';
      for (const [category, label, value] of HOSTILE_STRINGS) slot(`string:${category}`, s.path, label, set(value));
      slot('string:unicode', s.path, 'Cyrillic lookalike', set(lookalike(baseText)));
      slot('string:nul', s.path, 'NUL after a valid value', set(`${baseText}\u0000`));
      slot('string:injection', s.path, 'upper case', set(baseText.toUpperCase()));
      slot('string:injection', s.path, 'trailing space', set(`${baseText} `));
      if (schema.maxLength !== undefined) {
        slot('string:length', s.path, `maxLength+1 (${schema.maxLength + 1})`, set('m'.repeat(schema.maxLength + 1)));
      }
      slot('utf8', s.path, 'invalid UTF-8 bytes', (d) =>
        spliceAt(
          d,
          s.path,
          Buffer.concat([Buffer.from('"t'), Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80]), Buffer.from('"')]),
        ),
      );
      for (const [label, value] of [
        ['number', 12345],
        ['true', true],
        ['null', null],
        ['array', [baseText]],
        ['object', { value: baseText }],
      ] as const) {
        slot('type', s.path, `wrong type: ${label}`, set(value));
      }
    }
    if (kind === 'integer' || kind === 'number') {
      for (const [label, text] of numbersFor(schema)) slot('number', s.path, label, (d) => spliceAt(d, s.path, text));
      for (const [label, value] of [
        ['string', '1'],
        ['null', null],
        ['true', true],
        ['array', [1]],
      ] as const) {
        slot('type', s.path, `wrong type: ${label}`, set(value));
      }
    }
    if (kind === 'boolean') {
      for (const [label, value] of [
        ['string', 'true'],
        ['number', 1],
        ['null', null],
      ] as const) {
        slot('type', s.path, `wrong type: ${label}`, set(value));
      }
    }
    if (kind === 'array') {
      const items = Array.isArray(s.value) ? s.value : [];
      slot('array', s.path, 'empty', set([]));
      for (const [label, value] of [
        ['string', 'x'],
        ['object', {}],
        ['null', null],
        ['number', 1],
      ] as const) {
        slot('type', s.path, `wrong type: ${label}`, set(value));
      }
      if (items.length > 0) {
        const first = items[0];
        slot('duplicate', s.path, 'the first entry twice', set([first, first, ...items.slice(1)]));
        if (schema.maxItems !== undefined && schema.maxItems <= 5000) {
          slot(
            'array',
            s.path,
            `maxItems+1 (${schema.maxItems + 1}) entries`,
            set(Array.from({ length: schema.maxItems + 1 }, () => first)),
          );
        }
        slot('array', s.path, 'an entry of the wrong type', set([...items, 12345]));
      }
    }
    if (kind === 'object') {
      slot('extra', s.path, 'an extra field', (d) => {
        const v = getAt(d.json, s.path);
        if (v && typeof v === 'object') (v as Record<string, unknown>).zz_fuzz_extra = 'x';
        else d.json = setAt(d.json, s.path, { zz_fuzz_extra: 'x' });
      });
      for (const [label, value] of [
        ['string', 'x'],
        ['array', []],
        ['null', null],
        ['empty object', {}],
      ] as const) {
        slot('type', s.path, `wrong type: ${label}`, set(value));
      }
    }
  }

  // The body as a whole.
  const whole = (category: string, label: string, apply: (d: Draft) => void) =>
    out.push({ category, label: `body: ${label}`, apply });
  const text = JSON.stringify(base);
  whole('extra', 'an extra top-level field', (d) => {
    if (d.json && typeof d.json === 'object') (d.json as Record<string, unknown>).zz_fuzz_extra = 1;
  });
  whole('extra', 'a __proto__ key', (d) => {
    d.json = undefined;
    d.bytes = Buffer.from(`{"__proto__":{"polluted":true},${text.slice(1)}`);
  });
  whole('extra', 'a constructor.prototype key', (d) => {
    d.json = undefined;
    d.bytes = Buffer.from(`{"constructor":{"prototype":{"polluted":true}},${text.slice(1)}`);
  });
  const firstKey = base && typeof base === 'object' ? Object.keys(base)[0] : undefined;
  if (firstKey) {
    whole('duplicate', `key ${firstKey} twice, a NUL the second time`, (d) => {
      d.json = undefined;
      d.bytes = Buffer.from(`${text.slice(0, -1)},${JSON.stringify(firstKey)}:"\\u0000"}`);
    });
  }
  whole('missing', 'an empty object', (d) => {
    d.json = {};
  });
  whole('body', 'not JSON', (d) => {
    d.json = undefined;
    d.bytes = Buffer.from('{"org_id": ');
  });
  whole('body', 'empty, as application/json', (d) => {
    d.json = undefined;
    d.bytes = Buffer.alloc(0);
  });
  whole('body', 'none at all', (d) => {
    d.json = undefined;
    delete d.headers['content-type'];
  });
  whole('body', 'as text/plain', (d) => {
    d.headers['content-type'] = 'text/plain';
  });
  whole('body', 'as application/x-www-form-urlencoded', (d) => {
    d.json = undefined;
    d.bytes = Buffer.from('org_id=acme&test_path=a.js');
    d.headers['content-type'] = 'application/x-www-form-urlencoded';
  });
  whole('body', 'as application/json; charset=utf-16', (d) => {
    d.headers['content-type'] = 'application/json; charset=utf-16';
  });
  whole('body', 'JSON without a content-type', (d) => {
    delete d.headers['content-type'];
  });
  for (const [label, json] of [
    ['JSON null', 'null'],
    ['a JSON array', '[]'],
    ['a JSON string', '"x"'],
    ['a JSON number', '1e400'],
  ] as const) {
    whole('type', label, (d) => {
      d.json = undefined;
      d.bytes = Buffer.from(json);
    });
  }
  whole('deep', `an array nested ${DEEP.toLocaleString('en')} levels`, (d) => {
    d.json = undefined;
    d.bytes = Buffer.from(DEEP_ARRAY);
  });
  whole('utf8', 'invalid UTF-8 bytes outside a string', (d) => {
    d.json = undefined;
    d.bytes = Buffer.concat([Buffer.from(text.slice(0, -1)), Buffer.from([0x2c, 0xff, 0xfe]), Buffer.from('}')]);
  });
  whole('body', 'a byte order mark first', (d) => {
    d.json = undefined;
    d.bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]);
  });
  whole('body', 'trailing garbage', (d) => {
    d.json = undefined;
    d.bytes = Buffer.from(`${text} x`);
  });
  whole('size', 'over 2 MiB', (d) => {
    d.json = undefined;
    d.bytes = Buffer.from(`${text.slice(0, -1)},"zz_pad":"${'p'.repeat(2 * 1024 * 1024 + 10)}"}`);
  });
  return out;
}

/** Operations without a JSON body still get bodies they do not expect. */
function unexpectedBodyMutations(op: Operation, fixtures: Fixtures): Mutation[] {
  if (op.body) return [];
  const out: Mutation[] = [];
  const add = (category: string, label: string, apply: (d: Draft) => void) =>
    out.push({ category, label: `body: ${label}`, apply });
  add('body', 'unexpected invalid JSON', (d) => {
    d.bytes = Buffer.from('{"a": ');
    d.headers['content-type'] = 'application/json';
  });
  add('deep', `unexpected JSON nested ${DEEP.toLocaleString('en')} levels`, (d) => {
    d.bytes = Buffer.from(DEEP_ARRAY);
    d.headers['content-type'] = 'application/json';
  });
  add('utf8', 'unexpected invalid UTF-8 JSON', (d) => {
    d.bytes = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xff, 0xfe, 0xc0, 0x80]), Buffer.from('"}')]);
    d.headers['content-type'] = 'application/json';
  });
  if (fixtures.bytes(op)) {
    add('body', 'bytes as application/json', (d) => {
      d.headers['content-type'] = 'application/json';
      d.bytes = Buffer.from('{"not":"bytes"}');
    });
    add('body', 'bytes as text/html', (d) => {
      d.headers['content-type'] = 'text/html';
      d.bytes = Buffer.from('<script>alert(1)</script>');
    });
    add('body', 'no body at all', (d) => {
      d.bytes = undefined;
      delete d.headers['content-type'];
    });
    add('body', 'a content-length the body does not have', (d) => {
      d.headers['content-length'] = '99999999999999999999';
    });
    add('body', 'a negative content-length', (d) => {
      d.headers['content-length'] = '-1';
    });
  }
  return out;
}

// ---------------------------------------------------------------- parameters and headers

const RAW_PATH_SEGMENTS: [string, string][] = [
  ['%00', '%00'],
  ['%ff%fe (not UTF-8)', '%ff%fe'],
  ['overlong NUL %c0%80', '%c0%80'],
  ['surrogate %ed%a0%80', '%ed%a0%80'],
  ['lone %', '%'],
  ['bad escape %zz', '%zz'],
  ['raw ..', '..'],
  ['%2e%2e', '%2e%2e'],
  ['encoded slash', 'a%2Fb'],
  ['traversal ../..', '../../healthz'],
  ['empty', ''],
];

function paramMutations(doc: OpenApiDocument, op: Operation, base: Draft): Mutation[] {
  const out: Mutation[] = [];
  for (const p of op.parameters) {
    if (p.in === 'path') out.push(...pathParamMutations(doc, p, base.params[p.name] ?? 'x'));
    if (p.in === 'query') out.push(...queryParamMutations(doc, p, base));
    if (p.in === 'header') out.push(...headerParamMutations(p));
  }
  if (op.parameters.some((p) => p.in === 'query') || op.method === 'GET') {
    const q = (label: string, apply: (d: Draft) => void) =>
      out.push({ category: 'query', label: `query: ${label}`, apply });
    q('an unknown parameter', (d) => {
      d.query.push(['zz_fuzz', '1']);
    });
    q('a query string over 16 KiB', (d) => {
      d.query.push(['zz_fuzz', 'q'.repeat(17 * 1024)]);
    });
    q('bare ?&=&', (d) => {
      d.query.push(['&=&', '']);
      d.rawQuery.add(d.query.length - 1);
    });
  }
  return out;
}

function pathParamMutations(doc: OpenApiDocument, p: Parameter, base: string): Mutation[] {
  const out: Mutation[] = [];
  const add = (category: string, label: string, value: string, raw = false) =>
    out.push({
      category,
      label: `path ${p.name}: ${label}`,
      apply(d) {
        d.params[p.name] = value;
        if (raw) d.rawParams.add(p.name);
      },
    });
  for (const [category, label, value] of HOSTILE_STRINGS) add(`string:${category}`, label, value);
  add('string:unicode', 'Cyrillic lookalike', lookalike(base));
  add('string:nul', 'NUL after a valid value', `${base}\u0000`);
  add('long', 'an id of 101 characters', 'i'.repeat(101));
  add('long', 'an id of 600 characters', 'j'.repeat(600));
  add('long', 'an id of 10,000 characters', 'k'.repeat(10_000));
  for (const [label, value] of RAW_PATH_SEGMENTS) add('path', label, value, true);
  if (kindOf(doc, p.schema) === 'integer') for (const [label, value] of QUERY_NUMBERS) add('number', label, value);
  return out;
}

function queryParamMutations(doc: OpenApiDocument, p: Parameter, base: Draft): Mutation[] {
  const out: Mutation[] = [];
  const present = base.query.some(([name]) => name === p.name);
  const baseValue = base.query.find(([name]) => name === p.name)?.[1] ?? 'fuzz';
  const setValue =
    (value: string, raw = false) =>
    (d: Draft) => {
      d.query = d.query.filter(([name]) => name !== p.name);
      d.query.push([p.name, value]);
      if (raw) d.rawQuery.add(d.query.length - 1);
    };
  const add = (category: string, label: string, apply: (d: Draft) => void) =>
    out.push({ category, label: `query ${p.name}: ${label}`, apply });
  const kind = kindOf(doc, p.schema);
  for (const [category, label, value] of HOSTILE_STRINGS) add(`string:${category}`, label, setValue(value));
  add('string:unicode', 'Cyrillic lookalike', setValue(lookalike(baseValue)));
  add('string:nul', 'NUL after a valid value', setValue(`${baseValue}\u0000`));
  const schema = p.schema ? deref(doc, p.schema) : undefined;
  if (schema?.maxLength !== undefined) add('string:length', 'maxLength+1', setValue('m'.repeat(schema.maxLength + 1)));
  if (kind === 'integer' || kind === 'number') {
    for (const [label, value] of QUERY_NUMBERS) add('number', label, setValue(value));
    if (schema?.maximum !== undefined) add('number', 'maximum+1', setValue(String(schema.maximum + 1)));
  }
  add('path', 'raw %ff%fe', setValue('%ff%fe', true));
  add('path', 'raw %00', setValue('%00', true));
  add('path', 'raw lone %', setValue('%', true));
  add('duplicate', 'given twice', (d) => {
    d.query.push([p.name, baseValue], [p.name, 'fuzz']);
  });
  add('type', 'as name[]', (d) => {
    d.query.push([`${p.name}[]`, baseValue]);
  });
  add('type', 'as name[key]', (d) => {
    d.query.push([`${p.name}[$gt]`, '']);
  });
  if (p.required && present) {
    add('missing', 'missing', (d) => {
      d.query = d.query.filter(([name]) => name !== p.name);
    });
  }
  return out;
}

function headerParamMutations(p: Parameter): Mutation[] {
  const out: Mutation[] = [];
  const add = (category: string, label: string, value: string | string[]) =>
    out.push({
      category,
      label: `header ${p.name}: ${label}`,
      apply(d) {
        d.headers[p.name] = value;
      },
    });
  for (const [, label, value] of HOSTILE_STRINGS) {
    if (value.length <= 1000) add('header', label, value);
  }
  add('header', '201 characters', 'h'.repeat(201));
  add('header', '20,000 characters (past 16 KiB of headers)', 'h'.repeat(20_000));
  add('header', 'Cyrillic lookalike', lookalike('fuzz-key'));
  add('header', 'given twice', ['fuzz-a', 'fuzz-b']);
  // The same key again, then with another body: a replay (200), then a conflict (422).
  add('replay', 'fixed key (first use)', 'fuzz-replay-key');
  add('replay', 'fixed key (replayed)', 'fuzz-replay-key');
  return out;
}

function authMutations(tokens: Record<Cred, string | undefined>): Mutation[] {
  const admin = tokens.admin ?? '';
  const org = tokens.org ?? '';
  const add = (label: string, value: string | string[] | null): Mutation => ({
    category: 'auth',
    label: `authorization: ${label}`,
    apply(d) {
      d.authorization = value;
    },
  });
  return [
    add('Bearer NUL', 'Bearer \u0000'),
    add('the admin token and a NUL', `Bearer ${admin}\u0000`),
    add('a token of 20,000 characters', `Bearer ${'t'.repeat(20_000)}`),
    add('a well-formed unknown token', `Bearer qgjob_tok_${'0'.repeat(26)}_${'s'.repeat(32)}`),
    add('an org token with its last character changed', `Bearer ${org.slice(0, -1)}${org.endsWith('A') ? 'B' : 'A'}`),
    add('Basic credentials', 'Basic YWRtaW46YWRtaW4='),
    add('Bearer and nothing', 'Bearer'),
    add('a full-width character', 'Bearer ％'),
    add('lower-case bearer with the admin token', `bearer ${admin}`),
    add('two headers, org then admin', [`Bearer ${org}`, `Bearer ${admin}`]),
    add('admin token with a Cyrillic lookalike', `Bearer ${lookalike(admin)}`),
  ];
}

// ---------------------------------------------------------------- putting cases together

/** Percent-encodes the UTF-8 bytes of a string; a lone surrogate as its 3-byte (WTF-8) form. */
export function percentEncode(value: string, keep = /[A-Za-z0-9\-._~]/): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    const ch = value[i] as string;
    if (code < 0x80 && keep.test(ch)) {
      out += ch;
      continue;
    }
    let bytes: number[];
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < value.length) {
      const low = value.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        bytes = [...Buffer.from(value.slice(i, i + 2), 'utf8')];
        i++;
      } else bytes = [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)];
    } else if (code >= 0xd800 && code <= 0xdfff) {
      bytes = [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)];
    } else bytes = [...Buffer.from(ch, 'utf8')];
    out += bytes.map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
  return out;
}

function baseDraft(doc: OpenApiDocument, op: Operation, fixtures: Fixtures): Draft {
  const params: Record<string, string> = {};
  const query: [string, string][] = [];
  const hinted = fixtures.query(op);
  for (const p of op.parameters) {
    if (p.in === 'path') params[p.name] = fixtures.param(op, p.name) ?? String(derive(doc, p.schema));
    if (p.in === 'query') {
      const value = hinted[p.name] ?? (p.required ? String(derive(doc, p.schema)) : undefined);
      if (value !== undefined) query.push([p.name, value]);
    }
  }
  const draft: Draft = { params, query, rawQuery: new Set(), rawParams: new Set(), headers: {}, splice: [] };
  if (op.body) {
    draft.json = fixtures.body(op) ?? derive(doc, op.body);
    draft.headers['content-type'] = 'application/json';
  } else {
    const bytes = fixtures.bytes(op);
    if (bytes) {
      draft.bytes = bytes.data;
      draft.headers['content-type'] = bytes.contentType;
    }
  }
  return draft;
}

function clone(d: Draft): Draft {
  return {
    params: { ...d.params },
    query: d.query.map(([k, v]) => [k, v] as [string, string]),
    rawQuery: new Set(d.rawQuery),
    rawParams: new Set(d.rawParams),
    headers: { ...d.headers },
    json: d.json === undefined ? undefined : structuredClone(d.json),
    bytes: d.bytes,
    splice: [...d.splice],
    authorization: d.authorization,
    method: d.method,
  };
}

/** Mutations (by label) every operation gets, on one of its slots, when it has a slot they apply to. */
const MUST = [
  'NUL',
  'lone high surrogate',
  'lone surrogate in a path',
  'Cyrillic lookalike',
  'full-width solidus',
  'traversal',
  'an id of 101 characters',
  'an id of 600 characters',
  '%00',
  '%ff%fe (not UTF-8)',
  'raw %ff%fe',
  'invalid UTF-8 bytes',
  `an array nested ${DEEP.toLocaleString('en')} levels`,
  'the first entry twice',
  '1e300',
  '-1',
  '2**53+1',
  '1.5',
  'missing',
  'an extra top-level field',
  'wrong type: number',
];

export interface GenerateOptions {
  seed: number;
  /** Mutated cases per operation (besides one unmutated case per credential). */
  perOperation: number;
  tokens: Record<Cred, string | undefined>;
}

/**
 * The cases of every operation: first the valid request once with each kind of credential,
 * then `perOperation` mutations drawn round-robin over the kinds of mutation (so each kind
 * appears), each with a credential drawn at random; and per path, methods it does not take.
 */
export function generateCases(
  doc: OpenApiDocument,
  ops: Operation[],
  fixtures: Fixtures,
  options: GenerateOptions,
): FuzzCase[] {
  const rng = new Rng(options.seed);
  const cases: FuzzCase[] = [];
  const auth = authMutations(options.tokens);
  for (const op of ops) {
    const base = baseDraft(doc, op, fixtures);
    for (const cred of CREDS) {
      cases.push({
        op,
        documented: true,
        category: 'valid',
        label: 'valid request',
        cred,
        draw: 0,
        draft: clone(base),
      });
    }
    const all = [
      ...paramMutations(doc, op, base),
      ...bodyMutations(doc, op, base.json),
      ...unexpectedBodyMutations(op, fixtures),
    ];
    const byCategory = new Map<string, Mutation[]>();
    for (const m of all) byCategory.set(m.category, [...(byCategory.get(m.category) ?? []), m]);
    // Replays must stay in order and together: first use, replay, then a conflicting body.
    const replays = byCategory.get('replay');
    byCategory.delete('replay');
    const queues = [...byCategory.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, items]) => rng.shuffle(items));
    // One hostile credential, one of each mutation every operation must see where it applies
    // (on a slot drawn at random), then the rest round-robin over the kinds of mutation.
    const chosen: Mutation[] = [rng.pick(auth)];
    for (const must of MUST) {
      const options = all.filter((m) => m.label.endsWith(`: ${must}`));
      if (options.length > 0) chosen.push(rng.pick(options));
    }
    while (chosen.length < options.perOperation && queues.some((q) => q.length > 0)) {
      for (const q of queues) {
        let m = q.shift();
        while (m && chosen.includes(m)) m = q.shift();
        if (m && chosen.length < options.perOperation) chosen.push(m);
      }
    }
    for (const m of chosen) {
      const draft = clone(base);
      m.apply(draft);
      const cred = m.category === 'auth' ? 'hostile' : 'auto';
      cases.push({ op, documented: true, category: m.category, label: m.label, cred, draw: rng.float(), draft });
    }
    if (replays) {
      for (const m of replays) {
        const draft = clone(base);
        m.apply(draft);
        cases.push({ op, documented: true, category: 'replay', label: m.label, cred: 'admin', draw: 0, draft });
      }
      const conflict = clone(base);
      (replays[0] as Mutation).apply(conflict);
      if (conflict.json && typeof conflict.json === 'object') {
        const changed = bodySlots(doc, op.body ?? {}, conflict.json).find(
          (s) => typeof s.value === 'string' && s.path.length === 1 && s.path[0] !== 'org_id',
        );
        if (changed) conflict.json = setAt(conflict.json, changed.path, `${String(changed.value)}-other`);
      }
      cases.push({
        op,
        documented: true,
        category: 'replay',
        label: 'fixed key, another body',
        cred: 'admin',
        draw: 0,
        draft: conflict,
      });
    }
  }
  // Methods a path does not take: 405 with Allow (or 401 first, for no credential).
  const byPath = new Map<string, Operation[]>();
  for (const op of ops) byPath.set(op.path, [...(byPath.get(op.path) ?? []), op]);
  for (const [, pathOps] of byPath) {
    const taken = new Set(pathOps.map((o) => o.method));
    const others = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'].filter((m) => !taken.has(m));
    const op = pathOps[0] as Operation;
    for (const method of rng.shuffle(others).slice(0, 2)) {
      const draft = clone(baseDraft(doc, op, fixtures));
      draft.method = method;
      cases.push({
        op,
        documented: false,
        category: 'method',
        label: `method ${method}`,
        cred: 'auto',
        draw: rng.float(),
        draft,
      });
    }
  }
  return cases;
}

/**
 * The credential of an `auto` case: none 10% of the time, one the operation refused (401 or
 * 403 to its valid request) 15%, else one it accepted. `accepted` comes from the valid
 * requests, which are sent first.
 */
export function resolveCred(c: FuzzCase, accepted: readonly Cred[] | undefined): Cred | 'hostile' {
  if (c.cred !== 'auto') return c.cred;
  const ok = accepted && accepted.length > 0 ? accepted : (['admin'] as const);
  const refused = CREDS.filter((cred) => cred !== 'none' && !ok.includes(cred));
  if (c.draw < 0.1) return 'none';
  if (c.draw < 0.25 && refused.length > 0) return refused[Math.floor(((c.draw - 0.1) / 0.15) * refused.length)] as Cred;
  const from = refused.length > 0 ? 0.25 : 0.1;
  return ok[Math.min(ok.length - 1, Math.floor(((c.draw - from) / (1 - from)) * ok.length))] as Cred;
}

/** The request as it goes on the wire, with the case's credential. */
export function render(c: FuzzCase, cred: Cred | 'hostile', tokens: Record<Cred, string | undefined>): WireRequest {
  const d = c.draft;
  let path = c.op.path;
  for (const [name, value] of Object.entries(d.params)) {
    const written = d.rawParams.has(name)
      ? value
      : percentEncode(value, name === '*' ? /[A-Za-z0-9\-._~/]/ : undefined);
    path = path.replace(`{${name}}`, written);
  }
  if (d.query.length > 0) {
    path += `?${d.query.map(([k, v], i) => (d.rawQuery.has(i) ? `${k}=${v}` : `${percentEncode(k)}=${percentEncode(v)}`)).join('&')}`;
  }
  const headers: Record<string, string | string[]> = { ...d.headers };
  const token = cred === 'hostile' ? undefined : tokens[cred];
  if (d.authorization !== undefined) {
    if (d.authorization !== null) headers.authorization = d.authorization;
  } else if (token) headers.authorization = `Bearer ${token}`;
  let body = d.bytes;
  if (d.json !== undefined && body === undefined) {
    const text = JSON.stringify(d.json);
    if (d.splice.length === 0) body = Buffer.from(text);
    else {
      let parts: (string | Buffer)[] = [text];
      for (const [marker, raw] of d.splice) {
        parts = parts.flatMap((part) => {
          if (typeof part !== 'string' || !part.includes(marker)) return [part];
          const [before, ...after] = part.split(marker);
          return [before ?? '', raw, after.join(marker)];
        });
      }
      body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
    }
  }
  return { method: d.method ?? c.op.method, path, headers, body };
}

/** A curl line that sends the same request (credentials named, not printed; long parts cut). */
export function reproduction(base: URL, req: WireRequest, cred: string): string {
  const cut = (s: string, n = 200) => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);
  const quote = (s: string) => `$'${cut(JSON.stringify(s).slice(1, -1).replaceAll("'", "\\'"))}'`;
  const parts = [`curl -X ${req.method} --path-as-is ${quote(`${base.origin}${req.path}`)}`];
  for (const [name, value] of Object.entries(req.headers)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (name === 'authorization' && cred !== 'hostile')
        parts.push(`-H "authorization: Bearer $${cred.toUpperCase()}_TOKEN"`);
      else parts.push(`-H ${quote(`${name}: ${v}`)}`);
    }
  }
  if (req.body !== undefined) {
    const text = req.body.toString('utf8');
    const printable = Buffer.from(text, 'utf8').equals(req.body);
    parts.push(printable ? `--data-binary ${quote(text)}` : `--data-binary <hex ${cut(req.body.toString('hex'))}>`);
  }
  return parts.join(' ');
}
