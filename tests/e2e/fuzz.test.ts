/**
 * The last line of defence: every operation of the server's own OpenAPI document, sent a
 * fixed-seed set of hostile requests (one thing changed each: NUL, lone surrogates,
 * lookalikes, traversal, lengths past every limit, huge and negative numbers, nesting
 * 100,000 deep, invalid UTF-8, duplicates, wrong types, extra and missing fields, methods a
 * path does not take), with every kind of credential. No answer is a 5xx; every answer has a
 * documented status, a body that matches its documented schema, the error shape when it is
 * an error, and the security headers. Afterwards the server is healthy and the jobs seeded
 * before it are as they were.
 *
 * A failure prints the request as a curl line to reproduce it.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { type RunningServer, startServer } from '@qgjob/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adapters, type TestDb } from '../helpers/db.js';
import {
  type Cred,
  type Fixtures,
  type FuzzCase,
  generateCases,
  render,
  reproduction,
  resolveCred,
} from '../helpers/fuzz/generate.js';
import { send } from '../helpers/fuzz/http.js';
import {
  conformanceProblems,
  type OpenApiDocument,
  type Operation,
  operations,
  opKey,
} from '../helpers/fuzz/openapi.js';

const ADMIN = 'fuzz-admin-token-0123456789abcdef';
const SEED = 0x5eed_f022;
/** Mutated cases per operation, besides the valid request once per credential. */
const PER_OPERATION = 60;
const REQUEST_TIMEOUT_MS = 10_000;

interface JobSummary {
  id: string;
  status: string;
  test_path: string;
  [field: string]: unknown;
}

interface AgentView {
  id: string;
  name: string;
  devices: { id: string; name: string; target: string }[];
}

interface Seeded {
  jobs: JobSummary[];
  submissionId: string;
  victimJobId: string;
  victimTokenId: string;
  agentId: string;
  agentName: string;
  deviceId: string;
  batchId: string;
  batchJobId: string;
  /** A BrowserStack batch, for the browserstack-app operations. */
  bsBatchId: string;
  sha256: string;
  artifactName: string;
  agents: AgentView[];
}

interface Failure {
  c: FuzzCase;
  cred: Cred | 'hostile';
  status: number | string;
  problems: string[];
  body: string;
  repro: string;
  log: string[];
}

