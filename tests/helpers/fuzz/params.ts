/** Mutations of a request's path and query parameters, its headers and its credentials. */
import type { Cred, Draft, Mutation } from './cases.js';
import { deref, type OpenApiDocument, type Operation, type Parameter } from './openapi.js';
import { HOSTILE_STRINGS, kindOf, lookalike, QUERY_NUMBERS } from './values.js';

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

export function paramMutations(doc: OpenApiDocument, op: Operation, base: Draft): Mutation[] {
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

export function authMutations(tokens: Record<Cred, string | undefined>): Mutation[] {
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
