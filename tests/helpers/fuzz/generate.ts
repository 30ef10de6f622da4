/**
 * A seeded generator of hostile requests for the operations of an OpenAPI document. Each starts from a valid
 * request (the test's fixtures where it has them: seeded ids, a body that passes the
 * cross-field rules; otherwise values derived from the schemas) and makes cases that each
 * change one thing: a path or query parameter, a header, a field of the JSON body, or the
 * body as a whole. Everything is drawn from one PRNG with a fixed seed, so a run sends the
 * same requests every time. The mutations are in params.ts and body.ts, the values they put
 * in values.ts; render.ts writes a case out.
 */

import { bodyMutations, unexpectedBodyMutations } from './body.js';
import { bodySlots, setAt } from './body-slots.js';
import { CREDS, type Cred, type Draft, type Fixtures, type FuzzCase, type Mutation } from './cases.js';
import type { OpenApiDocument, Operation } from './openapi.js';
import { authMutations, paramMutations } from './params.js';
import { DEEP, derive } from './values.js';

// The fuzz test takes everything it needs from here.
export type { Cred, Fixtures, FuzzCase } from './cases.js';
export { render, reproduction } from './render.js';

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
  const auth = authMutations(options.tokens);
  const cases = ops.flatMap((op) => operationCases(doc, op, fixtures, rng, auth, options.perOperation));
  return [...cases, ...methodCases(doc, ops, fixtures, rng)];
}

function operationCases(
  doc: OpenApiDocument,
  op: Operation,
  fixtures: Fixtures,
  rng: Rng,
  auth: Mutation[],
  perOperation: number,
): FuzzCase[] {
  const base = baseDraft(doc, op, fixtures);
  const cases: FuzzCase[] = CREDS.map((cred) => ({
    op,
    documented: true,
    category: 'valid',
    label: 'valid request',
    cred,
    draw: 0,
    draft: clone(base),
  }));
  const all = [
    ...paramMutations(doc, op, base),
    ...bodyMutations(doc, op, base.json),
    ...unexpectedBodyMutations(op, fixtures),
  ];
  for (const m of chooseMutations(rng, all, auth, perOperation)) {
    const draft = clone(base);
    m.apply(draft);
    const cred = m.category === 'auth' ? 'hostile' : 'auto';
    cases.push({ op, documented: true, category: m.category, label: m.label, cred, draw: rng.float(), draft });
  }
  // Replays must stay in order and together: first use, replay, then a conflicting body.
  const replays = all.filter((m) => m.category === 'replay');
  if (replays.length > 0) cases.push(...replayCases(doc, op, base, replays));
  return cases;
}

/**
 * One hostile credential, one of each mutation every operation must see where it applies
 * (on a slot drawn at random), then the rest round-robin over the kinds of mutation.
 */
function chooseMutations(rng: Rng, all: Mutation[], auth: Mutation[], perOperation: number): Mutation[] {
  const byCategory = new Map<string, Mutation[]>();
  for (const m of all) byCategory.set(m.category, [...(byCategory.get(m.category) ?? []), m]);
  byCategory.delete('replay');
  const queues = [...byCategory.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, items]) => rng.shuffle(items));
  const chosen: Mutation[] = [rng.pick(auth)];
  for (const must of MUST) {
    const options = all.filter((m) => m.label.endsWith(`: ${must}`));
    if (options.length > 0) chosen.push(rng.pick(options));
  }
  while (chosen.length < perOperation && queues.some((q) => q.length > 0)) {
    for (const q of queues) {
      let m = q.shift();
      while (m && chosen.includes(m)) m = q.shift();
      if (m && chosen.length < perOperation) chosen.push(m);
    }
  }
  return chosen;
}

function replayCases(doc: OpenApiDocument, op: Operation, base: Draft, replays: Mutation[]): FuzzCase[] {
  const cases: FuzzCase[] = [];
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
  return cases;
}

/** Methods a path does not take: 405 with Allow (or 401 first, for no credential). */
function methodCases(doc: OpenApiDocument, ops: Operation[], fixtures: Fixtures, rng: Rng): FuzzCase[] {
  const cases: FuzzCase[] = [];
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
