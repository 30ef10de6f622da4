import { QgjobClient } from '@qgjob/client';
import { afterEach, describe, expect, it } from 'vitest';
import { LeaseLostError } from '../src/errors.js';
import { silentLogger } from '../src/log.js';
import { Reporter } from '../src/reporter.js';
import { okReport, type Reply, type Stub, startStub } from './stub-server.js';

let stub: Stub | undefined;
afterEach(async () => {
  await stub?.close();
  stub = undefined;
});

function reporterFor(url: string, retryForMs = 5000) {
  return new Reporter({ client: new QgjobClient({ server: url }), batchId: 'b1', retryForMs, log: silentLogger });
}

describe('reporter', () => {
  it('sends everything queued while a request is in flight in one request', async () => {
    let release: (reply: Reply) => void = () => {};
    stub = await startStub({
      report: (_batch, _body, n) => (n === 1 ? new Promise<Reply>((r) => (release = r)) : okReport()),
    });
    const reporter = reporterFor(stub.url);
    reporter.push({ type: 'start', job_id: 'j0' });
    await waitFor(() => stub?.reports.length === 1);
    for (let i = 1; i <= 50; i++) {
      reporter.push({ type: 'finish', job_id: `j${i - 1}`, status: 'passed', duration_ms: 1 });
      reporter.push({ type: 'start', job_id: `j${i}` });
    }
    reporter.done(['j51', 'j52']);
    const flushed = reporter.flush();
    release(okReport());
    await flushed;
    expect(stub.reports).toHaveLength(2);
    const second = stub.reports[1]?.body;
    expect(second?.events).toHaveLength(100);
    expect(second?.done).toEqual({ unstarted: ['j51', 'j52'] });
    expect(reporter.requests).toBe(2);
  });

  it('keeps the answers: yield is sticky, cancelled accumulates', async () => {
    stub = await startStub({
      report: (_b, _body, n) => (n === 1 ? okReport({ yield: true, cancelled: ['j3'] }) : okReport()),
    });
    const reporter = reporterFor(stub.url);
    reporter.push({ type: 'start', job_id: 'j1' });
    await reporter.flush();
    reporter.push({ type: 'finish', job_id: 'j1', status: 'passed' });
    await reporter.flush();
    expect(reporter.yielded).toBe(true);
    expect([...reporter.cancelled]).toEqual(['j3']);
  });

  it('surfaces a 409 as a lost lease and sends nothing more', async () => {
    stub = await startStub({
      report: () => ({ status: 409, body: { error: { code: 'conflict', message: 'lease fenced' } } }),
    });
    const reporter = reporterFor(stub.url);
    reporter.push({ type: 'start', job_id: 'j1' });
    await reporter.flush();
    expect(reporter.lostSignal.aborted).toBe(true);
    expect(reporter.lostSignal.reason).toBeInstanceOf(LeaseLostError);
    reporter.push({ type: 'finish', job_id: 'j1', status: 'passed' });
    reporter.done([]);
    await reporter.flush();
    expect(stub.reports).toHaveLength(1);
  });

  it('retries server errors until answered', async () => {
    stub = await startStub({
      report: (_b, _body, n) =>
        n <= 2 ? { status: 500, body: { error: { code: 'internal', message: 'oops' } } } : okReport(),
    });
    const reporter = reporterFor(stub.url);
    reporter.push({ type: 'start', job_id: 'j1' });
    await reporter.flush();
    expect(reporter.lostSignal.aborted).toBe(false);
    expect(stub.reports.length).toBe(3);
    expect(stub.reports.every((r) => r.body.events.length === 1)).toBe(true);
  });

  it('gives the lease up when reports fail for longer than the lease', async () => {
    stub = await startStub({ report: () => ({ status: 500, body: { error: { code: 'internal', message: 'down' } } }) });
    const reporter = reporterFor(stub.url, 300);
    reporter.push({ type: 'start', job_id: 'j1' });
    await reporter.flush();
    expect(reporter.lostSignal.reason).toBeInstanceOf(LeaseLostError);
  });

  it('sends a heartbeat only when nothing is on its way', async () => {
    stub = await startStub();
    const reporter = reporterFor(stub.url);
    reporter.heartbeat();
    reporter.heartbeat();
    await waitFor(() => stub?.reports.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(stub.reports).toHaveLength(1);
    expect(stub.reports[0]?.body).toEqual({ events: [] });
  });
});

async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
