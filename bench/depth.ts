/**
 * Queue depth: does dispatch slow down as the queue grows? For each depth, on a fresh
 * PostgreSQL database, a job-server process gets DEPTH queued jobs (20 orgs × 5 app versions,
 * target emulator, bulk submits of at most 1,000 tests, 4 in flight), the database is vacuumed
 * and analyzed (as autovacuum would have done by then), and one agent with 4 simulated
 * emulators (0 ms tests, 0 ms installs) starts. After a warm-up it runs MEASURE_JOBS jobs or
 * WINDOW_S seconds, whichever comes first; no depth measures more than half its queue, so the
 * queue stays deep throughout. Reported per depth:
 *   - jobs/s, from the server's qgjob_jobs_finished_total at the window's two ends;
 *   - the agent's claim and report round trips, timed client side (claims that came back
 *     with `batch: null` are counted apart, not timed with the others);
 *   - CPU ms per finished job of the job-server process and of PostgreSQL: every `postgres`
 *     process but the backends (and their parallel workers) of other databases, so tests on
 *     the same PostgreSQL do not count (utime + stime from /proc; a process that exits during
 *     the window is not counted);
 *   - report and log requests per job (the agent's round trips that bound a device's pace).
 *   npm run bench:depth     (DEPTHS=1000,10000,100000,1000000 MEASURE_JOBS=3000 WINDOW_S=30)
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { silentLogger, startAgent } from '@qgjob/agent';
import type { QgjobClient, RequestOptions } from '@qgjob/client';
import type { ClaimResponse, ReportRequest } from '@qgjob/protocol';
import pg from 'pg';
import {
  finishedCount,
  percentile,
  pool,
  postgresStore,
  type Row,
  request,
  requireBenchPostgres,
  startServerProcess,
  table,
  writeResults,
} from './lib.js';

const DEPTHS = (process.env.DEPTHS ?? '1000,10000,100000,1000000').split(',').map(Number);
const MEASURE_JOBS = Number(process.env.MEASURE_JOBS ?? 3000);
const WINDOW_S = Number(process.env.WINDOW_S ?? 30);
const WARMUP_JOBS = Number(process.env.WARMUP_JOBS ?? 300);
/** VACUUM=0: measure the freshly filled tables as they are (no VACUUM (ANALYZE)). */
const VACUUM = process.env.VACUUM !== '0';
const ORGS = 20;
const VERSIONS = 5;
const DEVICES = 4;
const PER_REQUEST = 1000;
const FILL_CONCURRENCY = 4;
const CLAIM = /^\/v1\/devices\/[^/]+\/claim$/;
const REPORT = /^\/v1\/batches\/[^/]+\/report$/;
const LOGS = /^\/v1\/batches\/[^/]+\/logs$/;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** utime + stime of a process, in clock ticks; undefined once it is gone. */
function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "pid (comm) ": state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

// A client backend's title: "postgres: 15/main: USER DATABASE HOST(PORT) ACTIVITY".
const BACKEND = /^postgres: [^:]+: \S+ (\S+) (?:\S+\(\d+\)|\[local\])/;
const PARALLEL = /^postgres: [^:]+: parallel worker for PID (\d+)/;

/**
 * CPU ticks by pid of the `postgres` processes that work for `database`: the postmaster and
 * background processes (shared by all databases), the database's backends and their
 * parallel workers; the backends of other databases are left out.
 */
