/**
 * Mutations of a request's body: of each field of a JSON body (by its kind), of the body as
 * a whole, and bodies sent to operations that take none (or take bytes).
 */
import { type BodySlot, bodySlots, branchFor, deleteAt, fieldName, getAt, setAt, spliceAt } from './body-slots.js';
import type { Draft, Fixtures, Mutation } from './cases.js';
import { deref, type JsonSchema, type OpenApiDocument, type Operation } from './openapi.js';
import { DEEP, DEEP_ARRAY, DEEP_OBJECT, HOSTILE_STRINGS, kindOf, lookalike, numbersFor } from './values.js';

type Add = (category: string, label: string, apply: (d: Draft) => void) => void;
type SetValue = (value: unknown) => (d: Draft) => void;

export function bodyMutations(doc: OpenApiDocument, op: Operation, base: unknown): Mutation[] {
  if (!op.body) return [];
  const out: Mutation[] = [];
  for (const s of bodySlots(doc, op.body, base)) out.push(...slotMutations(doc, s));
  const whole: Add = (category, label, apply) => out.push({ category, label: `body: ${label}`, apply });
  wholeBodyFields(whole, base);
  wholeBodyBytes(whole, JSON.stringify(base));
  return out;
}

function slotMutations(doc: OpenApiDocument, s: BodySlot): Mutation[] {
  const out: Mutation[] = [];
  const add: Add = (category, label, apply) =>
    out.push({ category, label: `body ${fieldName(s.path)}: ${label}`, apply });
  // A union slot is mutated as the branch its value takes (an event object, a literal).
  let schema = deref(doc, s.schema);
  let kind = kindOf(doc, schema);
  if (kind === 'union') {
    schema = branchFor(doc, schema, s.value) ?? schema;
    kind = kindOf(doc, schema);
  }
  const set: SetValue = (value) => (d) => {
    d.json = setAt(d.json, s.path, value);
  };
  if (s.required && typeof s.path[s.path.length - 1] === 'string') {
    add('missing', 'missing', (d) => deleteAt(d.json, s.path));
  }
  add('deep', `an array nested ${DEEP.toLocaleString('en')} levels`, (d) => spliceAt(d, s.path, DEEP_ARRAY));
  add('deep', `an object nested ${DEEP.toLocaleString('en')} levels`, (d) => spliceAt(d, s.path, DEEP_OBJECT));
  if (kind === 'string' || kind === 'enum' || kind === 'unknown') stringSlot(add, set, s, schema);
  if (kind === 'integer' || kind === 'number') {
    for (const [label, text] of numbersFor(schema)) add('number', label, (d) => spliceAt(d, s.path, text));
    wrongTypes(add, set, [
      ['string', '1'],
      ['null', null],
      ['true', true],
      ['array', [1]],
    ]);
  }
  if (kind === 'boolean') {
    wrongTypes(add, set, [
      ['string', 'true'],
      ['number', 1],
      ['null', null],
    ]);
  }
  if (kind === 'array') arraySlot(add, set, s, schema);
  if (kind === 'object') {
    add('extra', 'an extra field', (d) => {
      const v = getAt(d.json, s.path);
      if (v && typeof v === 'object') (v as Record<string, unknown>).zz_fuzz_extra = 'x';
      else d.json = setAt(d.json, s.path, { zz_fuzz_extra: 'x' });
    });
    wrongTypes(add, set, [
      ['string', 'x'],
      ['array', []],
      ['null', null],
      ['empty object', {}],
    ]);
  }
  return out;
}

function wrongTypes(add: Add, set: SetValue, values: [string, unknown][]): void {
  for (const [label, value] of values) add('type', `wrong type: ${label}`, set(value));
}

function stringSlot(add: Add, set: SetValue, s: BodySlot, schema: JsonSchema): void {
  const baseText = typeof s.value === 'string' ? s.value : 'fuzz';
  for (const [category, label, value] of HOSTILE_STRINGS) add(`string:${category}`, label, set(value));
  add('string:unicode', 'Cyrillic lookalike', set(lookalike(baseText)));
  add('string:nul', 'NUL after a valid value', set(`${baseText}\u0000`));
  add('string:injection', 'upper case', set(baseText.toUpperCase()));
  add('string:injection', 'trailing space', set(`${baseText} `));
  if (schema.maxLength !== undefined) {
    add('string:length', `maxLength+1 (${schema.maxLength + 1})`, set('m'.repeat(schema.maxLength + 1)));
  }
  add('utf8', 'invalid UTF-8 bytes', (d) =>
    spliceAt(
      d,
      s.path,
      Buffer.concat([Buffer.from('"t'), Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80]), Buffer.from('"')]),
    ),
  );
  wrongTypes(add, set, [
    ['number', 12345],
    ['true', true],
    ['null', null],
    ['array', [baseText]],
    ['object', { value: baseText }],
  ]);
}

function arraySlot(add: Add, set: SetValue, s: BodySlot, schema: JsonSchema): void {
  const items = Array.isArray(s.value) ? s.value : [];
  add('array', 'empty', set([]));
  wrongTypes(add, set, [
    ['string', 'x'],
    ['object', {}],
    ['null', null],
    ['number', 1],
  ]);
  if (items.length === 0) return;
  const first = items[0];
  add('duplicate', 'the first entry twice', set([first, first, ...items.slice(1)]));
  if (schema.maxItems !== undefined && schema.maxItems <= 5000) {
    add(
      'array',
      `maxItems+1 (${schema.maxItems + 1}) entries`,
      set(Array.from({ length: schema.maxItems + 1 }, () => first)),
    );
  }
  add('array', 'an entry of the wrong type', set([...items, 12345]));
}

