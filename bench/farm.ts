/**
 * The same farm workload under three scheduling policies, run by the real job-server
 * (a process per policy) and real agents with the `simulate` executor:
 *   fifo     one job at a time in submit order, one install per job
 *   grouped  group by app version, no fairness, no memory of installs (what peers do)
 *   fair     ours
 * Prints installs, makespan, p95 queue wait, Jain's fairness index of device time per org
 * while every org had work, and makespan ÷ lower bound, where the lower bound of a device
 * pool is (its total test time + one install per group) ÷ its devices.
 *   npm run bench:farm       (INSTALL_MS, TEST_MS, POLICIES=fifo,grouped,fair to change)
 */
import { silentLogger, startAgent } from '@qgjob/agent';
import { QgjobClient } from '@qgjob/client';
import type { Job, Target } from '@qgjob/protocol';
import { percentile, pgliteStore, startServerProcess, table } from './lib.js';

const INSTALL_MS = Number(process.env.INSTALL_MS ?? 600);
const TEST_MS = Number(process.env.TEST_MS ?? 100);
const POLICIES = (process.env.POLICIES ?? 'fifo,grouped,fair').split(',');

interface GroupSpec {
  org: string;
  version: string;
  target: Target;
  tests: number;
  /** Submitted this long after the start. */
  atMs: number;
}

// Org acme arrives first with a backlog; globex and initech arrive a second later.
const WORKLOAD: GroupSpec[] = [
  { org: 'acme', version: 'a1', target: 'emulator', tests: 24, atMs: 0 },
  { org: 'acme', version: 'a2', target: 'emulator', tests: 24, atMs: 0 },
  { org: 'acme', version: 'a3', target: 'emulator', tests: 24, atMs: 0 },
  { org: 'acme', version: 'a1', target: 'browserstack', tests: 24, atMs: 0 },
  { org: 'globex', version: 'g1', target: 'emulator', tests: 24, atMs: 1000 },
  { org: 'globex', version: 'g1', target: 'browserstack', tests: 24, atMs: 1000 },
  { org: 'initech', version: 'i1', target: 'emulator', tests: 24, atMs: 1000 },
  { org: 'initech', version: 'i2', target: 'emulator', tests: 24, atMs: 1000 },
];
const POOLS: Record<Target, number> = { emulator: 6, device: 0, browserstack: 2 };

function lowerBoundMs(): number {
  let bound = 0;
  for (const [target, devices] of Object.entries(POOLS)) {
    const groups = WORKLOAD.filter((g) => g.target === target);
    if (groups.length === 0 || devices === 0) continue;
    const work = groups.reduce((s, g) => s + g.tests * TEST_MS + INSTALL_MS, 0);
    bound = Math.max(bound, work / devices);
  }
  return bound;
}

function jain(values: number[]): number {
  const sum = values.reduce((a, b) => a + b, 0);
  const squares = values.reduce((a, b) => a + b * b, 0);
  return squares === 0 ? 1 : (sum * sum) / (values.length * squares);
}

async function runPolicy(policy: string): Promise<Record<string, string | number>> {
  const store = await pgliteStore();
  const server = await startServerProcess([...store.args, `--policy=${policy}`]);
  const sim = {
    server: server.url,
    executor: 'simulate' as const,
    simInstallMs: INSTALL_MS,
    simTestMs: TEST_MS,
    logger: silentLogger,
    claimWaitMs: 2000,
  };
  const agents = [
    startAgent({
      ...sim,
      name: 'host-1',
      devices: [0, 1, 2].map((i) => ({ target: 'emulator' as const, name: `emu-${i}` })),
    }),
    startAgent({
      ...sim,
      name: 'host-2',
      devices: [3, 4, 5].map((i) => ({ target: 'emulator' as const, name: `emu-${i}` })),
    }),
    startAgent({
      ...sim,
      name: 'bs',
      devices: [0, 1].map((i) => ({ target: 'browserstack' as const, name: `bs-${i}` })),
    }),
  ];
  await Promise.all(agents.map((a) => a.ready));
  const client = new QgjobClient({ server: server.url });
  const started = Date.now();
  const ids: string[] = [];
  await Promise.all(
    WORKLOAD.map(async (g) => {
      await new Promise((r) => setTimeout(r, g.atMs));
      const tests = Array.from({ length: g.tests }, (_, i) => `tests/${g.version}/t${i}.spec.js`);
      const res = await client.submit({ org_id: g.org, app_version_id: g.version, target: g.target, tests });
      ids.push(...res.jobs.map((j) => j.id));
    }),
  );
  for (;;) {
    const subs = await client.listJobs({ status: 'queued', limit: 1 });
    const active = await Promise.all(
      ['assigned', 'running'].map((s) => client.listJobs({ status: s as 'running', limit: 1 })),
    );
    if (subs.jobs.length === 0 && active.every((a) => a.jobs.length === 0)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const jobs: Job[] = await Promise.all(ids.map((id) => client.getJob(id)));
  await Promise.all(agents.map((a) => a.stop()));
  await server.stop();
  await store.cleanup();

  const runs = jobs.flatMap((j) => j.runs.map((r) => ({ ...r, org: j.org_id })));
  const installs = runs.filter((r) => r.app_installed).length;
  const end = Math.max(...jobs.map((j) => Date.parse(j.finished_at ?? '')));
  const makespan = end - started;
  const waits = jobs.map((j) => Date.parse(j.started_at ?? '') - Date.parse(j.created_at)).sort((a, b) => a - b);
  // Device time per org while every org had work: from the last arrival to the first org finishing.
  const orgs = [...new Set(WORKLOAD.map((g) => g.org))];
  const from = started + Math.max(...WORKLOAD.map((g) => g.atMs));
  const to = Math.min(
    ...orgs.map((o) => Math.max(...jobs.filter((j) => j.org_id === o).map((j) => Date.parse(j.finished_at ?? '')))),
  );
  const deviceTime = orgs.map((o) =>
    runs
      .filter((r) => r.org === o && r.started_at && r.finished_at)
      .reduce((sum, r) => {
        const s = Date.parse(r.started_at as string) - (r.app_installed ? INSTALL_MS : 0);
        const e = Date.parse(r.finished_at as string);
        return sum + Math.max(0, Math.min(e, to) - Math.max(s, from));
      }, 0),
  );
  const groups = WORKLOAD.length;
  return {
    policy,
    jobs: jobs.length,
    groups,
    installs,
    'makespan s': (makespan / 1000).toFixed(2),
    'makespan / lower bound': (makespan / lowerBoundMs()).toFixed(2),
    'p95 queue wait s': (percentile(waits, 95) / 1000).toFixed(2),
    'Jain (orgs)': jain(deviceTime).toFixed(3),
    failed: jobs.filter((j) => j.status !== 'passed').length,
  };
}

async function main(): Promise<void> {
  const rows = [];
  for (const policy of POLICIES) rows.push(await runPolicy(policy));
  console.log(
    `bench/farm: ${WORKLOAD.reduce((s, g) => s + g.tests, 0)} jobs in ${WORKLOAD.length} groups, 3 orgs; ` +
      `${POOLS.emulator} emulators + ${POOLS.browserstack} BrowserStack slots; install ${INSTALL_MS} ms, test ${TEST_MS} ms; ` +
      `lower bound ${(lowerBoundMs() / 1000).toFixed(2)} s`,
  );
  console.log(table(rows));
}

await main();
