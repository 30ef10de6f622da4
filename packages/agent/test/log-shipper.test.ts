import { QgjobClient } from '@qgjob/client';
import type { LogsRequest } from '@qgjob/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { type BatchRunnerOptions, runBatch } from '../src/batch-runner.js';
import { CommandExecutor } from '../src/executors/command.js';
import { SimulateExecutor } from '../src/executors/simulate.js';
import type { Executor } from '../src/executors/types.js';
import { silentLogger } from '../src/log.js';
import { LogShipper, type LogShipperOptions } from '../src/log-shipper.js';
import { Reporter } from '../src/reporter.js';
import { sleep } from '../src/sleep.js';
import {
  batchOf,
  logTextOf,
  okReport,
  type Reply,
  runBatchOn,
  type Stub,
  type StubHandlers,
  startStub,
} from './stub-server.js';

let stub: Stub | undefined;
afterEach(async () => {
  await stub?.close();
  stub = undefined;
});

async function shipper(handlers: StubHandlers = {}, extra: Partial<LogShipperOptions> = {}) {
  stub = await startStub(handlers);
  return new LogShipper({
    client: new QgjobClient({ server: stub.url, attempts: 1 }),
    batchId: 'b1',
    retryForMs: 5000,
    log: silentLogger,
    ...extra,
  });
}

const texts = (body: LogsRequest) => body.chunks.map((c) => c.text);
const ok = (body: LogsRequest, truncated: string[] = []): Reply => ({
  body: { accepted: body.chunks.length, truncated },
});

describe('log shipper', () => {
  it('sends the first output at once and coalesces what comes while a request is in flight', async () => {
    const s = await shipper({
      logs: async (_b, body) => {
        await sleep(100);
        return ok(body);
      },
    });
    s.write('j1', 'stdout', 'one\n');
    await sleep(20);
    s.write('j1', 'stdout', 'two\n');
    s.write('j1', 'stdout', 'three\n');
    s.write('j1', 'stderr', 'oops\n');
    await s.flush();
    const logs = (stub as Stub).logs.map((r) => r.body);
    expect(logs).toHaveLength(2);
    expect(logs[0]?.chunks).toEqual([{ job_id: 'j1', stream: 'stdout', text: 'one\n' }]);
    expect(logs[1]?.chunks).toEqual([
      { job_id: 'j1', stream: 'stdout', text: 'two\nthree\n' },
      { job_id: 'j1', stream: 'stderr', text: 'oops\n' },
    ]);
  });

  it("holds a job's output until its start is acknowledged", async () => {
    const s = await shipper();
    let acknowledge = () => {};
    s.open('j1', new Promise<void>((resolve) => (acknowledge = resolve)));
    s.write('j1', 'agent', 'starting\n');
    s.write('j1', 'stdout', 'hello\n');
    await sleep(100);
    expect((stub as Stub).logs).toHaveLength(0);
    acknowledge();
    await s.flush();
    expect((stub as Stub).logs.map((r) => texts(r.body))).toEqual([['starting\n', 'hello\n']]);
  });

  it('caps a request at maxRequestChars, splitting a long piece of output', async () => {
    const s = await shipper({}, { maxRequestChars: 1000 });
    s.write('j1', 'stdout', 'a'.repeat(2500));
    await s.flush();
    expect((stub as Stub).logs.map((r) => texts(r.body).join('').length)).toEqual([1000, 1000, 500]);
  });

  it('sends only byte counts for a job the server says is truncated', async () => {
    const s = await shipper({ logs: (_b, body, n) => ok(body, n === 1 ? ['j1'] : []) });
    s.write('j1', 'stdout', 'fills the log\n');
    await s.flush();
    s.write('j1', 'stdout', 'é'.repeat(10));
    s.write('j1', 'stderr', 'more');
    await s.flush();
    const later = (stub as Stub).logs.slice(1).flatMap((r) => r.body.chunks);
    expect(later.every((c) => c.text === '')).toBe(true);
    expect(later.reduce((sum, c) => sum + (c.dropped ?? 0), 0)).toBe(24);
  });

  it('retries server errors, and turns off for good on a 409 without holding anyone up', async () => {
    const s = await shipper({
      logs: (_b, body, n) =>
        n === 1 ? { status: 503, body: { error: { code: 'unavailable', message: 'down' } } } : ok(body),
    });
    s.write('j1', 'stdout', 'kept\n');
    await s.flush();
    expect((stub as Stub).logs.map((r) => texts(r.body))).toEqual([['kept\n'], ['kept\n']]);

    const fenced = await (async () => {
      await (stub as Stub).close();
      return shipper({ logs: () => ({ status: 409, body: { error: { code: 'conflict', message: 'gone' } } }) });
    })();
    fenced.write('j1', 'stdout', 'a\n');
    await fenced.flush();
    fenced.write('j1', 'stdout', 'b\n');
    await fenced.flush();
    expect((stub as Stub).logs).toHaveLength(1);
  });

  it('gives a flush up after its timeout while the server does not answer', async () => {
    const s = await shipper({
      logs: async (_b, body) => {
        await sleep(1000);
        return ok(body);
      },
    });
    s.write('j1', 'stdout', 'slow\n');
    const started = performance.now();
    await s.flush(100);
    expect(performance.now() - started).toBeLessThan(500);
    s.stop();
  });
});

