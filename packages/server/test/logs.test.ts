/**
 * Run logs over HTTP, on every store: agents append to running runs only, a run's log is
 * bounded, reads page with a cursor and say when they are done, and each kind of caller
 * gets what it may.
 */
import type { Batch, JobLogs, LogsRequest, LogsResponse, SubmitResponse } from '@qgjob/protocol';
import { type App, buildApp } from '@qgjob/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adapters, type TestDb } from '../../../tests/helpers/db.js';

const KiB = 1024;

describe.each(adapters)('run logs on $name', (adapter) => {
  let store: TestDb;
  let app: App;

  beforeEach(async () => {
    store = await adapter.open();
    app = await buildApp({ db: store.db });
  });
  afterEach(async () => {
    await app.http.close();
    await store.drop();
  });

  const inject = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
    app.http.inject({ method, url, payload: payload as object });

  /** The ids of the jobs created, in order (as many as `tests`). */
  async function submit(tests: string[], extra: object = {}): Promise<[string, string]> {
    const res = await inject('POST', '/v1/jobs', {
      org_id: 'acme',
      app_version_id: 'v1',
      tests,
      ...extra,
    });
    return res.json<SubmitResponse>().jobs.map((j) => j.id) as [string, string];
  }

  /** An agent with one device holding a batch of every queued job. */
  async function claim(): Promise<Batch> {
    const reg = await inject('POST', '/v1/agents/register', {
      name: `agent-${Math.random().toString(36).slice(2)}`,
      devices: [{ name: 'e1', target: 'emulator' }],
    });
    const deviceId = reg.json<{ devices: { id: string }[] }>().devices[0]?.id;
    const batch = (await inject('POST', `/v1/devices/${deviceId}/claim?wait_ms=0`)).json<{ batch: Batch }>().batch;
    expect(batch).not.toBeNull();
    return batch;
  }

  const report = (batchId: string, events: unknown[], done?: unknown) =>
    inject('POST', `/v1/batches/${batchId}/report`, done ? { events, done } : { events });
  const send = async (batchId: string, body: LogsRequest) => {
    const res = await inject('POST', `/v1/batches/${batchId}/logs`, body);
    expect(res.statusCode, res.body).toBe(200);
    return res.json<LogsResponse>();
  };
  const read = async (jobId: string, after?: string | null) => {
    const res = await inject('GET', `/v1/jobs/${jobId}/logs${after == null ? '' : `?after=${after}`}`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json<JobLogs>();
  };
  const text = (logs: JobLogs) => logs.chunks.map((c) => c.text).join('');

  it('stores chunks of running runs in order, reads them from a cursor, and is done once the job ends', async () => {
    const [a, b] = await submit(['tests/a.spec.js', 'tests/b.spec.js']);
    const batch = await claim();
    expect(batch.jobs.map((j) => j.id).sort()).toEqual([a, b].sort());
    expect((await report(batch.id, [{ type: 'start', job_id: a }])).statusCode).toBe(200);

    // b has not started: its chunk is dropped, and accepted says so.
    const first = await send(batch.id, {
      chunks: [
        { job_id: a, stream: 'stdout', text: 'line 1\n' },
        { job_id: b, stream: 'stdout', text: 'too early\n' },
        { job_id: a, stream: 'stderr', text: 'warn 1\n' },
      ],
    });
    expect(first).toEqual({ accepted: 2, truncated: [] });

    const partial = await read(a);
    expect(partial).toMatchObject({ job_id: a, status: 'running', done: false });
    expect(partial.chunks.map((c) => [c.run, c.seq, c.stream, c.text])).toEqual([
      [1, 1, 'stdout', 'line 1\n'],
      [1, 2, 'stderr', 'warn 1\n'],
    ]);
    expect(Date.parse(partial.chunks[0]?.at ?? '')).not.toBeNaN();
    expect(partial.next_after).toEqual(expect.any(String));

    // Nothing new: the same cursor comes back, no chunks.
    const idle = await read(a, partial.next_after);
    expect(idle).toMatchObject({ chunks: [], next_after: partial.next_after, done: false });

    await send(batch.id, { chunks: [{ job_id: a, stream: 'stdout', text: 'line 2\n' }] });
    await report(batch.id, [{ type: 'finish', job_id: a, status: 'passed', duration_ms: 5 }]);
    // Finished: later chunks are dropped.
    expect(await send(batch.id, { chunks: [{ job_id: a, stream: 'stdout', text: 'late\n' }] })).toEqual({
      accepted: 0,
      truncated: [],
    });
    const rest = await read(a, partial.next_after);
    expect(rest).toMatchObject({ status: 'passed', done: true });
    expect(rest.chunks.map((c) => c.text)).toEqual(['line 2\n']);
    expect(text(await read(a))).toBe('line 1\nwarn 1\nline 2\n');

    // A job with no log at all: no cursor yet; queued, so not done.
    const [c] = await submit(['tests/c.spec.js']);
    expect(await read(c)).toMatchObject({ chunks: [], next_after: null, done: false, status: 'queued' });
  });

  it("stores a report's logs after its starts and before its finishes, in one request", async () => {
    const [j1] = await submit(['tests/a.spec.js']);
    const batch = await claim();
    const res = await inject('POST', `/v1/batches/${batch.id}/report`, {
      events: [
        { type: 'start', job_id: j1 },
        { type: 'finish', job_id: j1, status: 'passed', duration_ms: 10 },
      ],
      logs: [
        { job_id: j1, stream: 'stdout', text: 'hello\n' },
        { job_id: j1, stream: 'agent', text: 'qgjob-agent: passed\n' },
      ],
      done: { unstarted: [] },
    });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ yield: false, truncated: [] });
    const logs = await read(j1);
    expect(logs.status).toBe('passed');
    expect(logs.done).toBe(true);
    expect(logs.chunks.map((c) => c.text)).toEqual(['hello\n', 'qgjob-agent: passed\n']);
    // A bad chunk is refused with the report, naming the field.
    const bad = await inject('POST', `/v1/batches/${batch.id}/report`, {
      events: [],
      logs: [{ job_id: j1, stream: 'nope', text: 'x' }],
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toMatch(/logs/);
  });

  it('keeps each run of a retried job apart, and drops chunks of a cancelled run', async () => {
    const [flaky] = await submit(['tests/flaky.spec.js'], { max_retries: 1 });
    const first = await claim();
    await report(first.id, [{ type: 'start', job_id: flaky }]);
    await send(first.id, { chunks: [{ job_id: flaky, stream: 'stdout', text: 'attempt 1\n' }] });
    await report(first.id, [{ type: 'finish', job_id: flaky, status: 'failed' }], { unstarted: [] });
    const second = await claim();
    await report(second.id, [{ type: 'start', job_id: flaky }]);
    await send(second.id, { chunks: [{ job_id: flaky, stream: 'stdout', text: 'attempt 2\n' }] });
    const logs = await read(flaky);
    expect(logs.chunks.map((c) => [c.run, c.seq, c.text])).toEqual([
      [1, 1, 'attempt 1\n'],
      [2, 1, 'attempt 2\n'],
    ]);

    expect((await inject('POST', `/v1/jobs/${flaky}/cancel`)).statusCode).toBe(200);
    expect(await send(second.id, { chunks: [{ job_id: flaky, stream: 'stdout', text: 'after cancel\n' }] })).toEqual({
      accepted: 0,
      truncated: [],
    });
    const after = await read(flaky, logs.next_after);
    expect(after).toMatchObject({ status: 'cancelled', chunks: [], done: true });
  });

  it('bounds a run at 256 KiB: the crossing chunk is cut, one marker counts every byte dropped after', async () => {
    const [a] = await submit(['tests/a.spec.js']);
    const batch = await claim();
    await report(batch.id, [{ type: 'start', job_id: a }]);
    const big = 'x'.repeat(60 * KiB);
    // 4 × 60 KiB fit; the fifth crosses 256 KiB by 44 KiB; é is two bytes and is not split.
    const answer = await send(batch.id, {
      chunks: [
        ...Array.from({ length: 4 }, () => ({ job_id: a, stream: 'stdout' as const, text: big })),
        { job_id: a, stream: 'stdout', text: `${'y'.repeat(16 * KiB - 1)}é${'z'.repeat(44 * KiB)}` },
      ],
    });
    expect(answer).toEqual({ accepted: 5, truncated: [a] });
    const logs = await read(a);
    const stored = logs.chunks.slice(0, -1);
    const marker = logs.chunks.at(-1);
    expect(stored.map((c) => Buffer.byteLength(c.text)).reduce((x, y) => x + y, 0)).toBe(256 * KiB - 1);
    expect(stored.at(-1)?.text.endsWith('y')).toBe(true);
    expect(marker).toMatchObject({ stream: 'agent', seq: 6, text: `[log truncated: ${2 + 44 * KiB} bytes dropped]\n` });

    // More output (and bytes the agent counted without sending) only recounts the marker.
    const more = await send(batch.id, {
      chunks: [
        { job_id: a, stream: 'stderr', text: 'abc' },
        { job_id: a, stream: 'stdout', text: '', dropped: 1000 },
      ],
    });
    expect(more).toEqual({ accepted: 2, truncated: [a] });
    const again = await read(a);
    expect(again.chunks).toHaveLength(6);
    expect(again.chunks.at(-1)?.text).toBe(`[log truncated: ${2 + 44 * KiB + 3 + 1000} bytes dropped]\n`);
  });

  it('pages reads at 1000 chunks: done only on the page that returns the last one', async () => {
    const [a] = await submit(['tests/a.spec.js']);
    const batch = await claim();
    await report(batch.id, [{ type: 'start', job_id: a }]);
    for (const from of [0, 1000]) {
      const chunks = Array.from({ length: from === 0 ? 1000 : 200 }, (_, i) => ({
        job_id: a,
        stream: 'stdout' as const,
        text: `${from + i}\n`,
      }));
      expect((await send(batch.id, { chunks })).accepted).toBe(chunks.length);
    }
    await report(batch.id, [{ type: 'finish', job_id: a, status: 'failed' }]);
    const page1 = await read(a);
    expect(page1).toMatchObject({ status: 'failed', done: false });
    expect(page1.chunks).toHaveLength(1000);
    const page2 = await read(a, page1.next_after);
    expect(page2.done).toBe(true);
    expect(page2.chunks.map((c) => c.seq)).toEqual(Array.from({ length: 200 }, (_, i) => 1001 + i));
  });

  it('answers 409 on a batch that ended, 404 on an unknown one or job, 400 on a bad cursor', async () => {
    const [a] = await submit(['tests/a.spec.js']);
    const batch = await claim();
    await report(batch.id, [], { unstarted: [a] });
    const ended = await inject('POST', `/v1/batches/${batch.id}/logs`, { chunks: [] });
    expect(ended.statusCode).toBe(409);
    expect(ended.json().error.code).toBe('conflict');
    expect((await inject('POST', '/v1/batches/bat_nope/logs', { chunks: [] })).statusCode).toBe(404);
    expect((await inject('GET', '/v1/jobs/job_nope/logs')).statusCode).toBe(404);
    const bad = await inject('GET', `/v1/jobs/${a}/logs?after=not-a-cursor`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.field).toBe('after');
    const invalid = await inject('POST', `/v1/batches/${batch.id}/logs`, {
      chunks: [{ job_id: a, stream: 'stdin', text: '' }],
    });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().error.field).toMatch(/stream/);
  });

  it('numbers concurrent writes to one run without gaps or repeats', async () => {
    const [a] = await submit(['tests/a.spec.js']);
    const batch = await claim();
    await report(batch.id, [{ type: 'start', job_id: a }]);
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        send(batch.id, {
          chunks: Array.from({ length: 5 }, (_, k) => ({
            job_id: a,
            stream: 'stdout' as const,
            text: `${i}.${k}\n`,
          })),
        }),
      ),
    );
    const logs = await read(a);
    expect(logs.chunks.map((c) => c.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    // Each request's chunks stay together and in order.
    const texts = logs.chunks.map((c) => c.text);
    for (let i = 0; i < 50; i += 5) {
      const request = texts[i]?.split('.')[0];
      expect(texts.slice(i, i + 5)).toEqual(Array.from({ length: 5 }, (_, k) => `${request}.${k}\n`));
    }
  });
});

