import { QueueService } from '@qgjob/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adapters, type TestDb } from '../../../tests/helpers/db.js';

describe.each(adapters)('concurrent submits on $name', (adapter) => {
  let store: TestDb;
  beforeEach(async () => {
    store = await adapter.open();
  });
  afterEach(() => store.drop());

  it('20 identical submits racing create exactly one job', async () => {
    const queue = new QueueService(store.db);
    const request = { org_id: 'qualgent', app_version_id: 'xyz123', test_path: 'tests/onboarding.spec.js' };
    const results = await Promise.all(Array.from({ length: 20 }, () => queue.submit(request)));
    const ids = new Set(results.map((r) => r.response.jobs[0]?.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => !r.response.jobs[0]?.deduplicated)).toHaveLength(1);
    const { rows } = await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs');
    expect(rows[0]?.n).toBe(1);
  });

  it('overlapping bulk submits in opposite orders neither deadlock nor duplicate', async () => {
    const queue = new QueueService(store.db);
    const tests = Array.from({ length: 40 }, (_, i) => `tests/t${i}.spec.js`);
    const base = { org_id: 'qualgent', app_version_id: 'v1' };
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        queue.submit({ ...base, tests: i % 2 === 0 ? tests : [...tests].reverse() }),
      ),
    );
    const ids = new Set(results.flatMap((r) => r.response.jobs.map((j) => j.id)));
    expect(ids.size).toBe(40);
    const { rows } = await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs');
    expect(rows[0]?.n).toBe(40);
  });

  it('the same Idempotency-Key sent 10 times at once creates one submission', async () => {
    const queue = new QueueService(store.db);
    const request = { org_id: 'qualgent', app_version_id: 'xyz123', tests: ['a.spec.js', 'b.spec.js'] };
    const results = await Promise.all(Array.from({ length: 10 }, () => queue.submit(request, 'key-1')));
    expect(new Set(results.map((r) => r.response.submission_id)).size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    const { rows } = await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM submissions');
    expect(rows[0]?.n).toBe(1);
  });
});
