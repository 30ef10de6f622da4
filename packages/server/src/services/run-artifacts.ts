/**
 * Test artifacts: the files a test left in its run's output dir, uploaded by the agent one
 * by one while the run runs, listed and downloaded by anyone who may read the job.
 *
 * An upload is fenced like a log write: the batch must be leased to the calling agent's
 * token and still active (else 404 and 409), and the job must have a running run in it
 * (else 409); the file attaches to that run. The fence is checked before a byte is read,
 * so a refused upload costs no disk, and again once the bytes are in, with the run row
 * locked: uploads to one run take turns, so its caps hold, and a run that finished
 * meanwhile takes nothing. The bytes are hashed as they stream in and become the org's
 * blob of kind `artifact`, kept once per hash (ArtifactService.commit), so a file two
 * runs left alike is stored once; garbage collection keeps it while a run refers to it.
 */
import type { Readable } from 'node:stream';
import {
  ARTIFACT_LIMITS,
  type ArtifactLimits,
  formatSize,
  isArtifactName,
  type JobArtifacts,
  type RunArtifact,
  type RunArtifactUpload,
} from '@qgjob/protocol';
import { BlobTooLargeError, type StagedBlob } from '../blobs/store.js';
import type { Db, Queryable } from '../db/db.js';
import { AppError, NotFoundError, ValidationError } from '../errors.js';
import { getJob } from '../store/jobs.js';
import * as store from '../store/run-artifacts.js';
import { getRunsOfJob } from '../store/runs.js';
import type { ArtifactLog, ArtifactService } from './artifacts.js';
import { heldBatch } from './held-batch.js';
import { artifactsByRun, artifactView } from './views.js';

export interface ArtifactUpload {
  batchId: string;
  jobId: string;
  name: string;
  contentType: string;
  source: Readable;
  /** Content-Length, when the request said it: checked before reading. */
  declaredBytes?: number;
  /** The agent token calling (undefined: open mode or an admin). */
  agentToken?: string;
}

export class RunArtifactService {
  readonly limits: ArtifactLimits;

  constructor(
    private readonly db: Db,
    private readonly artifacts: ArtifactService,
    limits: Partial<ArtifactLimits> = {},
    private readonly log: ArtifactLog = { info() {}, warn() {} },
  ) {
    this.limits = { ...ARTIFACT_LIMITS, ...limits };
  }

  async upload(u: ArtifactUpload): Promise<RunArtifactUpload> {
    const declared = u.declaredBytes !== undefined && Number.isFinite(u.declaredBytes) ? u.declaredBytes : undefined;
    if (declared !== undefined && declared > this.limits.fileBytes) throw this.tooLarge(u.name, declared);
    const early = await this.fence(this.db, u, false);
    await this.checkRunCaps(this.db, early, u.name, declared ?? 0);
    const staged = await this.stage(u);
    let run = early;
    let row: store.RunArtifactRow | undefined;
    const { created } = await this.artifacts.commit(early.org_id, staged, 'artifact', {
      check: async (tx) => {
        run = await this.fence(tx, u, true);
        await this.checkRunCaps(tx, run, u.name, staged.size);
      },
      record: async (tx) => {
        row = await store.upsertRunArtifact(tx, {
          jobId: run.job_id,
          n: run.n,
          name: u.name,
          orgId: run.org_id,
          sha256: staged.sha256,
          size: staged.size,
          contentType: u.contentType,
        });
      },
    });
    if (created) this.artifacts.countUpload('artifact', staged.size);
    this.log.info(
      {
        batch: u.batchId,
        job: u.jobId,
        run: run.n,
        name: u.name,
        sha256: staged.sha256,
        size: staged.size,
        stored: created,
      },
      'run artifact uploaded',
    );
    return { ...artifactView(row as store.RunArtifactRow), uploaded: created };
  }

