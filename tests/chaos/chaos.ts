/**
 * A farm under faults, checked afterwards. Job-servers and agents are real processes
 * (agents with the `simulate` executor); while jobs run, the runner SIGKILLs a
 * job-server and an agent, and can restart PostgreSQL. Then it checks, in SQL:
 *   every job reached a terminal status · no job has two overlapping runs · no job passed
 *   twice · no submitted job is missing · no run is left `running` · the run took bounded time.
 * With `blackHole`, one more agent owns a device whose every install fails (the command
 * executor with `--install-command=false`); then also: no job errored because of it, it was
 * quarantined, and it leased no more batches than the quarantine allows.
 * Used by `npm run chaos` (full size) and by a short test in `npm test`.
 */
import { type ChildProcess, execSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { QgjobClient } from '@qgjob/client';
import { openPglite, openPostgres, type Queryable } from '@qgjob/server';

const AGENT_MAIN = fileURLToPath(new URL('../../packages/agent/src/main.ts', import.meta.url));
const SERVER_MAIN = fileURLToPath(new URL('../../packages/server/src/main.ts', import.meta.url));

export interface ChaosOptions {
  /** PostgreSQL database to use (several job-servers), or a PGlite data directory (one). */
  store: { databaseUrl: string } | { dataDir: string };
  servers: number;
  agents: number;
  devicesPerAgent: number;
  jobs: number;
  testMs: number;
  installMs: number;
  leaseMs: number;
  sweepMs: number;
  restartPostgres: boolean;
  /** Add a device whose installs always fail. */
  blackHole?: boolean;
  timeoutMs: number;
  log?: (line: string) => void;
}

export interface Invariant {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ChaosReport {
  invariants: Invariant[];
  wallMs: number;
  events: string[];
  statuses: Record<string, number>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
  output: () => string;
}

function start(args: string[], ready?: RegExp): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    env: { ...process.env, LOG_LEVEL: 'warn', QGJOB_AGENT_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out = (out + d).slice(-20_000);
  });
  child.stderr?.on('data', (d) => {
    out = (out + d).slice(-20_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const proc = { child, exited, output: () => out };
  if (!ready) return Promise.resolve(proc);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not start:\n${out}`)), 60_000);
    const check = () => {
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve(proc);
      }
    };
    child.stderr?.on('data', check);
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`exited before ready:\n${out}`));
    });
  });
}

async function stop(p: Proc | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill(signal);
  await p.exited;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => {});
  const events: string[] = [];
  const event = (e: string) => {
    events.push(e);
    log(e);
  };
  const storeArgs =
    'databaseUrl' in o.store ? [`--database-url=${o.store.databaseUrl}`] : [`--data-dir=${o.store.dataDir}`];
  const ports = await Promise.all(Array.from({ length: o.servers }, freePort));
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const serverArgs = (port: number) => [
    SERVER_MAIN,
    `--port=${port}`,
    '--open',
    `--lease-ms=${o.leaseMs}`,
    `--sweep-ms=${o.sweepMs}`,
    ...storeArgs,
  ];
  const servers: (Proc | undefined)[] = [];
  for (const port of ports) servers.push(await start(serverArgs(port), /listening on/));
  const agentArgs = (name: string) => [
    AGENT_MAIN,
    `--server=${urls.join(',')}`,
    `--name=${name}`,
    '--executor=simulate',
    `--sim-test-ms=${o.testMs}`,
    `--sim-install-ms=${o.installMs}`,
    '--grace=2s',
    ...Array.from({ length: o.devicesPerAgent }, (_, d) => `--device=emulator:${name}-d${d}`),
  ];
  const agents: Proc[] = [];
  for (let a = 0; a < o.agents; a++) agents.push(await start(agentArgs(`chaos-agent-${a}`)));
  if (o.blackHole) {
    const args = ['--executor=command', '--command=true', '--install-command=false', '--grace=2s'];
    agents.push(
      await start([
        AGENT_MAIN,
        `--server=${urls.join(',')}`,
        '--name=chaos-black-hole',
        ...args,
        `--device=emulator:${BLACK_HOLE}`,
      ]),
    );
  }

  const client = new QgjobClient({ server: urls, timeoutMs: 10_000, attempts: 20 });
  const started = Date.now();
  const ids: string[] = [];
  const groups = 12;
  const perGroup = Math.ceil(o.jobs / groups);
  for (let g = 0; g < groups && ids.length < o.jobs; g++) {
    const n = Math.min(perGroup, o.jobs - ids.length);
    const tests = Array.from({ length: n }, (_, i) => `tests/g${g}/t${i}.spec.js`);
    const res = await client.submit(
      { org_id: `org${g % 4}`, app_version_id: `v${g}`, tests, max_retries: g % 3 === 0 ? 1 : 0 },
      { idempotencyKey: `chaos-${started}-${g}` },
    );
    ids.push(...res.jobs.map((j) => j.id));
  }
  event(`submitted ${ids.length} jobs in ${groups} groups to ${urls.length} job-server(s)`);

  // The faults are timed from when work is under way (agents take a moment to start).
  while ((await client.listJobs({ status: 'running', limit: 1 })).jobs.length === 0) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const working = Date.now();
  event(`work under way ${((working - started) / 1000).toFixed(1)} s after the submit`);
  const devices = o.agents * o.devicesPerAgent;
  const expectedMs = (o.jobs * o.testMs) / devices + (groups * o.installMs) / devices;
  const at = (fraction: number) =>
    new Promise((r) => setTimeout(r, Math.max(0, working + expectedMs * fraction - Date.now())));

  const chaos = (async () => {
    await at(0.15);
    const victim = o.servers - 1;
    await stop(servers[victim], 'SIGKILL');
    event(`SIGKILL job-server ${victim + 1} (${urls[victim]})`);
    if (o.servers === 1) {
      servers[victim] = await start(serverArgs(ports[victim] as number), /listening on/);
      event(`restarted job-server ${victim + 1} on the same store`);
    }
    await at(0.3);
    const busy = (await client.listJobs({ status: 'running', limit: 500 }).catch(() => ({ jobs: [] }))).jobs.length;
    await stop(agents[0], 'SIGKILL');
    event(`SIGKILL agent 0 with ${busy} jobs running on the farm (its leases will expire)`);
    agents.push(await start(agentArgs('chaos-agent-replacement')));
    event('started a replacement agent');
    if (o.restartPostgres) {
      await at(0.45);
      const version = execSync('ls /etc/postgresql').toString().trim().split('\n')[0];
      execSync(`pg_ctlcluster --skip-systemctl-redirect ${version} main restart -m fast`, { stdio: 'ignore' });
      event('restarted PostgreSQL');
    }
    if (o.servers > 1) {
      await at(0.6);
      servers[victim] = await start(serverArgs(ports[victim] as number), /listening on/);
      event(`restarted job-server ${victim + 1}`);
    }
  })();

  const terminal = new Set(['passed', 'failed', 'errored', 'cancelled']);
  let finished = false;
  while (Date.now() - started < o.timeoutMs) {
    try {
      const pending = await Promise.all(
        ['queued', 'assigned', 'running'].map((status) => client.listJobs({ status: status as 'queued', limit: 1 })),
      );
      if (pending.every((p) => p.jobs.length === 0)) {
        finished = true;
        break;
      }
    } catch {
      // a job-server or the database is down at this moment: try again
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await chaos;
  const wallMs = Date.now() - started;
  event(finished ? `all jobs finished after ${(wallMs / 1000).toFixed(1)} s` : 'timed out waiting for the jobs');

  await Promise.all(agents.map((a) => stop(a)));
  await Promise.all(servers.map((s) => stop(s)));

  const db =
    'databaseUrl' in o.store
      ? await openPostgres({ url: o.store.databaseUrl, poolSize: 2 })
      : await openPglite({ dataDir: o.store.dataDir });
  try {
    const report = await check(db, ids, terminal);
    if (o.blackHole) report.invariants.push(...(await checkBlackHole(db, report.statuses, wallMs)));
    report.invariants.push({
      name: 'total time bounded',
      ok: finished,
      detail: `${(wallMs / 1000).toFixed(1)} s (limit ${(o.timeoutMs / 1000).toFixed(0)} s)`,
    });
    return { ...report, wallMs, events };
  } finally {
    await db.close();
  }
}

const BLACK_HOLE = 'black-hole';
/** The server's defaults: quarantined after 3 failures in a row, for 30 s, doubling. */
const QUARANTINE_AFTER = 3;
const COOL_DOWN_MS = 30_000;

async function checkBlackHole(db: Queryable, statuses: Record<string, number>, wallMs: number): Promise<Invariant[]> {
  const leased = await count(
    db,
    `SELECT count(*)::int AS n FROM batches b JOIN devices d ON d.id = b.device_id WHERE d.name = $1`,
    [BLACK_HOLE],
  );
  // A batch still leased when the run ends has not failed yet: its lease has not expired.
  const ended = await count(
    db,
    `SELECT count(*)::int AS n FROM batches b JOIN devices d ON d.id = b.device_id
      WHERE d.name = $1 AND b.finished_at IS NOT NULL`,
    [BLACK_HOLE],
  );
  const quarantines = await count(db, 'SELECT coalesce(max(quarantines), 0)::int AS n FROM devices WHERE name = $1', [
    BLACK_HOLE,
  ]);
  // How each of its batches ended, in order: its state, and what its jobs' runs say.
  const { rows: endings } = await db.query<{ state: string; install: boolean; errors: string | null }>(
    `SELECT b.state, b.install,
            (SELECT string_agg(DISTINCT coalesce(r.status || ': ' || left(r.error, 60), r.status), '; ')
               FROM runs r WHERE r.batch_id = b.id) AS errors
       FROM batches b JOIN devices d ON d.id = b.device_id WHERE d.name = $1 ORDER BY b.created_at`,
    [BLACK_HOLE],
  );
  const how = endings.map((e) => `${e.state}${e.install ? ' (install)' : ''}${e.errors ? ` [${e.errors}]` : ''}`);
  // K batches, then one probe per cool-down that ended within the run (30 s, 60 s, 120 s …).
  let probes = 0;
  for (let t = COOL_DOWN_MS; t <= wallMs; t += COOL_DOWN_MS * 2 ** (probes + 1)) probes++;
  const bound = QUARANTINE_AFTER + probes;
  const errored = statuses.errored ?? 0;
  return [
    {
      name: 'the black-hole device swallowed no job',
      ok: errored === 0,
      detail: `${errored} jobs errored; every job it took passed on another device`,
    },
    {
      name: 'the black-hole device was quarantined and leased few batches',
      // Quarantined once K of its batches failed in a row; a short run may end before K did.
      ok: leased <= bound && (ended < QUARANTINE_AFTER || quarantines >= 1),
      detail: `${leased} batches leased, ${ended} of them ended (bound ${bound}: ${QUARANTINE_AFTER} then ${probes} probe(s)), quarantined ${quarantines} time(s); batches: ${how.join(', ') || 'none'}`,
    },
  ];
}

async function count(db: Queryable, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.query<{ n: number }>(sql, params);
  return Number(rows[0]?.n ?? 0);
}

async function check(
  db: Queryable,
  ids: string[],
  terminal: Set<string>,
): Promise<{ invariants: Invariant[]; statuses: Record<string, number> }> {
  const { rows } = await db.query<{ status: string; n: number }>(
    'SELECT status, count(*)::int AS n FROM jobs WHERE id = ANY($1::text[]) GROUP BY status',
    [ids],
  );
  const statuses = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  const notTerminal = rows.filter((r) => !terminal.has(r.status)).reduce((s, r) => s + Number(r.n), 0);
  const missing = await count(
    db,
    'SELECT count(*)::int AS n FROM unnest($1::text[]) AS s(id) WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = s.id)',
    [ids],
  );
  const overlapping = await count(
    db,
    `SELECT count(DISTINCT a.job_id)::int AS n FROM runs a JOIN runs b ON a.job_id = b.job_id AND a.id < b.id
      WHERE a.started_at < coalesce(b.finished_at, 'infinity') AND b.started_at < coalesce(a.finished_at, 'infinity')`,
  );
  const passedTwice = await count(
    db,
    `SELECT count(*)::int AS n FROM (SELECT job_id FROM runs WHERE status = 'passed' GROUP BY job_id HAVING count(*) > 1) x`,
  );
  const passedWithoutRun = await count(
    db,
    `SELECT count(*)::int AS n FROM jobs j WHERE j.status = 'passed'
        AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.job_id = j.id AND r.status = 'passed')`,
  );
  const stillRunning = await count(db, `SELECT count(*)::int AS n FROM runs WHERE status = 'running'`);
  const lost = await count(db, `SELECT count(*)::int AS n FROM runs WHERE status = 'lost'`);
  return {
    statuses,
    invariants: [
      {
        name: 'every job reached a terminal status',
        ok: notTerminal === 0,
        detail: `${notTerminal} not terminal; ${JSON.stringify(statuses)}`,
      },
      {
        name: 'no job lost',
        ok: missing === 0 && Object.values(statuses).reduce((a, b) => a + b, 0) === ids.length,
        detail: `${missing} of ${ids.length} missing`,
      },
      {
        name: 'no job has two overlapping runs',
        ok: overlapping === 0,
        detail: `${overlapping} jobs with overlapping runs (${lost} runs lost to faults, each re-run after)`,
      },
      {
        name: 'no job recorded passed twice',
        ok: passedTwice === 0 && passedWithoutRun === 0,
        detail: `${passedTwice} passed twice, ${passedWithoutRun} passed without a passed run`,
      },
      { name: 'no run left running', ok: stillRunning === 0, detail: `${stillRunning} runs still running` },
    ],
  };
}

export function formatReport(title: string, r: ChaosReport): string {
  return [
    title,
    ...r.events.map((e) => `  · ${e}`),
    ...r.invariants.map((i) => `  ${i.ok ? '✓' : '✗'} ${i.name}: ${i.detail}`),
  ].join('\n');
}
