/**
 * What the dashboard draws, as the server answers it:
 * - `GET /v1/timeline?window=` — a lane per device: the batches it ran in the window (their
 *   group, whether they installed the app, each test a run), when it was told to yield, and
 *   when its health changed (quarantined, healthy again);
 * - `GET /v1/trends?window=` — the farm per target once a minute (queue depth, oldest wait,
 *   installs made and avoided, devices busy), kept 24 hours;
 * - `GET /v1/submissions/{id}/runs` — a CI build's tests with every run, failures first.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { JobStatusSchema, RunStatusSchema, TargetSchema } from './schemas.js';

const Nullable = <T extends TSchema>(schema: T, description?: string) =>
  Type.Union([schema, Type.Null()], description ? { description } : {});
const Timestamp = Type.String({ format: 'date-time' });

/** The windows the timeline and the trends offer, and how long each is. */
export const VIEW_WINDOWS = { '15m': 15 * 60_000, '1h': 60 * 60_000, '24h': 24 * 60 * 60_000 } as const;
export type ViewWindow = keyof typeof VIEW_WINDOWS;

export const WindowQuery = Type.Object(
  {
    window: Type.Optional(
      Type.Union([Type.Literal('15m'), Type.Literal('1h'), Type.Literal('24h')], {
        description: 'How far back: 15m, 1h or 24h (the timeline defaults to 1h, the trends to 24h).',
        errorMessage: 'must be 15m, 1h or 24h',
      }),
    ),
  },
  { additionalProperties: false },
);
export type WindowQuery = Static<typeof WindowQuery>;

export const TimelineRun = Type.Object({
  job_id: Type.String(),
  test_path: Type.String(),
  n: Type.Integer({ description: 'Attempt number, from 1.' }),
  status: RunStatusSchema,
  started_at: Nullable(Timestamp),
  finished_at: Nullable(Timestamp),
  duration_ms: Nullable(Type.Integer()),
});
export type TimelineRun = Static<typeof TimelineRun>;

export const TimelineBatch = Type.Object({
  id: Nullable(Type.String(), "Null for another org's batch, as in the overview."),
  org_id: Nullable(Type.String(), "Null for another org's batch (an org token sees only that the device was busy)."),
  app_version_id: Nullable(Type.String()),
  install: Type.Boolean({ description: 'The batch installed the app before its first test.' }),
  state: Type.Union([Type.Literal('active'), Type.Literal('done'), Type.Literal('expired')], {
    description: 'active: still on the device; done: handed back by its agent; expired: its lease ran out.',
  }),
  started_at: Timestamp,
  finished_at: Nullable(Timestamp),
  install_until: Nullable(Timestamp, 'End of the install: when the first test started (null while installing).'),
  yielded_at: Nullable(Timestamp, 'When the server told the batch to hand the device back to another group.'),
  runs: Type.Array(TimelineRun, { description: 'Its runs, in the order they started.' }),
});
export type TimelineBatch = Static<typeof TimelineBatch>;

export const DeviceEvent = Type.Object({
  kind: Type.Union([Type.Literal('quarantined'), Type.Literal('healed')]),
  at: Timestamp,
  until: Nullable(Timestamp, 'A quarantine: when its cool-down ends.'),
});
export type DeviceEvent = Static<typeof DeviceEvent>;

export const TimelineLane = Type.Object({
  device_id: Type.String(),
  device: Type.String(),
  agent: Type.String(),
  target: TargetSchema,
  state: Type.String({ description: 'As in DeviceView.' }),
  batches: Type.Array(TimelineBatch, { description: 'In the order they started.' }),
  events: Type.Array(DeviceEvent, { description: 'In time order.' }),
});
export type TimelineLane = Static<typeof TimelineLane>;

export const Timeline = Type.Object({
  window: Type.String(),
  from: Timestamp,
  to: Timestamp,
  truncated: Type.Boolean({
    description: 'More batches ended in the window than one answer holds; the oldest are left out.',
  }),
  lanes: Type.Array(TimelineLane, { description: 'One per device, by agent then device name.' }),
});
export type Timeline = Static<typeof Timeline>;

export const TrendSample = Type.Object({
  at: Timestamp,
  queued: Type.Integer(),
  oldest_wait_ms: Type.Integer(),
  installs_made: Type.Integer({
    description:
      'Batches leased in the interval before `at` that were to install the app (as planned at the lease; the overview counts installs that happened).',
  }),
  installs_avoided: Type.Integer({
    description:
      'Jobs leased in those batches that did not need an install of their own (without grouping, each would install).',
  }),
  devices: Type.Integer({ description: 'Devices heard from recently.' }),
  busy: Type.Integer({ description: 'Of those, the ones holding a batch.' }),
});
export type TrendSample = Static<typeof TrendSample>;

export const Trends = Type.Object({
  window: Type.String(),
  interval_ms: Type.Integer({ description: 'How often the farm is sampled.' }),
  targets: Type.Array(Type.Object({ target: TargetSchema, samples: Type.Array(TrendSample) })),
});
export type Trends = Static<typeof Trends>;

export const SubmissionRun = Type.Object({
  n: Type.Integer(),
  status: RunStatusSchema,
  agent: Nullable(Type.String()),
  device: Nullable(Type.String()),
  batch_id: Nullable(Type.String()),
  app_installed: Type.Boolean(),
  started_at: Nullable(Timestamp),
  finished_at: Nullable(Timestamp),
  duration_ms: Nullable(Type.Integer()),
  error: Nullable(Type.String()),
  location: Nullable(Type.String(), 'Where the test failed (file:line:column), when the error names it.'),
  artifact_count: Type.Integer(),
});
export type SubmissionRun = Static<typeof SubmissionRun>;

export const SubmissionRunsJob = Type.Object({
  id: Type.String(),
  test_path: Type.String(),
  app_version_id: Type.String(),
  target: TargetSchema,
  status: JobStatusSchema,
  flaky: Type.Boolean(),
  runs: Type.Array(SubmissionRun, { description: 'Every attempt, first to last.' }),
});
export type SubmissionRunsJob = Static<typeof SubmissionRunsJob>;

export const SubmissionRuns = Type.Object({
  id: Type.String(),
  org_id: Type.String(),
  created_at: Timestamp,
  url: Nullable(Type.String(), "This page's address, when the server knows its public URL."),
  jobs: Type.Array(SubmissionRunsJob, {
    description: 'Failed, errored and cancelled first, then running and queued, then passed; by test path within each.',
  }),
});
export type SubmissionRuns = Static<typeof SubmissionRuns>;