  /** The running run the upload attaches to, or the reason there is none. */
  private async fence(q: Queryable, u: ArtifactUpload, lock: boolean): Promise<store.RunningRunRow> {
    await heldBatch(q, u.batchId, u.agentToken, { lock: false, closed: 'its runs take no more artifacts' });
    const run = await store.getRunningRun(q, { batchId: u.batchId, jobId: u.jobId, forUpdate: lock });
    if (!run) {
      throw new AppError(
        'conflict',
        `job ${u.jobId} has no running run in batch ${u.batchId}: upload a run's artifacts while it runs, before reporting its finish`,
        { field: 'job_id' },
      );
    }
    return run;
  }

  /** Refuses a file that would take the run past its count or byte cap (a file it replaces not counted). */
  private async checkRunCaps(q: Queryable, run: store.RunningRunRow, name: string, size: number): Promise<void> {
    const held = await store.runArtifactTotals(q, { jobId: run.job_id, n: run.n, exceptName: name });
    const which = `run ${run.n} of job ${run.job_id}`;
    if (held.files + 1 > this.limits.runFiles) {
      throw new AppError(
        'artifact_limit',
        `artifact limit: ${which} already keeps ${held.files} files, the most a run may keep (runFiles ${this.limits.runFiles})`,
        { field: 'name' },
      );
    }
    if (held.bytes + size > this.limits.runBytes) {
      throw new AppError(
        'artifact_limit',
        `artifact limit: ${which} would keep ${held.bytes + size} bytes with ${name}, more than a run may keep (runBytes ${this.limits.runBytes}, ${formatSize(this.limits.runBytes)})`,
        { field: 'body' },
      );
    }
  }

  private async stage(u: ArtifactUpload): Promise<StagedBlob> {
    try {
      return await this.artifacts.blobs.stage(u.source, this.limits.fileBytes);
    } catch (error) {
      if (error instanceof BlobTooLargeError) throw this.tooLarge(u.name, undefined);
      throw error;
    }
  }

  private tooLarge(name: string, declared: number | undefined): AppError {
    const size = declared === undefined ? 'is larger than' : `is ${declared} bytes, more than`;
    return new AppError(
      'body_too_large',
      `artifact ${name} ${size} the limit of a file (fileBytes ${this.limits.fileBytes}, ${formatSize(this.limits.fileBytes)}): nothing was stored`,
      { field: 'body' },
    );
  }

  /** `orgId`: the caller may only read this org's jobs; another org's job is "not found". */
  async list(jobId: string, orgId?: string): Promise<JobArtifacts> {
    await this.jobOf(jobId, orgId);
    const [runs, rows] = await Promise.all([getRunsOfJob(this.db, jobId), store.artifactsOfJob(this.db, jobId)]);
    const byRun = artifactsByRun(rows);
    return { job_id: jobId, runs: runs.map((r) => ({ n: r.n, artifacts: byRun.get(r.n) ?? [] })) };
  }

  /** One file of a run, to stream. */
  async open(
    jobId: string,
    n: number,
    name: string,
    orgId?: string,
  ): Promise<{ artifact: RunArtifact; stream: Readable; size: number }> {
    if (!isArtifactName(name)) {
      throw new ValidationError([
        { field: 'name', message: `name is not an artifact name (got ${JSON.stringify(name.slice(0, 60))})` },
      ]);
    }
    const job = await this.jobOf(jobId, orgId);
    const row = await store.getRunArtifact(this.db, { jobId, n, name });
    if (!row) throw new AppError('not_found', `run ${n} of job ${jobId} has no artifact ${JSON.stringify(name)}`);
    const { stream, size } = await this.artifacts.open(row.sha256, job.org_id);
    return { artifact: artifactView(row), stream, size };
  }

  private async jobOf(jobId: string, orgId: string | undefined) {
    const job = await getJob(this.db, jobId);
    if (!job || (orgId !== undefined && job.org_id !== orgId)) throw new NotFoundError('job', jobId);
    return job;
  }
}
