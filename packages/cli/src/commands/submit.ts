/** `qgjob submit`: validate locally, expand globs, submit once (idempotently), optionally wait. */
import { randomUUID } from 'node:crypto';
import { LIMITS, type SubmitRequest, type SubmitResponse, submitErrors } from '@qgjob/protocol';
import { type Context, createContext, type GlobalOptions } from '../context.js';
import { durationFlag } from '../duration.js';
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
  const ctx = createContext(options, signal);
  const response = await ctx.client.submit(body, { idempotencyKey: randomUUID() });
  const followCommand = `qgjob wait --submission-id=${response.submission_id}`;

  if (!wait) {
    if (ctx.json) printJson(response);
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
  if (ctx.json) printJson({ ...response, results: resultsDocument(result) });
  else printResults(ctx, result);
  return conclude(result, timeoutMs, followCommand);
}