describe('log shipper carried by the reporter', () => {
  it("sends a job's output with its finish, and holds a finish (and done) while its output needs more requests", async () => {
    stub = await startStub({
      report: async () => {
        await sleep(50);
        return okReport();
      },
    });
    const client = new QgjobClient({ server: stub.url, attempts: 1 });
    const reporter = new Reporter({ client, batchId: 'b1', retryForMs: 5000, log: silentLogger });
    const carried = new LogShipper({
      client,
      batchId: 'b1',
      retryForMs: 5000,
      log: silentLogger,
      maxRequestChars: 10,
      carrier: reporter,
    });
    reporter.carry(carried);
    // The start goes at once; what follows while it is in flight goes together.
    reporter.push({ type: 'start', job_id: 'j1' });
    carried.write('j1', 'stdout', 'short\n');
    reporter.push({ type: 'finish', job_id: 'j1', status: 'passed' });
    reporter.push({ type: 'start', job_id: 'j2' });
    carried.write('j2', 'stdout', 'x'.repeat(25));
    reporter.push({ type: 'finish', job_id: 'j2', status: 'passed' });
    reporter.done([]);
    await reporter.flush();
    const bodies = stub.reports.map((r) => r.body);
    const has = (b: (typeof bodies)[number], type: string, job: string) =>
      b.events.some((e) => e.type === type && 'job_id' in e && e.job_id === job);
    expect(bodies[0]?.events).toEqual([{ type: 'start', job_id: 'j1' }]);
    const finish1 = bodies.findIndex((b) => has(b, 'finish', 'j1'));
    expect(bodies[finish1]?.logs).toContainEqual({ job_id: 'j1', stream: 'stdout', text: 'short\n' });
    // j2's 25 characters went at most 10 a request, none before its start, the finish with the last.
    const j2 = bodies.map((b) => (b.logs ?? []).filter((c) => c.job_id === 'j2').map((c) => c.text.length));
    expect(j2.flat().reduce((a, n) => a + n, 0)).toBe(25);
    expect(Math.max(...j2.flat())).toBeLessThanOrEqual(10);
    const start2 = bodies.findIndex((b) => has(b, 'start', 'j2'));
    expect(j2.findIndex((lengths) => lengths.length > 0)).toBeGreaterThanOrEqual(start2);
    const last = bodies.length - 1;
    expect(bodies.findIndex((b) => has(b, 'finish', 'j2'))).toBe(last);
    expect((j2[last] ?? []).length).toBeGreaterThan(0);
    expect(bodies.map((b) => b.done !== undefined)).toEqual(bodies.map((_, i) => i === last));
    expect(stub.logs).toHaveLength(0);
  });
});