/** The body's fields as a whole: extra keys (prototype pollution among them), a repeated key, none. */
function wholeBodyFields(whole: Add, base: unknown): void {
  const text = JSON.stringify(base);
  whole('extra', 'an extra top-level field', (d) => {
    if (d.json && typeof d.json === 'object') (d.json as Record<string, unknown>).zz_fuzz_extra = 1;
  });
  whole(
    'extra',
    'a __proto__ key',
    raw(() => `{"__proto__":{"polluted":true},${text.slice(1)}`),
  );
  whole(
    'extra',
    'a constructor.prototype key',
    raw(() => `{"constructor":{"prototype":{"polluted":true}},${text.slice(1)}`),
  );
  const firstKey = base && typeof base === 'object' ? Object.keys(base)[0] : undefined;
  if (firstKey) {
    whole(
      'duplicate',
      `key ${firstKey} twice, a NUL the second time`,
      raw(() => `${text.slice(0, -1)},${JSON.stringify(firstKey)}:"\\u0000"}`),
    );
  }
  whole('missing', 'an empty object', (d) => {
    d.json = {};
  });
}

/** The body's bytes and content type: not JSON, not an object, too deep, badly encoded, too large. */
function wholeBodyBytes(whole: Add, text: string): void {
  whole(
    'body',
    'not JSON',
    raw(() => '{"org_id": '),
  );
  whole(
    'body',
    'empty, as application/json',
    raw(() => Buffer.alloc(0)),
  );
  whole('body', 'none at all', (d) => {
    d.json = undefined;
    delete d.headers['content-type'];
  });
  whole('body', 'as text/plain', header('content-type', 'text/plain'));
  whole('body', 'as application/x-www-form-urlencoded', (d) => {
    raw(() => 'org_id=acme&test_path=a.js')(d);
    d.headers['content-type'] = 'application/x-www-form-urlencoded';
  });
  whole('body', 'as application/json; charset=utf-16', header('content-type', 'application/json; charset=utf-16'));
  whole('body', 'JSON without a content-type', (d) => {
    delete d.headers['content-type'];
  });
  for (const [label, json] of [
    ['JSON null', 'null'],
    ['a JSON array', '[]'],
    ['a JSON string', '"x"'],
    ['a JSON number', '1e400'],
  ] as const) {
    whole(
      'type',
      label,
      raw(() => json),
    );
  }
  whole(
    'deep',
    `an array nested ${DEEP.toLocaleString('en')} levels`,
    raw(() => DEEP_ARRAY),
  );
  whole(
    'utf8',
    'invalid UTF-8 bytes outside a string',
    raw(() => Buffer.concat([Buffer.from(text.slice(0, -1)), Buffer.from([0x2c, 0xff, 0xfe]), Buffer.from('}')])),
  );
  whole(
    'body',
    'a byte order mark first',
    raw(() => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])),
  );
  whole(
    'body',
    'trailing garbage',
    raw(() => `${text} x`),
  );
  whole(
    'size',
    'over 2 MiB',
    raw(() => `${text.slice(0, -1)},"zz_pad":"${'p'.repeat(2 * 1024 * 1024 + 10)}"}`),
  );
}

/** Sends these bytes instead of the JSON body (made when the case is, not before). */
function raw(bytes: () => string | Buffer): (d: Draft) => void {
  return (d) => {
    d.json = undefined;
    const made = bytes();
    d.bytes = typeof made === 'string' ? Buffer.from(made) : made;
  };
}

function header(name: string, value: string): (d: Draft) => void {
  return (d) => {
    d.headers[name] = value;
  };
}

/** Operations without a JSON body still get bodies they do not expect. */
export function unexpectedBodyMutations(op: Operation, fixtures: Fixtures): Mutation[] {
  if (op.body) return [];
  const out: Mutation[] = [];
  const add: Add = (category, label, apply) => out.push({ category, label: `body: ${label}`, apply });
  const json = (bytes: Buffer) => (d: Draft) => {
    d.bytes = bytes;
    d.headers['content-type'] = 'application/json';
  };
  add('body', 'unexpected invalid JSON', json(Buffer.from('{"a": ')));
  add('deep', `unexpected JSON nested ${DEEP.toLocaleString('en')} levels`, json(Buffer.from(DEEP_ARRAY)));
  add(
    'utf8',
    'unexpected invalid UTF-8 JSON',
    json(Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xff, 0xfe, 0xc0, 0x80]), Buffer.from('"}')])),
  );
  if (!fixtures.bytes(op)) return out;
  add('body', 'bytes as application/json', json(Buffer.from('{"not":"bytes"}')));
  add('body', 'bytes as text/html', (d) => {
    d.headers['content-type'] = 'text/html';
    d.bytes = Buffer.from('<script>alert(1)</script>');
  });
  add('body', 'no body at all', (d) => {
    d.bytes = undefined;
    delete d.headers['content-type'];
  });
  add('body', 'a content-length the body does not have', header('content-length', '99999999999999999999'));
  add('body', 'a negative content-length', header('content-length', '-1'));
  return out;
}
