/**
 * The repository's workflow and action, run here the way a GitHub runner runs them (see
 * helpers/actions-runner.ts): the `local-farm` job of .github/workflows/appwright.yml starts a
 * real job-server and a simulated agent, packs and installs the CLI, and runs action.yml.
 * The step "Install dependencies" (npm ci) is skipped: this checkout is installed already.
 */
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type JobResult, runJob } from './helpers/actions-runner.js';

const repo = fileURLToPath(new URL('..', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function machineEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(GITHUB_|QGJOB_|RUNNER_|INPUT_|NO_COLOR|FORCE_COLOR)/.test(k)) env[k] = v;
  }
  return { ...env, ...extra };
}

async function localFarm(extra: Record<string, string> = {}): Promise<JobResult> {
  return runJob({
    repo,
    workflow: '.github/workflows/appwright.yml',
    job: 'local-farm',
    env: machineEnv(extra),
    jobEnv: { QGJOB_PORT: String(await freePort()) },
    skip: ['Install dependencies'],
    stepTimeoutMs: 150_000,
  });
}

const step = (r: JobResult, name: string) => r.steps.find((s) => s.name === name);

describe('GitHub Actions: the workflow and the action, run as a runner runs them', () => {
  it('passes with a summary table and outputs when every test passes', async () => {
    const r = await localFarm();
    expect(r.ok, r.log).toBe(true);
    expect(step(r, 'actions/checkout@v4')?.skipped ?? r.steps[0]?.skipped).toMatch(/marketplace/);
    const submit = step(r, 'Submit the tests and wait for them');
    expect(submit?.code).toBe(0);
    expect(submit?.outputs).toMatchObject({ passed: '4', failed: '0', errored: '0' });
    expect(submit?.outputs['submission-id']).toMatch(/^sub_/);
    expect(step(r, 'Show what ran')?.stdout).toMatch(/^submission sub_\w+: 4 passed, 0 failed, 0 errored$/m);
    expect(r.summary).toMatch(/\| Test \| Target \| Device \| Status \| Duration \| Retries \|/);
    expect(r.summary).toContain('tests/onboarding.spec.js');
    expect(r.log).not.toMatch(/::error/);
    expect(step(r, 'Stop the farm')?.code).toBe(0);
  }, 240_000);

  it('fails the step and annotates the failing test when one fails', async () => {
    const r = await localFarm({ QGJOB_SIM_FAIL: 'checkout' });
    expect(r.ok).toBe(false);
    const submit = step(r, 'Submit the tests and wait for them');
    expect(submit?.code).not.toBe(0);
    expect(submit?.outputs).toMatchObject({ passed: '3', failed: '1' });
    expect(r.log).toMatch(/^::error file=tests\/checkout\.spec\.js[^\n]*::/m);
    expect(r.log.match(/^::error /gm)?.length).toBe(1);
    expect(r.summary).toMatch(/checkout\.spec\.js.*failed/);
    // Steps marked `if: always()` still run after the failure; the others do not.
    expect(step(r, 'Show what ran')?.stdout).toMatch(/3 passed, 1 failed/);
    expect(step(r, 'Stop the farm')?.code).toBe(0);
  }, 240_000);
});
