/**
 * What the parts of the scheduler share (claims.ts, report-events.ts, batch-lifecycle.ts,
 * device-health.ts, yields.ts): its settings, its collaborators, and the durations it
 * learns from reports. Scheduler builds it once; the parts only read it.
 */
import type { Db } from '../db/db.js';
import type { ArtifactService } from './artifacts.js';
import type { JobChanges } from './job-changes.js';
import type { LogService } from './logs.js';
import type { Metrics } from './metrics.js';
import type { Policy, PolicyConfig } from './policy.js';
import type { InstallTimes, TestTimes } from './recent-durations.js';
import type { HealthConfig, RetryConfig } from './retry-rules.js';
import type { Wakeups } from './wakeups.js';

/** What the scheduler logs through: pino's shape, one line per state change. */
export interface SchedulerLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface SchedulerContext {
  readonly db: Db;
  readonly wakeups: Wakeups;
  readonly metrics: Metrics;
  readonly log: SchedulerLog;
  readonly policy: Policy;
  readonly config: PolicyConfig;
  /** How long a batch lease lasts without a report. */
  readonly leaseMs: number;
  readonly retry: RetryConfig;
  readonly health: HealthConfig;
  /** Devices one org may keep busy at once on a target. */
  readonly maxDevicesPerOrg: number;
  readonly artifacts: ArtifactService | undefined;
  readonly logs: LogService | undefined;
  readonly changes: JobChanges | undefined;
  /** Recent install and test lengths per target: reports feed them, claims and yields read them. */
  readonly installTimes: InstallTimes;
  readonly testTimes: TestTimes;
}
