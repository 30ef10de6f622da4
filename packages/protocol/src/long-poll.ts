/**
 * Waiting reads (long-poll) of job states: `GET /v1/submissions/{id}` and
 * `GET /v1/jobs/summaries?ids=…` take `wait` (seconds) with the ETag of the document the
 * client has (If-None-Match). The server answers 200 with the document as soon as it differs
 * from that copy (at once if it already does), or 304 Not Modified, with no body, when `wait`
 * ends with nothing changed. Without If-None-Match, `wait` changes nothing: 200 at once.
 */
import { type Static, Type } from '@sinclair/typebox';
import { JobSummary } from './schemas.js';

/** The longest a read may be held, in seconds. */
export const MAX_WAIT_SECONDS = 60;
/** The most job ids one `GET /v1/jobs/summaries` may name. */
export const MAX_SUMMARY_IDS = 100;

const wait = Type.Integer({
  minimum: 0,
  maximum: MAX_WAIT_SECONDS,
  description:
    'Seconds to hold the request while the document still has the ETag given in If-None-Match: ' +
    'answered 200 as soon as a job of it changes status, 304 when the wait ends with no change. ' +
    'Ignored without If-None-Match.',
});

export const WaitQuery = Type.Object({ wait: Type.Optional(wait) });
export type WaitQuery = Static<typeof WaitQuery>;

export const JobSummariesQuery = Type.Object(
  {
    ids: Type.String({
      minLength: 1,
      maxLength: MAX_SUMMARY_IDS * 65,
      description: `Job ids, comma-separated (at most ${MAX_SUMMARY_IDS}); answered in this order, repeats once.`,
    }),
    wait: Type.Optional(wait),
  },
  { additionalProperties: false },
);
export type JobSummariesQuery = Static<typeof JobSummariesQuery>;

export const JobSummaries = Type.Object({ jobs: Type.Array(JobSummary) });
export type JobSummaries = Static<typeof JobSummaries>;

export const ConditionalHeaders = Type.Object({
  'if-none-match': Type.Optional(
    Type.String({
      maxLength: 1000,
      description: 'The ETag of the copy the client has: 304 while it is current (held up to `wait` seconds).',
    }),
  ),
});
export type ConditionalHeaders = Static<typeof ConditionalHeaders>;

export const NotModified = Type.Null({
  description: 'Not Modified: the copy named by If-None-Match is still current (no body; the ETag header repeats it).',
});
