import { afterEach, describe, expect, it } from 'vitest';
import { RegisterRejectedError } from '../src/errors.js';
import { type RunningAgent, startAgent } from '../src/index.js';
import { silentLogger } from '../src/log.js';
import { batchOf, eventsOf, type Stub, type StubHandlers, startStub } from './stub-server.js';

let stub: Stub | undefined;
let running: RunningAgent | undefined;
afterEach(async () => {
  running?.kill();
  await running?.done.catch(() => {});
  await stub?.close();
  stub = running = undefined;
});

/** Hands out the given batches, one per claim, then nothing. */
function batches(...list: ReturnType<typeof batchOf>[]): StubHandlers['claim'] {
  return async (_device, waitMs) => {
    const batch = list.shift();
    if (!batch) await new Promise((r) => setTimeout(r, Math.min(waitMs, 100)));
    return { body: { batch: batch ?? null } };
  };
}

function start(server: string, extra: Partial<Parameters<typeof startAgent>[0]> = {}) {
  running = startAgent({
    server,
    name: 'host-1',
    devices: [{ target: 'emulator', name: 'emulator-5554' }],
    executor: 'simulate',
    simTestMs: 20,
    simInstallMs: 10,
    logger: silentLogger,
    ...extra,
  });
  return running;
}

async function waitFor(check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('agent', () => {
  it('registers its devices, runs the batches it claims and stops cleanly', async () => {
    stub = await startStub({
      claim: batches(batchOf('b1', ['tests/a.spec.js', 'tests/b.spec.js'], { install: true })),
    });
    const agent = start(stub.url);
    const registration = await agent.ready;
    expect(registration.devices[0]?.id).toBe('d1');
    expect(stub.registers[0]).toMatchObject({
      name: 'host-1',
      devices: [{ target: 'emulator', name: 'emulator-5554' }],
    });
    await waitFor(() => stub?.reports.some((r) => r.body.done) === true);
    await agent.stop();
    await agent.done;
    expect(eventsOf(stub, 'finish').map((e) => e.status)).toEqual(['passed', 'passed']);
    expect(stub.claims.every((id) => id === 'd1')).toBe(true);
  });

  it('runs one independent loop per device', async () => {
    stub = await startStub({
      claim: async (device) => ({
        body: { batch: device === 'd1' ? null : batchOf(`b-${device}-${Date.now()}`, ['tests/x.spec.js']) },
      }),
    });
    // d1 never gets work; d2 keeps getting batches.
    const agent = start(stub.url, {
      devices: [
        { target: 'emulator', name: 'e1' },
        { target: 'browserstack', name: 'bs-1' },
      ],
    });
    await waitFor(() => (stub?.reports.filter((r) => r.body.done).length ?? 0) >= 3);
    await agent.stop();
    expect(new Set(stub.claims)).toEqual(new Set(['d1', 'd2']));
  });

  it('registers again when the server no longer knows the device', async () => {
    let claims = 0;
    stub = await startStub({
      claim: async () => {
        claims++;
        if (claims === 1) return { status: 404, body: { error: { code: 'not_found', message: 'unknown device' } } };
        await new Promise((r) => setTimeout(r, 50));
        return { body: { batch: null } };
      },
    });
    const agent = start(stub.url);
    await waitFor(() => claims >= 2);
    await agent.stop();
    expect(stub.registers).toHaveLength(2);
  });

  it('fails over to the next server URL and retries registration', async () => {
    let registers = 0;
    stub = await startStub({
      register: (body) => {
        registers++;
        if (registers === 1) return { status: 500, body: { error: { code: 'internal', message: 'starting' } } };
        return {
          body: {
            agent_id: 'a1',
            devices: body.devices.map((d) => ({ id: 'd1', ...d })),
            heartbeat_ms: 1000,
            lease_ms: 5000,
          },
        };
      },
    });
    const agent = start(`http://127.0.0.1:1,${stub.url}`);
    await agent.ready;
    expect(registers).toBe(2);
    await agent.stop();
  });

  it('gives up when the server refuses the token', async () => {
    stub = await startStub({
      register: () => ({ status: 401, body: { error: { code: 'unauthorized', message: 'bad token' } } }),
    });
    const agent = start(stub.url, { token: 'nope' });
    await expect(agent.done).rejects.toBeInstanceOf(RegisterRejectedError);
    await expect(agent.ready).rejects.toBeInstanceOf(RegisterRejectedError);
  });

  it('on stop lets the running test finish, hands back the rest and claims no more', async () => {
    stub = await startStub({
      claim: batches(batchOf('b1', ['tests/a.spec.js', 'tests/b.spec.js', 'tests/c.spec.js'])),
    });
    const agent = start(stub.url, { simTestMs: 300 });
    await waitFor(() => eventsOf(stub as Stub, 'start').length === 1);
    const claimsBefore = stub.claims.length;
    await agent.stop();
    expect(eventsOf(stub, 'finish')).toEqual([expect.objectContaining({ job_id: 'j1', status: 'passed' })]);
    expect(stub.reports.at(-1)?.body.done).toEqual({ unstarted: ['j2', 'j3'] });
    expect(stub.claims.length).toBe(claimsBefore);
  });

  it('bounds the stop by the grace period', async () => {
    stub = await startStub({ claim: batches(batchOf('b1', ['tests/a.spec.js', 'tests/b.spec.js'])) });
    const agent = start(stub.url, { simTestMs: 60_000, graceMs: 200 });
    await waitFor(() => eventsOf(stub as Stub, 'start').length === 1);
    const started = Date.now();
    await agent.stop();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(eventsOf(stub, 'finish')).toEqual([expect.objectContaining({ job_id: 'j1', status: 'errored' })]);
    expect(stub.reports.at(-1)?.body.done).toEqual({ unstarted: ['j2'] });
  });
});
