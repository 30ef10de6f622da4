/**
 * Starting an in-process qgjob-agent with the simulate executor, for end-to-end tests
 * against a real job-server: `startSimAgent(server.url, { devices: ['emulator:e1'] })`.
 * Resolves once the agent is registered, so its devices can take work right away.
 */
import { createLogger, parseDevice, startAgent } from '../../packages/agent/src/index.js';

export interface SimAgentOptions {
  name?: string;
  /** `TARGET:NAME` per device slot, as --device takes them, e.g. 'emulator:e1'. */
  devices: string[];
  /** Per test; default 20 ms (fast tests). */
  testMs?: number;
  /** Per install; default 10 ms. */
  installMs?: number;
  /** RegExp source: tests whose path matches fail. */
  fail?: string;
  /** How long stop() lets a running test finish. Default 5 s. */
  graceMs?: number;
  token?: string;
}

export interface SimAgent {
  /** Graceful: running tests finish, unstarted jobs go back to the queue. */
  stop(): Promise<void>;
  /** Like a host dying: running tests are killed and nothing more is reported. */
  kill(): Promise<void>;
}

let counter = 0;

export async function startSimAgent(server: string, opts: SimAgentOptions): Promise<SimAgent> {
  const running = startAgent({
    server,
    token: opts.token,
    name: opts.name ?? `sim-agent-${process.pid}-${++counter}`,
    devices: opts.devices.map(parseDevice),
    executor: 'simulate',
    simTestMs: opts.testMs ?? 20,
    simInstallMs: opts.installMs ?? 10,
    simFail: opts.fail,
    graceMs: opts.graceMs ?? 5000,
    // Quiet unless a test run asks for agent logs.
    logger: createLogger({ level: (process.env.QGJOB_AGENT_LOG as 'debug' | 'info' | undefined) ?? 'warn' }),
  });
  await running.ready;
  return {
    stop: () => running.stop(),
    kill: async () => {
      running.kill();
      await running.done.catch(() => {});
    },
  };
}
