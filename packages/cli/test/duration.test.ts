import { describe, expect, it } from 'vitest';
import { durationFlag, formatDuration, parseDuration } from '../src/duration.js';
import { UsageError } from '../src/errors.js';

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['1m30s', 90_000],
    ['1.5s', 1500],
    ['2d', 172_800_000],
    ['45', 45_000],
    ['0.5', 500],
    [' 10s ', 10_000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'abc', '10x', '-5s', 's', '1h 30m', '10s5', 'ms', '1..5s'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('durationFlag', () => {
  it('names the flag and the accepted forms', () => {
    expect(() => durationFlag('--timeout', 'soon')).toThrow(UsageError);
    expect(() => durationFlag('--timeout', 'soon')).toThrow(
      /^--timeout must be a positive duration .*90s.*\(got "soon"\)$/,
    );
  });

  it('rejects zero', () => {
    expect(() => durationFlag('--timeout', '0s')).toThrow(/--timeout/);
  });
});

describe('formatDuration', () => {
  it.each([
    [850, '850ms'],
    [12_340, '12.3s'],
    [125_000, '2m05s'],
    [3_720_000, '1h02m'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
