/**
 * `qgjob submit`: validate locally, expand globs, bundle and upload the test sources (once
 * per content), submit once (idempotently), optionally wait. With --dry-run: validate,
 * expand and bundle the same way, then list what would be uploaded and submitted, and stop
 * there, without a server.
 */
import { randomUUID } from 'node:crypto';
import { ApiError } from '@qgjob/client';
import { formatSize, LIMITS, type SubmitRequest, type SubmitResponse, submitErrors } from '@qgjob/protocol';
import { type BundlePlan, type BundleWarning, type PackedBundle, packPlan, planBundle } from '../bundle.js';
import { type Context, createContext } from '../context.js';
import { durationFlag } from '../duration.js';
import { UnsupportedError, UsageError } from '../errors.js';
import { throwFieldErrors } from '../fields.js';
import { parseIntegerFlag, parsePriority } from '../flags.js';
import { afterWait, conclude, printResults, resultsDocument } from '../follow.js';
import { expandTests } from '../glob.js';
import { colourWanted, makeStyle, printJson, type Style, table } from '../output.js';
import { pollSubmission } from '../sources.js';
import { followInterruptible, type InterruptOptions } from './interrupt.js';

export interface SubmitOptions extends InterruptOptions {
  orgId?: string;
  appVersionId?: string;
  test?: string[];
  target?: string;
  priority?: string;
  maxRetries?: string;
  wait?: boolean;
  timeout?: string;
  junit?: string;
  /** false with --no-bundle. */
  bundle?: boolean;
  bundleRoot?: string;
  /** --dry-run: bundle and list, upload and submit nothing. */
  dryRun?: boolean;
  /** Set by `qgjob rerun`, which program.ts dispatches to this module. */
  rerun?: boolean;
}

/** The bundle as the --json document reports it. */
export interface BundleReport {
  sha256: string;
  files: number;
  bytes: number;
  uploaded: boolean;
  /**
   * Imports the bundle could not take (see bundle.ts); absent when there are none, so the
   * document of a clean bundle stays as it was.
   */
  warnings?: BundleWarning[];
}

/** The bundle as the --dry-run --json document reports it. */
export interface DryRunBundleReport {
  sha256: string;
  files: { path: string; bytes: number }[];
  bytes: number;
  compressed_bytes: number;
  warnings: BundleWarning[];
}

/** A job the submission would create, with the server's defaults filled in. */
export interface DryRunJob {
  /** null when the dry run was given no --org-id. */
  org_id: string | null;
  /** null when the dry run was given no --app-version-id. */
  app_version_id: string | null;
  test_path: string;
  target: string;
  priority: number;
  max_retries: number;
}

/**
 * The request body, checked with the same rules the server applies. A dry run may leave out
 * --org-id and --app-version-id (program.ts lets it): everything given is checked all the same.
 */
export async function buildRequest(options: SubmitOptions, cwd = process.cwd()): Promise<SubmitRequest> {
  const body: Record<string, unknown> = {
    org_id: options.orgId,
    app_version_id: options.appVersionId,
    target: options.target,
  };
  if (options.priority !== undefined) body.priority = parsePriority(options.priority);
  if (options.maxRetries !== undefined) {
    body.max_retries = parseIntegerFlag('--max-retries', options.maxRetries, 0, LIMITS.maxRetriesMax);
  }
  const tests = options.test && options.test.length > 0 ? await expandTests(options.test, cwd) : [];
  if (tests.length === 1) body.test_path = tests[0];
  else if (tests.length > 1) body.tests = tests;
  for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
  // Stand-ins for what a dry run may leave out, so that only what was given can be wrong.
  const checked = options.dryRun === true ? { org_id: 'dry-run', app_version_id: 'dry-run', ...body } : body;
  throwFieldErrors(submitErrors(checked), "see 'qgjob submit --help'");
  return body as SubmitRequest;
}

/** The submitted test paths of a validated request. */
function testsOf(body: SubmitRequest): string[] {
  if (body.tests) return [...body.tests];
  return body.test_path === undefined ? [] : [body.test_path];
}

/** Packs the test sources as --bundle-root / --no-bundle say; null when there is nothing to upload. */
export async function prepareBundle(
  options: SubmitOptions,
  tests: readonly string[],
  cwd = process.cwd(),
): Promise<{ plan: BundlePlan | null; packed: PackedBundle | null }> {
  if (options.bundle === false) {
    if (options.bundleRoot !== undefined) {
      throw new UsageError('--bundle-root and --no-bundle contradict each other', { hint: 'drop one of them' });
    }
    return { plan: null, packed: null };
  }
  const plan = await planBundle(tests, { cwd, root: options.bundleRoot });
  if (plan.kind === 'skip') return { plan, packed: null };
  return { plan, packed: await packPlan(plan, { rootFlag: options.bundleRoot }) };
}

