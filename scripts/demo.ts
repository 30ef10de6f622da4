/**
 * npm run demo — a whole local farm in one command, on the embedded store:
 * job-server, two simulated agents (two emulators and a phone; two BrowserStack slots),
 * a build registered with `qgjob app upload`, the example suite submitted with the real
 * `qgjob` CLI (its sources packed and uploaded once as a bundle) for two orgs, three app
 * versions and all three targets, live progress, and a summary of what grouping saved.
 *
 * The agents use the `simulate` executor (no real device here): an install takes
 * DEMO_INSTALL_MS, a test DEMO_TEST_MS, and tests matching DEMO_FAIL fail. What they fetch
 * is real: the registered build and the test bundle land in their cache, hash-verified;
 * only the bundle's npm dependencies are skipped, as simulated tests run no code.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { silentLogger, startAgent } from '@qgjob/agent';
import { QgjobClient } from '@qgjob/client';
import type { JobSummary } from '@qgjob/protocol';
import { startServer } from '@qgjob/server';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'packages/cli/dist/main.js');
const installMs = Number(process.env.DEMO_INSTALL_MS ?? 1500);
const testMs = Number(process.env.DEMO_TEST_MS ?? 400);
const failPattern = process.env.DEMO_FAIL ?? 'checkout';
const tty = process.stdout.isTTY;

/** `1 test`, `2 tests`. */
function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

