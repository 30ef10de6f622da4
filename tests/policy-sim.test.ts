/** The policy simulator (bench/policy-sim.ts) at a tiny scale: what it reports holds. */
import { describe, expect, it } from 'vitest';
import { makeWorkload, type PolicyResult, simulate } from '../bench/policy-sim.js';

const options = { devices: 12, orgs: 8, jobs: 1500, seed: 7, policies: ['fair', 'grouped', 'fifo'] as const };
const { workload, results } = simulate({ ...options, policies: [...options.policies] });
const by = (name: string) => results.find((r) => r.policy === name) as PolicyResult;

/** Everything but the simulator's own wall time. */
const virtual = ({
  wallMs: _w,
  chooseMeanMs: _m,
  chooseMaxMs: _x,
  jobRuns,
  groupFirstStartMs,
  ...rest
}: PolicyResult) => ({
  ...rest,
  jobRuns: Array.from(jobRuns),
  groupFirstStartMs: Array.from(groupFirstStartMs),
});

describe('policy simulator', () => {
  it('builds the workload asked for', () => {
    expect(workload.jobMs.length).toBe(options.jobs);
    expect(workload.orgIds.length).toBeLessThanOrEqual(options.orgs);
    expect(workload.groupOrg.length).toBeGreaterThanOrEqual(workload.orgIds.length);
    const sizes = Array.from(workload.groupStart, (start, g) => (workload.groupEnd[g] as number) - start);
    expect(sizes.reduce((s, n) => s + n, 0)).toBe(options.jobs);
    expect(Math.min(...sizes)).toBeGreaterThan(0);
  });

  it('runs every job exactly once under every policy', () => {
    expect(results.map((r) => r.policy)).toEqual(['fair', 'grouped', 'fifo']);
    for (const r of results) {
      expect(r.runs).toBe(options.jobs);
      expect(r.jobRuns.length).toBe(options.jobs);
      expect(r.jobRuns.every((n) => n === 1)).toBe(true);
    }
  });

  it('fair installs less than fifo, which installs once per job', () => {
    expect(by('fifo').installs).toBe(options.jobs);
    expect(by('fair').installs).toBeLessThan(by('fifo').installs);
    // Each group needs at least one install somewhere.
    for (const r of results) expect(r.installs).toBeGreaterThanOrEqual(r.groups);
  });

  it('never beats the lower bound', () => {
    for (const r of results) {
      expect(r.lowerBoundMs).toBeGreaterThan(0);
      expect(r.makespanMs).toBeGreaterThanOrEqual(r.lowerBoundMs);
      expect(r.busyShare).toBeLessThanOrEqual(1);
    }
  });

  it('is deterministic for a seed, and the seed matters', () => {
    const again = simulate({ ...options, policies: [...options.policies] });
    expect(again.results.map(virtual)).toEqual(results.map(virtual));
    const other = makeWorkload({ ...options, seed: options.seed + 1 });
    expect(Array.from(other.jobMs)).not.toEqual(Array.from(workload.jobMs));
  });
});
