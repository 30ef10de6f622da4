/**
 * Farm workloads under three scheduling policies, run by the real job-server (a process per
 * policy and run) and real agents with the `simulate` executor:
 *   fifo     one job at a time in submit order, one install per job
 *   grouped  group by app version, no fairness, no memory of installs (what peers do)
 *   fair     ours
 * Workloads:
 *   uniform    192 jobs in 8 groups of 24 from 3 orgs (acme first, the other two 1 s later);
 *              6 emulators on 2 agents + 2 BrowserStack slots; every test TEST_MS
 *   long-tail  the same groups, but in each group a fifth of the tests take 10–20 × TEST_MS
 *              (deterministic, spread through the group), the rest TEST_MS
 *   many-orgs  12 orgs × 1 group of 12 tests on 4 emulators (2 agents), the orgs arriving
 *              one by one over the first 2 s
 * Test lengths other than TEST_MS are given in the test path (`t3@1500ms.spec.js`), which the
 * simulate executor honours. Prints per workload: installs, makespan, makespan ÷ lower bound,
 * p95 queue wait, the longest any org waited from its first submit to its first test start,
 * Jain's fairness index of device time per org while every org had work, and for many-orgs
 * the devices each org's jobs ran on (on average) with the install bound 2 × orgs × that.
 * The lower bound of a device pool is max((its total test time + one install per group) ÷
 * its devices, the longest test + an install), from the real per-test durations.
 *   npm run bench:farm   (WORKLOADS=uniform,long-tail,many-orgs POLICIES=fifo,grouped,fair RUNS=1,
 *                         INSTALL_MS=600 TEST_MS=100)
 */
import { silentLogger, startAgent } from '@qgjob/agent';
import { QgjobClient } from '@qgjob/client';
import type { Job, Target } from '@qgjob/protocol';
import { percentile, pgliteStore, type Row, startServerProcess, table, writeResults } from './lib.js';

const INSTALL_MS = Number(process.env.INSTALL_MS ?? 600);
const TEST_MS = Number(process.env.TEST_MS ?? 100);
const POLICIES = (process.env.POLICIES ?? 'fifo,grouped,fair').split(',');
const WORKLOADS = (process.env.WORKLOADS ?? 'uniform,long-tail,many-orgs').split(',');
const RUNS = Number(process.env.RUNS ?? 1);

interface GroupSpec {
  org: string;
  version: string;
  target: Target;
  /** Test paths and how long each takes (ms). */
  tests: { path: string; ms: number }[];
  /** Submitted this long after the start. */
  atMs: number;
}

interface Workload {
  name: string;
  description: string;
  groups: GroupSpec[];
  /** Devices per agent, by target: one agent per entry. */
  agents: { name: string; target: Target; devices: number }[];
  /** Report devices used per org and the install bound. */
  perOrgDevices?: boolean;
}

const plain = (version: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ path: `tests/${version}/t${i}.spec.js`, ms: TEST_MS }));

/** A fifth of the tests (spread evenly) take 10–20 × TEST_MS, the rest TEST_MS; all named with their length. */
function longTail(version: string, n: number, seed: number) {
  const long = Math.round(n * 0.2);
  const positions = new Map<number, number>();
  for (let k = 0; k < long; k++) positions.set(Math.floor(((k + 0.5) * n) / long), 10 + ((seed * 7 + k * 3) % 11));
  return Array.from({ length: n }, (_, i) => {
    const ms = TEST_MS * (positions.get(i) ?? 1);
    return { path: `tests/${version}/t${i}@${ms}ms.spec.js`, ms };
  });
}

// Org acme arrives first with a backlog; globex and initech arrive a second later.
const FARM_GROUPS: Omit<GroupSpec, 'tests'>[] = [
  { org: 'acme', version: 'a1', target: 'emulator', atMs: 0 },
  { org: 'acme', version: 'a2', target: 'emulator', atMs: 0 },
  { org: 'acme', version: 'a3', target: 'emulator', atMs: 0 },
  { org: 'acme', version: 'a1', target: 'browserstack', atMs: 0 },
  { org: 'globex', version: 'g1', target: 'emulator', atMs: 1000 },
  { org: 'globex', version: 'g1', target: 'browserstack', atMs: 1000 },
  { org: 'initech', version: 'i1', target: 'emulator', atMs: 1000 },
  { org: 'initech', version: 'i2', target: 'emulator', atMs: 1000 },
];
const FARM_AGENTS: Workload['agents'] = [
  { name: 'host-1', target: 'emulator', devices: 3 },
  { name: 'host-2', target: 'emulator', devices: 3 },
  { name: 'bs', target: 'browserstack', devices: 2 },
];
const MANY_ORGS = 12;

