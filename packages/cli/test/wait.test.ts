import { ApiError, isTransient, UnreachableError } from '@qgjob/client';
import type { JobStatus } from '@qgjob/protocol';
import { describe, expect, it } from 'vitest';
import { InterruptedError } from '../src/errors.js';
import { makeStyle } from '../src/output.js';
import { exitCodeFor, summaryLine, tally } from '../src/results.js';
import { pollIntervalFromEnv, waitForJobs } from '../src/wait.js';
import { summaryOf as summary } from './fixtures.js';

/** A poll that returns the given states one after another, then repeats the last. */
function scripted(...states: JobStatus[][]) {
  let i = 0;
  return async () => {
    const statuses = states[Math.min(i++, states.length - 1)] ?? [];
    return statuses.map((status, n) => summary(`job_${n}`, status));
  };
}

const signal = new AbortController().signal;

describe('waitForJobs', () => {
  it('polls until every job is terminal', async () => {
    const seen: string[] = [];
    const result = await waitForJobs({
      poll: scripted(['queued', 'queued'], ['running', 'assigned'], ['passed', 'running'], ['passed', 'failed']),
      intervalMs: 1,
      signal,
      onUpdate: (jobs) => seen.push(jobs.map((j) => j.status).join(',')),
    });
    expect(result.timedOut).toBe(false);
    expect(result.jobs.map((j) => j.status)).toEqual(['passed', 'failed']);
    expect(seen).toEqual(['queued,queued', 'running,assigned', 'passed,running', 'passed,failed']);
  });

  it('returns timed out with the last known states', async () => {
    const result = await waitForJobs({ poll: scripted(['running']), intervalMs: 5, timeoutMs: 30, signal });
    expect(result.timedOut).toBe(true);
    expect(result.jobs.map((j) => j.status)).toEqual(['running']);
  });

  it('times out even when the server never answers', async () => {
    const result = await waitForJobs({ poll: () => new Promise(() => {}), intervalMs: 5, timeoutMs: 30, signal });
    expect(result).toMatchObject({ timedOut: true, jobs: [] });
  });

  it('keeps polling through transient errors', async () => {
    let calls = 0;
    const troubles: unknown[] = [];
    const result = await waitForJobs({
      poll: async () => {
        calls++;
        if (calls < 3) throw new UnreachableError(['http://x']);
        return [summary('a', 'passed')];
      },
      intervalMs: 1,
      signal,
      isTransient,
      onTrouble: (error) => troubles.push(error),
    });
    expect(result.timedOut).toBe(false);
    expect(troubles).toHaveLength(2);
  });

  it('gives up when transient errors outlast the tolerance', async () => {
    const error = new ApiError(503, 'unavailable', 'down', 'http://x/v1/jobs/a');
    await expect(
      waitForJobs({
        poll: async () => {
          throw error;
        },
        intervalMs: 1,
        signal,
        isTransient,
        toleranceMs: 20,
      }),
    ).rejects.toBe(error);
  });

  it('rethrows other errors at once', async () => {
    const error = new ApiError(404, 'not_found', 'no such job', 'http://x/v1/jobs/a');
    await expect(
      waitForJobs({
        poll: async () => {
          throw error;
        },
        intervalMs: 1,
        signal,
        isTransient,
      }),
    ).rejects.toBe(error);
  });

  it('stops when interrupted', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    await expect(
      waitForJobs({ poll: scripted(['running']), intervalMs: 10_000, signal: controller.signal }),
    ).rejects.toBeInstanceOf(InterruptedError);
  });
});

describe('results', () => {
  const style = makeStyle(false);

  it('counts outcomes and says how the wait ended', () => {
    const t = tally(
      ['passed', 'passed', 'failed', 'cancelled', 'running'].map((s, i) => summary(String(i), s as JobStatus)),
    );
    expect(t).toEqual({ passed: 2, failed: 1, errored: 0, cancelled: 1, unfinished: 1 });
    expect(summaryLine(t, 12_345, style)).toBe('2 passed, 1 failed, 0 errored, 1 cancelled, 1 unfinished in 12.3s');
  });

  it('exits 0 only when every job passed', () => {
    expect(exitCodeFor(tally([summary('a', 'passed')]))).toBe(0);
    expect(exitCodeFor(tally([summary('a', 'passed'), summary('b', 'errored')]))).toBe(1);
    expect(exitCodeFor(tally([summary('a', 'cancelled')]))).toBe(1);
  });

  it('reads the poll interval from the environment', () => {
    expect(pollIntervalFromEnv({})).toBe(1000);
    expect(pollIntervalFromEnv({ QGJOB_POLL_INTERVAL_MS: '50' })).toBe(50);
    expect(pollIntervalFromEnv({ QGJOB_POLL_INTERVAL_MS: 'fast' })).toBe(1000);
  });
});
