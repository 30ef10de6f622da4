/** The agent's wrapClient option: every request of the agent goes through the wrapped client. */
import { type RunningAgent, silentLogger, startAgent } from '@qgjob/agent';
import type { QgjobClient } from '@qgjob/client';
import { afterEach, describe, expect, it } from 'vitest';
import { batchOf, type Stub, startStub } from '../packages/agent/test/stub-server.js';

let stub: Stub | undefined;
let running: RunningAgent | undefined;
afterEach(async () => {
  running?.kill();
  await running?.done.catch(() => {});
  await stub?.close();
  stub = running = undefined;
});

describe('agent wrapClient', () => {
  it('sends registration, claims and reports through the client it returns', async () => {
    let handed = false;
    stub = await startStub({
      claim: async () => {
        const batch = handed ? null : batchOf('b1', ['tests/a.spec.js', 'tests/b@30ms.spec.js']);
        handed = true;
        if (!batch) await new Promise((r) => setTimeout(r, 50));
        return { body: { batch } };
      },
    });
    const seen: string[] = [];
    let wrapped: QgjobClient | undefined;
    running = startAgent({
      server: stub.url,
      name: 'host-1',
      devices: [{ target: 'emulator', name: 'emulator-5554' }],
      executor: 'simulate',
      simTestMs: 5,
      simInstallMs: 0,
      logger: silentLogger,
      wrapClient: (client) => {
        wrapped = client;
        const send = client.request.bind(client);
        client.request = ((path: string, options?: Parameters<QgjobClient['request']>[1]) => {
          seen.push(path);
          return send(path, options);
        }) as QgjobClient['request'];
        return client;
      },
    });
    await running.ready;
    const deadline = Date.now() + 10_000;
    while (!stub.reports.some((r) => r.body.done) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await running.stop();
    expect(wrapped).toBeDefined();
    expect(seen[0]).toBe('/v1/agents/register');
    expect(seen).toContain('/v1/devices/d1/claim');
    expect(seen).toContain('/v1/batches/b1/report');
    // Everything the stub got came through the wrapper.
    expect(seen.filter((p) => p.endsWith('/report')).length).toBe(stub.reports.length);
  });
});