const ALL_WORKLOADS: Workload[] = [
  {
    name: 'uniform',
    description: `192 jobs in 8 groups, 3 orgs (2 arrive 1 s late); 6 emulators + 2 BrowserStack slots; tests ${TEST_MS} ms`,
    groups: FARM_GROUPS.map((g) => ({ ...g, tests: plain(g.version, 24) })),
    agents: FARM_AGENTS,
  },
  {
    name: 'long-tail',
    description:
      `192 jobs in 8 groups, 3 orgs (2 arrive 1 s late); 6 emulators + 2 BrowserStack slots; ` +
      `per group 19 tests of ${TEST_MS} ms and 5 of 10–20 × that`,
    groups: FARM_GROUPS.map((g, i) => ({ ...g, tests: longTail(g.version, 24, i) })),
    agents: FARM_AGENTS,
  },
  {
    name: 'many-orgs',
    description: `${MANY_ORGS} orgs × 1 group of 12 tests on 4 emulators, arriving over the first 2 s; tests ${TEST_MS} ms`,
    groups: Array.from({ length: MANY_ORGS }, (_, i) => ({
      org: `org${String(i).padStart(2, '0')}`,
      version: `m${i}`,
      target: 'emulator' as const,
      tests: plain(`m${i}`, 12),
      atMs: Math.round((i * 2000) / MANY_ORGS),
    })),
    agents: [
      { name: 'host-1', target: 'emulator', devices: 2 },
      { name: 'host-2', target: 'emulator', devices: 2 },
    ],
    perOrgDevices: true,
  },
];

function lowerBoundMs(w: Workload): number {
  let bound = 0;
  for (const target of new Set(w.agents.map((a) => a.target))) {
    const devices = w.agents.filter((a) => a.target === target).reduce((s, a) => s + a.devices, 0);
    const groups = w.groups.filter((g) => g.target === target);
    if (groups.length === 0 || devices === 0) continue;
    const tests = groups.flatMap((g) => g.tests.map((t) => t.ms));
    const work = tests.reduce((s, ms) => s + ms, 0) + groups.length * INSTALL_MS;
    bound = Math.max(bound, work / devices, INSTALL_MS + Math.max(...tests));
  }
  return bound;
}

function jain(values: number[]): number {
  const sum = values.reduce((a, b) => a + b, 0);
  const squares = values.reduce((a, b) => a + b * b, 0);
  return squares === 0 ? 1 : (sum * sum) / (values.length * squares);
}

