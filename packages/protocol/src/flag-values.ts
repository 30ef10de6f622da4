/**
 * Flag values that are numbers, sizes and durations, checked the same way by qgjob,
 * qgjob-agent and job-server. A refused value gets one message, `FLAG must be WHAT (got
 * VALUE)`; each binary keeps its own words for WHAT and its own quoting of VALUE, and
 * raises the message its own way (a usage error, or an exit).
 */
import { parseDuration } from './duration.js';
import { parseSize } from './size.js';

/** How a binary words and raises a refused value. */
export interface FlagWording {
  /** VALUE as the message shows it; default JSON.stringify (job-server: `plainQuote`). */
  quote?: (text: string) => string;
  /** Raises the message; default: throws a FlagValueError. */
  fail?: (message: string) => never;
}

export interface IntFlagRule extends FlagWording {
  min: number;
  /** Default: no bound but Number.MAX_SAFE_INTEGER. */
  max?: number;
  /** WHAT; default `an integer from MIN to MAX`, or `an integer of at least MIN` without a max. */
  takes?: string;
}

export interface SizeFlagRule extends FlagWording {
  /** Sizes the message offers, e.g. `512MiB or 4GiB`. */
  examples: string;
}

export interface DurationFlagRule extends FlagWording {
  /** Whether 0 is accepted; otherwise the duration must be positive. */
  zero?: boolean;
  /** Durations the message offers; default `90s, 30m, 1h30m or 500ms`. */
  examples?: string;
  /** WHAT; default `a [positive ]duration such as EXAMPLES; a plain number is seconds`. */
  takes?: string;
}

/** A flag value refused by one of the parsers below, when the binary gives no `fail`. */
export class FlagValueError extends Error {
  override readonly name = 'FlagValueError';
}

/** VALUE in plain double quotes, as job-server's messages show it. */
export function plainQuote(text: string): string {
  return `"${text}"`;
}

function refuse(flag: string, text: string, takes: string, wording: FlagWording): never {
  const message = `${flag} must be ${takes} (got ${(wording.quote ?? JSON.stringify)(text)})`;
  if (wording.fail) return wording.fail(message);
  throw new FlagValueError(message);
}

/** A whole number (decimal digits, surrounding blanks allowed) within the rule's bounds. */
export function parseIntFlag(flag: string, text: string, rule: IntFlagRule): number;
export function parseIntFlag(flag: string, text: string | undefined, rule: IntFlagRule): number | undefined;
export function parseIntFlag(flag: string, text: string | undefined, rule: IntFlagRule): number | undefined {
  if (text === undefined) return undefined;
  const value = text.trim();
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  const max = rule.max ?? Number.MAX_SAFE_INTEGER;
  if (Number.isSafeInteger(n) && n >= rule.min && n <= max) return n;
  const takes =
    rule.takes ??
    (rule.max === undefined ? `an integer of at least ${rule.min}` : `an integer from ${rule.min} to ${rule.max}`);
  return refuse(flag, text, takes, rule);
}

/** Bytes (see parseSize), at least one. */
export function parseSizeFlag(flag: string, text: string, rule: SizeFlagRule): number;
export function parseSizeFlag(flag: string, text: string | undefined, rule: SizeFlagRule): number | undefined;
export function parseSizeFlag(flag: string, text: string | undefined, rule: SizeFlagRule): number | undefined {
  if (text === undefined) return undefined;
  const bytes = parseSize(text);
  if (bytes !== undefined && bytes >= 1) return bytes;
  return refuse(flag, text, `a size such as ${rule.examples}`, rule);
}

/** Milliseconds (see parseDuration): positive, or with `zero` also 0. */
export function parseDurationFlag(flag: string, text: string, rule?: DurationFlagRule): number;
export function parseDurationFlag(flag: string, text: string | undefined, rule?: DurationFlagRule): number | undefined;
export function parseDurationFlag(
  flag: string,
  text: string | undefined,
  rule: DurationFlagRule = {},
): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms !== undefined && (ms > 0 || (ms === 0 && rule.zero === true))) return ms;
  const examples = rule.examples ?? '90s, 30m, 1h30m or 500ms';
  const takes =
    rule.takes ?? `a ${rule.zero ? '' : 'positive '}duration such as ${examples}; a plain number is seconds`;
  return refuse(flag, text, takes, rule);
}