describe('batch runner with logs', () => {
  async function run(batch: ReturnType<typeof batchOf>, executor: Executor, extra: Partial<BatchRunnerOptions> = {}) {
    stub = await startStub({ report: () => okReport() });
    return runBatchOn(stub, batch, executor, extra);
  }

  it("carries a command's output in the reports as it comes, all of it with or before the job's finish", async () => {
    const executor = new CommandExecutor({
      template: 'echo out 1; echo err 1 >&2; sleep 0.2; echo out 2',
      workdir: process.cwd(),
      testTimeoutMs: 10_000,
      installCommand: 'echo installing; echo done installing',
      installTimeoutMs: 10_000,
    });
    const batch = batchOf('b1', ['tests/a.spec.js', 'tests/b.spec.js'], { install: true, target: 'emulator' });
    const summary = await run(batch, executor);
    expect(summary).toMatchObject({ passed: 2 });
    const s = stub as Stub;
    const j1 = logTextOf(s, 'j1');
    // Install output belongs to the first job; the second has none.
    expect(j1[0]).toEqual(['install', 'installing\ndone installing\n']);
    expect(j1[1]?.[0]).toBe('agent');
    expect(j1[1]?.[1]).toMatch(/^qgjob-agent: run 1 of tests\/a\.spec\.js on emulator:emulator-5554 \(batch b1\)\n$/);
    const output = j1.filter(([stream]) => stream === 'stdout' || stream === 'stderr');
    expect(output.map(([, text]) => text).join('')).toMatch(/^(out 1\nerr 1\n|err 1\nout 1\n)out 2\n$/);
    expect(j1.at(-1)?.[1]).toMatch(/^qgjob-agent: passed in \d+ms\n$/);
    expect(logTextOf(s, 'j2').some(([stream]) => stream === 'install')).toBe(false);

    for (const job of ['j1', 'j2']) {
      const at = (kind: 'report' | 'logs', test: (body: never) => boolean) =>
        s.order.findIndex((r) => r.kind === kind && test(r.body as never));
      const started = at('report', (b: { events: { type: string; job_id?: string }[] }) =>
        b.events.some((e) => e.type === 'start' && e.job_id === job),
      );
      const finished = at('report', (b: { events: { type: string; job_id?: string }[] }) =>
        b.events.some((e) => e.type === 'finish' && e.job_id === job),
      );
      const logs = s.order
        .map((r, i) => [r, i] as const)
        .filter(([r]) => r.kind === 'report' && (r.body.logs ?? []).some((c) => c.job_id === job))
        .map(([, i]) => i);
      expect(logs.length).toBeGreaterThan(0);
      // The job's output went with or after the report of its start, and with or before its finish
      // (the server stores a report's output after its starts and before its finishes).
      expect(Math.min(...logs)).toBeGreaterThanOrEqual(started);
      expect(Math.max(...logs)).toBeLessThanOrEqual(finished);
    }
    // No request of its own for the output.
    expect(s.logs).toHaveLength(0);
  });

  it('writes the simulated lines, and nothing for a job cancelled while it runs', async () => {
    const sim = new SimulateExecutor({ testMs: 300, installMs: 10, fail: /fail/ });
    let j2Started = false;
    stub = await startStub({
      report: (_b, body) => {
        j2Started ||= body.events.some((e) => e.type === 'start' && e.job_id === 'j2');
        return okReport({ cancelled: j2Started && body.events.length === 0 ? ['j2'] : [] });
      },
    });
    const batch = batchOf('b1', ['tests/fail.spec.js', 'tests/b.spec.js', 'tests/c.spec.js']);
    const summary = await runBatch(batch, {
      client: new QgjobClient({ server: stub.url }),
      executor: sim,
      device: { target: 'emulator', name: 'emulator-5554' },
      appPath: () => '/builds/v1.apk',
      heartbeatMs: 100,
      leaseMs: 5000,
      log: silentLogger,
    });
    expect(summary).toMatchObject({ failed: 1, passed: 1 });
    const j1 = logTextOf(stub, 'j1');
    expect(j1.filter(([s]) => s !== 'agent')).toEqual([
      ['stdout', 'simulate: running tests/fail.spec.js\n'],
      ['stderr', 'failed: simulated failure: tests/fail.spec.js matches --sim-fail /fail/\n'],
    ]);
    expect(j1.at(-1)?.[1]).toMatch(/^qgjob-agent: failed in \d+ms: simulated failure/);
    // j2 was killed mid-run: whatever it printed before, no verdict and no closing line.
    const j2 = logTextOf(stub, 'j2').map(([, text]) => text);
    expect(j2.join('')).not.toMatch(/passed|qgjob-agent: (passed|errored)/);
    expect(logTextOf(stub, 'j3').map(([, text]) => text)).toContain('passed\n');
  });

  it('runs without logs when the client cannot send them', async () => {
    stub = await startStub();
    const client = new QgjobClient({ server: stub.url });
    const summary = await runBatch(batchOf('b1', ['tests/a.spec.js']), {
      client: { report: client.report.bind(client) },
      executor: new SimulateExecutor({ testMs: 10, installMs: 10 }),
      device: { target: 'emulator', name: 'e1' },
      appPath: () => '/builds/v1.apk',
      heartbeatMs: 1000,
      leaseMs: 5000,
      log: silentLogger,
    });
    expect(summary.passed).toBe(1);
    expect(stub.logs).toHaveLength(0);
  });
});
