import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CommandExecutor } from '../src/executors/command.js';
import { shellQuote } from '../src/executors/template.js';
import { contextFor, neverAborted, tempDir } from './fakes.js';

const dir = tempDir();
afterAll(() => dir.remove());

const ctx = contextFor({ target: 'emulator', name: 'emulator-5554' }, '/builds/v1.apk');
const job = (path: string) => ({ id: 'j1', test_path: path, priority: 5, attempt: 1 });
const executor = (template: string, testTimeoutMs = 10_000) =>
  new CommandExecutor({ template, workdir: dir.path, testTimeoutMs, installTimeoutMs: 1000, killGraceMs: 1000 });

describe('command executor', () => {
  it('substitutes placeholders shell-quoted: spaces, quotes and $() stay one inert argument', async () => {
    const nasty = `tests/it's a "quoted" $(touch pwned) \`touch pwned2\`; touch pwned3.spec.js`;
    const out = join(dir.path, 'args');
    const outcome = await executor(`printf '%s\\n' {test_path} {device} {target} {app_version_id} > ${out}`).run(
      job(nasty),
      ctx,
      neverAborted,
    );
    expect(outcome.status).toBe('passed');
    expect(readFileSync(out, 'utf8')).toBe(`${nasty}\nemulator-5554\nemulator\nv1\n`);
    for (const f of ['pwned', 'pwned2', 'pwned3.spec.js']) expect(existsSync(join(dir.path, f))).toBe(false);
  });

  it('passes on exit 0 and fails on any other exit', async () => {
    expect((await executor('exit 0').run(job('a'), ctx, neverAborted)).status).toBe('passed');
    const failed = await executor('echo boom >&2; exit 3').run(job('a'), ctx, neverAborted);
    expect(failed.status).toBe('failed');
    expect(failed.error).toContain('exited with code 3');
    expect(failed.error).toContain('boom');
  });

  it('errors when the shell cannot find the command', async () => {
    const outcome = await executor('definitely-not-a-command-qgjob {test_path}').run(job('a'), ctx, neverAborted);
    expect(outcome.status).toBe('errored');
    expect(outcome.error).toContain('127');
  });

  it('errors on timeout', async () => {
    const outcome = await executor('sleep 30', 300).run(job('a'), ctx, neverAborted);
    expect(outcome.status).toBe('errored');
    expect(outcome.error).toContain('timed out');
  });

  it('quotes only what needs quoting', () => {
    expect(shellQuote('tests/a.spec.js')).toBe('tests/a.spec.js');
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('')).toBe("''");
  });
});
