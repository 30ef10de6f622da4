/**
 * Run logs. While a test runs, its agent ships the output as chunks
 * (`POST /v1/batches/{id}/logs`); anyone who may read the job reads them back in order
 * with a cursor (`GET /v1/jobs/{id}/logs?after=…`), which is how `qgjob logs --follow`
 * prints a test's output as it is produced.
 *
 * Chunks belong to a run: the job's run that is running in that batch. Chunks for a job
 * with no running run there (not started yet, finished, cancelled) are dropped. Install
 * output is stream `install` of the batch's first run, the one marked `app_installed`.
 * Each run keeps at most `LOG_LIMITS.runBytes` of text; past that one final
 * `[log truncated: N bytes dropped]` chunk stands for the rest.
 */

import { type Static, Type } from '@sinclair/typebox';
import { LIMITS } from './constants.js';
import { FREE_TEXT } from './edge.js';
import { JobStatusSchema } from './schemas.js';

export const LOG_STREAMS = ['stdout', 'stderr', 'install', 'agent'] as const;
export type LogStream = (typeof LOG_STREAMS)[number];

export const LOG_LIMITS = {
  /** Text one run keeps (UTF-8 bytes); the rest is counted, not stored. */
  runBytes: 256 * 1024,
  /** Characters of text in one chunk, and about what one agent request carries. */
  chunkChars: 64 * 1024,
  /** Chunks in one agent request. */
  requestChunks: 1000,
  /** Chunks in one read. */
  readChunks: 1000,
} as const;

export const LogStreamSchema = Type.Union(
  LOG_STREAMS.map((s) => Type.Literal(s)),
  { description: 'stdout or stderr of the test; install: the app install; agent: lines the agent adds.' },
);

export const LogChunkIn = Type.Object(
  {
    job_id: Type.String({ minLength: 1, maxLength: 64 }),
    stream: LogStreamSchema,
    text: Type.String({
      maxLength: LOG_LIMITS.chunkChars,
      [FREE_TEXT]: true,
      description: 'Output as produced: kept whole, with NUL shown as ␀ and lone surrogates as U+FFFD.',
    }),
    dropped: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: LIMITS.droppedBytesMax,
        description: 'Bytes of output the agent dropped unsent before this chunk (after the server said truncated).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type LogChunkIn = Static<typeof LogChunkIn>;

export const LogsRequest = Type.Object(
  { chunks: Type.Array(LogChunkIn, { maxItems: LOG_LIMITS.requestChunks }) },
  { additionalProperties: false },
);
export type LogsRequest = Static<typeof LogsRequest>;

export const LogsResponse = Type.Object({
  accepted: Type.Integer({ description: 'Chunks stored (a truncation marker included).' }),
  truncated: Type.Array(Type.String(), {
    description: 'Jobs whose run log is full: send no more of their text, only `dropped` counts.',
  }),
});
export type LogsResponse = Static<typeof LogsResponse>;

export const LogsQuery = Type.Object(
  {
    after: Type.Optional(
      Type.String({
        maxLength: 100,
        description:
          'next_after of the previous answer, as the server gave it: only later chunks; any other string is a 400.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type LogsQuery = Static<typeof LogsQuery>;

export const LogChunk = Type.Object({
  run: Type.Integer({ description: 'The run (attempt number, from 1) the chunk belongs to.' }),
  seq: Type.Integer({ description: 'Order within the run, from 1.' }),
  stream: LogStreamSchema,
  text: Type.String(),
  at: Type.String({ format: 'date-time', description: 'When the server received it.' }),
});
export type LogChunk = Static<typeof LogChunk>;

export const JobLogs = Type.Object({
  job_id: Type.String(),
  status: JobStatusSchema,
  chunks: Type.Array(LogChunk, { description: `In order: by run, then seq; at most ${LOG_LIMITS.readChunks}.` }),
  next_after: Type.Union([Type.String(), Type.Null()], {
    description: 'Pass as `after` to get only newer chunks; null while there are none at all.',
  }),
  done: Type.Boolean({ description: 'The job is finished and every chunk of it has been returned.' }),
});
export type JobLogs = Static<typeof JobLogs>;