function postgresTicks(database: string): Map<number, number> {
  const titles = new Map<number, string>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/comm`, 'utf8').trim() !== 'postgres') continue;
      titles.set(Number(name), readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ').trim());
    } catch {}
  }
  const ours = (title: string): boolean => {
    const backend = BACKEND.exec(title);
    if (backend) return backend[1] === database;
    const leader = PARALLEL.exec(title);
    if (leader) return ours(titles.get(Number(leader[1])) ?? '');
    return true;
  };
  const out = new Map<number, number>();
  for (const [pid, title] of titles) {
    if (!ours(title)) continue;
    const ticks = cpuTicks(pid);
    if (ticks !== undefined) out.set(pid, ticks);
  }
  return out;
}

function postgresMsSince(database: string, before: Map<number, number>): number {
  let ticks = 0;
  for (const [pid, now] of postgresTicks(database)) ticks += now - (before.get(pid) ?? 0);
  return (ticks * 1000) / CLK_TCK;
}

/** Queues `depth` jobs over ORGS × VERSIONS groups, the groups' requests interleaved; returns ms. */
async function fill(url: string, depth: number): Promise<number> {
  const groups = ORGS * VERSIONS;
  const size = (g: number) => Math.floor(depth / groups) + (g < depth % groups ? 1 : 0);
  // One small descriptor per request; each request's tests are made when it is sent.
  const chunks: { g: number; from: number; n: number }[] = [];
  for (let from = 0; from < size(0); from += PER_REQUEST) {
    for (let g = 0; g < groups; g++) {
      const n = Math.min(PER_REQUEST, size(g) - from);
      if (n > 0) chunks.push({ g, from, n });
    }
  }
  return pool(chunks.length, FILL_CONCURRENCY, async (i) => {
    const { g, from, n } = chunks[i] as (typeof chunks)[number];
    const org = `org${g % ORGS}`;
    const version = `v${Math.floor(g / ORGS)}`;
    const tests = Array.from({ length: n }, (_, k) => `tests/${org}/${version}/t${from + k}.spec.js`);
    const res = await request(`${url}/v1/jobs`, 'POST', {
      org_id: org,
      app_version_id: version,
      target: 'emulator',
      tests,
    });
    if (res.status !== 201) throw new Error(`submit answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
  });
}

