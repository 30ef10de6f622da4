/**
 * A local stand-in for the GitHub Actions runner: runs one job of a workflow, step by step, as
 * processes (bash -eo pipefail), with `${{ }}` substitution, GITHUB_OUTPUT/ENV/PATH and
 * GITHUB_STEP_SUMMARY files, composite `uses: ./` and `if: always()`.
 *
 * Cancelling (`signal`) does what GitHub documents for a cancelled run: the running step's
 * entry process (its bash) gets SIGINT, SIGTERM after `cancelGraceMs.sigint` (7.5 s), and the
 * step's whole process tree SIGKILL after `cancelGraceMs.sigterm` (2.5 s) more; then only
 * the steps marked `if: always()` run. Each step runs in its own process group; when the job
 * ends, what its steps left running is killed (as the runner's orphan-process cleanup does)
 * and every temporary directory made here is removed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, string | number | boolean>;
  env?: Record<string, string | number>;
  if?: string;
  shell?: string;
  'working-directory'?: string;
}

export interface StepResult {
  name: string;
  skipped?: string;
  code?: number;
  /** The signals the step's processes were sent, in order, when the run was cancelled or it timed out. */
  signals?: string[];
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
}

export interface JobResult {
  ok: boolean;
  /** The run was cancelled (`signal`) before its last step. */
  cancelled: boolean;
  steps: StepResult[];
  summary: string;
  /** Everything the steps printed, in order. */
  log: string;
}

export interface RunJobOptions {
  repo: string;
  workflow: string;
  job: string;
  /** Environment of the machine for the job (PATH, HOME…); GitHub's variables are added. */
  env: Record<string, string>;
  vars?: Record<string, string>;
  secrets?: Record<string, string>;
  skip?: string[];
  /** Job-level env values to replace (e.g. a free port instead of 8080). */
  jobEnv?: Record<string, string>;
  stepTimeoutMs?: number;
  /** Cancels the run, as GitHub does when it is cancelled or superseded. */
  signal?: AbortSignal;
  /** After SIGINT, how long until SIGTERM; after SIGTERM, how long until SIGKILL (GitHub: 7500 and 2500). */
  cancelGraceMs?: { sigint: number; sigterm: number };
}

interface Context {
  env: Record<string, string>;
  steps: Record<string, { outputs: Record<string, string> }>;
  inputs: Record<string, string>;
  vars: Record<string, string>;
  secrets: Record<string, string>;
  github: Record<string, string>;
  runner: Record<string, string>;
}

function evaluate(expr: string, ctx: Context): string {
  const e = expr.trim();
  const m = /^(env|inputs|vars|secrets|github|runner)\.([\w-]+)$/.exec(e);
  if (m) {
    const scope = ctx[m[1] as 'env'] as Record<string, string>;
    return scope[m[2] as string] ?? '';
  }
  const s = /^steps\.([\w-]+)\.outputs\.([\w-]+)$/.exec(e);
  if (s) return ctx.steps[s[1] as string]?.outputs[s[2] as string] ?? '';
  throw new Error(`expression not supported by this runner: ${e}`);
}

function substitute(text: string, ctx: Context): string {
  return text.replace(/\$\{\{(.*?)\}\}/g, (_, expr: string) => evaluate(expr, ctx));
}

