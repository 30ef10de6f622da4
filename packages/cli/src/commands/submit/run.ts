/**
 * `qgjob submit`: validate locally, expand globs, bundle and upload the test sources (once
 * per content), submit once (idempotently), optionally wait. With --dry-run: validate,
 * expand and bundle the same way, then list what would be uploaded and submitted, and stop
 * there, without a server.
 */
import { ApiError } from '@qgjob/client';
import { formatSize } from '@qgjob/protocol';
import type { BundleWarning, PackedBundle } from '../../bundle.js';
import { type Context, createContext } from '../../context.js';
import { UnsupportedError, UsageError } from '../../errors.js';
import type { SubmitOptions } from './definition.js';
import { dryRun } from './dry-run.js';
import { buildRequest, prepareBundle, printWarnings, testsOf } from './request.js';
import { submitAndFollow, waitPlan } from './submission.js';

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

export async function run(options: SubmitOptions, signal: AbortSignal): Promise<number> {
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
