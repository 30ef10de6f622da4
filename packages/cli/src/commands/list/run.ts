/** `qgjob list`: one page of jobs, newest first, with a hint for the next page. */
import { LIMITS, ListJobsQuery, validationErrors } from '@qgjob/protocol';
import { createContext } from '../../context.js';
import { throwFieldErrors } from '../../fields.js';
import { parseIntegerFlag } from '../../flags.js';
import { formatTime, paintStatus, printJson, table } from '../../output.js';
import type { ListOptions } from './definition.js';

export function buildQuery(options: ListOptions): ListJobsQuery {
  const query: Record<string, unknown> = {
    org_id: options.orgId,
    status: options.status,
    app_version_id: options.appVersionId,
    target: options.target,
    submission_id: options.submissionId,
    limit:
      options.limit === undefined
        ? LIMITS.listLimitDefault
        : parseIntegerFlag('--limit', options.limit, 1, LIMITS.listLimitMax),
    cursor: options.cursor,
  };
  for (const key of Object.keys(query)) if (query[key] === undefined) delete query[key];
  throwFieldErrors(validationErrors(ListJobsQuery, query), "see 'qgjob list --help'");
  return query as ListJobsQuery;
}

export async function run(options: ListOptions, signal: AbortSignal): Promise<number> {
  const query = buildQuery(options);
  const ctx = createContext(options, signal);
  const page = await ctx.client.listJobs(query);
  if (ctx.json) printJson(page);
  else if (page.jobs.length === 0) process.stderr.write('no jobs found\n');
  else {
    const rows = page.jobs.map((job) => [
      job.id,
      paintStatus(ctx.out, job.status),
      job.org_id,
      job.app_version_id,
      job.target,
      String(job.priority),
      String(job.attempts),
      formatTime(job.created_at),
      job.test_path,
    ]);
    const header = ['JOB', 'STATUS', 'ORG', 'APP VERSION', 'TARGET', 'PRIORITY', 'ATTEMPTS', 'CREATED', 'TEST'];
    // On a narrow terminal TEST, APP VERSION and ORG give way; the job id stays whole.
    process.stdout.write(`${table(header, rows, ctx.out, { flexible: [8, 3, 2] })}\n`);
  }
  if (page.next_cursor) {
    process.stderr.write(`more jobs: repeat with --cursor=${page.next_cursor} for the next page\n`);
  }
  return 0;
}
