/**
 * GitHub Actions output, for `qgjob wait` and `submit --wait` when GITHUB_ACTIONS=true:
 *
 * - the progress lines folded into one `::group::` of the log;
 * - one `::error` annotation per job that failed, errored or was cancelled (at most 10),
 *   and one when --timeout elapsed;
 * - a Markdown job summary appended to the file GITHUB_STEP_SUMMARY names;
 * - step outputs (`submission-id`, `passed`, `failed`, `errored`, `cancelled`, `unfinished`,
 *   `total`, `timed-out`, `junit`) appended to the file GITHUB_OUTPUT names; `submission-id`
 *   only when the jobs are one submission's.
 *
 * Workflow commands go to stderr (GitHub reads them from both streams), so `--json` keeps
 * stdout one JSON document. Nothing here changes an exit code: a file that cannot be
 * written becomes a `::warning::` line.
 * https://docs.github.com/actions/reference/workflows-and-actions/workflow-commands
 */
import { appendFile } from 'node:fs/promises';
import type { JobStatus } from '@qgjob/protocol';
import { formatDuration } from './duration.js';
import { errorLocation, type JunitJob, lastError } from './junit.js';
import { plural } from './output.js';
import type { Progress } from './progress.js';
import { type Tally, tally } from './results.js';

export interface GitHub {
  /** GITHUB_STEP_SUMMARY: the job summary file, appended to. */
  summaryFile: string | undefined;
  /** GITHUB_OUTPUT: the step outputs file, appended to. */
  outputFile: string | undefined;
}

type Write = (text: string) => void;
const writeErr: Write = (text) => {
  process.stderr.write(text);
};

/** The GitHub Actions settings, or undefined when not running in GitHub Actions. */
export function gitHubFromEnv(env: NodeJS.ProcessEnv = process.env): GitHub | undefined {
  if (env.GITHUB_ACTIONS !== 'true') return undefined;
  return { summaryFile: env.GITHUB_STEP_SUMMARY || undefined, outputFile: env.GITHUB_OUTPUT || undefined };
}

/** Escapes the message of a workflow command. */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Escapes a property value (`file=`, `title=`) of a workflow command. */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

const PROBLEMS: ReadonlySet<JobStatus> = new Set(['failed', 'errored', 'cancelled']);
/** Annotations GitHub shows per step are limited; more go to the summary. */
export const MAX_ANNOTATIONS = 10;

function lastRun(job: JunitJob) {
  return job.runs?.at(-1);
}

function where(job: JunitJob): string {
  const device = lastRun(job)?.device;
  return device ? `${job.target}/${device}` : job.target;
}

function firstLine(text: string | undefined): string | undefined {
  const line = text
    ?.split(/\r?\n/)
    .map((l) => l.trim())
    .find(Boolean);
  return line || undefined;
}

/** `::error file=…,title=qgjob failed::…` lines for the jobs that did not pass. */
export function annotationLines(jobs: readonly JunitJob[], max = MAX_ANNOTATIONS): string[] {
  const bad = jobs.filter((job) => PROBLEMS.has(job.status));
  const lines = bad.slice(0, max).map((job) => {
    const error = firstLine(lastError(job));
    const message = `${job.test_path} ${job.status} on ${where(job)} (${job.app_version_id})${error ? `: ${error}` : ''}`;
    // A failed test points at its failing line; anything else at the test file.
    const at = job.status === 'failed' ? errorLocation(job) : undefined;
    const place = at
      ? `file=${escapeProperty(at.file)},line=${at.line}${at.col === undefined ? '' : `,col=${at.col}`}`
      : `file=${escapeProperty(job.test_path)}`;
    const props = `${place},title=${escapeProperty(`qgjob ${job.status}`)}`;
    return `::error ${props}::${escapeData(message)}`;
  });
  if (bad.length > max)
    lines.push(`::error::${plural(bad.length - max, 'more failed test', 'more failed tests')}: see the job summary`);
  return lines;
}

/** Folds the progress lines into one log group, opened at the first poll (when N is known). */
export function groupedProgress(inner: Progress, write: Write = writeErr): Progress {
  let open = false;
  return {
    update(jobs, elapsedMs) {
      if (!open) {
        open = true;
        write(`::group::qgjob: waiting for ${jobs.length} job${jobs.length === 1 ? '' : 's'}\n`);
      }
      inner.update(jobs, elapsedMs);
    },
    trouble(error) {
      inner.trouble(error);
    },
    stop() {
      inner.stop();
      if (open) write('::endgroup::\n');
      open = false;
    },
  };
}

