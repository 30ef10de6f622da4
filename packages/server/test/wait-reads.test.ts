/**
 * Waiting reads of job states: `?wait=` with If-None-Match on a submission and on
 * /v1/jobs/summaries. The re-check is set far beyond the test's waits, so an answer that comes
 * quickly came from the wake-up (in-process, or NOTIFY from another replica), not the poll.
 */
import type { Batch, Submission } from '@qgjob/protocol';
import { type LongPollOptions, type RunningServer, startServer } from '@qgjob/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adapters, type TestDb } from '../../../tests/helpers/db.js';

const NO_RECHECK: LongPollOptions = { recheckMs: 60_000 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function get(url: string, headers: Record<string, string> = {}, signal?: AbortSignal) {
  const started = Date.now();
  const response = await fetch(url, { headers, signal });
  const text = await response.text();
  return {
    status: response.status,
    etag: response.headers.get('etag'),
    body: text ? JSON.parse(text) : undefined,
    ms: Date.now() - started,
  };
}

describe.each(adapters)('waiting reads on $name', (adapter) => {
  let store: TestDb;
  let server: RunningServer;
  let sub: string;
  let jobIds: string[];
  let device: string;

  beforeEach(async () => {
    store = await adapter.open();
    server = await startServer({ db: store.db, port: 0, longPoll: NO_RECHECK });
    const submitted = await server.app.queue.submit({
      org_id: 'acme',
      app_version_id: 'v1',
      tests: ['a.spec.js', 'b.spec.js'],
    });
    sub = submitted.response.submission_id;
    jobIds = submitted.response.jobs.map((j) => j.id);
    const reg = await server.app.scheduler.register({ name: 'h', devices: [{ name: 'e1', target: 'emulator' }] });
    device = reg.devices[0]?.id as string;
  });
  afterEach(async () => {
    await server.close();
    await store.drop();
  });

  const subUrl = (wait?: string) => `${server.url}/v1/submissions/${sub}${wait === undefined ? '' : `?wait=${wait}`}`;

  it('answers at once, with an ETag, when the client has no copy or another one', async () => {
    const first = await get(subUrl('30'));
    expect(first.status).toBe(200);
    expect(first.etag).toMatch(/^W\/".+"$/);
    expect((first.body as Submission).jobs).toHaveLength(2);
    const other = await get(subUrl('30'), { 'if-none-match': 'W/"something-else"' });
    expect(other.status).toBe(200);
    expect(other.etag).toBe(first.etag);
    expect(other.ms).toBeLessThan(5_000);
    // Without wait, a current copy is a plain 304.
    const current = await get(subUrl(), { 'if-none-match': first.etag as string });
    expect(current.status).toBe(304);
    expect(current.etag).toBe(first.etag);
  });

  it('holds a current copy until a job changes status, then answers with the new document', async () => {
    const { etag } = await get(subUrl());
    const pending = get(subUrl('30'), { 'if-none-match': etag as string });
    await sleep(300);
    const claimed = (await server.app.scheduler.claim(device, 0)).batch as Batch;
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(answer.etag).not.toBe(etag);
    expect((answer.body as Submission).jobs.map((j) => j.status)).toEqual(['assigned', 'assigned']);
    expect(answer.ms).toBeGreaterThanOrEqual(250);
    expect(answer.ms).toBeLessThan(10_000);

    // A finish reported by the agent wakes it too.
    const again = get(subUrl('30'), { 'if-none-match': answer.etag as string });
    await sleep(200);
    await server.app.scheduler.report(claimed.id, {
      events: claimed.jobs.flatMap((j) => [
        { type: 'start' as const, job_id: j.id },
        { type: 'finish' as const, job_id: j.id, status: 'passed' as const, duration_ms: 5 },
      ]),
    });
    const finished = await again;
    expect(finished.status).toBe(200);
    expect((finished.body as Submission).jobs.map((j) => j.status)).toEqual(['passed', 'passed']);
    expect(finished.ms).toBeLessThan(10_000);
  });

  it('ends the wait with 304 and the same ETag when nothing changes', async () => {
    const { etag } = await get(subUrl());
    const answer = await get(subUrl('1'), { 'if-none-match': etag as string });
    expect(answer.status).toBe(304);
    expect(answer.etag).toBe(etag);
    expect(answer.body).toBeUndefined();
    expect(answer.ms).toBeGreaterThanOrEqual(900);
    expect(server.app.changes.waiting).toBe(0);
  });

  it('refuses a bad wait or ids with a 400 naming the field', async () => {
    for (const bad of ['abc', '61', '-1', '']) {
      const answer = await get(subUrl(bad));
      expect(answer.status).toBe(400);
      expect(answer.body.error.field).toBe('wait');
    }
    const tooMany = Array.from({ length: 101 }, (_, i) => `job_${i}`).join(',');
    for (const ids of ['', 'a,,b', tooMany]) {
      const answer = await get(`${server.url}/v1/jobs/summaries?ids=${ids}`);
      expect(answer.status).toBe(400);
      expect(answer.body.error.field).toBe('ids');
    }
    const noIds = await get(`${server.url}/v1/jobs/summaries`);
    expect(noIds.status).toBe(400);
    expect(noIds.body.error.field).toBe('ids');
    const bad = await get(`${server.url}/v1/jobs/summaries?ids=${jobIds[0]}&wait=x`);
    expect(bad.body.error.field).toBe('wait');
  });

  it('lets go of the waiter when the client hangs up', async () => {
    const { etag } = await get(subUrl());
    const abort = new AbortController();
    const pending = get(subUrl('30'), { 'if-none-match': etag as string }, abort.signal).catch(() => 'aborted');
    for (let i = 0; i < 100 && server.app.changes.waiting === 0; i++) await sleep(20);
    expect(server.app.changes.waiting).toBe(1);
    abort.abort();
    expect(await pending).toBe('aborted');
    for (let i = 0; i < 100 && server.app.changes.waiting > 0; i++) await sleep(20);
    expect(server.app.changes.waiting).toBe(0);
    // fetch opens a fresh connection after an aborted request and sends nothing on it: close it,
    // or the server's shutdown waits for it.
    server.app.http.server.closeAllConnections();
  });

  it('waits on a set of jobs: in the order asked, woken by a cancel; an unknown id is a 404', async () => {
    const url = `${server.url}/v1/jobs/summaries?ids=${jobIds[1]},${jobIds[0]},${jobIds[1]}`;
    const first = await get(url);
    expect(first.status).toBe(200);
    expect(first.body.jobs.map((j: { id: string }) => j.id)).toEqual([jobIds[1], jobIds[0]]);
    const pending = get(`${url}&wait=30`, { 'if-none-match': first.etag as string });
    await sleep(300);
    await server.app.queue.cancelJob(jobIds[0] as string);
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(answer.body.jobs.map((j: { status: string }) => j.status)).toEqual(['queued', 'cancelled']);
    expect(answer.ms).toBeLessThan(10_000);
    const missing = await get(`${server.url}/v1/jobs/summaries?ids=${jobIds[0]},job_nope`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toContain('job_nope');
  });

  it('documents wait, If-None-Match and the 304 in the OpenAPI schema', async () => {
    const doc = (await get(`${server.url}/docs/json`)).body;
    const op = doc.paths['/v1/submissions/{id}'].get;
    expect(op.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['wait', 'if-none-match']),
    );
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '304', '400']));
    expect(doc.paths['/v1/jobs/summaries'].get.responses['304']).toBeDefined();
  });
});

