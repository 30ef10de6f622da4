/** Job, run and job-summary values for tests of the CLI's reporting, with overridable fields. */
import type { Job, JobStatus, JobSummary, Run } from '@qgjob/protocol';

export function runOf(n: number, overrides: Partial<Run> = {}): Run {
  return {
    id: `run_${n}`,
    n,
    status: 'passed',
    agent: 'agent-a',
    device: 'emulator-5554',
    batch_id: 'batch_1',
    app_installed: n === 1,
    started_at: '2024-05-01T12:00:00.000Z',
    finished_at: '2024-05-01T12:00:02.000Z',
    duration_ms: 2000,
    error: null,
    artifacts: [],
    ...overrides,
  };
}

export function jobOf(id: string, overrides: Partial<Job> = {}): Job {
  return {
    id,
    submission_id: 'sub_1',
    status: 'passed',
    org_id: 'qualgent',
    app_version_id: 'xyz123',
    test_path: `tests/${id}.spec.js`,
    target: 'emulator',
    priority: 5,
    max_retries: 0,
    attempts: 1,
    flaky: false,
    created_at: '2024-05-01T11:59:00.000Z',
    started_at: '2024-05-01T12:00:00.000Z',
    finished_at: '2024-05-01T12:00:02.000Z',
    error: null,
    bundle_sha256: null,
    runs: [runOf(1)],
    ...overrides,
  };
}

/** A job as lists show it (no runs), not yet started. */
export function summaryOf(id: string, status: JobStatus): JobSummary {
  const { runs: _runs, ...summary } = jobOf(id, {
    status,
    attempts: 0,
    created_at: '2024-05-01T12:00:00.000Z',
    started_at: null,
    finished_at: null,
  });
  return summary;
}
