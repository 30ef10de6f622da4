/**
 * Every payload of the HTTP API, defined once. The TypeBox objects are the JSON
 * Schema the server validates with and publishes at /docs; `Static<>` of each is
 * the TypeScript type the client and CLI use.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { JOB_STATUSES, LIMITS, RUN_STATUSES, TARGETS } from './constants.js';
import { RunArtifact } from './run-artifacts.js';

function literals<T extends string>(values: readonly T[], options: { description: string }) {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  );
}

export const OrgId = Type.String({
  pattern: '^[a-z0-9][a-z0-9_-]{0,63}$',
  description: 'Tenant id: lowercase letters, digits, _ and -, 1-64 characters, starting with a letter or digit.',
  errorMessage: 'must be 1-64 characters of a-z, 0-9, _ or -, starting with a letter or digit',
  examples: ['qualgent'],
});

export const AppVersionId = Type.String({
  pattern: '^[\\x21-\\x7e]{1,128}$',
  description: 'One build of the app under test: 1-128 printable characters, no whitespace.',
  errorMessage: 'must be 1-128 printable characters without whitespace',
  examples: ['xyz123'],
});

/** Relative POSIX path: no leading '/', no '..' segment, no backslash or control characters. */
export const TestPath = Type.String({
  pattern: '^(?!/)(?!(?:.*/)?\\.\\.(?:/|$))[^\\\\\\x00-\\x1f]{1,512}$',
  description: "Relative POSIX path of the test file, without '..' segments, at most 512 characters.",
  errorMessage: "must be a relative path (no leading '/', no '..' segment, no backslash), 1-512 characters",
  examples: ['tests/onboarding.spec.js'],
});

export const Sha256 = Type.String({
  pattern: '^[0-9a-f]{64}$',
  description: 'SHA-256 of the content, 64 lowercase hex characters.',
  errorMessage: 'must be a SHA-256: 64 lowercase hex characters',
});

export const TargetSchema = literals(TARGETS, {
  description: 'Where the test runs: emulator, device (a real phone on an agent host) or browserstack.',
});
export const JobStatusSchema = literals(JOB_STATUSES, { description: 'Job status.' });
export const RunStatusSchema = literals(RUN_STATUSES, { description: 'Run status.' });

export const Priority = Type.Integer({
  minimum: LIMITS.priorityMin,
  maximum: LIMITS.priorityMax,
  description: 'Higher runs first within the org. Default 5.',
});

export const MaxRetries = Type.Integer({
  minimum: 0,
  maximum: LIMITS.maxRetriesMax,
  description: 'Extra runs allowed when the test itself fails (flaky retry). Default 0.',
});

const Timestamp = Type.String({ format: 'date-time' });
const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);

export const SubmitRequest = Type.Object(
  {
    org_id: OrgId,
    app_version_id: AppVersionId,
    test_path: Type.Optional(TestPath),
    tests: Type.Optional(
      Type.Array(TestPath, {
        minItems: 1,
        maxItems: LIMITS.testsPerSubmission,
        description: 'Many test files in one submission; use instead of test_path.',
      }),
    ),
    priority: Type.Optional(Priority),
    target: Type.Optional(TargetSchema),
    max_retries: Type.Optional(MaxRetries),
    bundle_sha256: Type.Optional(
      Type.String({
        ...Sha256,
        description: 'Test sources to run the tests in: a bundle uploaded with PUT /v1/blobs/{sha256}?kind=bundle.',
      }),
    ),
  },
  { additionalProperties: false, 'x-qgjob-check': 'submit' },
);
export type SubmitRequest = Static<typeof SubmitRequest>;

export const Run = Type.Object({
  id: Type.String(),
  n: Type.Integer({ description: 'Attempt number, from 1.' }),
  status: RunStatusSchema,
  agent: Type.Union([Type.String(), Type.Null()]),
  device: Type.Union([Type.String(), Type.Null()]),
  batch_id: Type.Union([Type.String(), Type.Null()]),
  app_installed: Type.Boolean({ description: "True when this run's batch installed the app." }),
  started_at: NullableTimestamp,
  finished_at: NullableTimestamp,
  duration_ms: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  artifacts: Type.Array(RunArtifact, { description: 'Files the test left in its output dir, by name.' }),
});
export type Run = Static<typeof Run>;

const jobFields = {
  id: Type.String(),
  submission_id: Type.String(),
  status: JobStatusSchema,
  org_id: Type.String(),
  app_version_id: Type.String(),
  test_path: Type.String(),
  target: TargetSchema,
  priority: Type.Integer(),
  max_retries: Type.Integer(),
  attempts: Type.Integer({ description: 'Runs started so far.' }),
  flaky: Type.Boolean({ description: 'Passed only on a retry.' }),
  created_at: Timestamp,
  started_at: NullableTimestamp,
  finished_at: NullableTimestamp,
  error: Type.Union([Type.String(), Type.Null()]),
  bundle_sha256: Type.Union([Type.String(), Type.Null()], { description: 'The test sources it runs in, if any.' }),
};

/** A job as listed: everything but its runs. */
export const JobSummary = Type.Object(jobFields);
export type JobSummary = Static<typeof JobSummary>;

/** A job with its runs, as `GET /v1/jobs/{id}` returns it. */
export const Job = Type.Object({ ...jobFields, runs: Type.Array(Run) });
export type Job = Static<typeof Job>;

export const SubmittedJob = Type.Object({
  id: Type.String(),
  status: JobStatusSchema,
  deduplicated: Type.Boolean({ description: 'An identical job was already queued or running; this is it.' }),
  org_id: Type.String(),
  app_version_id: Type.String(),
  test_path: Type.String(),
  target: TargetSchema,
  priority: Type.Integer(),
});
export type SubmittedJob = Static<typeof SubmittedJob>;

export const SubmitResponse = Type.Object({
  submission_id: Type.String(),
  jobs: Type.Array(SubmittedJob),
  url: Type.Optional(
    Type.String({ description: "The submission's page, when the server knows its public URL (--public-url)." }),
  ),
});
export type SubmitResponse = Static<typeof SubmitResponse>;

export const Submission = Type.Object({
  id: Type.String(),
  org_id: Type.String(),
  created_at: Timestamp,
  jobs: Type.Array(JobSummary),
});
export type Submission = Static<typeof Submission>;

export const ListJobsQuery = Type.Object(
  {
    org_id: Type.Optional(OrgId),
    status: Type.Optional(JobStatusSchema),
    app_version_id: Type.Optional(AppVersionId),
    target: Type.Optional(TargetSchema),
    submission_id: Type.Optional(Type.String({ maxLength: 64 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.listLimitMax })),
    cursor: Type.Optional(
      Type.String({
        maxLength: 200,
        description: 'next_cursor of the previous page, as the server gave it; any other string is a 400.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ListJobsQuery = Static<typeof ListJobsQuery>;

export const JobList = Type.Object({
  jobs: Type.Array(JobSummary),
  next_cursor: Type.Union([Type.String(), Type.Null()], {
    description: 'Pass as cursor for the next page; null at the end.',
  }),
});
export type JobList = Static<typeof JobList>;

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });

export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    field: Type.Optional(Type.String()),
    allowed: Type.Optional(Type.Array(Type.String())),
  }),
});
export type ErrorBody = Static<typeof ErrorBody>;

export type { Static, TSchema };
export { Type };
