/**
 * The API's edge with hostile input over real sockets: every request below once gave a 5xx
 * or an answer not in the documented shape. Each now gets a 4xx with
 * `{"error": {code, message, field?}}` and the security headers, and free text from devices
 * keeps what PostgreSQL cannot store, made visible.
 */
import { request as httpRequest } from 'node:http';
import { QgjobClient } from '@qgjob/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, parseDevice, startAgent } from '../../packages/agent/src/index.js';
import { adapters } from '../helpers/db.js';
import { until, waitForJobs } from '../helpers/jobs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** A request with its path and body bytes exactly as given (no URL normalisation, no re-encoding). */
function raw(url: string, method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}) {
  const { hostname, port } = new URL(url);
  return new Promise<Answer>((resolve, reject) => {
    const req = httpRequest(
      {
        hostname,
        port,
        method,
        path,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** An answer with a header Node's client would refuse to send: written on the socket by hand. */
async function rawHeader(url: string, line: string): Promise<Answer> {
  const { connect } = await import('node:net');
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`POST /v1/jobs HTTP/1.1\r\nhost: x\r\n${line}\r\ncontent-length: 2\r\n\r\n{}`);
    });
    let data = '';
    socket.on('data', (d) => {
      data += d;
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', text = ''] = data.split('\r\n\r\n');
      const [status, ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(
        lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
      );
      resolve({ status: Number(status?.split(' ')[1]), headers, text });
    });
  });
}

function expectError(a: Answer, status: number, field?: string): { code: string; message: string; field?: string } {
  expect(a.status, a.text).toBe(status);
  const body = JSON.parse(a.text) as { error: { code: string; message: string; field?: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(typeof body.error.code).toBe('string');
  expect(typeof body.error.message).toBe('string');
  if (field !== undefined) expect(body.error.field).toBe(field);
  expect(a.headers['x-content-type-options']).toBe('nosniff');
  expect(a.headers['x-frame-options']).toBe('DENY');
  expect(a.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
  return body.error;
}

const nested = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;

describe.each(adapters)('the API edge on $name', (adapter) => {
  let server: TestServer;
  let batchId: string;
  let jobId: string;
  const post = (path: string, body: unknown) => raw(server.url, 'POST', path, JSON.stringify(body));

  beforeAll(async () => {
    server = await startTestServer({ adapter });
    const client = new QgjobClient({ server: server.url });
    const reg = await client.registerAgent({ name: 'edge', devices: [{ name: 'e1', target: 'emulator' }] });
    const { jobs } = await client.submit({ org_id: 'acme', app_version_id: 'v1', tests: ['a.spec.js'] });
    jobId = jobs[0]?.id as string;
    const { batch } = await client.claim(reg.devices[0]?.id as string, 0);
    batchId = batch?.id as string;
  });
  afterAll(async () => {
    await server.close();
  });

  it('refuses a NUL in any path id, query value or identifier in a body, naming the field', async () => {
    for (const [method, path] of [
      ['GET', '/v1/jobs/%00'],
      ['GET', '/v1/submissions/%00'],
      ['POST', '/v1/devices/%00/claim'],
      ['POST', '/v1/batches/%00/report'],
      ['POST', '/v1/tokens/%00/revoke'],
      ['POST', '/v1/jobs/%00/cancel'],
    ] as const) {
      const body = method === 'POST' && path.endsWith('report') ? '{"events":[]}' : undefined;
      const e = expectError(await raw(server.url, method, path, body), 400, 'id');
      expect(e.message).toMatch(/NUL/);
    }
    expectError(await raw(server.url, 'GET', '/v1/jobs?submission_id=%00'), 400, 'submission_id');
    expectError(
      await post('/v1/agents/register', {
        name: 'x',
        version: 'a\u0000b',
        devices: [{ name: 'd', target: 'emulator' }],
      }),
      400,
      'version',
    );
    expectError(await post('/v1/tokens', { kind: 'org', org_id: 'acme', name: 'ci\u0000' }), 400, 'name');
  });

  it('refuses lone surrogates, control characters and deep nesting where a name or a path goes', async () => {
    const submit = (body: object) => post('/v1/jobs', { org_id: 'acme', app_version_id: 'v1', ...body });
    expect(expectError(await submit({ test_path: 't\ud800.spec.js' }), 400, 'test_path').message).toMatch(
      /lone surrogate/,
    );
    expectError(await submit({ tests: ['ok.spec.js', 't\udc00.spec.js'] }), 400, 'tests[1]');
    expectError(await submit({ app_version_id: 'v\u001b1', tests: ['a.spec.js'] }), 400);
    const deep = nested(100_000);
    for (const [field, text] of [
      ['test_path', `{"org_id":"acme","app_version_id":"v1","test_path":${deep}}`],
      ['tests[0]', `{"org_id":"acme","app_version_id":"v1","tests":[${deep}]}`],
      ['app_version_id', `{"org_id":"acme","app_version_id":${deep},"tests":["a"]}`],
    ]) {
      expectError(await raw(server.url, 'POST', '/v1/jobs', text), 400, field);
    }
    expectError(
      await raw(server.url, 'POST', `/v1/batches/${batchId}/report`, `{"events":[${deep}]}`),
      400,
      'events[0]',
    );
  });

  it('refuses invalid UTF-8 in a body instead of storing U+FFFD', async () => {
    const bytes = Buffer.concat([
      Buffer.from('{"org_id":"acme","app_version_id":"v1","test_path":"t'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('.spec.js"}'),
    ]);
    expect(expectError(await raw(server.url, 'POST', '/v1/jobs', bytes), 400, 'body').message).toMatch(/UTF-8/);
  });

  it('bounds every number: 1e300 is a 400, not a database error', async () => {
    const report = (events: unknown[], logs?: unknown[]) => post(`/v1/batches/${batchId}/report`, { events, logs });
    expectError(await report([{ type: 'install', ok: true, duration_ms: 1e300 }]), 400, 'events[0].duration_ms');
    expectError(
      await report([{ type: 'finish', job_id: jobId, status: 'passed', duration_ms: 1e300 }]),
      400,
      'events[0].duration_ms',
    );
    expectError(
      await post(`/v1/batches/${batchId}/logs`, {
        chunks: [{ job_id: jobId, stream: 'stdout', text: '', dropped: 1e300 }],
      }),
      400,
      'chunks[0].dropped',
    );
  });

  it('refuses two devices with one name in a registration, naming the second', async () => {
    const e = expectError(
      await post('/v1/agents/register', {
        name: 'twins',
        devices: [
          { name: 'emulator-5554', target: 'emulator' },
          { name: 'emulator-5556', target: 'emulator' },
          { name: 'emulator-5554', target: 'device' },
        ],
      }),
      400,
      'devices[2].name',
    );
    expect(e.message).toMatch(/given twice \(also devices\[0\]\.name\)/);
  });

  it('keeps free text from devices whole: a NUL in output or an error is shown as ␀', async () => {
    const client = new QgjobClient({ server: server.url });
    await client.report(batchId, {
      events: [
        { type: 'install', ok: true },
        { type: 'start', job_id: jobId },
      ],
      logs: [{ job_id: jobId, stream: 'stdout', text: 'before\u0000after \ud800\n' }],
    });
    await client.report(batchId, {
      events: [{ type: 'finish', job_id: jobId, status: 'failed', error: 'expected\u0000 got nothing' }],
      done: { unstarted: [] },
    });
    const job = await client.getJob(jobId);
    expect(job.runs[0]?.error).toBe('expected\u2400 got nothing');
    const logs = await client.getLogs(jobId);
    expect(logs.chunks.map((c) => c.text).join('')).toContain('before\u2400after \ufffd\n');
  });

  it('gives framework errors the documented shape: bad URL, long ids, bad headers, 405', async () => {
    expect(expectError(await raw(server.url, 'GET', '/v1/jobs/%ff%fe'), 400, 'path').code).toBe('bad_request');
    // Past the schema's 64 characters: a 400 naming the id; past the router's limit: a 414.
    expectError(await raw(server.url, 'GET', `/v1/jobs/${'j'.repeat(101)}`), 400, 'id');
    expect(expectError(await raw(server.url, 'GET', `/v1/jobs/${'j'.repeat(600)}`), 414, 'path').code).toBe(
      'uri_too_long',
    );
    const nul = await rawHeader(server.url, 'idempotency-key: a\u0000b');
    expect(expectError(nul, 400, 'headers').message).toMatch(/control character/);
    const wrong = await raw(server.url, 'DELETE', '/v1/jobs');
    expect(expectError(wrong, 405).code).toBe('method_not_allowed');
    expect(wrong.headers.allow).toBe('GET, HEAD, POST');
    expectError(await raw(server.url, 'GET', '/v1/nothing-here'), 404);
  });

  it('documents every answer it gives: a blob download is a 200 of bytes', async () => {
    const doc = JSON.parse((await raw(server.url, 'GET', '/docs/json')).text);
    const get = doc.paths['/v1/blobs/{sha256}'].get;
    expect(get.responses['200'].content['application/octet-stream']).toBeDefined();
  });
});

describe('a test whose output holds NUL bytes', () => {
  let server: TestServer;
  afterAll(async () => {
    await server?.close();
  });

  it('keeps its whole log, and its finish is on time', async () => {
    server = await startTestServer();
    const client = new QgjobClient({ server: server.url });
    const agent = startAgent({
      server: server.url,
      name: 'nul-printer',
      devices: [parseDevice('emulator:n1')],
      executor: 'command',
      command: "printf 'first\\0second\\n'; printf 'third\\n'",
      logger: createLogger({ level: 'warn' }),
    });
    await agent.ready;
    try {
      const { jobs } = await client.submit({ org_id: 'acme', app_version_id: 'v1', tests: ['nul.spec.js'] });
      const [done] = await waitForJobs(client, [jobs[0]?.id as string], 20_000);
      expect(done?.status).toBe('passed');
      const run = done?.runs[0];
      // On time: the finish follows the test at once, not after a log upload's retries.
      const lag = Date.parse(run?.finished_at as string) - Date.parse(run?.started_at as string);
      expect(lag).toBeLessThan(2_000);
      const text = await until(async () => {
        const logs = await client.getLogs(jobs[0]?.id as string);
        const all = logs.chunks.map((c) => c.text).join('');
        return all.includes('third') ? all : undefined;
      }, 10_000);
      expect(text).toContain('first\u2400second\nthird\n');
    } finally {
      await agent.stop();
    }
  }, 30_000);
});
