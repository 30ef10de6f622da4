/** `qgjob logs` and `qgjob agents` as processes against the stand-in server, and their formatting. */
import type { AgentList, DeviceView } from '@qgjob/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../tests/helpers/cli.js';
import { agentsTable, stateCell } from '../src/commands/agents/run.js';
import { formatAgo, makeStyle, stripAnsi } from '../src/output.js';
import { type FakeServer, startFakeServer } from './fake-server.js';

let server: FakeServer;
const env = () => ({ QGJOB_SERVER: server.url, QGJOB_POLL_INTERVAL_MS: '20' });

beforeAll(async () => {
  server = await startFakeServer();
});
afterAll(async () => {
  await server.close();
});

async function submit(test: string): Promise<string> {
  const r = await runCli(['submit', '--org-id=qualgent', '--app-version-id=v1', `--test=${test}`, '--json'], {
    env: env(),
  });
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout).jobs[0].id;
}

const AGENTS: AgentList = {
  agents: [
    {
      id: 'agt_1',
      name: 'lab-host-1',
      last_seen_at: new Date().toISOString(),
      devices: [
        {
          id: 'dev_1',
          name: 'emulator-5554',
          target: 'emulator',
          state: 'busy',
          quarantined_until: null,
          infra_failures: 0,
          batch_id: 'bat_1',
          org_id: 'qualgent',
          app_version_id: 'xyz123',
          warm: [
            { org_id: 'qualgent', app_version_id: 'xyz123' },
            { org_id: 'acme', app_version_id: 'a7' },
          ],
        },
        {
          id: 'dev_2',
          name: 'R58M123ABC',
          target: 'device',
          state: 'idle',
          quarantined_until: null,
          infra_failures: 0,
          batch_id: null,
          org_id: null,
          app_version_id: null,
          warm: [],
        },
      ],
    },
    { id: 'agt_2', name: 'lab-host-2', last_seen_at: new Date(Date.now() - 7_200_000).toISOString(), devices: [] },
  ],
};

describe('qgjob logs', () => {
  it('--follow prints the output as it comes and exits 0 when the job passes', async () => {
    const id = await submit('tests/ok.spec.js');
    const r = await runCli(['logs', `--job-id=${id}`, '--follow'], { env: env() });
    expect(r.stderr).toBe(`job ${id} passed\n`);
    expect(r.stdout).toBe('start tests/ok.spec.js\npassed\n');
    expect(r.code).toBe(0);
  });

  it('--follow exits 1 when the job fails, with JSON lines under --json', async () => {
    const id = await submit('tests/fail.spec.js');
    const r = await runCli(['logs', `--job-id=${id}`, '--follow', '--json'], { env: env() });
    expect(r.code).toBe(1);
    const lines = r.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([
      expect.objectContaining({ job_id: id, run: 1, seq: 1, stream: 'stdout', text: 'start tests/fail.spec.js\n' }),
      expect.objectContaining({ job_id: id, run: 1, seq: 2, stream: 'stdout', text: 'failed\n' }),
      { job_id: id, status: 'failed' },
    ]);
  });

  it('without --follow prints what there is, in pages, and says when the log may go on', async () => {
    const id = await submit('tests/slow.spec.js');
    server.logs.set(
      id,
      Array.from({ length: 5 }, (_, i) => ({
        run: 1,
        seq: i + 1,
        stream: 'stdout' as const,
        text: `line ${i + 1}\n`,
        at: new Date().toISOString(),
      })),
    );
    const r = await runCli(['logs', `--job-id=${id}`], { env: env() });
    expect(r.code).toBe(0);
    // The stand-in pages two chunks at a time; its first read also starts the job.
    expect(r.stdout).toBe(`line 1\nline 2\nline 3\nline 4\nline 5\nstart tests/slow.spec.js\n`);
    expect(r.stderr).toMatch(new RegExp(`^job ${id} is running: its log may go on — follow it with 'qgjob logs`));

    const json = await runCli(['logs', `--job-id=${id}`, '--json'], { env: env() });
    const doc = JSON.parse(json.stdout);
    expect(doc).toMatchObject({ job_id: id, status: 'running' });
    expect(doc.chunks).toHaveLength(6);
    expect(Object.keys(doc.chunks[0]).sort()).toEqual(['at', 'run', 'seq', 'stream', 'text']);
  });

  it('exits 2 for an unknown job or a missing --job-id, 3 with no server', async () => {
    const unknown = await runCli(['logs', '--job-id=job_nope'], { env: env() });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^error: no job with id job_nope/);
    const missing = await runCli(['logs'], { env: env() });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--job-id is required/);
    const down = await runCli(['logs', '--job-id=job_1', '--server=http://127.0.0.1:1']);
    expect(down.code).toBe(3);
  });

  it('documents itself', async () => {
    const r = await runCli(['logs', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\$ qgjob logs --job-id=job_123 --follow/);
    expect(r.stdout).toMatch(/JSON lines|one JSON object per line/);
  });
});