function readKeyValues(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = readFileSync(file, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const value: string[] = [];
      for (i++; i < lines.length && lines[i] !== heredoc[2]; i++) value.push(lines[i] as string);
      out[heredoc[1] as string] = value.join('\n');
      continue;
    }
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

interface StepProcess {
  code: number;
  stdout: string;
  stderr: string;
  signals: string[];
}

/** Sends `signal` to the process group led by `pid`; false when it is gone. */
function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Waits until the process group led by `pid` is empty, then (or after `ms`) SIGKILLs what is left. */
async function reapGroup(pid: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (signalGroup(pid, 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  signalGroup(pid, 'SIGKILL');
  while (signalGroup(pid, 0)) await new Promise((r) => setTimeout(r, 20));
}

interface StepRun {
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  grace: { sigint: number; sigterm: number };
  /** Each step's process group, for the cleanup at the end of the job. */
  groups: number[];
}

/**
 * One `run:` step: bash in its own process group, its output collected. On cancel, SIGINT
 * and SIGTERM go to bash alone (the step's entry process), SIGKILL to the whole group.
 */
function bash(script: string, file: string, o: StepRun): Promise<StepProcess> {
  writeFileSync(file, script);
  return new Promise((resolvePromise, reject) => {
    const child: ChildProcess = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', file], {
      cwd: o.cwd,
      env: o.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const pid = child.pid as number;
    o.groups.push(pid);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const signals: string[] = [];
    const timers: NodeJS.Timeout[] = [];
    const send = (signal: NodeJS.Signals, group: boolean) => {
      signals.push(signal);
      if (group) signalGroup(pid, signal);
      else child.kill(signal);
    };
    const cancel = () => {
      send('SIGINT', false);
      timers.push(
        setTimeout(() => {
          send('SIGTERM', false);
          timers.push(setTimeout(() => send('SIGKILL', true), o.grace.sigterm));
        }, o.grace.sigint),
      );
    };
    if (o.signal?.aborted) cancel();
    else o.signal?.addEventListener('abort', cancel, { once: true });
    timers.push(setTimeout(() => send('SIGKILL', true), o.timeoutMs));
    const done = () => {
      for (const timer of timers) clearTimeout(timer);
      o.signal?.removeEventListener('abort', cancel);
    };
    child.on('error', (error) => {
      done();
      reject(error);
    });
    child.on('close', (code, signal) => {
      done();
      // A step killed by a signal fails as a shell reports it: 128 + the signal's number.
      const killed = signal ? 128 + ({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[signal as string] ?? 0) : 1;
      resolvePromise({ code: code ?? killed, stdout, stderr, signals });
    });
  });
}

export async function runJob(o: RunJobOptions): Promise<JobResult> {
  const workflow = parse(readFileSync(resolve(o.repo, o.workflow), 'utf8'));
  const job = workflow.jobs[o.job] as { env?: Record<string, string>; steps: Step[] };
  const temp = mkdtempSync(join(tmpdir(), 'gha-runner-'));
  const summaryFile = join(temp, 'step_summary.md');
  writeFileSync(summaryFile, '');
  const ctx: Context = {
    env: {},
    steps: {},
    inputs: {},
    vars: o.vars ?? {},
    secrets: o.secrets ?? {},
    github: { workspace: o.repo, sha: 'test0000', ref: 'refs/heads/main', action_path: o.repo },
    runner: { temp },
  };
  for (const [k, v] of Object.entries({ ...job.env, ...o.jobEnv })) ctx.env[k] = String(v);
  const path: string[] = [];
  const results: StepResult[] = [];
  const groups: number[] = [];
  const grace = o.cancelGraceMs ?? { sigint: 7500, sigterm: 2500 };
  let failed = false;
  let log = '';

  const runStep = async (step: Step, cwd: string, scopeEnv: Record<string, string>, inputs: Record<string, string>) => {
    const name = step.name ?? step.run?.split('\n')[0] ?? step.uses ?? 'step';
    const always = step.if?.includes('always()') ?? false;
    if ((failed || o.signal?.aborted) && !always) {
      const skipped = o.signal?.aborted ? 'the run was cancelled' : 'an earlier step failed';
      return results.push({ name, skipped, stdout: '', stderr: '', outputs: {} });
    }
    const local = { ...ctx, inputs };
    if (step.uses && step.uses !== './') {
      return results.push({ name, skipped: `marketplace action ${step.uses}`, stdout: '', stderr: '', outputs: {} });
    }
    if (o.skip?.includes(name))
      return results.push({ name, skipped: 'skipped by the test', stdout: '', stderr: '', outputs: {} });
    if (step.uses === './') {
      const action = parse(readFileSync(join(o.repo, 'action.yml'), 'utf8')) as {
        inputs: Record<string, { default?: string; required?: boolean }>;
        runs: { steps: Step[] };
      };
      const given: Record<string, string> = {};
      for (const [k, spec] of Object.entries(action.inputs)) {
        const value = step.with?.[k] === undefined ? (spec.default ?? '') : substitute(String(step.with[k]), local);
        if (spec.required && value === '') throw new Error(`input ${k} is required`);
        given[k] = value;
      }
      const saved = ctx.steps;
      ctx.steps = {};
      for (const inner of action.runs.steps) await runStep(inner, o.repo, scopeEnv, given);
      const inner = ctx.steps;
      ctx.steps = saved;
      const actionOutputs = parse(readFileSync(join(o.repo, 'action.yml'), 'utf8')).outputs as Record<
        string,
        { value: string }
      >;
      const outputs: Record<string, string> = {};
      const withInner = { ...ctx, steps: inner, inputs: given };
      for (const [k, spec] of Object.entries(actionOutputs)) outputs[k] = substitute(spec.value, withInner);
      if (step.id) ctx.steps[step.id] = { outputs };
      return;
    }
    const files = {
      GITHUB_OUTPUT: join(temp, `output-${results.length}`),
      GITHUB_ENV: join(temp, `env-${results.length}`),
      GITHUB_PATH: join(temp, `path-${results.length}`),
    };
    for (const f of Object.values(files)) writeFileSync(f, '');
    const stepEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(step.env ?? {})) stepEnv[k] = substitute(String(v), local);
    const env = {
      ...o.env,
      ...scopeEnv,
      ...ctx.env,
      ...stepEnv,
      ...files,
      PATH: [...path, o.env.PATH ?? ''].join(':'),
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GITHUB_WORKSPACE: o.repo,
      GITHUB_STEP_SUMMARY: summaryFile,
      GITHUB_ACTION_PATH: o.repo,
      RUNNER_TEMP: temp,
    };
    const dir = step['working-directory'] ? resolve(cwd, substitute(step['working-directory'], local)) : cwd;
    const result = await bash(substitute(step.run ?? '', local), join(temp, `step-${results.length}.sh`), {
      cwd: dir,
      env,
      timeoutMs: o.stepTimeoutMs ?? 120_000,
      // A step that runs because of `if: always()` after a cancel is not cancelled again.
      signal: o.signal?.aborted ? undefined : o.signal,
      grace,
      groups,
    });
    log += `\n$ ${name}\n${result.stdout}${result.stderr}`;
    const outputs = readKeyValues(files.GITHUB_OUTPUT);
    if (step.id) ctx.steps[step.id] = { outputs };
    Object.assign(ctx.env, readKeyValues(files.GITHUB_ENV));
    path.unshift(...readFileSync(files.GITHUB_PATH, 'utf8').split('\n').filter(Boolean).reverse());
    const signals = result.signals.length > 0 ? { signals: result.signals } : {};
    results.push({ name, code: result.code, stdout: result.stdout, stderr: result.stderr, outputs, ...signals });
    if (result.code !== 0) failed = true;
  };

  try {
    for (const step of job.steps) await runStep(step, o.repo, {}, {});
    appendFileSync(join(temp, 'done'), '');
    const cancelled = o.signal?.aborted === true;
    return { ok: !failed && !cancelled, cancelled, steps: results, summary: readFileSync(summaryFile, 'utf8'), log };
  } finally {
    // What the steps left running (a server started with `&`, say) gets a moment to stop, then SIGKILL.
    await Promise.all(groups.map((pid) => reapGroup(pid, 5000)));
    rmSync(temp, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  }
}
