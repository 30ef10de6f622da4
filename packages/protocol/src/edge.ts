/**
 * One rule for the strings that cross the API's edge, applied to every request the schemas
 * have accepted (`validationErrors` runs it), on the server and in the CLI alike:
 *
 * - identifiers and names (every string not marked free text) are valid Unicode without
 *   control characters: a NUL, an escape, a lone surrogate is a 400 naming the field;
 * - free text from devices (run output, error messages: `FREE_TEXT` in their schema) is
 *   kept, with what PostgreSQL cannot store made visible: NUL becomes ␀ (U+2400) and a lone
 *   surrogate U+FFFD, so a test that prints a NUL keeps its whole log;
 * - arrays of named things (`UNIQUE_BY` in their schema) refuse a name given twice, naming
 *   the second entry.
 *
 * The walk follows the schema, which the value already matched, so its depth is the
 * schema's; and no message ever serialises a value whole (`preview`), so a value nested
 *100,000 levels deep cannot overflow the stack while its error is written.
 */
import type { TSchema } from '@sinclair/typebox';

/** Schema option: this string is free text (kept, made storable), not an identifier. */
export const FREE_TEXT = 'x-qgjob-free-text';
/** Schema option on an array of objects: no two entries may share this property's value. */
export const UNIQUE_BY = 'x-qgjob-unique-by';

export interface EdgeError {
  field: string;
  message: string;
}

// C0 controls, DEL, C1 controls; a high surrogate not followed by a low one; a low one not after a high one.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is what it is for
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is what it is for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const hex = (code: number) => `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;

/** What is wrong with `text` as an identifier or a name, or undefined when nothing is. */
export function badCharacter(text: string): string | undefined {
  const m = FORBIDDEN.exec(text);
  if (!m) return undefined;
  const code = m[0].charCodeAt(0);
  const at = `at character ${m.index + 1}`;
  if (code === 0) return `a NUL character (U+0000) ${at}`;
  if (code >= 0xd800 && code <= 0xdfff) return `a lone surrogate (${hex(code)}) ${at}: not valid Unicode`;
  return `a control character (${hex(code)}) ${at}`;
}

/** Free text as it can be stored and shown: NUL as ␀, lone surrogates as U+FFFD; the rest as it was. */
export function visibleText(text: string): string {
  if (!UNSTORABLE.test(text)) return text;
  return text.replaceAll('\u0000', '\u2400').replace(LONE_SURROGATES, '\ufffd');
}

/** A short, bounded picture of a value for an error message (never serialises it whole). */
export function preview(value: unknown): string {
  if (typeof value === 'string') {
    const text = JSON.stringify(value.length > 60 ? value.slice(0, 57) : value);
    return value.length > 60 ? `${text.slice(0, -1)}..."` : text;
  }
  if (Array.isArray(value)) return value.length === 0 ? '[]' : `an array of ${value.length}`;
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const text = String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

type Node = TSchema & {
  properties?: Record<string, TSchema>;
  items?: TSchema;
  anyOf?: TSchema[];
  [FREE_TEXT]?: boolean;
  [UNIQUE_BY]?: string;
};

/** The branch of a union this value took: for objects, by a `type` literal if they carry one. */
function branch(schema: Node, value: unknown): Node | undefined {
  const options = (schema.anyOf ?? []) as Node[];
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const kind = (value as { type?: unknown }).type;
    const tagged = options.find((o) => (o.properties?.type as { const?: unknown } | undefined)?.const === kind);
    return tagged ?? options.find((o) => o.properties !== undefined);
  }
  if (Array.isArray(value)) return options.find((o) => o.items !== undefined);
  if (typeof value === 'string') return options.find((o) => o.type === 'string');
  return undefined;
}

/**
 * Checks (and, for free text, repairs in place) every string of a value its schema accepted.
 * Returns the problems, one per field, in document order.
 */
export function edgeErrors(schema: TSchema, value: unknown): EdgeError[] {
  const errors: EdgeError[] = [];
  const stack: { schema: Node | undefined; value: unknown; field: string; set?: (v: string) => void }[] = [
    { schema: schema as Node, value, field: '' },
  ];
  while (stack.length > 0) {
    const { schema: s, value: v, field, set } = stack.pop() as (typeof stack)[number];
    const node = s?.anyOf ? branch(s, v) : s;
    const name = field === '' ? 'body' : field;
    if (typeof v === 'string') {
      if (node?.[FREE_TEXT]) {
        const fixed = visibleText(v);
        if (fixed !== v) set?.(fixed);
      } else {
        const bad = badCharacter(v);
        if (bad) errors.push({ field: name, message: `${name} must not contain ${bad} (got ${preview(v)})` });
      }
      continue;
    }
    if (Array.isArray(v)) {
      const key = node?.[UNIQUE_BY];
      if (key) errors.push(...duplicates(v, key, field));
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push({
          schema: node?.items as Node | undefined,
          value: v[i],
          field: `${field}[${i}]`,
          set: (x) => (v[i] = x),
        });
      }
      continue;
    }
    if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, child] = entries[i] as [string, unknown];
        stack.push({
          schema: node?.properties?.[k] as Node | undefined,
          value: child,
          field: field === '' ? k : `${field}.${k}`,
          set: (x) => {
            (v as Record<string, unknown>)[k] = x;
          },
        });
      }
    }
  }
  return errors;
}

function duplicates(list: unknown[], key: string, field: string): EdgeError[] {
  const first = new Map<unknown, number>();
  const out: EdgeError[] = [];
  list.forEach((entry, i) => {
    const id = entry !== null && typeof entry === 'object' ? (entry as Record<string, unknown>)[key] : undefined;
    if (id === undefined) return;
    const seen = first.get(id);
    if (seen === undefined) {
      first.set(id, i);
      return;
    }
    const at = `${field}[${i}].${key}`;
    out.push({
      field: at,
      message: `${at} ${preview(id)} is given twice (also ${field}[${seen}].${key}): each entry needs its own ${key}`,
    });
  });
  return out;
}