/** Everything the summary and the outputs are made of. */
export interface Report {
  /** Final job states, with their runs when they could be fetched. */
  jobs: readonly JunitJob[];
  /** The submission followed; undefined for `wait --job-id`. */
  submissionId: string | undefined;
  servers: readonly string[];
  elapsedMs: number;
  timedOut: boolean;
  /** The --junit file, as given. */
  junit: string | undefined;
  /** The --timeout given, for the annotation of a timed-out wait. */
  timeoutMs?: number;
  /** How to keep following the jobs, e.g. `qgjob wait --submission-id=…`. */
  followCommand?: string;
  /** The submission's page on the server (`--public-url`), linked from the summary. */
  pageUrl?: string;
}

/** Markdown text for a table cell: one line, with the characters Markdown would act on escaped. */
export function markdownCell(text: string): string {
  return text
    .replace(/\s*[\r\n]+\s*/g, ' ')
    .replace(/[\\`*_[\]<>|~]/g, '\\$&')
    .trim();
}

/** A code span for a table cell (paths stay as typed); `|` is escaped, as GFM tables need. */
export function codeCell(text: string): string {
  const line = text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  const longest = Math.max(0, ...(line.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = line.startsWith('`') || line.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${line.replace(/\|/g, '\\|')}${pad}${fence}`;
}

/** The server without any credentials its URL may carry. */
function displayServer(server: string): string {
  try {
    const url = new URL(server);
    url.username = '';
    url.password = '';
    return url.href.replace(/\/$/, '');
  } catch {
    return server;
  }
}

const ORDER: Record<JobStatus, number> = {
  failed: 0,
  errored: 1,
  cancelled: 2,
  running: 3,
  assigned: 3,
  queued: 3,
  passed: 4,
};

const ICON: Record<JobStatus, string> = {
  failed: '❌',
  errored: '❌',
  cancelled: '🚫',
  running: '⏳',
  assigned: '⏳',
  queued: '⏳',
  passed: '✅',
};

function statusCell(job: JunitJob): string {
  if (job.status === 'passed' && job.flaky) return '⚠️ passed (flaky)';
  const unfinished = job.status === 'queued' || job.status === 'assigned' || job.status === 'running';
  return `${ICON[job.status]} ${job.status}${unfinished ? ' (unfinished)' : ''}`;
}

function retries(job: JunitJob): number {
  return Math.max(0, (job.runs ? job.runs.length : job.attempts) - 1);
}

function headline(t: Tally, total: number): string {
  const parts = (['passed', 'failed', 'errored', 'cancelled', 'unfinished'] as const)
    .filter((k) => t[k] > 0)
    .map((k) => `${t[k]} ${k}`);
  return parts.length > 0 ? parts.join(', ') : plural(total, 'job');
}

/** A URL as a Markdown link target: the characters that would end it escaped. */
function linkTarget(url: string): string {
  return url.replace(/[()<>\s]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** Rows past this many are left out: a step summary is limited to 1 MiB. */
export const MAX_SUMMARY_ROWS = 1000;

/** The job summary: heading, one line of facts, a table of jobs (failed first). */
export function summaryMarkdown(report: Report): string {
  const t = tally(report.jobs);
  const ok = t.failed + t.errored + t.cancelled + t.unfinished === 0 && !report.timedOut;
  const runs = report.jobs.flatMap((job) => job.runs ?? []);
  const installs = runs.filter((run) => run.app_installed).length;
  const submissions = report.submissionId
    ? [report.submissionId]
    : [...new Set(report.jobs.map((job) => job.submission_id))];
  const linked = (id: string) =>
    report.pageUrl && id === report.submissionId ? `[\`${id}\`](${linkTarget(report.pageUrl)})` : `\`${id}\``;
  const facts = [
    submissions.length > 0
      ? `Submission${submissions.length === 1 ? '' : 's'} ${submissions.map(linked).join(', ')}`
      : 'No submission',
    `server ${report.servers.map(displayServer).join(', ')}`,
    `${formatDuration(report.elapsedMs)} wall time`,
    runs.length > 0
      ? `${installs} app install${installs === 1 ? '' : 's'} for ${runs.length} run${runs.length === 1 ? '' : 's'} (${runs.length - installs} saved)`
      : undefined,
  ].filter(Boolean);

  const lines = [`### ${ok ? '✅' : '❌'} qgjob: ${headline(t, report.jobs.length)}`, '', facts.join(' · '), ''];
  if (report.timedOut) {
    lines.push(
      `⏱️ --timeout elapsed with ${t.unfinished} job${t.unfinished === 1 ? '' : 's'} unfinished; they keep running on the server.`,
      '',
    );
  }

  const sorted = [...report.jobs].sort((a, b) => ORDER[a.status] - ORDER[b.status]);
  if (sorted.length > 0) {
    lines.push(
      '| Test | Target | Device | Status | Duration | Retries | App installed |',
      '| --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const job of sorted.slice(0, MAX_SUMMARY_ROWS)) {
      const run = lastRun(job);
      const cells = [
        codeCell(job.test_path),
        job.target,
        run?.device ? codeCell(run.device) : '-',
        statusCell(job),
        run?.duration_ms != null ? formatDuration(run.duration_ms) : '-',
        String(retries(job)),
        run ? (run.app_installed ? 'yes' : 'no') : '-',
      ];
      lines.push(`| ${cells.join(' | ')} |`);
    }
    if (sorted.length > MAX_SUMMARY_ROWS) {
      lines.push('', `…and ${sorted.length - MAX_SUMMARY_ROWS} more jobs, not shown.`);
    }
  }
  const failures = sorted.filter((job) => PROBLEMS.has(job.status) && firstLine(lastError(job)));
  if (failures.length > 0) {
    lines.push('', '<details><summary>Errors</summary>', '');
    for (const job of failures.slice(0, MAX_SUMMARY_ROWS)) {
      lines.push(`- ${codeCell(job.test_path)} ${job.status}: ${markdownCell(firstLine(lastError(job)) ?? '')}`);
    }
    lines.push('', '</details>');
  }
  return `${lines.join('\n')}\n\n`;
}

/** `name=value`, or GitHub's multi-line form when the value has a line break. */
function output(name: string, value: string): string {
  if (!/[\r\n]/.test(value)) return `${name}=${value}\n`;
  let delimiter = 'ghadelimiter_qgjob';
  while (value.includes(delimiter)) delimiter += '_';
  return `${name}<<${delimiter}\n${value}\n${delimiter}\n`;
}

/** The submission followed, or the one every job belongs to; undefined when unknown or several. */
export function submissionOf(report: Pick<Report, 'jobs' | 'submissionId'>): string | undefined {
  if (report.submissionId) return report.submissionId;
  const ids = new Set(report.jobs.map((job) => job.submission_id));
  return ids.size === 1 ? [...ids][0] : undefined;
}

/** The step outputs, one per line; `submission-id` only when one submission is known. */
export function outputText(report: Report): string {
  const t = tally(report.jobs);
  const submission = submissionOf(report);
  const values: [string, string][] = [
    ...(submission === undefined ? [] : [['submission-id', submission] as [string, string]]),
    ['passed', String(t.passed)],
    ['failed', String(t.failed)],
    ['errored', String(t.errored)],
    ['cancelled', String(t.cancelled)],
    ['unfinished', String(t.unfinished)],
    ['total', String(report.jobs.length)],
    ['timed-out', String(report.timedOut)],
    ['junit', report.junit ?? ''],
  ];
  return values.map(([name, value]) => output(name, value)).join('');
}

async function append(file: string, text: string, what: string, write: Write): Promise<void> {
  try {
    await appendFile(file, text, 'utf8');
  } catch (error) {
    write(`::warning::${escapeData(`qgjob could not write the ${what} to ${file}: ${(error as Error).message}`)}\n`);
  }
}

/** The `::error` line of a wait whose --timeout elapsed; undefined when it did not. */
export function timeoutAnnotation(report: Report): string | undefined {
  if (!report.timedOut) return undefined;
  const t = tally(report.jobs);
  const limit = formatDuration(report.timeoutMs ?? report.elapsedMs);
  const unfinished = report.jobs.length === 0 ? 'the jobs' : `${t.unfinished} of ${plural(report.jobs.length, 'job')}`;
  const follow = report.followCommand ? `; follow them with '${report.followCommand}'` : '';
  const message = `--timeout of ${limit} elapsed with ${unfinished} unfinished: they keep running on the server${follow}`;
  return `::error title=${escapeProperty('qgjob timed out')}::${escapeData(message)}`;
}

/** One annotation (`::error` or `::warning`) without a file, titled. */
export function annotation(level: 'error' | 'warning', title: string, message: string): string {
  return `::${level} title=${escapeProperty(title)}::${escapeData(message)}`;
}

/** The summary and the outputs appended to their files. */
export async function appendReport(github: GitHub, report: Report, write: Write = writeErr): Promise<void> {
  if (github.summaryFile) await append(github.summaryFile, summaryMarkdown(report), 'job summary', write);
  if (github.outputFile) await append(github.outputFile, outputText(report), 'step outputs', write);
}

/** Annotations on stderr (failed tests, an elapsed --timeout), then the summary and the outputs appended to their files. */
export async function reportToGitHub(github: GitHub, report: Report, write: Write = writeErr): Promise<void> {
  const annotations = annotationLines(report.jobs);
  const timeout = timeoutAnnotation(report);
  if (timeout) annotations.push(timeout);
  if (annotations.length > 0) write(`${annotations.join('\n')}\n`);
  await appendReport(github, report, write);
}
