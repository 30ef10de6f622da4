import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import { parseChoice, parseIntegerFlag, parsePriority } from '../src/flags.js';

describe('parsePriority', () => {
  it.each([
    ['0', 0],
    ['5', 5],
    ['9', 9],
    ['low', 2],
    ['normal', 5],
    ['high', 8],
    ['urgent', 9],
    ['HIGH', 8],
  ])('%s is %d', (text, n) => {
    expect(parsePriority(text)).toBe(n);
  });

  it.each(['42', '10', '-1', '5.5', 'highest', '', 'constructor', 'toString'])('rejects %j naming the flag', (text) => {
    expect(() => parsePriority(text)).toThrow(UsageError);
    expect(() => parsePriority(text)).toThrow(
      `--priority must be an integer from 0 to 9 or one of low, normal, high, urgent (got ${JSON.stringify(text)})`,
    );
  });
});

describe('parseIntegerFlag', () => {
  it('accepts whole numbers in range', () => {
    expect(parseIntegerFlag('--max-retries', '3', 0, 5)).toBe(3);
  });

  it.each(['6', '-1', '1.5', 'two', '', '1e1'])('rejects %j', (text) => {
    expect(() => parseIntegerFlag('--max-retries', text, 0, 5)).toThrow(
      /^--max-retries must be an integer from 0 to 5/,
    );
  });
});

describe('parseChoice', () => {
  it('names the allowed values', () => {
    expect(parseChoice('--target', 'device', ['emulator', 'device'])).toBe('device');
    expect(() => parseChoice('--target', 'tablet', ['emulator', 'device'])).toThrow(
      '--target must be one of emulator, device (got "tablet")',
    );
  });
});
