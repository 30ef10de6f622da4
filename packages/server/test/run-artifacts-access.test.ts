/**
 * Test artifacts with credentials, on every store: only the batch's agent (or an admin)
 * uploads, only the job's org (or an admin) lists and downloads; and over a real socket,
 * an upload that turns out too large mid-stream still gets its 413.
 */
import type { AddressInfo } from 'node:net';
import type { JobArtifacts } from '@qgjob/protocol';
import { type App, buildApp } from '@qgjob/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adapters, type TestDb } from '../../../tests/helpers/db.js';
import { startRun } from '../../../tests/helpers/runs.js';

const ADMIN = 'admin-secret-for-artifacts-0123456789';

describe.each(adapters)('test artifacts and credentials on $name', (adapter) => {
  let store: TestDb;
  let app: App;
  beforeEach(async () => {
    store = await adapter.open();
    app = await buildApp({
      db: store.db,
      auth: { mode: 'tokens', adminToken: ADMIN },
      runArtifacts: { fileBytes: 1000 },
    });
  });
  afterEach(async () => {
    await app.http.close();
    await store.drop();
  });

  const call = (method: 'GET' | 'POST' | 'PUT', url: string, token: string, payload?: unknown) =>
    app.http.inject({
      method,
      url,
      payload: payload as object,
      headers: {
        authorization: `Bearer ${token}`,
        ...(Buffer.isBuffer(payload) ? { 'content-type': 'text/plain' } : {}),
      },
    });
  const make = async (body: object) =>
    (await call('POST', '/v1/tokens', ADMIN, body)).json<{ token: string; id: string }>();

  /** An org-acme job running on a device of the agent whose token is `agent`. */
  async function running(agent: { id: string }): Promise<{ jobId: string; batchId: string }> {
    const submitted = await app.queue.submit({ org_id: 'acme', app_version_id: 'v1', tests: ['t/a.js'] });
    const jobId = submitted.response.jobs[0]?.id as string;
    return { jobId, batchId: (await startRun(app, jobId, agent.id)).id };
  }

  it('lets only the batch’s agent (or an admin) upload, and only the job’s org (or an admin) read', async () => {
    const own = (await make({ kind: 'org', org_id: 'acme', name: 'ci' })).token;
    const other = (await make({ kind: 'org', org_id: 'globex', name: 'ci' })).token;
    const lab = await make({ kind: 'agent', name: 'lab-1' });
    const agent = lab.token;
    const otherAgent = (await make({ kind: 'agent', name: 'lab-2' })).token;
    const { jobId, batchId } = await running(lab);
    const upload = (token: string, name: string) =>
      call('PUT', `/v1/batches/${batchId}/artifacts?job_id=${jobId}&name=${name}`, token, Buffer.from(name));
    expect((await upload(otherAgent, 'a.txt')).statusCode).toBe(404);
    expect((await upload(own, 'a.txt')).statusCode).toBe(403);
    expect((await upload(agent, 'a.txt')).statusCode).toBe(200);
    expect((await upload(ADMIN, 'b.txt')).json()).toMatchObject({ name: 'b.txt', content_type: 'text/plain' });

    const list = (token: string) => call('GET', `/v1/jobs/${jobId}/artifacts`, token);
    expect((await list(own)).json<JobArtifacts>().runs[0]?.artifacts.map((a) => a.name)).toEqual(['a.txt', 'b.txt']);
    expect((await list(ADMIN)).statusCode).toBe(200);
    expect((await list(other)).statusCode).toBe(404);
    expect((await list(agent)).statusCode).toBe(403);
    const file = (token: string) => call('GET', `/v1/jobs/${jobId}/runs/1/artifacts/a.txt`, token);
    expect((await file(own)).body).toBe('a.txt');
    expect((await file(ADMIN)).statusCode).toBe(200);
    expect((await file(other)).statusCode).toBe(404);
    expect((await file(agent)).statusCode).toBe(403);
    expect((await call('GET', `/v1/jobs/${jobId}`, other)).statusCode).toBe(404);
    expect((await app.http.inject({ method: 'GET', url: `/v1/jobs/${jobId}/artifacts` })).statusCode).toBe(401);
  });

  it('answers 413 over a real socket when the bytes pass the cap mid-stream, and closes the connection', async () => {
    const own = (await make({ kind: 'org', org_id: 'acme', name: 'ci' })).token;
    const lab = await make({ kind: 'agent', name: 'lab-1' });
    const agent = lab.token;
    const { jobId, batchId } = await running(lab);
    await app.http.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.http.server.address() as AddressInfo;
    // No Content-Length, and no end: the server stops reading at the cap.
    const endless = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await new Promise((r) => setTimeout(r, 2));
        controller.enqueue(new Uint8Array(300));
      },
    });
    const res = await fetch(`http://127.0.0.1:${port}/v1/batches/${batchId}/artifacts?job_id=${jobId}&name=v.webm`, {
      method: 'PUT',
      body: endless,
      duplex: 'half',
      headers: { authorization: `Bearer ${agent}`, 'content-type': 'video/webm' },
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(res.headers.get('connection')).toBe('close');
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/fileBytes 1000/);
    const listed = await call('GET', `/v1/jobs/${jobId}/artifacts`, own);
    expect(listed.json<JobArtifacts>().runs[0]?.artifacts).toEqual([]);
  });
});