async function waitIdle(client: QgjobClient): Promise<void> {
  for (;;) {
    const lists = await Promise.all(
      (['queued', 'assigned', 'running'] as const).map((status) => client.listJobs({ status, limit: 1 })),
    );
    if (lists.every((l) => l.jobs.length === 0)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function runOnce(w: Workload, policy: string, run: number): Promise<Row> {
  const store = await pgliteStore();
  const server = await startServerProcess([...store.args, `--policy=${policy}`]);
  const agents = w.agents.map((a, n) =>
    startAgent({
      server: server.url,
      executor: 'simulate',
      simInstallMs: INSTALL_MS,
      simTestMs: TEST_MS,
      logger: silentLogger,
      claimWaitMs: 2000,
      name: a.name,
      devices: Array.from({ length: a.devices }, (_, d) => ({ target: a.target, name: `${a.target}-${n}-${d}` })),
    }),
  );
  await Promise.all(agents.map((a) => a.ready));
  const client = new QgjobClient({ server: server.url });
  const started = Date.now();
  const ids: string[] = [];
  await Promise.all(
    w.groups.map(async (g) => {
      await new Promise((r) => setTimeout(r, g.atMs));
      const tests = g.tests.map((t) => t.path);
      const res = await client.submit({ org_id: g.org, app_version_id: g.version, target: g.target, tests });
      ids.push(...res.jobs.map((j) => j.id));
    }),
  );
  await waitIdle(client);
  const jobs: Job[] = await Promise.all(ids.map((id) => client.getJob(id)));
  await Promise.all(agents.map((a) => a.stop()));
  await server.stop();
  await store.cleanup();

  const time = (s: string | null | undefined) => Date.parse(s ?? '');
  const runs = jobs.flatMap((j) => j.runs.map((r) => ({ ...r, org: j.org_id })));
  const installs = runs.filter((r) => r.app_installed).length;
  const makespan = Math.max(...jobs.map((j) => time(j.finished_at))) - started;
  const waits = jobs.map((j) => time(j.started_at) - time(j.created_at)).sort((a, b) => a - b);
  const orgs = [...new Set(w.groups.map((g) => g.org))];
  const jobsOf = (o: string) => jobs.filter((j) => j.org_id === o);
  // From an org's first submit (its first job's created_at) to its first test starting.
  const firstStart = Math.max(
    ...orgs.map(
      (o) =>
        Math.min(...jobsOf(o).map((j) => time(j.started_at))) - Math.min(...jobsOf(o).map((j) => time(j.created_at))),
    ),
  );
  // Device time per org while every org had work: from the last arrival to the first org finishing.
  const from = started + Math.max(...w.groups.map((g) => g.atMs));
  const to = Math.min(...orgs.map((o) => Math.max(...jobsOf(o).map((j) => time(j.finished_at)))));
  const deviceTime = orgs.map((o) =>
    runs
      .filter((r) => r.org === o && r.started_at && r.finished_at)
      .reduce((sum, r) => {
        const s = time(r.started_at) - (r.app_installed ? INSTALL_MS : 0);
        const e = time(r.finished_at);
        return sum + Math.max(0, Math.min(e, to) - Math.max(s, from));
      }, 0),
  );
  const row: Row = {
    workload: w.name,
    policy,
    run,
    jobs: jobs.length,
    groups: w.groups.length,
    installs,
    'makespan s': (makespan / 1000).toFixed(2),
    'makespan / lower bound': (makespan / lowerBoundMs(w)).toFixed(2),
    'p95 queue wait s': (percentile(waits, 95) / 1000).toFixed(2),
    'max first-start s': (firstStart / 1000).toFixed(2),
    // No span where every org had work (one finished before the last arrived): no index.
    'Jain (orgs)': to > from ? jain(deviceTime).toFixed(3) : '-',
  };
  if (w.perOrgDevices) {
    const perOrg = orgs.map((o) => new Set(runs.filter((r) => r.org === o).map((r) => `${r.agent}/${r.device}`)).size);
    const average = perOrg.reduce((s, n) => s + n, 0) / orgs.length;
    const bound = 2 * orgs.length * average;
    row['devices used per org'] = average.toFixed(2);
    row['install bound (2 × orgs × devices/org)'] = bound.toFixed(1);
    row['installs ≤ bound'] = installs <= bound ? 'yes' : 'no';
  }
  row.failed = jobs.filter((j) => j.status !== 'passed').length;
  return row;
}

async function main(): Promise<void> {
  const unknown = WORKLOADS.filter((n) => !ALL_WORKLOADS.some((w) => w.name === n));
  if (unknown.length > 0)
    throw new Error(`unknown workload(s) ${unknown.join(', ')}; known: uniform, long-tail, many-orgs`);
  const rows: Row[] = [];
  for (const w of ALL_WORKLOADS.filter((x) => WORKLOADS.includes(x.name))) {
    const own: Row[] = [];
    for (const policy of POLICIES) {
      for (let run = 1; run <= RUNS; run++) own.push(await runOnce(w, policy, run));
    }
    console.log(
      `\nbench/farm ${w.name}: ${w.description}; install ${INSTALL_MS} ms; lower bound ${(lowerBoundMs(w) / 1000).toFixed(2)} s`,
    );
    console.log(table(own.map(({ workload: _, ...rest }) => rest)));
    rows.push(...own);
  }
  await writeResults('farm', {
    params: { WORKLOADS: WORKLOADS.join(','), POLICIES: POLICIES.join(','), RUNS, INSTALL_MS, TEST_MS },
    rows,
    notes: ALL_WORKLOADS.filter((w) => WORKLOADS.includes(w.name)).map(
      (w) => `${w.name}: ${w.description}; lower bound ${(lowerBoundMs(w) / 1000).toFixed(2)} s`,
    ),
  });
}

await main();
