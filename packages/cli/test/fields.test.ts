import { submitErrors } from '@qgjob/protocol';
import { describe, expect, it } from 'vitest';
import { fieldErrorsMessage, flagFor, messageForFlag, throwFieldErrors } from '../src/fields.js';

describe('flagFor', () => {
  it.each([
    ['org_id', '--org-id'],
    ['app_version_id', '--app-version-id'],
    ['test_path', '--test'],
    ['tests', '--test'],
    ['tests[3]', '--test'],
    ['target', '--target'],
    ['priority', '--priority'],
    ['max_retries', '--max-retries'],
    ['status', '--status'],
    ['limit', '--limit'],
    ['body', 'body'],
  ])('%s → %s', (field, flag) => {
    expect(flagFor(field)).toBe(flag);
  });
});

describe('messages from protocol validation', () => {
  const base = { org_id: 'qualgent', app_version_id: 'xyz123', test_path: 'tests/a.spec.js' };

  it('names --target and the allowed values', () => {
    expect(fieldErrorsMessage(submitErrors({ ...base, target: 'tablet' }))).toBe(
      '--target must be one of emulator, device, browserstack (got "tablet")',
    );
  });

  it('names --test for a bad entry of tests[]', () => {
    const message = fieldErrorsMessage(
      submitErrors({ ...base, test_path: undefined, tests: ['a.js', '../etc/passwd'] }),
    );
    expect(message).toMatch(/^--test must be a relative path .*\(got "\.\.\/etc\/passwd"\)$/);
  });

  it('says a missing field is a required flag', () => {
    const { org_id: _, ...rest } = base;
    expect(fieldErrorsMessage(submitErrors(rest))).toBe('--org-id is required');
    expect(fieldErrorsMessage(submitErrors({ org_id: 'q', app_version_id: 'v' }))).toBe('--test is required');
  });

  it('names --priority and --max-retries with their ranges', () => {
    expect(fieldErrorsMessage(submitErrors({ ...base, priority: 42 }))).toBe(
      '--priority must be an integer from 0 to 9 (got 42)',
    );
    expect(fieldErrorsMessage(submitErrors({ ...base, max_retries: 9 }))).toBe(
      '--max-retries must be an integer from 0 to 5 (got 9)',
    );
  });

  it('reports every wrong flag once, in one line', () => {
    const message = fieldErrorsMessage(submitErrors({ tests: ['/abs', '../up'] }));
    expect(message.split('; ')).toEqual([
      '--org-id is required',
      '--app-version-id is required',
      expect.stringMatching(/^--test must be a relative path/),
    ]);
  });

  it('leaves a message about another subject alone but prefixes the flag', () => {
    expect(messageForFlag({ field: 'target', message: 'unsupported here' })).toBe('--target: unsupported here');
    expect(messageForFlag({ field: 'body', message: 'body must be a JSON object' })).toBe('body must be a JSON object');
  });

  it('throws only when there is an error', () => {
    expect(() => throwFieldErrors([])).not.toThrow();
    expect(() => throwFieldErrors(submitErrors({ ...base, target: 'tablet' }))).toThrow(/^--target/);
  });
});
