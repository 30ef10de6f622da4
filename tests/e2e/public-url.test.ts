/**
 * A job-server that knows where users reach it (`--public-url`) links every submission to its
 * page: `qgjob submit` prints the link and puts it in the GitHub job summary; the --json
 * document carries it as `url`. A bad --public-url is refused at start, naming the flag.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningServer, startServer } from '@qgjob/server';
import { afterEach, describe, expect, it } from 'vitest';
import { type SimAgent, startSimAgent } from '../helpers/agent.js';
import { runCli } from '../helpers/cli.js';
import { pgliteAdapter, type TestDb } from '../helpers/db.js';
import { runCommand, SERVER_MAIN, TSX } from '../helpers/process.js';

describe('links to a submission page', () => {
  let server: RunningServer | undefined;
  let store: TestDb | undefined;
  let agent: SimAgent | undefined;
  let dir: string | undefined;

  afterEach(async () => {
    await agent?.stop();
    await server?.close();
    await store?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    agent = server = store = dir = undefined;
  });

  it('qgjob submit prints the page and links it from the GitHub job summary', async () => {
    store = await pgliteAdapter.open();
    server = await startServer({ db: store.db, port: 0, host: '127.0.0.1', publicUrl: 'https://qgjob.example.com' });
    agent = await startSimAgent(server.url, { devices: ['emulator:e1'], testMs: 20 });
    dir = mkdtempSync(join(tmpdir(), 'qgjob-public-url-'));
    const summary = join(dir, 'summary.md');
    const output = join(dir, 'output.txt');
    const args = ['submit', '--org-id=acme', '--app-version-id=v1', '--test=tests/a.spec.js', '--wait', '--no-bundle'];
    const waited = await runCli([`--server=${server.url}`, ...args], {
      env: { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary, GITHUB_OUTPUT: output },
      timeoutMs: 60_000,
    });
    expect(waited.code, waited.stderr).toBe(0);
    const id = /submission (sub_\w+)/.exec(waited.stdout)?.[1];
    expect(id).toBeDefined();
    const page = `https://qgjob.example.com/submissions/${id}`;
    expect(waited.stderr).toContain(`details: ${page}\n`);
    expect(readFileSync(summary, 'utf8')).toContain(`Submission [\`${id}\`](${page})`);

    const json = await runCli([`--server=${server.url}`, '--json', ...args.filter((a) => a !== '--wait')]);
    expect(json.code, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout);
    expect(doc.url).toBe(`https://qgjob.example.com/submissions/${doc.submission_id}`);
    expect(json.stderr).not.toContain('details:');
  }, 90_000);

  it('job-server refuses a --public-url that is not an http(s) URL, naming the flag', async () => {
    for (const bad of [
      'ftp://qgjob.example.com',
      'qgjob.example.com',
      'https://qgjob.example.com/?a=1',
      'https://:secret@qgjob.example.com',
    ]) {
      const run = await runCommand(
        process.execPath,
        ['--import', TSX, SERVER_MAIN, '--open', '--memory', `--public-url=${bad}`],
        { timeoutMs: 30_000 },
      );
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/^job-server: --public-url must be an http:\/\/ or https:\/\/ URL/);
      expect(run.stderr).toContain(`(got "${bad}")`);
    }
  }, 90_000);
});
