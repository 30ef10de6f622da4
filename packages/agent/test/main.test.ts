import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { batchOf, eventsOf, type Stub, startStub } from './stub-server.js';

// The real entry point, from the sources, as a user would run it.
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const TSCONFIG = fileURLToPath(new URL('../../../tsconfig.tests.json', import.meta.url));

interface Proc {
  child: ChildProcess;
  stderr(): string;
  exit: Promise<number | null>;
}

function agent(args: string[]): Proc {
  const env: NodeJS.ProcessEnv = { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG };
  delete env.QGJOB_SERVER;
  delete env.QGJOB_TOKEN;
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d) => {
    err += d;
  });
  child.stdout?.on('data', (d) => {
    err += d;
  });
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stderr: () => err, exit };
}

async function waitFor(check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

let stub: Stub | undefined;
let proc: Proc | undefined;
afterEach(async () => {
  proc?.child.kill('SIGKILL');
  await stub?.close();
  stub = proc = undefined;
});

describe('qgjob-agent', () => {
  it('names the bad flag and exits 2', async () => {
    proc = agent(['--server=http://localhost:1', '--device=phone:x']);
    expect(await proc.exit).toBe(2);
    expect(proc.stderr()).toContain('--device');
  });

  it('drains on SIGTERM: the running test finishes, the rest is handed back, exit 0; the token never shows', async () => {
    const list = [batchOf('b1', ['tests/a.spec.js', 'tests/b.spec.js'])];
    stub = await startStub({
      claim: async (_d, waitMs) => {
        const batch = list.shift();
        if (!batch) await new Promise((r) => setTimeout(r, Math.min(waitMs, 100)));
        return { body: { batch: batch ?? null } };
      },
    });
    proc = agent([
      `--server=${stub.url}`,
      '--token=super-secret-token',
      '--device=emulator:emulator-5554',
      '--executor=simulate',
      '--sim-test-ms=800',
    ]);
    await waitFor(() => eventsOf(stub as Stub, 'start').length === 1);
    proc.child.kill('SIGTERM');
    expect(await proc.exit).toBe(0);
    expect(eventsOf(stub, 'finish')).toEqual([expect.objectContaining({ job_id: 'j1', status: 'passed' })]);
    expect(stub.reports.at(-1)?.body.done).toEqual({ unstarted: ['j2'] });
    expect(proc.stderr()).toContain('registered');
    expect(proc.stderr()).not.toContain('super-secret-token');
  });

  it('exits 130 at once on a second signal', async () => {
    stub = await startStub({
      claim: async () => ({ body: { batch: batchOf(`b${Date.now()}`, ['tests/a.spec.js']) } }),
    });
    proc = agent([`--server=${stub.url}`, '--device=emulator:e1', '--executor=simulate', '--sim-test-ms=60000']);
    await waitFor(() => eventsOf(stub as Stub, 'start').length === 1);
    proc.child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 100));
    proc.child.kill('SIGINT');
    expect(await proc.exit).toBe(130);
  });

  it('exits 4 when the server refuses the token', async () => {
    stub = await startStub({
      register: () => ({ status: 401, body: { error: { code: 'unauthorized', message: 'bad token' } } }),
    });
    proc = agent([`--server=${stub.url}`, '--token=wrong', '--device=emulator:e1']);
    expect(await proc.exit).toBe(4);
    expect(proc.stderr()).toContain('bad token');
  });
});
