/** SQL for run logs: chunks in `run_logs`, each run's counters on its `runs` row. */
import type { LogStream } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';

export interface RunLogState {
  job_id: string;
  n: number;
  log_seq: number;
  log_bytes: number;
  log_dropped: number;
  log_marker_seq: number | null;
}

/**
 * The running runs of these jobs in this batch, locked until the write commits (in job id
 * order, so two writes for one batch cannot deadlock). A run that finished or was
 * cancelled meanwhile is re-checked after the lock and left out: its chunks are dropped.
 */
export async function lockRunningRuns(q: Queryable, batchId: string, jobIds: string[]): Promise<RunLogState[]> {
  const { rows } = await q.query<RunLogState>(
    `SELECT job_id, n, log_seq, log_bytes, log_dropped::float8 AS log_dropped, log_marker_seq
       FROM runs
      WHERE batch_id = $1 AND job_id = ANY($2::text[]) AND status = 'running'
      ORDER BY job_id
      FOR UPDATE`,
    [batchId, jobIds],
  );
  return rows;
}

export interface NewChunk {
  jobId: string;
  runN: number;
  seq: number;
  stream: LogStream;
  text: string;
}

/** Inserts chunks; a chunk already there (the truncation marker, recounted) gets the new text. */
export async function upsertChunks(q: Queryable, chunks: NewChunk[]): Promise<void> {
  if (chunks.length === 0) return;
  await q.query(
    `INSERT INTO run_logs (job_id, run_n, seq, stream, text)
     SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::text[])
     ON CONFLICT (job_id, run_n, seq) DO UPDATE SET text = EXCLUDED.text`,
    [
      chunks.map((c) => c.jobId),
      chunks.map((c) => c.runN),
      chunks.map((c) => c.seq),
      chunks.map((c) => c.stream),
      chunks.map((c) => c.text),
    ],
  );
}

/** Stores the runs' counters after a write (rows locked by lockRunningRuns). */
export async function saveRunLogStates(q: Queryable, states: RunLogState[]): Promise<void> {
  if (states.length === 0) return;
  await q.query(
    `UPDATE runs SET log_seq = s.seq, log_bytes = s.bytes, log_dropped = s.dropped, log_marker_seq = s.marker
       FROM unnest($1::text[], $2::int[], $3::int[], $4::int[], $5::int8[], $6::int[])
            AS s(job_id, n, seq, bytes, dropped, marker)
      WHERE runs.job_id = s.job_id AND runs.n = s.n`,
    [
      states.map((s) => s.job_id),
      states.map((s) => s.n),
      states.map((s) => s.log_seq),
      states.map((s) => s.log_bytes),
      states.map((s) => s.log_dropped),
      states.map((s) => s.log_marker_seq),
    ],
  );
}

export interface LogChunkRow {
  run_n: number;
  seq: number;
  stream: LogStream;
  text: string;
  at: Date;
}

/** A job's chunks after (run, seq), in order; the primary key index serves it. */
export async function getChunksAfter(
  q: Queryable,
  r: { jobId: string; afterRun: number; afterSeq: number; limit: number },
): Promise<LogChunkRow[]> {
  const { rows } = await q.query<LogChunkRow>(
    `SELECT run_n, seq, stream, text, at FROM run_logs
      WHERE job_id = $1 AND (run_n, seq) > ($2::int, $3::int)
      ORDER BY run_n, seq
      LIMIT $4`,
    [r.jobId, r.afterRun, r.afterSeq, r.limit],
  );
  return rows;
}
