/**
 * What the farm looks like right now, for people watching it: the queue per group, the
 * agents and their devices, the latest runs, and how many installs grouping saved.
 * `GET /v1/overview` answers an `Overview`, `GET /v1/events` streams it (Server-Sent
 * Events, event name `overview`), and `GET /v1/agents` answers an `AgentList`.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { RunStatusSchema, TargetSchema } from './schemas.js';

const Nullable = <T extends TSchema>(schema: T, description?: string) =>
  Type.Union([schema, Type.Null()], description ? { description } : {});
const Timestamp = Type.String({ format: 'date-time' });

export const QueueGroup = Type.Object({
  org_id: Type.String(),
  app_version_id: Type.String(),
  target: TargetSchema,
  queued: Type.Integer({ description: 'Jobs of this group waiting in the queue (retry backoff included).' }),
  oldest_wait_ms: Type.Integer({ description: 'How long the oldest of them has waited.' }),
});
export type QueueGroup = Static<typeof QueueGroup>;

export const DEVICE_STATES = ['busy', 'idle', 'offline', 'quarantined', 'draining', 'drained'] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];
/** A device with no batch and no claim open counts as idle this long after it was last heard from (between two claims). */
export const OFFLINE_AFTER_MS = 5_000;

export const WarmApp = Type.Object({ org_id: Type.String(), app_version_id: Type.String() });
export type WarmApp = Static<typeof WarmApp>;

export const DeviceView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  target: TargetSchema,
  state: Type.Union(
    DEVICE_STATES.map((s) => Type.Literal(s)),
    {
      description:
        'busy: holding a batch; idle: its agent is waiting for work for it; offline: neither (its agent is gone, ' +
        'or resting after a failed batch), for 5 s or more; quarantined: too many infrastructure failures in a row, ' +
        'no work until quarantined_until; draining: drained by an operator, finishing its batch; drained: takes no work until enabled.',
    },
  ),
  quarantined_until: Nullable(Timestamp, 'While quarantined (or on probation after it): when the cool-down ends.'),
  infra_failures: Type.Integer({ description: 'Infrastructure failures in a row on this device (0 once it works).' }),
  batch_id: Nullable(Type.String(), "The batch it works on. Null when idle, or when it is another org's."),
  org_id: Nullable(Type.String(), 'The org of the current batch.'),
  app_version_id: Nullable(Type.String(), 'The app version of the current batch.'),
  warm: Type.Array(WarmApp, { description: 'The builds this device holds installed, one per org.' }),
});
export type DeviceView = Static<typeof DeviceView>;

export const AgentView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  last_seen_at: Timestamp,
  devices: Type.Array(DeviceView),
});
export type AgentView = Static<typeof AgentView>;

export const AgentList = Type.Object({ agents: Type.Array(AgentView) });
export type AgentList = Static<typeof AgentList>;

/**
 * The answer to draining or enabling a device or an agent (`POST /v1/devices/{id}/drain` …):
 * the devices it applied to. A drained device finishes the test it runs, hands the rest of its
 * batch back, and takes no work until enabled; enabling also lifts a quarantine.
 */
export const DrainedDevice = Type.Object({
  id: Type.String(),
  name: Type.String(),
  target: TargetSchema,
  agent: Type.String({ description: "The agent's name." }),
  drained: Type.Boolean(),
  batch_id: Nullable(Type.String(), 'The batch it is finishing (a drained device takes no other).'),
});
export type DrainedDevice = Static<typeof DrainedDevice>;
export const DrainResponse = Type.Object({ devices: Type.Array(DrainedDevice) });
export type DrainResponse = Static<typeof DrainResponse>;

export const RecentRun = Type.Object({
  job_id: Type.String(),
  run_id: Type.String(),
  n: Type.Integer({ description: 'Attempt number, from 1.' }),
  test_path: Type.String(),
  org_id: Type.String(),
  app_version_id: Type.String(),
  target: TargetSchema,
  status: RunStatusSchema,
  agent: Nullable(Type.String()),
  device: Nullable(Type.String()),
  batch_id: Nullable(Type.String()),
  app_installed: Type.Boolean(),
  duration_ms: Type.Union([Type.Integer(), Type.Null()]),
  started_at: Nullable(Timestamp),
  finished_at: Nullable(Timestamp),
  error: Nullable(Type.String()),
  artifact_count: Type.Integer({
    description: 'Files the run left (test artifacts); GET /v1/jobs/{id}/artifacts lists them.',
  }),
});
export type RecentRun = Static<typeof RecentRun>;

export const Overview = Type.Object({
  queues: Type.Array(QueueGroup),
  agents: Type.Array(AgentView),
  recent_runs: Type.Array(RecentRun, { description: 'The 50 runs started last, newest first.' }),
  installs: Type.Object({
    made: Type.Integer({ description: 'Runs whose batch installed the app before them.' }),
    avoided: Type.Integer({ description: 'Finished runs that found their build already installed.' }),
  }),
  totals: Type.Object(
    {
      queued: Type.Integer(),
      running: Type.Integer({ description: 'Jobs leased to a device: assigned to a batch or running.' }),
      passed: Type.Integer(),
      failed: Type.Integer(),
      errored: Type.Integer(),
      cancelled: Type.Integer(),
    },
    { description: 'Jobs per status.' },
  ),
});
export type Overview = Static<typeof Overview>;
