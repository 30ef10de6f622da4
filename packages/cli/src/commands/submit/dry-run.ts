/** `qgjob submit --dry-run`: what would be uploaded and submitted, on stdout; nothing leaves the machine. */
import { formatSize, LIMITS, type SubmitRequest } from '@qgjob/protocol';
import type { BundlePlan, BundleWarning, PackedBundle } from '../../bundle.js';
import { colourWanted, makeStyle, plural, printJson, table } from '../../output.js';
import type { SubmitOptions } from './definition.js';
import { printWarnings, testsOf } from './request.js';

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
export function dryRun(
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
