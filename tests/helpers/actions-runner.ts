import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { runCommand } from './process.js';

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
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
}

export interface JobResult {
  ok: boolean;
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

async function bash(
  script: string,
  cwd: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = join(mkdtempSync(join(tmpdir(), 'gha-step-')), 'step.sh');
  writeFileSync(file, script);
  const { code, stdout, stderr } = await runCommand('bash', ['--noprofile', '--norc', '-eo', 'pipefail', file], {
    cwd,
    env,
    timeoutMs,
  });
  return { code: code ?? 1, stdout, stderr };
}

export async function runJob(o: RunJobOptions): Promise<JobResult> {
  const workflow = parse(readFileSync(join(o.repo, o.workflow), 'utf8'));
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
  let failed = false;
  let log = '';

  const runStep = async (step: Step, cwd: string, scopeEnv: Record<string, string>, inputs: Record<string, string>) => {
    const name = step.name ?? step.run?.split('\n')[0] ?? step.uses ?? 'step';
    const always = step.if?.includes('always()') ?? false;
    if (failed && !always)
      return results.push({ name, skipped: 'an earlier step failed', stdout: '', stderr: '', outputs: {} });
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
    const result = await bash(substitute(step.run ?? '', local), dir, env, o.stepTimeoutMs ?? 120_000);
    log += `\n$ ${name}\n${result.stdout}${result.stderr}`;
    const outputs = readKeyValues(files.GITHUB_OUTPUT);
    if (step.id) ctx.steps[step.id] = { outputs };
    Object.assign(ctx.env, readKeyValues(files.GITHUB_ENV));
    path.unshift(...readFileSync(files.GITHUB_PATH, 'utf8').split('\n').filter(Boolean).reverse());
    results.push({ name, code: result.code, stdout: result.stdout, stderr: result.stderr, outputs });
    if (result.code !== 0) failed = true;
  };

  for (const step of job.steps) await runStep(step, o.repo, {}, {});
  appendFileSync(join(temp, 'done'), '');
  return { ok: !failed, steps: results, summary: readFileSync(summaryFile, 'utf8'), log };
}
