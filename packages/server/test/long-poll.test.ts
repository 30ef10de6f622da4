import { QgjobClient } from '@qgjob/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../tests/helpers/server.js';

describe('claim long-poll over HTTP', () => {
  let server: TestServer;
  let client: QgjobClient;
  let device: string;
  beforeEach(async () => {
    server = await startTestServer();
    client = new QgjobClient({ server: server.url });
    const reg = await client.registerAgent({ name: 'h', devices: [{ name: 'e1', target: 'emulator' }] });
    device = reg.devices[0]?.id as string;
  });
  afterEach(() => server.close());

  it('waits for work and answers as soon as a job is submitted', async () => {
    const t0 = Date.now();
    const pending = client.claim(device, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    await client.submit({ org_id: 'a', app_version_id: 'v', test_path: 't.js' });
    const { batch } = await pending;
    expect(batch?.jobs.map((j) => j.test_path)).toEqual(['t.js']);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(300);
    expect(took).toBeLessThan(3000);
  });

  it('answers no batch after wait_ms when nothing comes', async () => {
    const t0 = Date.now();
    expect(await client.claim(device, 400)).toEqual({ batch: null });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
  });

  it('stops long-polling for an agent that hung up, so it takes no job', async () => {
    const abort = new AbortController();
    const pending = client.claim(device, 10_000, abort.signal).catch(() => 'aborted');
    await new Promise((r) => setTimeout(r, 200));
    abort.abort();
    expect(await pending).toBe('aborted');
    await new Promise((r) => setTimeout(r, 200));
    const { response } = await server.app.queue.submit({ org_id: 'a', app_version_id: 'v', test_path: 'late.js' });
    // The aborted long-poll may still take the job for a moment; it must come back queued.
    const id = response.jobs[0]?.id as string;
    for (let i = 0; i < 50 && (await client.getJob(id)).status !== 'queued'; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await client.getJob(id)).status).toBe('queued');
    const { batch } = await client.claim(device, 0);
    expect(batch?.jobs[0]?.id).toBe(id);
  });
});
