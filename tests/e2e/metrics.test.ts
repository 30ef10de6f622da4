/** /metrics parses as Prometheus text, and the series move while a farm runs. */
import { QgjobClient } from '@qgjob/client';
// @ts-expect-error: the parser ships no types
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterEach, describe, expect, it } from 'vitest';
import { type SimAgent, startSimAgent } from '../helpers/agent.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Family {
  name: string;
  type: string;
  metrics: { value?: string; count?: string; labels?: Record<string, string>; buckets?: Record<string, string> }[];
}

async function scrape(url: string): Promise<Map<string, Family>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const families = parsePrometheusTextFormat(text) as Family[];
  return new Map(families.map((f) => [f.name, f]));
}

const total = (f: Family | undefined, labels: Record<string, string> = {}) =>
  (f?.metrics ?? [])
    .filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
    .reduce((s, m) => s + Number(m.value ?? m.count ?? m.buckets?.['+Inf'] ?? 0), 0);

describe('metrics', () => {
  let server: TestServer;
  let agent: SimAgent | undefined;
  afterEach(async () => {
    await agent?.stop();
    await server.close();
  });

  it('parse as Prometheus text and move during a run', async () => {
    server = await startTestServer({ scheduler: { retryBaseMs: 10 } });
    const before = await scrape(server.url);
    for (const name of [
      'qgjob_jobs_submitted_total',
      'qgjob_queue_wait_seconds',
      'qgjob_run_duration_seconds',
      'qgjob_installs_avoided_total',
      'qgjob_lease_expirations_total',
      'qgjob_retries_total',
      'qgjob_devices',
      'qgjob_queue_depth',
    ]) {
      expect(before.has(name), name).toBe(true);
    }
    agent = await startSimAgent(server.url, { devices: ['emulator:e1', 'emulator:e2'], testMs: 20, fail: 'flaky' });
    const client = new QgjobClient({ server: server.url });
    const tests = Array.from({ length: 8 }, (_, i) => `tests/t${i}.spec.js`);
    await client.submit({
      org_id: 'acme',
      app_version_id: 'v1',
      tests: [...tests, 'tests/flaky.spec.js'],
      max_retries: 1,
    });
    for (let i = 0; i < 200; i++) {
      const after = await scrape(server.url);
      if (total(after.get('qgjob_jobs_finished_total')) >= 9) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const after = await scrape(server.url);
    expect(total(after.get('qgjob_jobs_finished_total'), { status: 'passed' })).toBe(8);
    expect(total(after.get('qgjob_jobs_finished_total'), { status: 'failed' })).toBe(1);
    // The parser validates the text but keeps only buckets of histograms: counts from +Inf.
    expect(total(after.get('qgjob_queue_wait_seconds'))).toBe(10); // 9 jobs, one retried
    const raw = await (await fetch(`${server.url}/metrics`)).text();
    expect(raw).toMatch(/^qgjob_queue_wait_seconds_count\{target="emulator"\} 10$/m);
    const counts = (name: string) =>
      [...raw.matchAll(new RegExp(`^${name}_count\\{[^}]*\\} (\\d+)$`, 'gm'))].reduce((s, m) => s + Number(m[1]), 0);
    expect(counts('qgjob_run_duration_seconds')).toBe(10);
    expect(raw).toMatch(/^qgjob_run_duration_seconds_count\{target="emulator",status="failed"\} 2$/m);
    expect(total(after.get('qgjob_retries_total'), { reason: 'test_failure' })).toBe(1);
    expect(total(after.get('qgjob_installs_avoided_total'))).toBe(10 - total(after.get('qgjob_app_installs_total')));
    expect(
      total(after.get('qgjob_devices'), { target: 'emulator', state: 'idle' }) +
        total(after.get('qgjob_devices'), { target: 'emulator', state: 'busy' }),
    ).toBe(2);
  }, 60_000);
});