describe('qgjob agents', () => {
  it('prints one row per device, and the server document with --json', async () => {
    server.agents = AGENTS;
    const r = await runCli(['agents'], { env: env() });
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^AGENT\s+DEVICE\s+TARGET\s+STATE\s+GROUP\s+LAST SEEN\s+WARM$/);
    expect(lines[1]).toMatch(
      /^lab-host-1\s+emulator-5554\s+emulator\s+busy\s+qualgent\/xyz123\s+\d+s ago\s+qualgent\/xyz123, acme\/a7$/,
    );
    expect(lines[2]).toMatch(/^lab-host-1\s+R58M123ABC\s+device\s+idle\s+-\s+\d+s ago\s+-$/);
    expect(lines[3]).toMatch(/^lab-host-2\s+-\s+-\s+-\s+-\s+2h ago\s+-$/);
    const json = await runCli(['agents', '--json'], { env: env() });
    expect(JSON.parse(json.stdout)).toEqual(AGENTS);
  });

  it('exits 3 naming the route when the server does not list agents', async () => {
    server.agents = undefined;
    const r = await runCli(['agents'], { env: env() });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/does not list agents \(GET \/v1\/agents\) — upgrade job-server\n$/);
  });

  it('formats ages and hidden groups', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(formatAgo('2024-12-31T23:59:55Z', now)).toBe('5s ago');
    expect(formatAgo('2024-12-31T23:57:00Z', now)).toBe('3m ago');
    expect(formatAgo('2024-12-29T00:00:00Z', now)).toBe('3d ago');
    expect(formatAgo('2025-01-01T00:00:02Z', now)).toBe('0s ago');
    const hidden: AgentList = {
      agents: [
        {
          id: 'a',
          name: 'h',
          last_seen_at: '2025-01-01T00:00:00Z',
          devices: [
            {
              id: 'd',
              name: 'e1',
              target: 'emulator',
              state: 'busy',
              quarantined_until: null,
              infra_failures: 0,
              batch_id: null,
              org_id: null,
              app_version_id: null,
              warm: [],
            },
          ],
        },
      ],
    };
    expect(agentsTable(hidden, makeStyle(false), now)).toMatch(/busy\s+another org\s+0s ago/);
  });
  it('shows quarantines with the time left, failures in a row, probation, draining and drained', () => {
    const now = Date.parse('2025-01-01T12:00:00Z');
    const device = (over: Partial<DeviceView>): DeviceView => ({
      id: 'd',
      name: 'e1',
      target: 'emulator',
      state: 'idle',
      quarantined_until: null,
      infra_failures: 0,
      batch_id: null,
      org_id: null,
      app_version_id: null,
      warm: [],
      ...over,
    });
    const plain = makeStyle(false);
    const cell = (over: Partial<DeviceView>) => stateCell(plain, device(over), now);
    expect(cell({})).toBe('idle');
    expect(cell({ infra_failures: 1 })).toBe('idle (1 failure)');
    expect(cell({ state: 'busy', infra_failures: 2 })).toBe('busy (2 failures)');
    expect(cell({ state: 'quarantined', infra_failures: 3, quarantined_until: '2025-01-01T12:00:24.200Z' })).toBe(
      'quarantined (25s left)',
    );
    expect(cell({ state: 'quarantined', infra_failures: 4, quarantined_until: '2025-01-01T12:04:05Z' })).toBe(
      'quarantined (4m05s left)',
    );
    // The cool-down is over: the next batch is the probe.
    expect(cell({ infra_failures: 3, quarantined_until: '2025-01-01T11:59:00Z' })).toBe('idle (probation, 3 failures)');
    expect(cell({ state: 'draining', batch_id: 'bat_1' })).toBe('draining');
    expect(cell({ state: 'drained', infra_failures: 3, quarantined_until: '2025-01-01T12:01:00Z' })).toBe(
      'drained (quarantined, 1m00s left, 3 failures)',
    );
    // Colours: red for a quarantine, yellow for drained and draining.
    const colour = makeStyle(true);
    expect(stateCell(colour, device({ state: 'quarantined', quarantined_until: '2025-01-01T12:00:30Z' }), now)).toBe(
      '\x1b[31mquarantined\x1b[39m \x1b[31m(30s left)\x1b[39m',
    );
    expect(stateCell(colour, device({ state: 'drained' }), now)).toBe('\x1b[33mdrained\x1b[39m');
    expect(stateCell(colour, device({ state: 'draining' }), now)).toBe('\x1b[33mdraining\x1b[39m');

    const list: AgentList = {
      agents: [
        {
          id: 'a',
          name: 'lab-host-1',
          last_seen_at: '2025-01-01T12:00:00Z',
          devices: [
            device({ name: 'e1', state: 'quarantined', infra_failures: 3, quarantined_until: '2025-01-01T12:00:30Z' }),
            device({ name: 'e2', state: 'draining', batch_id: null }),
            device({ name: 'e3', state: 'drained' }),
          ],
        },
      ],
    };
    const lines = stripAnsi(agentsTable(list, colour, now)).split('\n');
    expect(lines[1]).toMatch(/^lab-host-1\s+e1\s+emulator\s+quarantined \(30s left\)\s+-\s+0s ago\s+-$/);
    // Draining another org's batch: the server hides which.
    expect(lines[2]).toMatch(/^lab-host-1\s+e2\s+emulator\s+draining\s+another org\s+0s ago\s+-$/);
    expect(lines[3]).toMatch(/^lab-host-1\s+e3\s+emulator\s+drained\s+-\s+0s ago\s+-$/);
  });
});
