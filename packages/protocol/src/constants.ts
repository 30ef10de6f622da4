/** Where a test runs. */
export const TARGETS = ['emulator', 'device', 'browserstack'] as const;
export type Target = (typeof TARGETS)[number];

export const JOB_STATUSES = ['queued', 'assigned', 'running', 'passed', 'failed', 'errored', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const TERMINAL_JOB_STATUSES = ['passed', 'failed', 'errored', 'cancelled'] as const;
export type TerminalJobStatus = (typeof TERMINAL_JOB_STATUSES)[number];

export function isTerminal(status: JobStatus): status is TerminalJobStatus {
  return (TERMINAL_JOB_STATUSES as readonly string[]).includes(status);
}

export const RUN_STATUSES = ['running', 'passed', 'failed', 'errored', 'cancelled', 'lost'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Named priorities the CLI accepts beside 0-9. */
export const PRIORITY_NAMES = { low: 2, normal: 5, high: 8, urgent: 9 } as const;
export type PriorityName = keyof typeof PRIORITY_NAMES;

export const LIMITS = {
  priorityMin: 0,
  priorityMax: 9,
  priorityDefault: 5,
  maxRetriesMax: 5,
  testPathMaxLength: 512,
  appVersionIdMaxLength: 128,
  /** Jobs one submit may create. */
  testsPerSubmission: 5000,
  /** Largest request body the server reads. */
  bodyLimitBytes: 2 * 1024 * 1024,
  listLimitDefault: 50,
  listLimitMax: 500,
  idempotencyKeyMaxLength: 200,
  /** The longest install or run an agent may report: 7 days, in ms (fits a 32-bit integer). */
  durationMsMax: 7 * 24 * 3600 * 1000,
  /** The most output bytes one log chunk may say were dropped before it: 1 TiB. */
  droppedBytesMax: 2 ** 40,
} as const;
