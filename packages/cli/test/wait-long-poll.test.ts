/**
 * `wait` over waiting reads: against a job-server that has them the loop polls again at once
 * (the server holds each read), and against one that has not (param ignored, refused with a
 * 400, or answers tagged but at once) it falls back to pausing between polls, never spinning.
 */
import { QgjobClient } from '@qgjob/client';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../tests/helpers/cli.js';
import { startTestServer, type TestServer } from '../../../tests/helpers/server.js';
import { pollJobs, pollSubmission } from '../src/sources.js';
import { waitForJobs } from '../src/wait.js';
import { type FakeServer, startFakeServer } from './fake-server.js';

const signal = new AbortController().signal;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('waiting against a server without waiting reads', () => {
  let fake: FakeServer | undefined;
  afterEach(() => fake?.close());

  for (const mode of [undefined, 'reject', 'tagged'] as const) {
    it(`falls back to interval polling (${mode ?? 'param ignored'})`, async () => {
      fake = await startFakeServer({ waitingReads: mode });
      const client = new QgjobClient({ server: fake.url });
      const submitted = await client.submit({ org_id: 'a', app_version_id: 'v', tests: ['ok.js', 'slow.js'] });
      const ids = submitted.jobs.map((j) => j.id);
      for (const poll of [pollSubmission(client, submitted.submission_id), pollJobs(client, ids)]) {
        fake.requests.length = 0;
        const result = await waitForJobs({ poll, intervalMs: 100, timeoutMs: 1_000, signal });
        expect(result.timedOut).toBe(true);
        expect(result.jobs.map((j) => j.status)).toEqual(['passed', 'running']);
        // About one poll per interval (a job-id poll is a request per unfinished job), not a hot loop.
        const reads = fake.requests.filter((r) => r.startsWith('GET')).length;
        expect(reads).toBeGreaterThanOrEqual(3);
        expect(reads).toBeLessThanOrEqual(30);
      }
    });
  }

  it('finishes a wait through the fallback', async () => {
    fake = await startFakeServer({ waitingReads: 'reject' });
    const client = new QgjobClient({ server: fake.url });
    const submitted = await client.submit({ org_id: 'a', app_version_id: 'v', tests: ['a.js', 'b-fail.js'] });
    const result = await waitForJobs({
      poll: pollSubmission(client, submitted.submission_id),
      intervalMs: 10,
      signal,
    });
    expect(result.timedOut).toBe(false);
    expect(result.jobs.map((j) => j.status)).toEqual(['passed', 'failed']);
  });
});

describe('waiting against a job-server with waiting reads', () => {
  let server: TestServer | undefined;
  afterEach(() => server?.close());

  it('returns soon after the last job changes, with no interval pause', async () => {
    server = await startTestServer();
    const client = new QgjobClient({ server: server.url });
    const submitted = await client.submit({ org_id: 'a', app_version_id: 'v', tests: ['a.js', 'b.js'] });
    const ids = submitted.jobs.map((j) => j.id);
    for (const poll of [pollSubmission(client, submitted.submission_id, ids), pollJobs(client, ids)]) {
      const started = Date.now();
      const waiting = waitForJobs({ poll, intervalMs: 60_000, timeoutMs: 30_000, signal });
      await sleep(300);
      for (const id of ids) await server.app.queue.cancelJob(id).catch(() => {});
      const result = await waiting;
      expect(result.timedOut).toBe(false);
      expect(result.jobs.map((j) => j.status)).toEqual(['cancelled', 'cancelled']);
      // With a one-minute interval, only waiting reads can end it this soon.
      expect(Date.now() - started).toBeLessThan(20_000);
    }
  });

  it('lets go of a held read when the wait times out', async () => {
    server = await startTestServer();
    const client = new QgjobClient({ server: server.url });
    const submitted = await client.submit({ org_id: 'a', app_version_id: 'v', test_path: 'a.js' });
    const result = await waitForJobs({
      poll: pollSubmission(client, submitted.submission_id),
      intervalMs: 60_000,
      timeoutMs: 700,
      signal,
    });
    expect(result.timedOut).toBe(true);
    expect(result.jobs.map((j) => j.status)).toEqual(['queued']);
    for (let i = 0; i < 100 && server.app.changes.waiting > 0; i++) await sleep(20);
    expect(server.app.changes.waiting).toBe(0);
    // fetch opens a fresh connection after an aborted request and sends nothing on it: close it,
    // or the server's shutdown waits for it.
    server.app.http.server.closeAllConnections();
  });

  it('qgjob wait ends when the jobs end, not at the next poll interval', async () => {
    server = await startTestServer();
    const { response } = await server.app.queue.submit({ org_id: 'a', app_version_id: 'v', tests: ['a.js'] });
    const cli = runCli(['wait', `--server=${server.url}`, `--submission-id=${response.submission_id}`, '--json'], {
      env: { QGJOB_POLL_INTERVAL_MS: '600000' },
      timeoutMs: 60_000,
    });
    for (let i = 0; i < 200 && server.app.changes.waiting === 0; i++) await sleep(50);
    await server.app.queue.cancelJob(response.jobs[0]?.id as string);
    const result = await cli;
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).jobs[0].status).toBe('cancelled');
  });
});