const submissions = [
  { org: 'qualgent', version: 'xyz123', target: 'emulator' },
  { org: 'qualgent', version: 'xyz123', target: 'device' },
  { org: 'qualgent', version: 'xyz124', target: 'emulator' },
  { org: 'qualgent', version: 'xyz124', target: 'browserstack' },
  { org: 'globex', version: 'g-2.0.1', target: 'emulator' },
  { org: 'globex', version: 'g-2.0.1', target: 'browserstack' },
];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'qgjob-demo-'));
  const started = Date.now();
  const server = await startServer({ dataDir: join(dir, 'data'), port: 0 });
  console.log(`job-server on ${server.url} (${server.db.description}; open mode: no credentials, local use)`);
  const agentOptions = {
    server: server.url,
    executor: 'simulate' as const,
    simInstallMs: installMs,
    simTestMs: testMs,
    simFail: failPattern,
    logger: silentLogger,
    cacheDir: join(dir, 'agent-cache'),
  };
  const agents = [
    startAgent({
      ...agentOptions,
      name: 'lab-host-1',
      devices: [
        { target: 'emulator', name: 'emulator-5554' },
        { target: 'emulator', name: 'emulator-5556' },
        { target: 'device', name: 'pixel-8-R58M' },
      ],
    }),
    startAgent({
      ...agentOptions,
      name: 'browserstack-1',
      devices: [
        { target: 'browserstack', name: 'bs-slot-1' },
        { target: 'browserstack', name: 'bs-slot-2' },
      ],
    }),
  ];
  await Promise.all(agents.map((a) => a.ready));
  console.log('agents: lab-host-1 (2 emulators, 1 phone), browserstack-1 (2 parallel slots)');
  console.log(`simulated install ${installMs} ms, test ${testMs} ms; tests matching /${failPattern}/ fail\n`);

  // A stand-in build file for xyz123 (its bytes are what counts: hashed, uploaded, fetched),
  // starting like every APK with a ZIP header.
  const build = join(dir, 'app-release.apk');
  writeFileSync(build, `PK\u0003\u0004pretend build of xyz123 ${'.'.repeat(256 * 1024)}`);
  const { stdout: uploaded } = await promisify(execFile)(process.execPath, [
    cli,
    'app',
    'upload',
    `--server=${server.url}`,
    '--org-id=qualgent',
    '--app-version-id=xyz123',
    build,
  ]);
  console.log(`$ qgjob app upload --org-id=qualgent --app-version-id=xyz123 app-release.apk\n${uploaded.trimEnd()}`);

  const tests = readdirSync(join(root, 'examples/tests'))
    .filter((f) => f.endsWith('.spec.js'))
    .map((f) => `tests/${f}`);
  const ids: string[] = [];
  for (const s of submissions) {
    const args = [
      cli,
      'submit',
      `--server=${server.url}`,
      `--org-id=${s.org}`,
      `--app-version-id=${s.version}`,
      `--target=${s.target}`,
      '--json',
    ];
    for (const t of tests) args.push(`--test=${t}`);
    // From examples/: the specs, appwright.config.ts and package.json go along as a bundle.
    const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: join(root, 'examples') });
    const submitted = JSON.parse(stdout) as {
      submission_id: string;
      jobs: { id: string }[];
      bundle: { sha256: string; files: number; uploaded: boolean } | null;
    };
    ids.push(submitted.submission_id);
    const bundle = submitted.bundle
      ? `bundle ${submitted.bundle.sha256.slice(0, 12)} ${submitted.bundle.uploaded ? 'uploaded' : 'already on the server'}`
      : 'no bundle';
    console.log(
      `$ qgjob submit --org-id=${s.org} --app-version-id=${s.version} --target=${s.target} --test=… (${plural(tests.length, 'test')}) → ${submitted.submission_id}, ${bundle}`,
    );
  }
  console.log('');

  const client = new QgjobClient({ server: server.url });
  let jobs: JobSummary[] = [];
  let lastLine = '';
  for (;;) {
    jobs = (await Promise.all(ids.map((id) => client.getSubmission(id)))).flatMap((s) => s.jobs);
    const counts = countBy(jobs.map((j) => j.status));
    const line = ['queued', 'assigned', 'running', 'passed', 'failed', 'errored']
      .map((s) => `${s} ${counts.get(s) ?? 0}`)
      .join('  ');
    const elapsed = ((Date.now() - started) / 1000).toFixed(1);
    if (tty) process.stdout.write(`\r${line}  (${elapsed}s)`);
    else if (line !== lastLine) console.log(`${elapsed.padStart(5)}s  ${line}`);
    lastLine = line;
    if (jobs.every((j) => ['passed', 'failed', 'errored', 'cancelled'].includes(j.status))) break;
    await new Promise((r) => setTimeout(r, tty ? 200 : 500));
  }
  if (tty) process.stdout.write('\n');
  const wallMs = Date.now() - started;

  const details = await Promise.all(jobs.map((j) => client.getJob(j.id)));
  const runs = details.flatMap((j) => j.runs);
  const installs = runs.filter((r) => r.app_installed).length;
  const batches = new Set(runs.map((r) => r.batch_id)).size;
  console.log('\nsummary');
  for (const [status, n] of countBy(jobs.map((j) => j.status))) console.log(`  ${status.padEnd(10)} ${n}`);
  console.log(`  groups     ${new Set(jobs.map((j) => `${j.org_id}/${j.app_version_id}/${j.target}`)).size}`);
  console.log(`  batches    ${batches}`);
  console.log(
    `  installs   ${installs} made, against ${runs.length} with one install per job (${runs.length - installs} saved)`,
  );
  console.log(`  wall time  ${(wallMs / 1000).toFixed(1)} s`);
  console.log('\nper group (org / app version / target → device: tests, installed?)');
  const byBatch = new Map<string, { label: string; device: string; n: number; installed: boolean }>();
  for (const j of details) {
    for (const r of j.runs) {
      const b = byBatch.get(r.batch_id ?? '') ?? {
        label: `${j.org_id} / ${j.app_version_id} / ${j.target}`,
        device: r.device ?? '?',
        n: 0,
        installed: false,
      };
      b.n++;
      b.installed ||= r.app_installed;
      byBatch.set(r.batch_id ?? '', b);
    }
  }
  for (const [id, b] of [...byBatch].sort((x, y) => x[1].label.localeCompare(y[1].label))) {
    console.log(
      `  ${b.label.padEnd(38)} → ${b.device.padEnd(14)} ${plural(b.n, 'test')}, ${b.installed ? 'installed' : 'warm, no install'}  (${id})`,
    );
  }
  const failed = details.find((j) => j.status === 'failed');
  if (failed) {
    console.log(`\n$ qgjob status --job-id=${failed.id}`);
    const { stdout } = await promisify(execFile)(process.execPath, [
      cli,
      'status',
      `--server=${server.url}`,
      `--job-id=${failed.id}`,
    ]).catch((error: { stdout: string }) => error);
    console.log(stdout.trimEnd());
  }

  await Promise.all(agents.map((a) => a.stop()));
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}

function countBy(values: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
  return m;
}

await main();
