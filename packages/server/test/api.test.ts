import type { ErrorBody, Job, JobList, Submission, SubmitResponse } from '@qgjob/protocol';
import { type App, buildApp } from '@qgjob/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adapters, type TestDb } from '../../../tests/helpers/db.js';

const job = { org_id: 'qualgent', app_version_id: 'xyz123', test_path: 'tests/onboarding.spec.js' };

describe.each(adapters)('HTTP API on $name', (adapter) => {
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

  const post = (url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    app.http.inject({ method: 'POST', url, payload: payload as object, headers });
  const get = (url: string) => app.http.inject({ method: 'GET', url });

  it('submits the brief example and reads it back queued', async () => {
    const res = await post('/v1/jobs', job);
    expect(res.statusCode).toBe(201);
    const body = res.json<SubmitResponse>();
    expect(body.submission_id).toMatch(/^sub_/);
    expect(body.jobs).toHaveLength(1);
    expect(body.jobs[0]).toEqual({
      id: expect.stringMatching(/^job_[0-9a-z]{26}$/),
      status: 'queued',
      deduplicated: false,
      org_id: 'qualgent',
      app_version_id: 'xyz123',
      test_path: 'tests/onboarding.spec.js',
      target: 'emulator',
      priority: 5,
    });
    const read = await get(`/v1/jobs/${body.jobs[0]?.id}`);
    expect(read.statusCode).toBe(200);
    const status = read.json<Job>();
    expect(status).toMatchObject({ status: 'queued', attempts: 0, runs: [], started_at: null, finished_at: null });
    for (const key of ['id', 'status', 'org_id', 'app_version_id', 'test_path', 'target', 'priority', 'attempts']) {
      expect(status).toHaveProperty(key);
    }
    expect(Date.parse(status.created_at)).not.toBeNaN();
  });

  it('creates one job per test of a bulk submit and reads the submission', async () => {
    const tests = Array.from({ length: 25 }, (_, i) => `tests/t${i}.spec.js`);
    const res = await post('/v1/jobs', { ...job, test_path: undefined, tests, priority: 8, target: 'browserstack' });
    expect(res.statusCode).toBe(201);
    const body = res.json<SubmitResponse>();
    expect(body.jobs.map((j) => j.test_path)).toEqual(tests);
    expect(new Set(body.jobs.map((j) => j.id)).size).toBe(25);
    expect(body.jobs.every((j) => j.priority === 8 && j.target === 'browserstack')).toBe(true);
    const sub = (await get(`/v1/submissions/${body.submission_id}`)).json<Submission>();
    expect(sub.jobs.map((j) => j.id)).toEqual(body.jobs.map((j) => j.id));
  });

  it('returns the queued twin of an identical job, marked deduplicated', async () => {
    const first = (await post('/v1/jobs', job)).json<SubmitResponse>();
    const second = (await post('/v1/jobs', job)).json<SubmitResponse>();
    expect(second.jobs[0]?.id).toBe(first.jobs[0]?.id);
    expect(second.jobs[0]?.deduplicated).toBe(true);
    expect(second.submission_id).not.toBe(first.submission_id);
    // Another target or app version is another job.
    const other = (await post('/v1/jobs', { ...job, target: 'device' })).json<SubmitResponse>();
    expect(other.jobs[0]?.id).not.toBe(first.jobs[0]?.id);
    // Once the twin is finished (cancelled here), the same job may be queued again.
    await post(`/v1/jobs/${first.jobs[0]?.id}/cancel`);
    const third = (await post('/v1/jobs', job)).json<SubmitResponse>();
    expect(third.jobs[0]?.id).not.toBe(first.jobs[0]?.id);
    expect(third.jobs[0]?.deduplicated).toBe(false);
  });

  it('answers a repeated Idempotency-Key with the first submission, and refuses it for another body', async () => {
    const headers = { 'idempotency-key': 'build-42-attempt' };
    const first = await post('/v1/jobs', job, headers);
    const again = await post('/v1/jobs', job, headers);
    expect(first.statusCode).toBe(201);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    const list = (await get('/v1/jobs')).json<JobList>();
    expect(list.jobs).toHaveLength(1);
    const other = await post('/v1/jobs', { ...job, test_path: 'tests/other.spec.js' }, headers);
    expect(other.statusCode).toBe(422);
    expect(other.json<ErrorBody>().error).toMatchObject({ code: 'idempotency_conflict', field: 'Idempotency-Key' });
  });

  it('lists with filters and cursor pagination, newest first', async () => {
    for (let i = 0; i < 7; i++) await post('/v1/jobs', { ...job, test_path: `tests/p${i}.spec.js` });
    await post('/v1/jobs', { ...job, org_id: 'other', test_path: 'tests/x.spec.js' });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: JobList = (
        await get(`/v1/jobs?org_id=qualgent&limit=3${cursor ? `&cursor=${cursor}` : ''}`)
      ).json<JobList>();
      expect(page.jobs.length).toBeLessThanOrEqual(3);
      seen.push(...page.jobs.map((j) => j.test_path));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual(Array.from({ length: 7 }, (_, i) => `tests/p${6 - i}.spec.js`));
    const filtered = (await get('/v1/jobs?status=queued&app_version_id=xyz123&target=emulator')).json<JobList>();
    expect(filtered.jobs).toHaveLength(8);
    const none = (await get('/v1/jobs?status=passed')).json<JobList>();
    expect(none).toEqual({ jobs: [], next_cursor: null });
    const bad = await get('/v1/jobs?cursor=garbage');
    expect(bad.statusCode).toBe(400);
    expect(bad.json<ErrorBody>().error.field).toBe('cursor');
  });

  it('cancels a queued job once, and says why it cannot otherwise', async () => {
    const id = (await post('/v1/jobs', job)).json<SubmitResponse>().jobs[0]?.id;
    const cancelled = await post(`/v1/jobs/${id}/cancel`);
    expect(cancelled.statusCode).toBe(200);
    expect(cancelled.json<Job>()).toMatchObject({ status: 'cancelled' });
    expect(cancelled.json<Job>().finished_at).not.toBeNull();
    expect((await post(`/v1/jobs/${id}/cancel`)).statusCode).toBe(200);
    const missing = await post('/v1/jobs/job_nope/cancel');
    expect(missing.statusCode).toBe(404);
    expect(missing.json<ErrorBody>().error.code).toBe('not_found');
  });

  it.each([
    ['missing org', { app_version_id: 'x', test_path: 'a.js' }, 'org_id'],
    ['unknown target', { ...job, target: 'tablet' }, 'target'],
    ['priority 42', { ...job, priority: 42 }, 'priority'],
    ['path traversal', { ...job, test_path: '../etc/passwd' }, 'test_path'],
    ['absolute path', { ...job, test_path: '/etc/passwd' }, 'test_path'],
    ['traversal inside tests', { ...job, test_path: undefined, tests: ['a.js', 'x/../../b.js'] }, 'tests[1]'],
    ['both test_path and tests', { ...job, tests: ['a.js'] }, 'tests'],
    ['neither test_path nor tests', { org_id: 'a', app_version_id: 'b' }, 'test_path'],
    ['unknown field', { ...job, prio: 3 }, 'prio'],
    ['max_retries 9', { ...job, max_retries: 9 }, 'max_retries'],
    ['whitespace in app version', { ...job, app_version_id: 'a b' }, 'app_version_id'],
    ['array body', [job], 'body'],
  ])('rejects %s naming the field', async (_name, payload, field) => {
    const before = (await get('/v1/jobs')).json<JobList>().jobs.length;
    const res = await post('/v1/jobs', payload);
    expect(res.statusCode).toBe(400);
    const { error } = res.json<ErrorBody>();
    expect(error.code).toBe('validation_failed');
    expect(error.field).toBe(field);
    expect(error.message).toContain(field === 'body' ? 'body' : field);
    expect(error.message).not.toMatch(/\n\s+at /);
    expect((await get('/v1/jobs')).json<JobList>().jobs.length).toBe(before);
  });

  it('names the allowed values of an enum', async () => {
    const res = await post('/v1/jobs', { ...job, target: 'tablet' });
    expect(res.json<ErrorBody>().error.allowed).toEqual(['emulator', 'device', 'browserstack']);
  });

  it('rejects malformed JSON, an oversized body and a non-JSON body with 4xx JSON errors', async () => {
    const malformed = await app.http.inject({
      method: 'POST',
      url: '/v1/jobs',
      payload: '{"org_id": "qualgent",',
      headers: { 'content-type': 'application/json' },
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json<ErrorBody>().error).toMatchObject({ code: 'invalid_json', field: 'body' });

    const huge = await app.http.inject({
      method: 'POST',
      url: '/v1/jobs',
      payload: JSON.stringify({ ...job, test_path: 'a'.repeat(5 * 1024 * 1024) }),
      headers: { 'content-type': 'application/json' },
    });
    expect(huge.statusCode).toBe(413);
    expect(huge.json<ErrorBody>().error).toMatchObject({ code: 'body_too_large', field: 'body' });

    const text = await app.http.inject({
      method: 'POST',
      url: '/v1/jobs',
      payload: 'org_id=qualgent',
      headers: { 'content-type': 'text/plain' },
    });
    expect(text.statusCode).toBe(415);
    expect(text.json<ErrorBody>().error.field).toBe('content-type');
  });

  it('answers unknown routes and ids with 404 JSON', async () => {
    expect((await get('/v1/nope')).json<ErrorBody>().error.code).toBe('not_found');
    const res = await get('/v1/jobs/job_doesnotexist');
    expect(res.statusCode).toBe(404);
    expect(res.json<ErrorBody>().error.message).toContain('job_doesnotexist');
    expect((await get('/v1/submissions/sub_x')).statusCode).toBe(404);
  });

  it('serves health, readiness and the OpenAPI document', async () => {
    expect((await get('/healthz')).json()).toEqual({ status: 'ok' });
    expect((await get('/readyz')).json()).toMatchObject({ status: 'ready', store: adapter.name });
    const doc = (await get('/docs/json')).json<{ openapi: string; paths: Record<string, unknown> }>();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/jobs', '/v1/jobs/{id}', '/v1/jobs/{id}/cancel', '/v1/submissions/{id}']),
    );
    expect(JSON.stringify(doc.paths['/v1/jobs'])).toContain('app_version_id');
  });
});
