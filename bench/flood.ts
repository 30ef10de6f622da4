/**
 * npm run bench:flood — one org floods: submits at 10× its rate limit for 30 s, while
 * another org submits one job every 500 ms. A job-server process in tokens mode, on
 * PGlite, with a simulated agent of 4 devices (tests of 200 ms). Prints the calm org's
 * submit successes and submit→start latency, the flood's 201/429 counts, and /healthz
 * latency measured every 50 ms throughout.
 *   DURATION_S=30 RATE=20 npm run bench:flood
 */
import { silentLogger, startAgent } from '@qgjob/agent';
import { QgjobClient } from '@qgjob/client';
import { percentile, pgliteStore, request, startServerProcess, table, writeResults } from './lib.js';

const DURATION_S = Number(process.env.DURATION_S ?? 30);
const RATE = Number(process.env.RATE ?? 20);
const ADMIN = 'bench-admin-token-0123456789abcdef';

async function main(): Promise<void> {
  const store = await pgliteStore();
  const server = await startServerProcess(
    [...store.args, `--rate-limit-submits=${RATE}`],
    { QGJOB_ADMIN_TOKEN: ADMIN },
    { open: false },
  );
  const admin = new QgjobClient({ server: server.url, token: ADMIN });
  const make = async (body: object) => admin.request<{ token: string }>('/v1/tokens', { method: 'POST', body });
  const flood = (await make({ kind: 'org', org_id: 'flood', name: 'bench' })).token;
  const calm = (await make({ kind: 'org', org_id: 'calm', name: 'bench' })).token;
  const agentToken = (await make({ kind: 'agent', name: 'bench' })).token;
  const agent = startAgent({
    server: server.url,
    token: agentToken,
    name: 'flood-bench',
    executor: 'simulate',
    simTestMs: 200,
    simInstallMs: 100,
    logger: silentLogger,
    devices: [0, 1, 2, 3].map((i) => ({ target: 'emulator' as const, name: `e${i}` })),
  });
  await agent.ready;
  const end = Date.now() + DURATION_S * 1000;
  const floodCodes = new Map<number, number>();
  const calmIds: string[] = [];
  let calmFailed = 0;
  const health: number[] = [];
  const auth = (t: string) => ({ authorization: `Bearer ${t}` });

  const flooding = (async () => {
    // 10× the rate: one submit every 1000 / (10 × RATE) ms, fired without waiting for answers.
    const gap = 1000 / (10 * RATE);
    let i = 0;
    const inflight: Promise<void>[] = [];
    for (let next = Date.now(); Date.now() < end; next += gap) {
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      const n = i++;
      inflight.push(
        request(
          `${server.url}/v1/jobs`,
          'POST',
          { org_id: 'flood', app_version_id: `f${n % 5}`, test_path: `f/${n}.js` },
          auth(flood),
        ).then((r) => {
          floodCodes.set(r.status, (floodCodes.get(r.status) ?? 0) + 1);
        }),
      );
    }
    await Promise.all(inflight);
  })();
  const calming = (async () => {
    for (let i = 0; Date.now() < end; i++) {
      const r = await request(
        `${server.url}/v1/jobs`,
        'POST',
        { org_id: 'calm', app_version_id: 'c', test_path: `c/${i}.js` },
        auth(calm),
      );
      if (r.status === 201) calmIds.push((r.body as { jobs: { id: string }[] }).jobs[0]?.id as string);
      else calmFailed++;
      await new Promise((res) => setTimeout(res, 500));
    }
  })();
  const probing = (async () => {
    while (Date.now() < end) {
      const t = performance.now();
      await request(`${server.url}/healthz`, 'GET');
      health.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  await Promise.all([flooding, calming, probing]);
  // Give the last calm jobs a moment to start, then read their start times.
  await new Promise((r) => setTimeout(r, 3000));
  const calmClient = new QgjobClient({ server: server.url, token: calm });
  const waits: number[] = [];
  let notStarted = 0;
  for (const id of calmIds) {
    const job = await calmClient.getJob(id);
    if (job.started_at) waits.push(Date.parse(job.started_at) - Date.parse(job.created_at));
    else notStarted++;
  }
  waits.sort((a, b) => a - b);
  health.sort((a, b) => a - b);
  await agent.stop();
  await server.stop();
  await store.cleanup();
  console.log(
    `bench/flood: ${DURATION_S} s; org "flood" at 10 × its limit of ${RATE} submits/s; org "calm" one submit every 500 ms; 4 devices, 200 ms tests`,
  );
  const rows = [
    {
      'calm submits ok': `${calmIds.length} of ${calmIds.length + calmFailed}`,
      'calm submit→start p50 / p99 ms': `${percentile(waits, 50).toFixed(0)} / ${percentile(waits, 99).toFixed(0)}`,
      'calm not started': notStarted,
      'flood 201': floodCodes.get(201) ?? 0,
      'flood 429': floodCodes.get(429) ?? 0,
      'flood other': [...floodCodes].filter(([c]) => c !== 201 && c !== 429).reduce((s, [, n]) => s + n, 0),
      '/healthz p50 / p99 ms': `${percentile(health, 50).toFixed(1)} / ${percentile(health, 99).toFixed(1)}`,
    },
  ];
  console.log(table(rows));
  await writeResults('flood', { params: { DURATION_S, RATE, DEVICES: 4, TEST_MS: 200, INSTALL_MS: 100 }, rows });
}

await main();