describe('run logs and credentials', () => {
  const ADMIN = 'admin-secret-for-logs-0123456789';
  let store: TestDb;
  let app: App;
  beforeEach(async () => {
    store = await (adapters[0] as (typeof adapters)[0]).open();
    app = await buildApp({ db: store.db, auth: { mode: 'tokens', adminToken: ADMIN } });
  });
  afterEach(async () => {
    await app.http.close();
    await store.drop();
  });

  const call = (method: 'GET' | 'POST', url: string, token: string, payload?: unknown) =>
    app.http.inject({ method, url, payload: payload as object, headers: { authorization: `Bearer ${token}` } });

  it('lets only the batch’s agent (or an admin) write, and only the job’s org (or an admin) read', async () => {
    const make = async (body: object) =>
      (await call('POST', '/v1/tokens', ADMIN, body)).json<{ token: string }>().token;
    const own = await make({ kind: 'org', org_id: 'acme', name: 'ci' });
    const other = await make({ kind: 'org', org_id: 'globex', name: 'ci' });
    const agent = await make({ kind: 'agent', name: 'lab-1' });
    const otherAgent = await make({ kind: 'agent', name: 'lab-2' });
    const job = (
      await call('POST', '/v1/jobs', own, { org_id: 'acme', app_version_id: 'v1', test_path: 't/a.js' })
    ).json<SubmitResponse>().jobs[0]?.id;
    const reg = await call('POST', '/v1/agents/register', agent, {
      name: 'lab-1',
      devices: [{ name: 'e1', target: 'emulator' }],
    });
    const deviceId = reg.json<{ devices: { id: string }[] }>().devices[0]?.id;
    const batch = (await call('POST', `/v1/devices/${deviceId}/claim?wait_ms=0`, agent)).json<{ batch: Batch }>().batch;
    await call('POST', `/v1/batches/${batch.id}/report`, agent, { events: [{ type: 'start', job_id: job }] });
    const body = { chunks: [{ job_id: job, stream: 'stdout', text: 'hello\n' }] };
    const write = (token: string) => call('POST', `/v1/batches/${batch.id}/logs`, token, body);
    expect((await write(otherAgent)).statusCode).toBe(404);
    expect((await write(own)).statusCode).toBe(403);
    expect((await write(agent)).json()).toEqual({ accepted: 1, truncated: [] });
    expect((await write(ADMIN)).json()).toEqual({ accepted: 1, truncated: [] });
    const get = (token: string) => call('GET', `/v1/jobs/${job}/logs`, token);
    expect((await get(own)).json<JobLogs>().chunks.map((c) => c.text)).toEqual(['hello\n', 'hello\n']);
    expect((await get(ADMIN)).statusCode).toBe(200);
    expect((await get(other)).statusCode).toBe(404);
    expect((await get(agent)).statusCode).toBe(403);
    expect((await app.http.inject({ method: 'GET', url: `/v1/jobs/${job}/logs` })).statusCode).toBe(401);
  });
});
