/**
 * Test artifacts over HTTP, on every store: an agent uploads the files a running run left,
 * they come back byte for byte under the hash the server computed, are kept once per org
 * and hash, are fenced like run logs, capped per file and per run, and survive garbage
 * collection while their run exists.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Batch, Job, JobArtifacts, Overview, RunArtifactUpload } from '@qgjob/protocol';
import { type App, buildApp } from '@qgjob/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adapters, type TestDb } from '../../../tests/helpers/db.js';
import { startRun } from '../../../tests/helpers/runs.js';

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const LIMITS = { fileBytes: 1000, runBytes: 2500, runFiles: 3 };

describe.each(adapters)('test artifacts on $name', (adapter) => {
  let store: TestDb;
  let app: App;

  beforeEach(async () => {
    store = await adapter.open();
    app = await buildApp({ db: store.db, runArtifacts: LIMITS });
  });
  afterEach(async () => {
    await app.http.close();
    await store.drop();
  });

  /** A job of org `org` running on a fresh device: its batch and job ids. */
  async function running(org = 'acme', test = 'tests/a.spec.js', maxRetries = 0): Promise<[Batch, string]> {
    const submitted = await app.queue.submit({
      org_id: org,
      app_version_id: 'v1',
      tests: [test],
      max_retries: maxRetries,
    });
    const jobId = submitted.response.jobs[0]?.id as string;
    return [await startRun(app, jobId), jobId];
  }

  const finish = (batch: Batch, jobId: string, status: 'passed' | 'failed') =>
    app.scheduler.report(batch.id, { events: [{ type: 'finish', job_id: jobId, status }] });

  const put = (batchId: string, jobId: string, name: string, body: Buffer | Readable, type?: string) =>
    app.http.inject({
      method: 'PUT',
      url: `/v1/batches/${batchId}/artifacts?${new URLSearchParams({ job_id: jobId, name })}`,
      payload: body,
      headers: type === undefined ? {} : { 'content-type': type },
    });
  const get = (url: string) => app.http.inject({ method: 'GET', url });
  const path = (name: string) => name.split('/').map(encodeURIComponent).join('/');

  it('keeps an uploaded file for the running run and serves it back as an attachment', async () => {
    const [batch, jobId] = await running();
    const png = Buffer.from('\x89PNG fake screenshot bytes');
    const res = await put(batch.id, jobId, 'login-spec/test-failed-1.png', png, 'image/png');
    expect(res.statusCode, res.body).toBe(200);
    const uploaded = res.json<RunArtifactUpload>();
    expect(uploaded).toEqual({
      name: 'login-spec/test-failed-1.png',
      size: png.length,
      sha256: sha(png),
      content_type: 'image/png',
      created_at: expect.any(String),
      uploaded: true,
    });

    const file = await get(`/v1/jobs/${jobId}/runs/1/artifacts/login-spec/test-failed-1.png`);
    expect(file.statusCode).toBe(200);
    expect(file.rawPayload.equals(png)).toBe(true);
    expect(file.headers).toMatchObject({
      'content-type': 'image/png',
      'content-disposition': `attachment; filename="test-failed-1.png"; filename*=UTF-8''test-failed-1.png`,
      'x-content-type-options': 'nosniff',
      'x-qgjob-sha256': sha(png),
    });

    const { created_at: _, uploaded: __, ...artifact } = uploaded;
    const listed = (await get(`/v1/jobs/${jobId}/artifacts`)).json<JobArtifacts>();
    expect(listed).toEqual({
      job_id: jobId,
      runs: [{ n: 1, artifacts: [{ ...artifact, created_at: expect.any(String) }] }],
    });
    const job = (await get(`/v1/jobs/${jobId}`)).json<Job>();
    expect(job.runs[0]?.artifacts).toEqual(listed.runs[0]?.artifacts);
    expect(job.runs[0]).toMatchObject({ n: 1, status: 'running', app_installed: true });
  });

  it('keeps any body raw (JSON, HTML, none at all), replaces a name uploaded again, and quotes odd names safely', async () => {
    const [batch, jobId] = await running();
    const json = Buffer.from('{"not": "parsed"');
    expect((await put(batch.id, jobId, 'data/attach.json', json, 'application/json')).statusCode).toBe(200);
    expect(
      (await put(batch.id, jobId, 'report "x".html', Buffer.from('<script>1</script>'), 'text/html')).statusCode,
    ).toBe(200);
    const empty = await put(batch.id, jobId, 'empty.txt', Buffer.alloc(0));
    expect(empty.json()).toMatchObject({
      size: 0,
      content_type: 'application/octet-stream',
      sha256: sha(Buffer.alloc(0)),
    });
    // Replaced, not added: the run keeps 3 files (its cap here), the new bytes and type.
    const again = await put(batch.id, jobId, 'data/attach.json', Buffer.from('[1]'), 'application/json; charset=utf-8');
    expect(again.json()).toMatchObject({ size: 3, content_type: 'application/json; charset=utf-8' });

    const raw = await get(`/v1/jobs/${jobId}/runs/1/artifacts/data/attach.json`);
    expect(raw.body).toBe('[1]');
    const html = await get(`/v1/jobs/${jobId}/runs/1/artifacts/${path('report "x".html')}`);
    expect(html.body).toBe('<script>1</script>');
    expect(html.headers['content-disposition']).toBe(
      `attachment; filename="report _x_.html"; filename*=UTF-8''report%20%22x%22.html`,
    );
    expect(html.headers['content-security-policy']).toContain("default-src 'none'");
    const names = (await get(`/v1/jobs/${jobId}/artifacts`)).json<JobArtifacts>().runs[0]?.artifacts.map((a) => a.name);
    expect(names).toEqual(['data/attach.json', 'empty.txt', 'report "x".html']);
  });

  it('stores bytes two runs left alike once, and keeps each run apart', async () => {
    const [first, jobId] = await running('acme', 'tests/flaky.spec.js', 1);
    const trace = Buffer.from('the same trace');
    expect((await put(first.id, jobId, 'trace.zip', trace)).json().uploaded).toBe(true);
    await finish(first, jobId, 'failed');
    const second = await startRun(app, jobId);
    const res = await put(second.id, jobId, 'trace.zip', trace);
    expect(res.json()).toMatchObject({ uploaded: false, sha256: sha(trace) });
    expect((await put(second.id, jobId, 'only-2.txt', Buffer.from('two'))).statusCode).toBe(200);

    const { rows } = await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM blobs WHERE sha256 = $1', [
      sha(trace),
    ]);
    expect(rows[0]?.n).toBe(1);
    const files: string[] = [];
    for await (const f of app.artifacts.blobs.list()) files.push(f.sha256);
    expect(files.sort()).toEqual([sha(trace), sha(Buffer.from('two'))].sort());
    const listed = (await get(`/v1/jobs/${jobId}/artifacts`)).json<JobArtifacts>();
    expect(listed.runs.map((r) => [r.n, r.artifacts.map((a) => a.name)])).toEqual([
      [1, ['trace.zip']],
      [2, ['only-2.txt', 'trace.zip']],
    ]);
    expect((await get(`/v1/jobs/${jobId}/runs/1/artifacts/only-2.txt`)).statusCode).toBe(404);
    // Another org never reaches them through the blob API; agents fetch only builds and bundles.
    expect((await get(`/v1/blobs/${sha(trace)}`)).statusCode).toBe(404);
    expect((await get(`/v1/blobs/${sha(trace)}?org_id=acme`)).statusCode).toBe(200);
    // The same bytes uploaded as a bundle are a bundle: agents may fetch them then.
    const bundle = await app.http.inject({
      method: 'PUT',
      url: `/v1/blobs/${sha(trace)}?org_id=acme&kind=bundle`,
      payload: trace,
      headers: { 'content-type': 'application/octet-stream' },
    });
    expect(bundle.json()).toMatchObject({ kind: 'bundle', uploaded: false });
    expect((await get(`/v1/blobs/${sha(trace)}`)).statusCode).toBe(200);
  });

  it('holds the caps when uploads to one run race', async () => {
    const [batch, jobId] = await running();
    const answers = await Promise.all(
      ['a', 'b', 'c', 'd', 'e', 'f'].map((name) => put(batch.id, jobId, name, Buffer.alloc(100))),
    );
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, 200, 200, 409, 409, 409]);
    const listed = (await get(`/v1/jobs/${jobId}/artifacts`)).json<JobArtifacts>().runs[0]?.artifacts;
    expect(listed).toHaveLength(3);
  });

  it('takes files only while the run runs in an active batch', async () => {
    const [batch, jobId] = await running();
    const bytes = Buffer.from('x');
    const unknown = await put('bat_nope', jobId, 'a.txt', bytes);
    expect(unknown.statusCode).toBe(404);
    const later = await app.queue.submit({ org_id: 'acme', app_version_id: 'v1', tests: ['tests/later.spec.js'] });
    const queued = later.response.jobs[0]?.id as string;
    const notHere = await put(batch.id, queued, 'a.txt', bytes);
    expect(notHere.statusCode).toBe(409);
    expect(notHere.json().error).toMatchObject({ code: 'conflict', field: 'job_id' });
    expect(notHere.json().error.message).toMatch(/has no running run in batch/);

    await finish(batch, jobId, 'passed');
    const finished = await put(batch.id, jobId, 'late.txt', bytes);
    expect(finished.statusCode).toBe(409);
    expect(finished.json().error.message).toMatch(/no running run/);

    const [other, otherJob] = await running('acme', 'tests/b.spec.js');
    await app.scheduler.report(other.id, { events: [], done: { unstarted: [] } });
    const ended = await put(other.id, otherJob, 'a.txt', bytes);
    expect(ended.statusCode).toBe(409);
    expect(ended.json().error.message).toMatch(/no longer leased/);
    expect((await get(`/v1/jobs/${jobId}/artifacts`)).json<JobArtifacts>().runs[0]?.artifacts).toEqual([]);
  });

  it('refuses a file over the file cap (413) and a run past its count or bytes (409 artifact_limit)', async () => {
    const [batch, jobId] = await running();
    const big = await put(batch.id, jobId, 'big.bin', Buffer.alloc(1001));
    expect(big.statusCode).toBe(413);
    expect(big.json().error.message).toMatch(/limit of a file \(fileBytes 1000/);
    // Without a Content-Length the bytes are counted as they arrive.
    const streamed = await put(
      batch.id,
      jobId,
      'big.bin',
      Readable.from([Buffer.alloc(600), Buffer.alloc(600)]),
      'application/octet-stream',
    );
    expect(streamed.statusCode).toBe(413);

    for (const name of ['a', 'b']) expect((await put(batch.id, jobId, name, Buffer.alloc(1000))).statusCode).toBe(200);
    const bytes = await put(batch.id, jobId, 'c', Buffer.alloc(501));
    expect(bytes.statusCode).toBe(409);
    expect(bytes.json().error).toMatchObject({ code: 'artifact_limit', field: 'body' });
    expect(bytes.json().error.message).toMatch(/^artifact limit: .*runBytes 2500/);
    // Replacing a file counts its new size only.
    expect((await put(batch.id, jobId, 'a', Buffer.alloc(10))).statusCode).toBe(200);
    expect((await put(batch.id, jobId, 'c', Buffer.alloc(501))).statusCode).toBe(200);
    const count = await put(batch.id, jobId, 'd', Buffer.alloc(1));
    expect(count.statusCode).toBe(409);
    expect(count.json().error).toMatchObject({ code: 'artifact_limit', field: 'name' });
    expect(count.json().error.message).toMatch(/already keeps 3 files.*runFiles 3/);
    const listed = (await get(`/v1/jobs/${jobId}/artifacts`)).json<JobArtifacts>().runs[0]?.artifacts;
    expect(listed?.map((a) => [a.name, a.size])).toEqual([
      ['a', 10],
      ['b', 1000],
      ['c', 501],
    ]);
  });

  it('refuses names that would leave the output dir, naming the field', async () => {
    const [batch, jobId] = await running();
    for (const name of ['../x', 'a/../../x', '/abs', 'a\u0000b', '', 'a\\b', 'a//b', './a', 'x'.repeat(256)]) {
      const res = await put(batch.id, jobId, name, Buffer.from('x'));
      expect(res.statusCode, JSON.stringify(name)).toBe(400);
      expect(res.json().error.field).toBe('name');
    }
    const noJob = await app.http.inject({
      method: 'PUT',
      url: `/v1/batches/${batch.id}/artifacts?name=a`,
      payload: 'x',
    });
    expect(noJob.json().error).toMatchObject({ code: 'validation_failed', field: 'job_id' });
    const badType = await put(batch.id, jobId, 'a', Buffer.from('x'), 'not a type');
    expect(badType.json().error.field).toBe('content-type');
    expect((await put(batch.id, jobId, 'x'.repeat(255), Buffer.from('long'))).statusCode).toBe(200);
    expect((await get(`/v1/jobs/${jobId}/runs/1/artifacts/${'x'.repeat(255)}`)).body).toBe('long');
    expect((await get(`/v1/jobs/${jobId}/runs/1/artifacts/a%5Cb`)).json().error.field).toBe('name');
    expect((await get(`/v1/jobs/job_nope/artifacts`)).statusCode).toBe(404);
  });

  it('shows how many files each recent run left in the overview', async () => {
    const [batch, jobId] = await running();
    await put(batch.id, jobId, 'a.png', Buffer.from('a'));
    await put(batch.id, jobId, 'b.png', Buffer.from('b'));
    const overview = (await get('/v1/overview')).json<Overview>();
    expect(overview.recent_runs.map((r) => [r.job_id, r.artifact_count])).toEqual([[jobId, 2]]);
  });

  it('garbage collection keeps the bytes runs refer to, and collects them once their job is gone', async () => {
    await app.http.close();
    app = await buildApp({ db: store.db, artifacts: { retentionMs: 1 } });
    const [batch, jobId] = await running();
    const video = Buffer.from('video.webm bytes');
    await put(batch.id, jobId, 'video.webm', video, 'video/webm');
    await finish(batch, jobId, 'passed');
    await new Promise((r) => setTimeout(r, 20));
    expect(await app.artifacts.collectGarbage()).toMatchObject({ blobs: 0, files: 0 });
    expect((await get(`/v1/jobs/${jobId}/runs/1/artifacts/video.webm`)).rawPayload.equals(video)).toBe(true);

    // Deleting a job takes its runs and, with them, their artifacts.
    await store.db.query('DELETE FROM runs WHERE job_id = $1', [jobId]);
    await store.db.query('DELETE FROM jobs WHERE id = $1', [jobId]);
    expect(await app.artifacts.collectGarbage()).toMatchObject({ blobs: 1, files: 1 });
    expect(await app.artifacts.blobs.size(sha(video))).toBeUndefined();
  });
});
