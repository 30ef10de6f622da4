/** Faults with real agents: a host dying mid-batch, a cancel while a test runs. */
import { ApiError, QgjobClient } from '@qgjob/client';
import { afterEach, describe, expect, it } from 'vitest';
import { type SimAgent, startSimAgent } from '../helpers/agent.js';
import { adapters } from '../helpers/db.js';
import { until } from '../helpers/jobs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe.each(adapters)('reliability end to end on $name', (adapter) => {
  let server: TestServer;
  const agents: SimAgent[] = [];
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    await server.close();
  });

  it('re-runs the jobs of an agent killed mid-batch on another device once its lease expires', async () => {
    const leaseMs = 1500;
    const sweepMs = 200;
    server = await startTestServer({ adapter, scheduler: { leaseMs, heartbeatMs: 300 }, sweepMs });
    const client = new QgjobClient({ server: server.url });
    const doomed = await startSimAgent(server.url, { name: 'doomed', devices: ['emulator:a1'], testMs: 300 });
    const tests = Array.from({ length: 6 }, (_, i) => `tests/k${i}.spec.js`);
    const { jobs } = await client.submit({ org_id: 'acme', app_version_id: 'v1', tests });
    const running = await until(async () => {
      const list = await client.listJobs({ status: 'running', limit: 1 });
      return list.jobs[0];
    });
    await doomed.kill();
    const killedAt = Date.now();
    agents.push(await startSimAgent(server.url, { name: 'survivor', devices: ['emulator:b1'], testMs: 50 }));
    // The job that was running comes back and runs again, on the survivor.
    const rerun = await until(async () => {
      const job = await client.getJob(running.id);
      return job.runs.length === 2 && job.runs[1]?.started_at ? job : undefined;
    });
    const redoneAfter = Date.parse(rerun.runs[1]?.started_at as string) - killedAt;
    console.log(
      `killed agent's running job ran again ${redoneAfter} ms after the kill (lease ${leaseMs} ms, sweep ${sweepMs} ms)`,
    );
    expect(redoneAfter).toBeLessThan(leaseMs + sweepMs + 3000);
    expect(rerun.runs[0]).toMatchObject({ status: 'lost', device: 'a1' });
    expect(rerun.runs[1]?.device).toBe('b1');
    const done = await until(async () => {
      const all = await Promise.all(jobs.map((j) => client.getJob(j.id)));
      return all.every((j) => j.status === 'passed') ? all : undefined;
    });
    expect(done.every((j) => j.runs.filter((r) => r.status === 'passed').length === 1)).toBe(true);
    // A late result from the dead agent's batch is refused and changes nothing.
    const lateBatch = rerun.runs[0]?.batch_id as string;
    const late = await client
      .report(lateBatch, { events: [{ type: 'finish', job_id: running.id, status: 'failed' }] })
      .catch((e: unknown) => e);
    expect(late).toBeInstanceOf(ApiError);
    expect((late as ApiError).status).toBe(409);
    const after = await client.getJob(running.id);
    expect(after.status).toBe('passed');
    expect(after.runs.map((r) => r.status)).toEqual(['lost', 'passed']);
  }, 60_000);

  it('stops a running test within seconds when its job is cancelled, and the device takes new work', async () => {
    server = await startTestServer({ adapter });
    const client = new QgjobClient({ server: server.url });
    agents.push(await startSimAgent(server.url, { devices: ['emulator:c1'], testMs: 20_000 }));
    const { jobs } = await client.submit({ org_id: 'acme', app_version_id: 'v1', test_path: 'tests/long.spec.js' });
    const id = jobs[0]?.id as string;
    await until(async () => (await client.getJob(id)).status === 'running');
    const cancelledAt = Date.now();
    const job = await client.cancelJob(id);
    expect(job.status).toBe('cancelled');
    expect(job.runs[0]?.status).toBe('cancelled');
    // The device is free again: a new job (another version, so not deduplicated) starts on it.
    const next = await client.submit({ org_id: 'acme', app_version_id: 'v2', test_path: 'tests/after.spec.js' });
    const started = await until(async () => {
      const j = await client.getJob(next.jobs[0]?.id as string);
      return j.runs[0]?.started_at ?? undefined;
    });
    const freedAfter = Date.parse(started) - cancelledAt;
    console.log(`device took new work ${freedAfter} ms after the cancel`);
    expect(freedAfter).toBeLessThan(10_000);
    expect((await client.getJob(id)).status).toBe('cancelled');
  }, 60_000);
});
