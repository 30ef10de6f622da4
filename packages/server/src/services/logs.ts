/**
 * Run logs: agents append a running test's output, users read it back with a cursor.
 *
 * A write takes the batch like a report does (the caller's agent token, the batch active)
 * but locks only the running runs it writes to, never the batch: logs never hold up
 * reports. Each run keeps at most LOG_LIMITS.runBytes of text. The chunk that crosses the
 * bound is cut there, followed by one marker chunk (stream `agent`) saying how many bytes
 * were dropped; the marker is rewritten as more are dropped, and nothing is stored after it.
 *
 * Reads are consistent with writes because chunks of a run commit before the run ends (a
 * finish waits for the run row a write locks): a read that sees the job terminal first and
 * then reads the chunks has all of them.
 */
import {
  isTerminal,
  type JobLogs,
  LOG_LIMITS,
  type LogChunkIn,
  type LogsRequest,
  type LogsResponse,
} from '@qgjob/protocol';
import type { Db, Queryable } from '../db/db.js';
import { AppError, NotFoundError } from '../errors.js';
import { getJob } from '../store/jobs.js';
import * as logs from '../store/logs.js';
import { heldBatch } from './held-batch.js';

export interface LogServiceOptions {
  /** Text kept per run, in UTF-8 bytes. Default LOG_LIMITS.runBytes. */
  runBytes?: number;
  /** Chunks per read. Default LOG_LIMITS.readChunks. */
  readChunks?: number;
}

export class LogService {
  private readonly runBytes: number;
  private readonly readChunks: number;

  constructor(
    private readonly db: Db,
    options: LogServiceOptions = {},
  ) {
    this.runBytes = options.runBytes ?? LOG_LIMITS.runBytes;
    this.readChunks = options.readChunks ?? LOG_LIMITS.readChunks;
  }

  /** `agentToken`: the agent token calling (undefined: open mode or an admin). */
  async append(batchId: string, request: LogsRequest, agentToken?: string): Promise<LogsResponse> {
    return this.db.transaction(async (tx) => {
      await heldBatch(tx, batchId, agentToken, { lock: false, closed: 'its logs are closed' });
      return this.write(tx, batchId, request.chunks);
    });
  }

  /** Appends chunks to the running runs of an active batch the caller holds (a report's logs). */
  async write(tx: Queryable, batchId: string, chunks: LogChunkIn[]): Promise<LogsResponse> {
    const jobIds = [...new Set(chunks.map((c) => c.job_id))];
    if (jobIds.length === 0) return { accepted: 0, truncated: [] };
    const runs = new Map((await logs.lockRunningRuns(tx, batchId, jobIds)).map((r) => [r.job_id, r]));
    const rows: logs.NewChunk[] = [];
    const changed = new Set<logs.RunLogState>();
    const recount = new Set<logs.RunLogState>();
    let accepted = 0;
    for (const chunk of chunks) {
      const run = runs.get(chunk.job_id);
      if (!run) continue;
      accepted++;
      changed.add(run);
      let dropped = chunk.dropped ?? 0;
      if (run.log_marker_seq === null) {
        const kept = cutUtf8(chunk.text, this.runBytes - run.log_bytes);
        if (kept.text !== '') {
          rows.push({ jobId: run.job_id, runN: run.n, seq: ++run.log_seq, stream: chunk.stream, text: kept.text });
          run.log_bytes += kept.bytes;
        }
        dropped += Buffer.byteLength(chunk.text) - kept.bytes;
      } else {
        dropped += Buffer.byteLength(chunk.text);
      }
      if (dropped === 0) continue;
      run.log_dropped += dropped;
      run.log_marker_seq ??= ++run.log_seq;
      recount.add(run);
    }
    for (const run of recount) {
      rows.push({
        jobId: run.job_id,
        runN: run.n,
        seq: run.log_marker_seq as number,
        stream: 'agent',
        text: truncationMarker(run.log_dropped),
      });
    }
    await logs.upsertChunks(tx, rows);
    await logs.saveRunLogStates(tx, [...changed]);
    const truncated = [...runs.values()].filter((r) => r.log_marker_seq !== null).map((r) => r.job_id);
    return { accepted, truncated };
  }

  /** `orgId`: the caller may only read this org's jobs; another org's job is "not found". */
  async read(jobId: string, after: string | undefined, orgId?: string): Promise<JobLogs> {
    const from = after === undefined ? { run: 0, seq: 0 } : decodeCursor(after);
    // The status first: once it is terminal, every chunk is already committed (see above).
    const job = await getJob(this.db, jobId);
    if (!job || (orgId !== undefined && job.org_id !== orgId)) throw new NotFoundError('job', jobId);
    const rows = await logs.getChunksAfter(this.db, {
      jobId,
      afterRun: from.run,
      afterSeq: from.seq,
      limit: this.readChunks + 1,
    });
    const page = rows.slice(0, this.readChunks);
    const last = page[page.length - 1];
    return {
      job_id: jobId,
      status: job.status,
      chunks: page.map((r) => ({ run: r.run_n, seq: r.seq, stream: r.stream, text: r.text, at: r.at.toISOString() })),
      next_after: last ? encodeCursor(last.run_n, last.seq) : (after ?? null),
      done: isTerminal(job.status) && rows.length <= this.readChunks,
    };
  }
}

export function truncationMarker(droppedBytes: number): string {
  return `[log truncated: ${droppedBytes} bytes dropped]\n`;
}

/** The longest prefix of `text` of at most `maxBytes` UTF-8 bytes, never splitting a character. */
export function cutUtf8(text: string, maxBytes: number): { text: string; bytes: number } {
  const bytes = Buffer.byteLength(text);
  if (bytes <= maxBytes) return { text, bytes };
  if (maxBytes <= 0) return { text: '', bytes: 0 };
  const buffer = Buffer.from(text);
  let end = maxBytes;
  // Back up over continuation bytes (10xxxxxx) to the start of the cut character.
  while (end > 0 && ((buffer[end] as number) & 0xc0) === 0x80) end--;
  return { text: buffer.subarray(0, end).toString('utf8'), bytes: end };
}

function encodeCursor(run: number, seq: number): string {
  return Buffer.from(`${run}.${seq}`).toString('base64url');
}

function decodeCursor(cursor: string): { run: number; seq: number } {
  const match = /^(\d{1,9})\.(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) {
    throw new AppError('validation_failed', 'after is not a next_after this server returned', { field: 'after' });
  }
  return { run: Number(match[1]), seq: Number(match[2]) };
}