describe.each(adapters)('fuzz from the OpenAPI document ($name)', (adapter) => {
  let store: TestDb;
  let server: RunningServer;
  let base: URL;
  const tokens: Record<Cred, string | undefined> = { none: undefined, org: undefined, agent: undefined, admin: ADMIN };
  const errorLog: string[] = [];
  let seeded: Seeded;

  async function api<T>(
    method: string,
    path: string,
    token: string | undefined,
    body?: unknown,
    raw?: Buffer,
  ): Promise<T> {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (raw) headers['content-type'] = 'application/octet-stream';
    const res = await fetch(new URL(path, base), {
      method,
      headers,
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`seeding: ${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async function listAcme(): Promise<JobSummary[]> {
    const jobs: JobSummary[] = [];
    let cursor: string | null = null;
    do {
      const page: { jobs: JobSummary[]; next_cursor: string | null } = await api(
        'GET',
        `/v1/jobs?org_id=acme&limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        ADMIN,
      );
      jobs.push(...page.jobs);
      cursor = page.next_cursor;
    } while (cursor);
    return jobs;
  }

  beforeAll(async () => {
    store = await adapter.open();
    server = await startServer({
      db: store.db,
      port: 0,
      host: '127.0.0.1',
      memory: true,
      auth: { mode: 'tokens', adminToken: ADMIN },
      // The fuzzer is one org sending a thousand requests: the rate limit would hide them.
      limits: { submitsPerSecond: 100_000, readsPerSecond: 100_000 },
      logger: { level: 'error', stream: { write: (line: string) => void errorLog.push(line) } },
    });
    base = new URL(server.url);

    const token = (body: object) => api<{ id: string; token: string }>('POST', '/v1/tokens', ADMIN, body);
    tokens.org = (await token({ kind: 'org', org_id: 'acme', name: 'fuzz-acme' })).token;
    tokens.agent = (await token({ kind: 'agent', name: 'fuzz-lab' })).token;
    const victimToken = await token({ kind: 'org', org_id: 'acme', name: 'fuzz-victim' });

    // An app build for acme.
    const build = Buffer.from('fuzz app build bytes');
    const sha256 = createHash('sha256').update(build).digest('hex');
    await api('PUT', `/v1/blobs/${sha256}?org_id=acme&kind=app`, tokens.org, undefined, build);
    await api('POST', '/v1/apps', tokens.org, { org_id: 'acme', app_version_id: 'v1', sha256, filename: 'app.apk' });

    // The jobs that must come through unchanged: target device, which no device here serves.
    const submission = await api<{ submission_id: string }>('POST', '/v1/jobs', tokens.org, {
      org_id: 'acme',
      app_version_id: 'v1',
      target: 'device',
      tests: ['tests/a.spec.js', 'tests/b.spec.js', 'tests/c.spec.js'],
    });
    // A job the cancel operation may cancel.
    const victim = await api<{ jobs: { id: string }[] }>('POST', '/v1/jobs', tokens.org, {
      org_id: 'acme',
      app_version_id: 'v1',
      target: 'device',
      test_path: 'tests/victim.spec.js',
    });

    // An agent with two emulators and a BrowserStack device: emu-1 holds a batch of org beta
    // whose job runs and has left a file; bs-1 a BrowserStack batch of beta's registered build;
    // emu-2 is the one the device operations (claim, drain, enable) are aimed at, since a claim
    // for emu-1 or bs-1 would end the batch the batch operations are aimed at.
    const agentName = 'lab-1';
    const registered = await api<{ agent_id: string; devices: { id: string; name: string }[] }>(
      'POST',
      '/v1/agents/register',
      tokens.agent,
      {
        name: agentName,
        devices: [
          { name: 'emu-1', target: 'emulator' },
          { name: 'emu-2', target: 'emulator' },
          { name: 'bs-1', target: 'browserstack' },
        ],
      },
    );
    const batchDeviceId = registered.devices.find((d) => d.name === 'emu-1')?.id as string;
    const deviceId = registered.devices.find((d) => d.name === 'emu-2')?.id as string;
    await api('POST', '/v1/jobs', ADMIN, {
      org_id: 'beta',
      app_version_id: 'b1',
      target: 'emulator',
      test_path: 'tests/beta.spec.js',
    });
    const claimed = await api<{ batch: { id: string; jobs: { id: string }[] } | null }>(
      'POST',
      `/v1/devices/${batchDeviceId}/claim?wait_ms=2000`,
      tokens.agent,
    );
    if (!claimed.batch) throw new Error('seeding: the emulator got no batch');
    const batchId = claimed.batch.id;
    const batchJobId = claimed.batch.jobs[0]?.id as string;
    await api('POST', `/v1/batches/${batchId}/report`, tokens.agent, {
      events: [{ type: 'start', job_id: batchJobId }],
    });
    await api('PUT', `/v1/blobs/${sha256}?org_id=beta&kind=app`, ADMIN, undefined, build);
    await api('POST', '/v1/apps', ADMIN, { org_id: 'beta', app_version_id: 'bs1', sha256 });
    await api('POST', '/v1/jobs', ADMIN, {
      org_id: 'beta',
      app_version_id: 'bs1',
      target: 'browserstack',
      test_path: 'tests/bs.spec.js',
    });
    const bsDeviceId = registered.devices.find((d) => d.name === 'bs-1')?.id as string;
    const bsClaimed = await api<{ batch: { id: string } | null }>(
      'POST',
      `/v1/devices/${bsDeviceId}/claim?wait_ms=2000`,
      tokens.agent,
    );
    if (!bsClaimed.batch) throw new Error('seeding: the BrowserStack device got no batch');
    const artifactName = 'shots/fuzz.png';
    await api(
      'PUT',
      `/v1/batches/${batchId}/artifacts?job_id=${batchJobId}&name=${encodeURIComponent(artifactName)}`,
      tokens.agent,
      undefined,
      Buffer.from('png bytes'),
    );

    const jobs = await listAcme();
    const submitted = jobs.filter((j) => j.submission_id === submission.submission_id);
    expect(submitted).toHaveLength(3);
    const agents = (await api<{ agents: AgentView[] }>('GET', '/v1/agents', ADMIN)).agents;
    seeded = {
      jobs: submitted,
      submissionId: submission.submission_id,
      victimJobId: victim.jobs[0]?.id as string,
      victimTokenId: victimToken.id,
      agentId: registered.agent_id,
      agentName,
      deviceId,
      batchId,
      batchJobId,
      bsBatchId: bsClaimed.batch.id,
      sha256,
      artifactName,
      agents,
    };
  });

  afterAll(async () => {
    await server?.close();
    await store?.drop();
  });

  /** Valid values for each operation: the seeded rows, and bodies that pass the cross-field rules. */
  function fixtures(): Fixtures {
    const s = seeded;
    return {
      param(op, name) {
        if (name === 'sha256') return s.sha256;
        if (name === 'n') return '1';
        if (name === '*') return s.artifactName;
        const collection = /\/([a-z-]+)\/\{id\}/.exec(op.path)?.[1];
        switch (collection) {
          case 'jobs':
            if (op.path.endsWith('/cancel')) return s.victimJobId;
            return /\/(logs|artifacts|runs)/.test(op.path) ? s.batchJobId : s.jobs[0]?.id;
          case 'submissions':
            return s.submissionId;
          case 'devices':
            return s.deviceId;
          case 'agents':
            return s.agentName;
          case 'batches':
            return op.path.endsWith('/browserstack-app') ? s.bsBatchId : s.batchId;
          case 'tokens':
            return s.victimTokenId;
          default:
            return undefined;
        }
      },
      query(op): Record<string, string> {
        switch (opKey(op)) {
          case 'POST /v1/devices/{id}/claim':
            return { wait_ms: '0' };
          case 'GET /v1/jobs':
            return { org_id: 'acme' };
          case 'GET /v1/apps':
            return { org_id: 'acme', app_version_id: 'v1' };
          case 'PUT /v1/blobs/{sha256}':
            return { org_id: 'acme', kind: 'bundle' };
          case 'PUT /v1/batches/{id}/artifacts':
            return { job_id: s.batchJobId, name: 'fuzz/out.txt' };
          default:
            return {};
        }
      },
      body(op) {
        switch (opKey(op)) {
          case 'POST /v1/jobs':
            return {
              org_id: 'acme',
              app_version_id: 'fuzz-v1',
              test_path: 'tests/fuzz.spec.js',
              priority: 5,
              target: 'device',
              max_retries: 0,
            };
          case 'POST /v1/agents/register':
            return {
              name: 'fuzz-agent',
              version: '1.0.0',
              devices: [
                { name: 'fz-1', target: 'emulator' },
                { name: 'fz-2', target: 'device' },
              ],
              browserstack: { account: 'fuzz', parallel_limit: 2 },
            };
          case 'POST /v1/batches/{id}/report':
            return {
              events: [{ type: 'start', job_id: s.batchJobId }],
              logs: [{ job_id: s.batchJobId, stream: 'stdout', text: 'fuzz' }],
            };
          case 'POST /v1/batches/{id}/logs':
            return { chunks: [{ job_id: s.batchJobId, stream: 'stdout', text: 'fuzz output', dropped: 0 }] };
          case 'POST /v1/tokens':
            return { kind: 'org', org_id: 'fuzzorg', name: 'fuzz', expires_in_s: 3600 };
          case 'POST /v1/apps':
            return { org_id: 'acme', app_version_id: 'fuzz-app', sha256: s.sha256, filename: 'app.apk' };
          case 'PUT /v1/batches/{id}/browserstack-app':
            return { browserstack_url: 'bs://fuzz' };
          default:
            return undefined;
        }
      },
      bytes(op: Operation) {
        return op.method === 'PUT' && !op.body
          ? { contentType: 'application/octet-stream', data: Buffer.from('fuzz bytes') }
          : undefined;
      },
    };
  }

  it('answers every hostile request without a 5xx, as the document says', async () => {
    const started = performance.now();
    const docAnswer = await fetch(new URL('/docs/json', base));
    expect(docAnswer.status).toBe(200);
    const doc = (await docAnswer.json()) as OpenApiDocument;
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThan(10);

    const cases = generateCases(doc, ops, fixtures(), { seed: SEED, perOperation: PER_OPERATION, tokens });
    // Every operation sees every kind of credential.
    for (const op of ops) {
      const seen = new Set(cases.filter((c) => c.op === op && c.documented).map((c) => c.cred));
      for (const cred of ['none', 'org', 'agent', 'admin'] as const) expect(seen, opKey(op)).toContain(cred);
    }

    // QGJOB_FUZZ_DUMP=file.jsonl: every case and its answer, one line each.
    const dump = process.env.QGJOB_FUZZ_DUMP ? ([] as string[]) : undefined;
    const failures: Failure[] = [];
    let serverErrors = 0;
    let nonconforming = 0;
    // Per operation, the credentials its valid request was not refused with.
    const accepted = new Map<string, Cred[]>();
    for (const c of cases) {
      const cred = resolveCred(c, accepted.get(opKey(c.op)));
      const req = render(c, cred, tokens);
      const logFrom = errorLog.length;
      const result = await send(base, req, REQUEST_TIMEOUT_MS);
      const repro = () => reproduction(base, req, cred);
      if ('error' in result) {
        nonconforming++;
        failures.push({ c, cred, status: 'no answer', problems: [result.error], body: '', repro: repro(), log: [] });
        continue;
      }
      const problems = conformanceProblems(doc, c.documented ? c.op : undefined, req, result);
      if (c.category === 'valid' && cred !== 'none' && cred !== 'hostile' && ![401, 403].includes(result.status)) {
        accepted.set(opKey(c.op), [...(accepted.get(opKey(c.op)) ?? []), cred]);
      }
      if (dump) {
        dump.push(
          JSON.stringify({
            op: opKey(c.op),
            method: req.method,
            case: c.label,
            category: c.category,
            cred,
            status: result.status,
            ms: result.ms,
            raw: result.raw,
            problems,
            body: result.body.toString('utf8').slice(0, 300),
          }),
        );
      }
      if (result.status >= 500) serverErrors++;
      if (problems.some((p) => !p.startsWith('server error'))) nonconforming++;
      if (problems.length > 0) {
        failures.push({
          c,
          cred,
          status: result.status,
          problems,
          body: result.body.toString('utf8').slice(0, 200),
          repro: repro(),
          log: errorLog.slice(logFrom).map(logMessage),
        });
      }
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    if (dump) writeFileSync(`${process.env.QGJOB_FUZZ_DUMP}.${adapter.name}`, `${dump.join('\n')}\n`);

    const lines = [
      `fuzz (${adapter.name}): ${ops.length} operations, ${cases.length} cases, ${serverErrors} answered 5xx, ` +
        `${nonconforming} not as documented; ${seconds} s`,
    ];
    const byProblem = new Map<string, number>();
    for (const f of failures) {
      for (const p of f.problems) {
        const kind = p
          .replace(/\$[^\s:]*/g, '$…')
          .replace(/"[^"]*"/g, '"…"')
          .slice(0, 90);
        byProblem.set(kind, (byProblem.get(kind) ?? 0) + 1);
      }
    }
    for (const [kind, count] of [...byProblem].sort((a, b) => b[1] - a[1])) lines.push(`  ${count} × ${kind}`);
    for (const f of failures.slice(0, 150)) {
      lines.push(
        `- ${f.c.documented ? opKey(f.c.op) : `${f.c.draft.method} ${f.c.op.path}`} [${f.c.label}] as ${f.cred} → ${f.status}: ` +
          f.problems.join('; '),
      );
      if (f.body) lines.push(`    body: ${JSON.stringify(f.body)}`);
      for (const l of f.log.slice(0, 2)) lines.push(`    server log: ${l}`);
      lines.push(`    ${f.repro}`);
    }
    if (failures.length > 150) lines.push(`  … and ${failures.length - 150} more`);
    console.log(lines.join('\n'));

    expect(serverErrors, '5xx answers (listed above)').toBe(0);
    expect(nonconforming, 'answers not as documented (listed above)').toBe(0);
  }, 180_000);

  it('is healthy afterwards, and the seeded jobs and agent are as they were', async () => {
    const t0 = performance.now();
    const health = await fetch(new URL('/healthz', base));
    const ms = performance.now() - t0;
    expect(health.status).toBe(200);
    expect(ms, 'GET /healthz took too long').toBeLessThan(1_000);

    const after = new Map((await listAcme()).map((j) => [j.id, j]));
    for (const job of seeded.jobs) expect(after.get(job.id), `seeded job ${job.id}`).toEqual(job);

    const agents = (await api<{ agents: AgentView[] }>('GET', '/v1/agents', ADMIN)).agents;
    const shape = (list: AgentView[]) =>
      list
        .filter((a) => a.name === seeded.agentName)
        .map((a) => ({
          id: a.id,
          name: a.name,
          devices: a.devices.map((d) => ({ id: d.id, name: d.name, target: d.target })),
        }));
    expect(shape(agents)).toEqual(shape(seeded.agents));
    expect(shape(agents)).toHaveLength(1);
  }, 60_000);
});

function logMessage(line: string): string {
  try {
    const entry = JSON.parse(line) as { msg?: string; err?: { type?: string; message?: string } };
    return `${entry.msg ?? ''}: ${entry.err?.type ?? ''} ${entry.err?.message ?? ''}`.slice(0, 300);
  } catch {
    return line.slice(0, 300);
  }
}
