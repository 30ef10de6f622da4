/**
 * `qgjob artifacts`: downloads the files a job's runs left (screenshots, videos, traces)
 * into DIR/run-<n>/<name>, every run or the one --run names. Prints one line per file
 * (path and size) on stdout, or with --json one document; a job without files says so on
 * stderr and exits 0.
 */
import { relative, resolve } from 'node:path';
import { ApiError } from '@qgjob/client';
import { formatSize, type JobArtifacts } from '@qgjob/protocol';
import { type PlannedFile, planFiles, writeFile } from '../../artifact-files.js';
import { type Context, createContext } from '../../context.js';
import { InterruptedError, UnsupportedError, UsageError } from '../../errors.js';
import { parseIntegerFlag } from '../../flags.js';
import { mapLimit } from '../../limit.js';
import { printJson } from '../../output.js';
import { notFound } from '../../sources.js';
import type { ArtifactsOptions } from './definition.js';

const HELP = "see 'qgjob artifacts --help'";
const CONCURRENCY = 4;

/** Job ids the server makes are safe as a directory name; anything else needs --dir. */
const SAFE_SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;

function targetDir(options: ArtifactsOptions, jobId: string): string {
  if (options.dir !== undefined) {
    if (options.dir.trim() === '') throw new UsageError('--dir must name a directory', { hint: HELP });
    return resolve(options.dir);
  }
  if (!SAFE_SEGMENT.test(jobId)) {
    throw new UsageError(`--job-id ${JSON.stringify(jobId)} cannot name a directory: give --dir=DIR`, { hint: HELP });
  }
  return resolve('qgjob-artifacts', jobId);
}

async function listing(ctx: Context, jobId: string): Promise<JobArtifacts> {
  try {
    return await ctx.client.listArtifacts(jobId);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404 && /^no route /.test(error.message)) {
      throw new UnsupportedError(`the qgjob server at ${error.url} keeps no test artifacts (${error.message})`, {
        cause: error,
        hint: 'upgrade job-server',
      });
    }
    return notFound('job', jobId)(error);
  }
}

function pickRuns(artifacts: JobArtifacts, run: number | undefined): JobArtifacts['runs'] {
  if (run === undefined) return artifacts.runs;
  const found = artifacts.runs.filter((r) => r.n === run);
  if (found.length === 0) {
    const known = artifacts.runs.map((r) => r.n).join(', ') || 'none yet';
    throw new UsageError(`job ${artifacts.job_id} has no run ${run} (its runs: ${known})`, { hint: HELP });
  }
  return found;
}

async function download(ctx: Context, jobId: string, dir: string, file: PlannedFile): Promise<void> {
  const response = await ctx.client.downloadArtifact(jobId, file.run, file.name, ctx.signal);
  await writeFile(dir, file, response.body, ctx.signal);
}

/** The path as the user would type it: relative to the current directory when below it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith('..') ? rel : path;
}

export async function run(options: ArtifactsOptions, signal: AbortSignal): Promise<number> {
  const jobId = options.jobId;
  if (jobId === undefined || jobId === '') {
    throw new UsageError('--job-id is required', { hint: "find job ids with 'qgjob list'" });
  }
  const runN = options.run === undefined ? undefined : parseIntegerFlag('--run', options.run, 1, 1_000_000);
  const dir = targetDir(options, jobId);
  const ctx = createContext(options, signal);
  const runs = pickRuns(await listing(ctx, jobId), runN);
  const files = planFiles(dir, runs);
  if (files.length === 0) {
    const which = runN === undefined ? `job ${jobId}` : `run ${runN} of job ${jobId}`;
    process.stderr.write(`${which} has no artifacts\n`);
  }
  try {
    await mapLimit(files, CONCURRENCY, (file) => download(ctx, jobId, dir, file));
  } catch (error) {
    if (signal.aborted)
      throw new InterruptedError('interrupted: the files not yet complete were not kept', { cause: error });
    throw error;
  }
  if (ctx.json) {
    printJson({
      job_id: jobId,
      dir,
      files: files.map((f) => ({ run: f.run, name: f.name, path: f.path, size: f.size, sha256: f.sha256 })),
    });
  } else {
    for (const f of files) process.stdout.write(`${shown(f.path)}  ${formatSize(f.size)}\n`);
  }
  if (files.length > 0) {
    const bytes = files.reduce((sum, f) => sum + f.size, 0);
    const count = `${files.length} file${files.length === 1 ? '' : 's'}`;
    process.stderr.write(`${count} (${formatSize(bytes)}) of job ${jobId} in ${shown(dir)}\n`);
  }
  return 0;
}
