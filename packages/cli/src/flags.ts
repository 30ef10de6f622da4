/** Parsing of flag values that are more than a string. Errors name the flag and what it accepts. */
import { type FlagWording, LIMITS, PRIORITY_NAMES, type PriorityName, parseIntFlag } from '@qgjob/protocol';
import { UsageError } from './errors.js';

/** How the protocol's flag parsers word and raise a refused value here: a usage error (exit 2). */
export const USAGE: FlagWording = {
  fail: (message) => {
    throw new UsageError(message);
  },
};

const PRIORITY_HELP = `an integer from ${LIMITS.priorityMin} to ${LIMITS.priorityMax} or one of ${Object.keys(PRIORITY_NAMES).join(', ')}`;

/** `--priority`: 0-9, or low (2), normal (5), high (8), urgent (9). */
export function parsePriority(text: string): number {
  const value = text.trim().toLowerCase();
  if (Object.hasOwn(PRIORITY_NAMES, value)) return PRIORITY_NAMES[value as PriorityName];
  const rule = { ...USAGE, min: LIMITS.priorityMin, max: LIMITS.priorityMax, takes: PRIORITY_HELP };
  return parseIntFlag('--priority', text, rule);
}

/** A whole number flag within [min, max]. */
export function parseIntegerFlag(flag: string, text: string, min: number, max: number): number {
  return parseIntFlag(flag, text, { ...USAGE, min, max });
}

/** A flag that takes one of a fixed list of words. */
export function parseChoice<T extends string>(flag: string, text: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(text)) return text as T;
  throw new UsageError(`${flag} must be one of ${allowed.join(', ')} (got ${JSON.stringify(text)})`);
}
