/**
 * `qgjob drain`, `qgjob enable` and the states `qgjob agents` shows for them, as processes
 * against a real job-server (tokens mode) with two agents registered through the API: one
 * device draining its batch, one quarantined after an infrastructure failure (the server
 * quarantines after one here), a device name both agents use.
 */
import { QgjobClient } from '@qgjob/client';
import type { AgentList, DrainResponse } from '@qgjob/protocol';
import { type RunningServer, startServer } from '@qgjob/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { adapters, type TestDb } from '../helpers/db.js';

const ADMIN = 'admin-secret-for-drain-tests-0123456789';

describe.each(adapters)('qgjob drain and enable on $name', (adapter) => {
  let store: TestDb;
  let server: RunningServer;
  let admin: QgjobClient;
  let orgToken: string;
  /** Device ids by `agent/device`. */
  const ids = new Map<string, string>();
  let runningBatch: string;
  const env = (token = ADMIN) => ({ QGJOB_SERVER: server.url, QGJOB_TOKEN: token });

  beforeAll(async () => {
    store = await adapter.open();
    server = await startServer({
      db: store.db,
      port: 0,
      host: '127.0.0.1',
      auth: { mode: 'tokens', adminToken: ADMIN },
      scheduler: { health: { quarantineAfter: 1, coolDownMs: 60_000 } },
    });
    admin = new QgjobClient({ server: server.url, token: ADMIN });
    orgToken = (
      await admin.request<{ token: string }>('/v1/tokens', {
        method: 'POST',
        body: { kind: 'org', org_id: 'qualgent', name: 'ci' },
      })
    ).token;
    for (const [name, devices] of [
      [
        'host-1',
        [
          { name: 'emulator-5554', target: 'emulator' },
          { name: 'R58M123ABC', target: 'device' },
        ],
      ],
      ['host-2', [{ name: 'emulator-5554', target: 'emulator' }]],
    ] as const) {
      const registered = await admin.registerAgent({ name, devices: [...devices] });
      for (const d of registered.devices) ids.set(`${name}/${d.name}`, d.id);
    }
    const id = (key: string) => ids.get(key) as string;

    // host-1's emulator runs a test: drained, it is draining until the test ends.
    await admin.submit({ org_id: 'qualgent', app_version_id: 'v1', test_path: 'tests/a.spec.js' });
    const running = (await admin.claim(id('host-1/emulator-5554'), 0)).batch;
    if (!running) throw new Error('no batch for host-1/emulator-5554');
    runningBatch = running.id;
    await admin.report(running.id, { events: [{ type: 'start', job_id: running.jobs[0]?.id as string }] });

    // host-1's phone cannot take its batch: quarantined for a minute.
    await admin.submit({ org_id: 'qualgent', app_version_id: 'v1', test_path: 'tests/b.spec.js', target: 'device' });
    const failing = (await admin.claim(id('host-1/R58M123ABC'), 0)).batch;
    if (!failing) throw new Error('no batch for host-1/R58M123ABC');
    await admin.report(failing.id, { events: [{ type: 'unavailable', error: 'adb: device offline' }] });
  });
  afterAll(async () => {
    await server?.close();
    await store?.drop();
  });

  it('drains a device by name on one agent, and the table shows it draining next to a quarantine', async () => {
    const r = await runCli(['drain', '--device=emulator-5554', '--agent=host-1'], { env: env() });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`drained emulator-5554 on agent host-1 (finishing batch ${runningBatch})\n`);
    expect(r.code).toBe(0);

    const [table, json] = await Promise.all([
      runCli(['agents'], { env: env() }),
      runCli(['agents', '--json'], { env: env() }),
    ]);
    expect(table.code).toBe(0);
    const row = (agent: string, device: string) =>
      table.stdout.split('\n').find((line) => new RegExp(`^${agent}\\s+${device}\\s`).test(line)) ?? '';
    expect(row('host-1', 'emulator-5554')).toMatch(/\semulator\s+draining\s+qualgent\/v1\s/);
    expect(row('host-1', 'R58M123ABC')).toMatch(/\sdevice\s+quarantined \((60|59|58|57|56|55)s left\)\s/);
    expect(row('host-2', 'emulator-5554')).not.toMatch(/drain|quarantined/);

    // --json: the server's answer, untouched, with the new fields.
    const list = JSON.parse(json.stdout) as AgentList;
    const phone = list.agents.find((a) => a.name === 'host-1')?.devices.find((d) => d.name === 'R58M123ABC');
    expect(phone).toMatchObject({ state: 'quarantined', infra_failures: 1 });
    expect(Date.parse(phone?.quarantined_until as string)).toBeGreaterThan(Date.now() + 50_000);
  });

  it('drains a whole agent by name, with --json, and enables an agent (lifting its quarantine)', async () => {
    const [drained, enabled] = await Promise.all([
      runCli(['drain', '--agent=host-2', '--json'], { env: env() }),
      runCli(['enable', '--agent=host-1'], { env: env() }),
    ]);
    expect(drained.code).toBe(0);
    const answer = JSON.parse(drained.stdout) as DrainResponse;
    expect(answer).toEqual({
      devices: [
        {
          id: ids.get('host-2/emulator-5554'),
          name: 'emulator-5554',
          target: 'emulator',
          agent: 'host-2',
          drained: true,
          batch_id: null,
        },
      ],
    });
    const list = await admin.listAgents();
    expect(list.agents.find((a) => a.name === 'host-2')?.devices[0]?.state).toBe('drained');

    expect(enabled.code).toBe(0);
    expect(enabled.stdout.split('\n').sort()).toEqual(
      ['', 'enabled R58M123ABC on agent host-1', 'enabled emulator-5554 on agent host-1'].sort(),
    );
    const after = (await admin.listAgents()).agents.find((a) => a.name === 'host-1')?.devices ?? [];
    const phone = after.find((d) => d.name === 'R58M123ABC');
    expect(phone?.state).not.toBe('quarantined');
    expect(phone).toMatchObject({ quarantined_until: null, infra_failures: 0 });
    expect(after.find((d) => d.name === 'emulator-5554')?.state).toBe('busy');

    // By device id, as listed.
    const byId = await runCli(['enable', `--device=${ids.get('host-2/emulator-5554')}`, '--json'], { env: env() });
    expect(byId.code).toBe(0);
    expect((JSON.parse(byId.stdout) as DrainResponse).devices).toEqual([
      expect.objectContaining({ name: 'emulator-5554', agent: 'host-2', drained: false }),
    ]);
  });

  it('refuses an ambiguous or unknown device, no flag, an unknown agent, and a non-admin token', async () => {
    const [ambiguous, unknown, none, noAgent, forbidden] = await Promise.all([
      runCli(['drain', '--device=emulator-5554'], { env: env() }),
      runCli(['drain', '--device=pixel-9'], { env: env() }),
      runCli(['enable'], { env: env() }),
      runCli(['drain', '--agent=host-9'], { env: env() }),
      runCli(['drain', '--agent=host-1'], { env: env(orgToken) }),
    ]);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stdout).toBe('');
    expect(ambiguous.stderr).toMatch(
      /^error: device name emulator-5554 is on several agents: host-1 \(dev_\w+\), host-2 \(dev_\w+\) — add --agent=NAME to pick one/,
    );

    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe("error: no device named pixel-9 — list agents and devices with 'qgjob agents'\n");

    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^error: enable needs --device=ID_OR_NAME or --agent=NAME_OR_ID — /);

    expect(noAgent.code).toBe(2);
    expect(noAgent.stderr).toBe("error: no agent named host-9 — list agents and devices with 'qgjob agents'\n");

    expect(forbidden.code).toBe(4);
    expect(forbidden.stderr).toMatch(
      /^error: not allowed by the qgjob server at http:\/\/127\.0\.0\.1:\d+\/v1\/agents\/host-1\/drain \(403 /,
    );
    expect(forbidden.stderr).toMatch(/ — drain needs an admin token: set --token or QGJOB_TOKEN to one\n$/);
    expect(forbidden.stderr).not.toContain(orgToken);
    // Nothing changed.
    const host1 = (await admin.listAgents()).agents.find((a) => a.name === 'host-1')?.devices ?? [];
    expect(host1.map((d) => d.state)).not.toContain('drained');
  });

  it('documents itself', async () => {
    const [drain, enable, top] = await Promise.all([
      runCli(['drain', '--help']),
      runCli(['enable', '--help']),
      runCli(['--help']),
    ]);
    expect(drain.stdout).toMatch(/^Examples:\n {2}\$ qgjob drain --device=emulator-5554\n/);
    expect(drain.stdout).toContain('--agent <name-or-id>');
    expect(drain.stdout).toContain('"batch_id"');
    expect(enable.stdout).toMatch(/lifts a quarantine/);
    expect(top.stdout).toContain('$ qgjob drain --device=emulator-5554 --agent=lab-host-1');
    expect(top.stdout).toContain('$ qgjob enable --agent=lab-host-1');
  });
});
