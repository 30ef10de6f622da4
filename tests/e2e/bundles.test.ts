/**
 * Test sources end to end: `qgjob submit` packs the submitted files (with the AppWright
 * config and package files) into a bundle and uploads it once; an agent whose work dir is
 * empty runs those exact files from its cache, with the bundle's npm dependencies
 * installed once per lockfile.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QgjobClient } from '@qgjob/client';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, parseDevice, type RunningAgent, startAgent } from '../../packages/agent/src/index.js';
import { runCli } from '../helpers/cli.js';
import { adapters } from '../helpers/db.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

describe.each(adapters)('test bundles on $name', (adapter) => {
  let server: TestServer;
  let agent: RunningAgent | undefined;
  let dir: string;
  const path = process.env.PATH;
  afterEach(async () => {
    await agent?.stop();
    await server.close();
    process.env.PATH = path;
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the submitted files on an agent with an empty work dir; the same files again upload nothing', async () => {
    server = await startTestServer({ adapter });
    dir = await mkdtemp(join(tmpdir(), 'qgjob-bundle-e2e-'));
    const project = join(dir, 'project');
    const workdir = join(dir, 'agent-work');
    const cacheDir = join(dir, 'agent-cache');
    await mkdir(join(project, 'tests'), { recursive: true });
    await mkdir(workdir);
    const files = {
      'tests/login.spec.js': "test('login', async () => { /* one */ });\n",
      'tests/checkout.spec.js': "test('checkout', async () => { /* two */ });\n",
    };
    for (const [name, text] of Object.entries(files)) await writeFile(join(project, name), text);
    await writeFile(join(project, 'appwright.config.ts'), 'export default {};\n');
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ name: 'e2e', private: true, devDependencies: { appwright: '0.1.0' } }),
    );
    await writeFile(join(project, 'package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages: {} }));
    await writeFile(join(project, '.npmrc'), '//registry.example/:_authToken=secret\n');

    // npm on this host is a stand-in that records each install and leaves a marker module.
    const bin = join(dir, 'bin');
    await mkdir(bin);
    const npmLog = join(dir, 'npm-calls.log');
    await writeFile(
      join(bin, 'npm'),
      `#!/bin/sh\necho "$* in $PWD" >> ${npmLog}\nmkdir -p node_modules/appwright && echo installed > node_modules/appwright/marker\n`,
    );
    await chmod(join(bin, 'npm'), 0o755);
    process.env.PATH = `${bin}:${path}`;

    agent = startAgent({
      server: server.url,
      name: 'bundle-host',
      devices: [parseDevice('emulator:e1')],
      executor: 'command',
      // Proves which bytes ran, and that the dependencies are there.
      command: 'sha256sum {test_path} && cat node_modules/appwright/marker',
      workdir,
      cacheDir,
      logger: createLogger({ level: 'error' }),
    });
    await agent.ready;

    const client = new QgjobClient({ server: server.url });
    const submit = () =>
      runCli(
        [
          'submit',
          `--server=${server.url}`,
          '--org-id=acme',
          '--app-version-id=v1',
          '--test=tests/login.spec.js',
          '--test=tests/checkout.spec.js',
          '--wait',
          '--timeout=60s',
          '--json',
        ],
        { cwd: project, timeoutMs: 90_000 },
      );
    for (const round of [1, 2]) {
      const res = await submit();
      expect(res.code, res.stderr).toBe(0);
      const out = JSON.parse(res.stdout);
      expect(out.bundle).toMatchObject({ files: 6, uploaded: round === 1 });
      for (const job of out.jobs as { id: string; test_path: keyof typeof files }[]) {
        const text = (await client.getLogs(job.id)).chunks.map((c) => c.text).join('');
        expect(text).toContain(`${sha(files[job.test_path])}  ${job.test_path}`);
        expect(text).toContain('installed');
      }
    }
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^qgjob_blob_uploads_total\{kind="bundle"\} 1$/m);
    // Nothing in the agent's own work dir; one dependency install for both submissions.
    expect(await readdir(workdir)).toEqual([]);
    const calls = (await readFile(npmLog, 'utf8')).trim().split('\n');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatch(/^ci --no-audit --no-fund in /);
  });
});