async function queueDepth(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^qgjob_queue_depth\{target="emulator"\} (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

/** Finished jobs by /metrics, and when (the midpoint of the scrape). */
async function finishedAt(url: string): Promise<{ n: number; at: number }> {
  const started = performance.now();
  const n = await finishedCount(url);
  return { n, at: (started + performance.now()) / 2 };
}

async function vacuum(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const started = performance.now();
    await client.query('VACUUM (ANALYZE)');
    return performance.now() - started;
  } finally {
    await client.end();
  }
}

async function autovacuumSetting(): Promise<string> {
  const client = new pg.Client({ connectionString: requireBenchPostgres() });
  await client.connect();
  try {
    return (await client.query<{ autovacuum: string }>('SHOW autovacuum')).rows[0]?.autovacuum ?? '?';
  } finally {
    await client.end();
  }
}

interface Timing {
  measuring: boolean;
  claims: number[];
  emptyClaims: number;
  reports: number[];
  logs: number;
  /** Finish events in reports the server accepted (the window's stop condition). */
  finished: number;
}

/** Times the agent's claims and reports, and counts the finishes it reported. */
function timed(timing: Timing) {
  return (client: QgjobClient): QgjobClient => {
    const send = client.request.bind(client);
    client.request = (async (path: string, options?: RequestOptions) => {
      const started = performance.now();
      const answer = await send(path, options);
      const ms = performance.now() - started;
      if (CLAIM.test(path)) {
        if (timing.measuring) {
          if ((answer as ClaimResponse).batch) timing.claims.push(ms);
          else timing.emptyClaims++;
        }
      } else if (REPORT.test(path)) {
        const finishes = ((options?.body as ReportRequest | undefined)?.events ?? []).filter(
          (e) => e.type === 'finish',
        ).length;
        timing.finished += finishes;
        if (timing.measuring) timing.reports.push(ms);
      } else if (LOGS.test(path) && timing.measuring) {
        timing.logs++;
      }
      return answer;
    }) as QgjobClient['request'];
    return client;
  };
}

async function measure(depth: number): Promise<Row> {
  const store = await postgresStore();
  const server = await startServerProcess([...store.args, '--max-queued-per-org=10000000']);
  const pid = server.child.pid as number;
  const database = new URL(store.url as string).pathname.slice(1);
  let agent: ReturnType<typeof startAgent> | undefined;
  try {
    const fillMs = await fill(server.url, depth);
    const queued = await queueDepth(server.url);
    if (queued !== depth) throw new Error(`queued ${queued} jobs, not ${depth}`);
    const vacuumMs = VACUUM ? await vacuum(store.url as string) : 0;
    console.error(
      `depth ${depth}: filled in ${(fillMs / 1000).toFixed(1)} s (${Math.round(depth / (fillMs / 1000))} jobs/s)` +
        (VACUUM ? `, VACUUM (ANALYZE) ${(vacuumMs / 1000).toFixed(1)} s` : ''),
    );

    const warmup = Math.min(WARMUP_JOBS, Math.floor(depth / 10));
    const target = Math.min(MEASURE_JOBS, Math.floor(depth / 2));
    const timing: Timing = { measuring: false, claims: [], emptyClaims: 0, reports: [], logs: 0, finished: 0 };
    agent = startAgent({
      server: server.url,
      name: 'depth-bench',
      executor: 'simulate',
      simTestMs: 0,
      simInstallMs: 0,
      logger: silentLogger,
      devices: Array.from({ length: DEVICES }, (_, d) => ({ target: 'emulator' as const, name: `e${d}` })),
      wrapClient: timed(timing),
    });
    await agent.ready;
    const warmDeadline = performance.now() + 120_000;
    while (timing.finished < warmup) {
      if (performance.now() > warmDeadline) throw new Error(`warm-up: ${timing.finished} of ${warmup} jobs in 120 s`);
      await new Promise((r) => setTimeout(r, 5));
    }

    const start = await finishedAt(server.url);
    const serverBefore = cpuTicks(pid) as number;
    const postgresBefore = postgresTicks(database);
    timing.measuring = true;
    const deadline = performance.now() + WINDOW_S * 1000;
    const stopAt = timing.finished + target;
    while (timing.finished < stopAt && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    timing.measuring = false;
    const serverMs = (((cpuTicks(pid) as number) - serverBefore) * 1000) / CLK_TCK;
    const postgresMs = postgresMsSince(database, postgresBefore);
    const end = await finishedAt(server.url);

    const jobs = end.n - start.n;
    const seconds = (end.at - start.at) / 1000;
    const claims = timing.claims.sort((a, b) => a - b);
    const reports = timing.reports.sort((a, b) => a - b);
    return {
      depth,
      'fill s': (fillMs / 1000).toFixed(1),
      jobs,
      'window s': seconds.toFixed(1),
      'jobs/s': Math.round(jobs / seconds),
      'jobs/batch': (jobs / Math.max(1, claims.length)).toFixed(1),
      'claim p50 ms': percentile(claims, 50).toFixed(1),
      'claim p99 ms': percentile(claims, 99).toFixed(1),
      'empty claims': timing.emptyClaims,
      'report p50 ms': percentile(reports, 50).toFixed(1),
      'report p99 ms': percentile(reports, 99).toFixed(1),
      'reports/job': (reports.length / jobs).toFixed(2),
      'log sends/job': (timing.logs / jobs).toFixed(2),
      'server CPU ms/job': (serverMs / jobs).toFixed(2),
      'PostgreSQL CPU ms/job': (postgresMs / jobs).toFixed(2),
    };
  } finally {
    await agent?.stop();
    await server.stop();
    await store.cleanup();
  }
}

async function main(): Promise<void> {
  requireBenchPostgres();
  const autovacuum = await autovacuumSetting();
  const rows: Row[] = [];
  for (const depth of DEPTHS) rows.push(await measure(depth));
  console.log(
    `bench/depth: ${DEPTHS.join(', ')} queued jobs (${ORGS} orgs × ${VERSIONS} app versions, emulator); ` +
      `1 agent, ${DEVICES} devices, 0 ms tests and installs; each depth measured over ≤ ${MEASURE_JOBS} jobs ` +
      `(≤ half its queue) or ${WINDOW_S} s after ${WARMUP_JOBS} warm-up jobs (≤ a tenth); PostgreSQL autovacuum ${autovacuum}` +
      (VACUUM ? ', VACUUM (ANALYZE) after each fill' : ', no VACUUM after the fill'),
  );
  console.log(table(rows));
  const notes: string[] = [];
  const rate = (depth: number) => Number(rows.find((r) => r.depth === depth)?.['jobs/s']);
  const [smallest, largest] = [Math.min(...DEPTHS), Math.max(...DEPTHS)];
  if (largest > smallest) {
    const ratio = rate(largest) / rate(smallest);
    const line = `jobs/s at depth ${largest} ÷ at depth ${smallest}: ${ratio.toFixed(2)} (goal ≥ 0.90: ${ratio >= 0.9 ? 'met' : 'not met'})`;
    console.log(line);
    notes.push(line);
  }
  await writeResults('depth', {
    params: {
      DEPTHS: DEPTHS.join(','),
      MEASURE_JOBS,
      WINDOW_S,
      WARMUP_JOBS,
      VACUUM,
      ORGS,
      VERSIONS,
      DEVICES,
      autovacuum,
    },
    rows,
    notes,
    postgresUrl: requireBenchPostgres(),
  });
}

await main();