/** Uploads the bundle unless the server already holds it. */
async function uploadBundle(
  ctx: Context,
  orgId: string,
  packed: PackedBundle,
  warnings: BundleWarning[],
): Promise<BundleReport> {
  const query = { org_id: orgId, kind: 'bundle' as const };
  let uploaded = false;
  if (!(await ctx.client.hasBlob(packed.sha256, query))) {
    try {
      await ctx.client.putBlob(packed.sha256, packed.data, query);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        throw new UnsupportedError(`the qgjob server at ${error.url} does not accept test bundles (PUT /v1/blobs)`, {
          cause: error,
          hint: 'upgrade job-server, or pass --no-bundle to let agents run their own copy',
        });
      }
      if (error instanceof ApiError && error.status === 413) {
        throw new UsageError(`the qgjob server refused the test bundle as too large (${error.message})`, {
          cause: error,
          hint: 'narrow --bundle-root or submit fewer tests, or pass --no-bundle',
        });
      }
      throw error;
    }
    uploaded = true;
  }
  const report: BundleReport = { sha256: packed.sha256, files: packed.files, bytes: packed.bytes, uploaded };
  if (warnings.length > 0) report.warnings = warnings;
  return report;
}

/** One `warning:` line on stderr per import the bundle cannot honour. */
function printWarnings(plan: BundlePlan | null, err: Style): void {
  if (plan?.kind !== 'pack') return;
  for (const warning of plan.warnings) process.stderr.write(`${err.yellow('warning:')} ${warning.message}\n`);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The jobs `body` would create: one per test path, the server's defaults filled in. */
export function dryRunJobs(body: SubmitRequest): DryRunJob[] {
  return testsOf(body).map((test_path) => ({
    org_id: body.org_id ?? null,
    app_version_id: body.app_version_id ?? null,
    test_path,
    target: body.target ?? 'emulator',
    priority: body.priority ?? LIMITS.priorityDefault,
    max_retries: body.max_retries ?? 0,
  }));
}

/** --dry-run: what would be uploaded and submitted, on stdout; nothing leaves the machine. */
function dryRun(
  options: SubmitOptions,
  body: SubmitRequest,
  plan: BundlePlan | null,
  packed: PackedBundle | null,
): number {
  const out = makeStyle(colourWanted(process.stdout, options.color !== false));
  const err = makeStyle(colourWanted(process.stderr, options.color !== false));
  const jobs = dryRunJobs(body);
  printWarnings(plan, err);
  if (plan?.kind === 'skip') process.stderr.write(`note: ${plan.note}\n`);
  const waits = (['wait', 'timeout', 'junit'] as const).filter((flag) => options[flag] !== undefined);
  if (waits.length > 0) {
    const flags = waits.map((flag) => `--${flag}`).join(', ');
    process.stderr.write(
      `note: --dry-run submits nothing, so ${flags} ${waits.length === 1 ? 'has' : 'have'} nothing to wait for\n`,
    );
  }
  if (options.json === true) {
    const bundle: DryRunBundleReport | null = packed && {
      sha256: packed.sha256,
      files: packed.listing,
      bytes: packed.bytes,
      compressed_bytes: packed.data.length,
      warnings: plan?.kind === 'pack' ? plan.warnings : [],
    };
    printJson({ dry_run: true, bundle, jobs });
    return 0;
  }
  const lines: string[] = [];
  if (packed) {
    const width = Math.max('BYTES'.length, ...packed.listing.map((file) => String(file.bytes).length));
    const rows = packed.listing.map((file) => [String(file.bytes).padStart(width), file.path]);
    rows.push([String(packed.bytes).padStart(width), out.dim('total')]);
    lines.push(
      `bundle ${out.bold(packed.sha256)}`,
      table(['BYTES'.padStart(width), 'FILE'], rows, out),
      `${plural(packed.files, 'file')}, ${formatSize(packed.bytes)}, ${formatSize(packed.data.length)} compressed`,
      '',
    );
  } else {
    lines.push('no test bundle: agents run their own copy of the tests', '');
  }
  const first = jobs[0];
  const what = first
    ? [
        first.org_id === null ? 'no --org-id' : `org ${first.org_id}`,
        first.app_version_id === null ? 'no --app-version-id' : `app version ${first.app_version_id}`,
        `target ${first.target}`,
        `priority ${first.priority}`,
        ...(first.max_retries > 0 ? [`max retries ${first.max_retries}`] : []),
      ].join(', ')
    : '';
  lines.push(
    `would submit ${plural(jobs.length, 'job')}${what && ` (${what})`}:`,
    table(
      ['TEST'],
      jobs.map((job) => [job.test_path]),
      out,
    ),
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  process.stderr.write('dry run: nothing was uploaded or submitted\n');
  return 0;
}

function printSubmitted(ctx: Context, response: SubmitResponse): void {
  const n = response.jobs.length;
  process.stdout.write(`submission ${ctx.out.bold(response.submission_id)}: ${n} job${n === 1 ? '' : 's'}\n`);
  const rows = response.jobs.map((job) => [
    job.id,
    job.deduplicated ? `${job.status} ${ctx.out.dim('(deduplicated: already queued)')}` : job.status,
    job.test_path,
  ]);
  process.stdout.write(`${table(['JOB', 'STATUS', 'TEST'], rows, ctx.out)}\n`);
}

/** Whether to wait, and for how long: --wait, or implied by --timeout or --junit. */
export function waitPlan(options: SubmitOptions): { wait: boolean; timeoutMs: number | undefined } {
  const timeoutMs = options.timeout === undefined ? undefined : durationFlag('--timeout', options.timeout);
  return { wait: options.wait === true || timeoutMs !== undefined || options.junit !== undefined, timeoutMs };
}

/**
 * What submit and rerun share once the request is built: submit once (idempotently), print
 * the submission, and with --wait follow it to its end. `extra` is added to the --json
 * document; `afterSubmit` runs once the server took the submission.
 */
export async function submitAndFollow(
  ctx: Context,
  options: SubmitOptions,
  body: SubmitRequest,
  extra: Record<string, unknown>,
  afterSubmit?: () => void,
): Promise<number> {
  const { wait, timeoutMs } = waitPlan(options);
  const response = await ctx.client.submit(body, { idempotencyKey: randomUUID() });
  afterSubmit?.();
  const followCommand = `qgjob wait --submission-id=${response.submission_id}`;

  if (!wait) {
    if (ctx.json) printJson({ ...response, ...extra });
    else {
      printSubmitted(ctx, response);
      process.stderr.write(`follow with: ${followCommand}\n`);
    }
    return 0;
  }

  if (!ctx.json) printSubmitted(ctx, response);
  const ids = response.jobs.map((job) => job.id);
  const poll = pollSubmission(ctx.client, response.submission_id, ids);
  const watch = { submissionId: response.submission_id, jobIds: ids, followCommand };
  const result = await followInterruptible(ctx, options, poll, timeoutMs, watch);
  await afterWait(ctx, result, {
    junit: options.junit,
    suites: (jobs) => [{ name: response.submission_id, jobs }],
    submissionId: response.submission_id,
    timeoutMs,
    followCommand,
  });
  if (ctx.json) printJson({ ...response, ...extra, results: resultsDocument(result) });
  else printResults(ctx, result);
  return conclude(result, timeoutMs, followCommand);
}

export async function run(options: SubmitOptions, signal: AbortSignal): Promise<number> {
  // `qgjob rerun` is dispatched here: it shares everything after the request is built.
  if (options.rerun === true) return (await import('./rerun.js')).rerun(options, signal);
  waitPlan(options);
  const body = await buildRequest(options);
  const { plan, packed } = await prepareBundle(options, testsOf(body));
  // Before any client exists: a dry run needs no server, not even a valid --server.
  if (options.dryRun === true) return dryRun(options, body, plan, packed);
  const ctx = createContext(options, signal);
  printWarnings(plan, ctx.err);
  let bundle: BundleReport | null = null;
  if (packed) {
    bundle = await uploadBundle(ctx, body.org_id, packed, plan?.kind === 'pack' ? plan.warnings : []);
    body.bundle_sha256 = bundle.sha256;
    if (!ctx.json) {
      const state = bundle.uploaded ? 'uploaded' : 'already on the server';
      const files = `${bundle.files} file${bundle.files === 1 ? '' : 's'}`;
      process.stderr.write(`bundle ${bundle.sha256.slice(0, 12)}: ${files}, ${formatSize(bundle.bytes)}, ${state}\n`);
    }
  }
  // The note after the submit, so that a failed one ends with its error alone.
  return submitAndFollow(ctx, options, body, { bundle }, () => {
    if (plan?.kind === 'skip') process.stderr.write(`note: ${plan.note}\n`);
  });
}
