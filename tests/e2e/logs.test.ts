/**
 * Run logs end to end: a real job-server, a real agent running a shell command that prints
 * lines slowly, and `qgjob logs --follow` printing them while the test still runs, then
 * exiting with the job's verdict. Also measures how long a printed line takes to reach the
 * server (the chunk's `at` minus the time the command printed it).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QgjobClient } from '@qgjob/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type RunningAgent, startAgent } from '../../packages/agent/src/index.js';
import { runCli } from '../helpers/cli.js';
import { adapters } from '../helpers/db.js';
import { until } from '../helpers/jobs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe.each(adapters)('run logs end to end on $name', (adapter) => {
  let server: TestServer;
  let agent: RunningAgent;
  let client: QgjobClient;
  let dir: string;
  const env = () => ({ QGJOB_SERVER: server.url, QGJOB_POLL_INTERVAL_MS: '100' });
  const release = (test: string) => writeFileSync(join(dir, `release-${test}`), '');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qgjob-logs-e2e-'));
    server = await startTestServer({ adapter });
    client = new QgjobClient({ server: server.url });
    // Line 1, then wait for the test to say go, then two more lines 0.3 s apart; a path
    // containing "fail" fails. Each line carries the time it was printed (ms).
    const command = [
      'echo "line 1 $(date +%s%3N)"',
      `while [ ! -e "${dir}/release-$(basename {test_path})" ]; do sleep 0.05; done`,
      'for i in 2 3; do echo "line $i $(date +%s%3N)"; sleep 0.3; done',
      'case {test_path} in *fail*) echo "boom" >&2; exit 1;; esac',
    ].join('; ');
    agent = startAgent({
      server: server.url,
      name: `logs-agent-${process.pid}`,
      devices: [{ target: 'emulator', name: 'e1' }],
      executor: 'command',
      command,
      workdir: dir,
      graceMs: 2000,
      logger: createLogger({ level: 'warn' }),
    });
    await agent.ready;
  });
  afterAll(async () => {
    await agent?.stop();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints lines while the test runs and exits 0 once it passes', async () => {
    const { jobs } = await client.submit({ org_id: 'acme', app_version_id: 'v1', test_path: 'tests/ok.spec.js' });
    const id = jobs[0]?.id as string;
    // The test is held after line 1: a follower must already show it.
    await until(async () => (await client.getLogs(id)).chunks.some((c) => c.text.startsWith('line 1')));
    const early = await runCli(['logs', `--job-id=${id}`, '--follow'], { env: env(), timeoutMs: 4000 });
    expect(early.code).toBeNull(); // still following when stopped: the job had not ended
    expect(early.stdout).toMatch(
      /^qgjob-agent: run 1 of tests\/ok\.spec\.js on emulator:e1 \(batch bat_\w+\)\nline 1 \d+\n$/,
    );
    expect((await client.getJob(id)).status).toBe('running');

    release('ok.spec.js');
    const r = await runCli(['logs', `--job-id=${id}`, '--follow'], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout.replace(/^(line \d) \d+$/gm, '$1')).toMatch(
      /^qgjob-agent: run 1 of tests\/ok\.spec\.js .*\nline 1\nline 2\nline 3\nqgjob-agent: passed in [\d.]+m?s\n$/,
    );
    expect(r.stderr).toBe(`job ${id} passed\n`);

    // Print → server: each line's chunk `at` against the time the command printed it.
    const logs = await client.getLogs(id);
    const latencies = logs.chunks.flatMap((c) =>
      [...c.text.matchAll(/^line \d (\d+)$/gm)].map((m) => Date.parse(c.at) - Number(m[1])),
    );
    expect(latencies).toHaveLength(3);
    console.log(
      `${adapter.name}: print → server latency of lines 1-3: ${latencies.map((ms) => `${ms} ms`).join(', ')}`,
    );
    // Line 1 waits for the report of the start; later lines go out at once.
    for (const ms of latencies) expect(ms).toBeLessThan(1000);
  });

  it('exits 1 for a failing command, with its stderr in the log', async () => {
    release('fail.spec.js');
    const { jobs } = await client.submit({ org_id: 'acme', app_version_id: 'v1', test_path: 'tests/fail.spec.js' });
    const id = jobs[0]?.id as string;
    const r = await runCli(['logs', `--job-id=${id}`, '--follow', '--json'], { env: env() });
    expect(r.code).toBe(1);
    const lines = r.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.at(-1)).toEqual({ job_id: id, status: 'failed' });
    const chunks = lines.slice(0, -1);
    const text = chunks.map((c) => c.text).join('');
    expect(text.replace(/^(line \d) \d+$/gm, '$1')).toMatch(
      /\nline 1\nline 2\nline 3\nboom\nqgjob-agent: failed in .*exited with code 1\n$/,
    );
    expect(chunks.find((c) => c.text === 'boom\n')?.stream).toBe('stderr');
    // The error message keeps the end of the output, as before.
    expect((await client.getJob(id)).error).toMatch(/line 3 \d+\nboom$/);
  });
});
