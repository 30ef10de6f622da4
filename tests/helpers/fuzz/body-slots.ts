/**
 * The places of a JSON body a mutation can change (each field, and the first entry of
 * each array), and putting values at them.
 */
import type { Draft } from './cases.js';
import { deref, type JsonSchema, type OpenApiDocument } from './openapi.js';

export type PathPart = string | number;

export interface BodySlot {
  path: PathPart[];
  schema: JsonSchema;
  value: unknown;
  required: boolean;
}

/** The branch of a union this value takes (by a `type` enum on objects, else the first that fits). */
export function branchFor(doc: OpenApiDocument, s: JsonSchema, value: unknown): JsonSchema | undefined {
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

export function bodySlots(doc: OpenApiDocument, schema: JsonSchema, value: unknown, path: PathPart[] = []): BodySlot[] {
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

export const fieldName = (path: PathPart[]) =>
  path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || 'body';

export function setAt(root: unknown, path: PathPart[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path as [PathPart, ...PathPart[]];
  const container = (root ?? (typeof head === 'number' ? [] : {})) as Record<PathPart, unknown>;
  container[head] = setAt(container[head], rest, value);
  return container;
}

export function deleteAt(root: unknown, path: PathPart[]): void {
  const parent = path.slice(0, -1).reduce<unknown>((v, p) => (v as Record<PathPart, unknown>)?.[p], root);
  const last = path[path.length - 1] as PathPart;
  if (parent && typeof parent === 'object') delete (parent as Record<PathPart, unknown>)[last];
}

export function getAt(root: unknown, path: PathPart[]): unknown {
  return path.reduce<unknown>((v, p) => (v as Record<PathPart, unknown> | undefined)?.[p], root);
}

let placeholders = 0;
/** Puts raw JSON text (or bytes) where the slot's value goes, past what JSON.stringify can write. */
export function spliceAt(d: Draft, path: PathPart[], raw: string | Buffer): void {
  const marker = `__fuzz_raw_${placeholders++}__`;
  d.json = setAt(d.json, path, marker);
  d.splice.push([JSON.stringify(marker), raw]);
}
