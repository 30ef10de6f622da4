/**
 * Values for fuzz cases: valid ones derived from a schema, for the base request, and the
 * hostile ones the mutations put in its place.
 */
import { deref, type JsonSchema, type OpenApiDocument } from './openapi.js';

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

export function derive(doc: OpenApiDocument, schema: JsonSchema | undefined, depth = 0): unknown {
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
export function lookalike(base: string): string {
  const i = [...base].findIndex((ch) => ch in LOOKALIKES);
  if (i < 0) return `а${base}`;
  const chars = [...base];
  chars[i] = LOOKALIKES[chars[i] as string] as string;
  return chars.join('');
}

export const DEEP = 100_000;
export const DEEP_ARRAY = '['.repeat(DEEP) + ']'.repeat(DEEP);
export const DEEP_OBJECT = '{"a":'.repeat(DEEP) + '1' + '}'.repeat(DEEP);

export function numbersFor(s: JsonSchema): [string, string][] {
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

export const QUERY_NUMBERS: [string, string][] = [
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

export function kindOf(doc: OpenApiDocument, schema: JsonSchema | undefined): string {
  if (!schema) return 'unknown';
  const s = deref(doc, schema);
  if (s.enum || 'const' in s) return 'enum';
  if (s.anyOf?.every((o) => deref(doc, o).enum || 'const' in deref(doc, o))) return 'enum';
  if (s.anyOf) return 'union';
  if (s.allOf) return 'object';
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  return type ?? 'unknown';
}
