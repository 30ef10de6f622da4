import { describe, expect, it } from 'vitest';
import { FlagValueError, parseDurationFlag, parseIntFlag, parseSizeFlag, plainQuote } from '../src/flag-values.js';

/** What a refused value raises, as a string. */
function refusal(parse: () => unknown): string {
  try {
    parse();
  } catch (error) {
    expect(error).toBeInstanceOf(FlagValueError);
    return (error as Error).message;
  }
  throw new Error('the value was accepted');
}

describe('flag values shared by qgjob, qgjob-agent and job-server', () => {
  it('takes whole decimal numbers within bounds, blanks around them allowed', () => {
    expect(parseIntFlag('--port', '8080', { min: 0, max: 65535 })).toBe(8080);
    expect(parseIntFlag('--port', ' 0 ', { min: 0, max: 65535 })).toBe(0);
    expect(parseIntFlag('--n', undefined, { min: 1 })).toBeUndefined();
    expect(parseIntFlag('--n', '9007199254740991', { min: 1 })).toBe(Number.MAX_SAFE_INTEGER);
  });

  it.each(['', ' ', '1e3', '0x10', '+5', '-1', '1.5', '9007199254740992', 'ten'])(
    'refuses %j as a whole number, naming the flag and the value',
    (text) => {
      expect(refusal(() => parseIntFlag('--lease-ms', text, { min: 1 }))).toBe(
        `--lease-ms must be an integer of at least 1 (got ${JSON.stringify(text)})`,
      );
    },
  );

  it('words the bounds, or the binary own words, and quotes the way the binary does', () => {
    expect(refusal(() => parseIntFlag('--port', '70000', { min: 0, max: 65535 }))).toBe(
      '--port must be an integer from 0 to 65535 (got "70000")',
    );
    expect(refusal(() => parseIntFlag('--port', 'x', { min: 1, max: 65535, takes: 'a TCP port, 1-65535' }))).toBe(
      '--port must be a TCP port, 1-65535 (got "x")',
    );
    expect(refusal(() => parseIntFlag('--port', 'a"b', { min: 1, quote: plainQuote }))).toBe(
      '--port must be an integer of at least 1 (got "a"b")',
    );
  });

  it('raises through the binary fail when it gives one', () => {
    const fail = (message: string): never => {
      throw new RangeError(`usage: ${message}`);
    };
    expect(() => parseIntFlag('--n', '0', { min: 1, fail })).toThrow(
      new RangeError('usage: --n must be an integer of at least 1 (got "0")'),
    );
  });

  it('takes sizes of at least one byte', () => {
    expect(parseSizeFlag('--max-app-size', '512MiB', { examples: '512MiB or 4GiB' })).toBe(512 * 1024 ** 2);
    expect(parseSizeFlag('--max-app-size', undefined, { examples: '512MiB' })).toBeUndefined();
    for (const text of ['0', 'lots', '-1MiB']) {
      expect(refusal(() => parseSizeFlag('--max-app-size', text, { examples: '512MiB or 4GiB' }))).toBe(
        `--max-app-size must be a size such as 512MiB or 4GiB (got ${JSON.stringify(text)})`,
      );
    }
  });

  it('takes positive durations, and 0 only where the flag allows it', () => {
    expect(parseDurationFlag('--timeout', '1h30m')).toBe(90 * 60_000);
    expect(parseDurationFlag('--timeout', '90')).toBe(90_000);
    expect(parseDurationFlag('--grace', '0', { zero: true })).toBe(0);
    expect(refusal(() => parseDurationFlag('--timeout', '0'))).toBe(
      '--timeout must be a positive duration such as 90s, 30m, 1h30m or 500ms; a plain number is seconds (got "0")',
    );
    expect(refusal(() => parseDurationFlag('--grace', 'soon', { zero: true, examples: '30s' }))).toBe(
      '--grace must be a duration such as 30s; a plain number is seconds (got "soon")',
    );
    expect(refusal(() => parseDurationFlag('--blob-retention', '-1d', { takes: 'a duration such as 12h or 7d' }))).toBe(
      '--blob-retention must be a duration such as 12h or 7d (got "-1d")',
    );
  });
});
