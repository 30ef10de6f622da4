/**
 * `qgjob submit`: validate locally, expand globs, bundle and upload the test sources (once
 * per content), submit once (idempotently), optionally wait.
 */
import { randomUUID } from 'node:crypto';
import { ApiError } from '@qgjob/client';
import { formatSize, LIMITS, type SubmitRequest, type SubmitResponse, submitErrors } from '@qgjob/protocol';
import { type BundlePlan, type PackedBundle, packPlan, planBundle } from '../bundle.js';
import { type Context, createContext, type GlobalOptions } from '../context.js';
import { durationFlag } from '../duration.js';
import { UnsupportedError, UsageError } from '../errors.js';
import { throwFieldErrors } from '../fields.js';
import { parseIntegerFlag, parsePriority } from '../flags.js';
import { afterWait, conclude, follow, printResults, resultsDocument } from '../follow.js';
import { expandTests } from '../glob.js';
import { printJson, table } from '../output.js';
import { pollSubmission } from '../sources.js';

export interface SubmitOptions extends GlobalOptions {
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
}

/** The bundle as the --json document reports it. */
export interface BundleReport {
  sha256: string;
  files: number;
  bytes: number;
  uploaded: boolean;
}

/** The request body, checked with the same rules the server applies. */
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
  throwFieldErrors(submitErrors(body), "see 'qgjob submit --help'");
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
async function uploadBundle(ctx: Context, orgId: string, packed: PackedBundle): Promise<BundleReport> {
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
  return { sha256: packed.sha256, files: packed.files, bytes: packed.bytes, uploaded };
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

export async function run(options: SubmitOptions, signal: AbortSignal): Promise<number> {
  const timeoutMs = options.timeout === undefined ? undefined : durationFlag('--timeout', options.timeout);
  const wait = options.wait === true || timeoutMs !== undefined || options.junit !== undefined;
  const body = await buildRequest(options);
  const { plan, packed } = await prepareBundle(options, testsOf(body));
  const ctx = createContext(options, signal);
  let bundle: BundleReport | null = null;
  if (packed) {
    bundle = await uploadBundle(ctx, body.org_id, packed);
    body.bundle_sha256 = bundle.sha256;
    if (!ctx.json) {
      const state = bundle.uploaded ? 'uploaded' : 'already on the server';
      const files = `${bundle.files} file${bundle.files === 1 ? '' : 's'}`;
      process.stderr.write(`bundle ${bundle.sha256.slice(0, 12)}: ${files}, ${formatSize(bundle.bytes)}, ${state}\n`);
    }
  }
  const response = await ctx.client.submit(body, { idempotencyKey: randomUUID() });
  // After the submit, so that a failed one ends with its error alone.
  if (plan?.kind === 'skip') process.stderr.write(`note: ${plan.note}\n`);
  const followCommand = `qgjob wait --submission-id=${response.submission_id}`;

  if (!wait) {
    if (ctx.json) printJson({ ...response, bundle });
    else {
      printSubmitted(ctx, response);
      process.stderr.write(`follow with: ${followCommand}\n`);
    }
    return 0;
  }

  if (!ctx.json) printSubmitted(ctx, response);
  const ids = response.jobs.map((job) => job.id);
  const result = await follow(ctx, pollSubmission(ctx.client, response.submission_id, ids), timeoutMs);
  await afterWait(ctx, result, {
    junit: options.junit,
    suites: (jobs) => [{ name: response.submission_id, jobs }],
    submissionId: response.submission_id,
  });
  if (ctx.json) printJson({ ...response, bundle, results: resultsDocument(result) });
  else printResults(ctx, result);
  return conclude(result, timeoutMs, followCommand);
}