describe.runIf(adapters.some((a) => a.name === 'postgres'))('waiting reads across job-servers', () => {
  const adapter = adapters.find((a) => a.name === 'postgres');
  let store: TestDb;
  let a: RunningServer;
  let b: RunningServer;
  beforeEach(async () => {
    store = await (adapter as (typeof adapters)[number]).open();
    a = await startServer({ db: store.db, port: 0, longPoll: NO_RECHECK });
    b = await startServer({ databaseUrl: store.url, port: 0, longPoll: NO_RECHECK });
  });
  afterEach(async () => {
    await b.close();
    await a.close();
    await store.drop();
  });

  it('wakes a read waiting on one server when a job changes on another', async () => {
    const { response } = await a.app.queue.submit({ org_id: 'acme', app_version_id: 'v1', test_path: 'x.spec.js' });
    const url = `${b.url}/v1/submissions/${response.submission_id}`;
    const { etag } = await get(url);
    const pending = get(`${url}?wait=30`, { 'if-none-match': etag as string });
    for (let i = 0; i < 100 && b.app.changes.waiting === 0; i++) await sleep(20);
    await a.app.queue.cancelJob(response.jobs[0]?.id as string);
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(answer.body.jobs[0].status).toBe('cancelled');
    // Far below the 60 s re-check: the notification woke it.
    expect(answer.ms).toBeLessThan(10_000);
  });
});
