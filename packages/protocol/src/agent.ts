/**
 * The agent ⇄ job-server protocol. An agent registers its devices, then for each free
 * device long-polls for a batch: jobs of one group (org, app version, target) leased to
 * that device, with whether it must install the app first. While it works it reports
 * events (install, start, finish) on the batch; the answer tells it to carry on or to
 * yield (stop starting new jobs, hand the rest back) so that another org gets a device.
 */
import { type Static, Type } from '@sinclair/typebox';
import { BatchApp, BrowserStackAccount } from './artifacts.js';
import { LIMITS } from './constants.js';
import { FREE_TEXT, UNIQUE_BY } from './edge.js';
import { LOG_LIMITS, LogChunkIn } from './logs.js';
import { AppVersionId, OrgId, TargetSchema, TestPath } from './schemas.js';

/** How long an install or a run took. */
const DurationMs = Type.Integer({ minimum: 0, maximum: LIMITS.durationMsMax });
/** What went wrong, in the words of the device or the tool: kept as it came (see edge.ts). */
const ErrorText = Type.String({ maxLength: 4000, [FREE_TEXT]: true });

const Name = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$',
  errorMessage: 'must be 1-128 characters of letters, digits and ._:@/-',
});

export const DeviceSpec = Type.Object({ name: Name, target: TargetSchema }, { additionalProperties: false });
export type DeviceSpec = Static<typeof DeviceSpec>;

export const RegisterRequest = Type.Object(
  {
    name: Name,
    version: Type.Optional(Type.String({ maxLength: 64 })),
    devices: Type.Array(DeviceSpec, { minItems: 1, maxItems: 256, [UNIQUE_BY]: 'name' }),
    /** The account this agent's browserstack devices use: busy devices across all agents stay within its limit. */
    browserstack: Type.Optional(BrowserStackAccount),
  },
  { additionalProperties: false },
);
export type RegisterRequest = Static<typeof RegisterRequest>;

export const RegisteredDevice = Type.Object({ id: Type.String(), name: Type.String(), target: TargetSchema });
export type RegisteredDevice = Static<typeof RegisteredDevice>;

export const RegisterResponse = Type.Object({
  agent_id: Type.String(),
  devices: Type.Array(RegisteredDevice),
  /** How often the agent should report on a batch (heartbeat) so its lease does not expire. */
  heartbeat_ms: Type.Integer(),
  lease_ms: Type.Integer(),
});
export type RegisterResponse = Static<typeof RegisterResponse>;

export const ClaimQuery = Type.Object(
  { wait_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 60_000 })) },
  { additionalProperties: false },
);
export type ClaimQuery = Static<typeof ClaimQuery>;

export const BatchJob = Type.Object({
  id: Type.String(),
  test_path: TestPath,
  priority: Type.Integer(),
  /** The run number this job's next run will have. */
  attempt: Type.Integer(),
  /** The test sources to run it in (a bundle uploaded by qgjob submit); null: the agent's own work dir. */
  bundle_sha256: Type.Optional(Type.Union([Type.String(), Type.Null()])),
});
export type BatchJob = Static<typeof BatchJob>;

export const Batch = Type.Object({
  id: Type.String(),
  device_id: Type.String(),
  org_id: OrgId,
  app_version_id: AppVersionId,
  target: TargetSchema,
  /** True: install the app before the first test. False: the device already holds it. */
  install: Type.Boolean(),
  /** The build registered for the app version; null: none registered, the agent finds it (--app-path). */
  app: Type.Optional(Type.Union([BatchApp, Type.Null()])),
  lease_expires_at: Type.String({ format: 'date-time' }),
  jobs: Type.Array(BatchJob),
});
export type Batch = Static<typeof Batch>;

/** 200 with a batch, or 200 with `batch: null` when nothing came within wait_ms. */
export const ClaimResponse = Type.Object({ batch: Type.Union([Batch, Type.Null()]) });
export type ClaimResponse = Static<typeof ClaimResponse>;

export const FINISH_STATUSES = ['passed', 'failed', 'errored'] as const;
export type FinishStatus = (typeof FINISH_STATUSES)[number];

export const BatchEvent = Type.Union([
  /**
   * The install the batch asked for. A failed one (`ok` false) is an infrastructure failure of
   * every job not started: each gets an errored run (`install failed on DEVICE: error`) and is
   * retried elsewhere within its budget; the failure counts against the device's health.
   */
  Type.Object(
    {
      type: Type.Literal('install'),
      ok: Type.Boolean(),
      duration_ms: Type.Optional(DurationMs),
      error: Type.Optional(ErrorText),
    },
    { additionalProperties: false },
  ),
  /**
   * The device could not take the batch at all (not connected, its session would not start):
   * every job not started errors (infrastructure), is retried elsewhere within its budget, and
   * the failure counts against the device's health.
   */
  Type.Object(
    { type: Type.Literal('unavailable'), error: Type.String({ minLength: 1, maxLength: 4000, [FREE_TEXT]: true }) },
    { additionalProperties: false },
  ),
  Type.Object({ type: Type.Literal('start'), job_id: Type.String() }, { additionalProperties: false }),
  Type.Object(
    {
      type: Type.Literal('finish'),
      job_id: Type.String(),
      /** passed/failed: the test's own verdict. errored: the infrastructure failed (spawn, timeout, device). */
      status: Type.Union(FINISH_STATUSES.map((s) => Type.Literal(s))),
      duration_ms: Type.Optional(DurationMs),
      error: Type.Optional(ErrorText),
      /** errored, and no other device or retry can help (a refused test bundle): the job ends now. */
      final: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
]);
export type BatchEvent = Static<typeof BatchEvent>;

export const ReportRequest = Type.Object(
  {
    events: Type.Array(BatchEvent, { maxItems: 1000 }),
    /** The batch is over: these jobs were not started and go back to the queue. */
    done: Type.Optional(Type.Object({ unstarted: Type.Array(Type.String(), { maxItems: 5000 }) })),
    /**
     * Run output, as `POST /v1/batches/{id}/logs` takes it, stored after this report's
     * starts and before its finishes: a test's start, its output and its finish can travel
     * in one request.
     */
    logs: Type.Optional(Type.Array(LogChunkIn, { maxItems: LOG_LIMITS.requestChunks })),
  },
  { additionalProperties: false },
);
export type ReportRequest = Static<typeof ReportRequest>;

export const ReportResponse = Type.Object({
  /** Stop starting jobs of this batch; report `done` with the rest as unstarted. */
  yield: Type.Boolean(),
  /** Jobs cancelled by a user: stop them if running, do not start them. */
  cancelled: Type.Array(Type.String()),
  lease_expires_at: Type.String({ format: 'date-time' }),
  /** Jobs whose run log is full (when the report carried logs): send only `dropped` counts for them. */
  truncated: Type.Optional(Type.Array(Type.String())),
});
export type ReportResponse = Static<typeof ReportResponse>;
