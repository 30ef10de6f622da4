/**
 * What submit prepares before anything leaves the machine, for a dry run as for a real one:
 * the request, checked with the server's rules, and the bundle of the test sources.
 */
import { LIMITS, type SubmitRequest, submitErrors } from '@qgjob/protocol';
import { type BundlePlan, type PackedBundle, packPlan, planBundle } from '../../bundle.js';
import { UsageError } from '../../errors.js';
import { throwFieldErrors } from '../../fields.js';
import { parseIntegerFlag, parsePriority } from '../../flags.js';
import { expandTests } from '../../glob.js';
import type { Style } from '../../output.js';
import type { SubmitOptions } from './definition.js';

/**
 * The request body, checked with the same rules the server applies. A dry run may leave out
 * --org-id and --app-version-id (its definition lets it): everything given is checked all the same.
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
export function testsOf(body: SubmitRequest): string[] {
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

/** One `warning:` line on stderr per import the bundle cannot honour. */
export function printWarnings(plan: BundlePlan | null, err: Style): void {
  if (plan?.kind !== 'pack') return;
  for (const warning of plan.warnings) process.stderr.write(`${err.yellow('warning:')} ${warning.message}\n`);
}
