/** Parsing of flag values that are more than a string. Errors name the flag and what it accepts. */
import { LIMITS, PRIORITY_NAMES, type PriorityName } from '@qgjob/protocol';
import { UsageError } from './errors.js';

const PRIORITY_HELP = `an integer from ${LIMITS.priorityMin} to ${LIMITS.priorityMax} or one of ${Object.keys(PRIORITY_NAMES).join(', ')}`;

/** `--priority`: 0-9, or low (2), normal (5), high (8), urgent (9). */
export function parsePriority(text: string): number {
  const value = text.trim().toLowerCase();
  if (Object.hasOwn(PRIORITY_NAMES, value)) return PRIORITY_NAMES[value as PriorityName];
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    if (n >= LIMITS.priorityMin && n <= LIMITS.priorityMax) return n;
  }
  throw new UsageError(`--priority must be ${PRIORITY_HELP} (got ${JSON.stringify(text)})`);
}

/** A whole number flag within [min, max]. */
export function parseIntegerFlag(flag: string, text: string, min: number, max: number): number {
  const value = text.trim();
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max} (got ${JSON.stringify(text)})`);
  }
  return n;
}

/** A flag that takes one of a fixed list of words. */
export function parseChoice<T extends string>(flag: string, text: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(text)) return text as T;
  throw new UsageError(`${flag} must be one of ${allowed.join(', ')} (got ${JSON.stringify(text)})`);
}
