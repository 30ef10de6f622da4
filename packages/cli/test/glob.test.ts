import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../src/errors.js';
import { expandTests, normaliseTestPath } from '../src/glob.js';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'qgjob-glob-'));
  for (const file of [
    'tests/onboarding.spec.js',
    'tests/checkout.spec.js',
    'tests/deep/login.spec.js',
    'tests/helper.js',
    'node_modules/pkg/x.spec.js',
  ]) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), '');
  }
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('normaliseTestPath', () => {
  it.each([
    ['./tests/a.spec.js', 'tests/a.spec.js'],
    ['././tests/a.spec.js', 'tests/a.spec.js'],
    ['tests/a.spec.js', 'tests/a.spec.js'],
    ['.//tests/a.spec.js', 'tests/a.spec.js'],
  ])('%s → %s', (input, output) => {
    expect(normaliseTestPath(input)).toBe(output);
  });
});

describe('expandTests', () => {
  it('expands a glob, sorted, relative to cwd', async () => {
    expect(await expandTests(['tests/**/*.spec.js'], dir)).toEqual([
      'tests/checkout.spec.js',
      'tests/deep/login.spec.js',
      'tests/onboarding.spec.js',
    ]);
  });

  it('accepts a leading ./ on globs and never descends into node_modules', async () => {
    expect(await expandTests(['./**/*.spec.js'], dir)).toEqual([
      'tests/checkout.spec.js',
      'tests/deep/login.spec.js',
      'tests/onboarding.spec.js',
    ]);
  });

  it('sends a plain path as given, even when it does not exist here', async () => {
    expect(await expandTests(['./tests/missing.spec.js', 'tests/helper.js'], dir)).toEqual([
      'tests/missing.spec.js',
      'tests/helper.js',
    ]);
  });

  it('keeps the order of the flags and drops duplicates', async () => {
    expect(await expandTests(['tests/onboarding.spec.js', 'tests/*.spec.js'], dir)).toEqual([
      'tests/onboarding.spec.js',
      'tests/checkout.spec.js',
    ]);
  });

  it('fails naming the pattern when a glob matches nothing', async () => {
    await expect(expandTests(['e2e/**/*.spec.ts'], dir)).rejects.toThrow(UsageError);
    await expect(expandTests(['e2e/**/*.spec.ts'], dir)).rejects.toThrow(
      '--test pattern "e2e/**/*.spec.ts" matched no files',
    );
  });
});
