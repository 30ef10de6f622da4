import {
  type Candidate,
  DEFAULT_POLICY_CONFIG,
  type Decision,
  fairPolicy,
  type GroupStat,
  planBatch,
  quantumMs,
  shouldYield,
} from '@qgjob/server';
import { describe, expect, it } from 'vitest';

const config = DEFAULT_POLICY_CONFIG;
const group = (org_id: string, app_version_id: string, _queued: number, extra: Partial<GroupStat> = {}): GroupStat => ({
  org_id,
  app_version_id,
  top_priority: 5,
  oldest_wait_ms: 1000,
  ...extra,
});
const device = (
  warm: Record<string, string> = {},
  last: { org_id: string; app_version_id: string; forMs: number } | null = null,
) => ({
  warm: new Map(Object.entries(warm)),
  last,
});

describe('fair policy', () => {
  it('serves the org with the fewest busy devices first', () => {
    const d = fairPolicy.choose({
      device: device(),
      groups: [group('a', 'v1', 100, { oldest_wait_ms: 9000 }), group('b', 'v1', 5)],
      busy: new Map([['a', 3]]),
      idleDevices: 1,
      installMs: 0,
      config,
    });
    expect(d?.org_id).toBe('b');
  });

  it('stays warm on the last group until a switch is wanted and has served a quantum', () => {
    const input = (forMs: number) => ({
      device: device({ a: 'v1' }, { org_id: 'a', app_version_id: 'v1', forMs }),
      groups: [group('a', 'v1', 10), group('a', 'v2', 10, { oldest_wait_ms: 99_000 }), group('b', 'v1', 10)],
      idleDevices: 1,
      installMs: 1000,
      config,
    });
    const quantum = quantumMs(1000, config);
    expect(quantum).toBe(Math.max(config.minQuantumMs, config.switchCost * 1000));
    // Shares even (a would hold 1, b none but not starving): stay.
    expect(fairPolicy.choose({ ...input(quantum), busy: new Map([['b', 0]]) })).toMatchObject({
      org_id: 'a',
      app_version_id: 'v1',
      install: false,
    });
    // a holds another device: moving this one evens the shares, once it served a quantum.
    expect(fairPolicy.choose({ ...input(quantum - 1), busy: new Map([['a', 1]]) })?.org_id).toBe('a');
    expect(fairPolicy.choose({ ...input(quantum), busy: new Map([['a', 1]]) })?.org_id).toBe('b');
  });

  it('hands a device to a starving org only after a quantum, so many orgs do not thrash it', () => {
    const starving = { oldest_wait_ms: config.starveMs + 1 };
    const input = (forMs: number) => ({
      device: device({ a: 'v1' }, { org_id: 'a', app_version_id: 'v1', forMs }),
      groups: [group('a', 'v1', 10), group('b', 'v1', 10, starving), group('c', 'v1', 10, starving)],
      busy: new Map(),
      idleDevices: 1,
      installMs: 5000,
      config,
    });
    expect(fairPolicy.choose(input(quantumMs(5000, config) - 1))?.org_id).toBe('a');
    expect(fairPolicy.choose(input(quantumMs(5000, config)))?.org_id).toBe('b');
  });

  it('leaves a group it stuck with too long when others wait', () => {
    const d = fairPolicy.choose({
      device: device({ a: 'v1' }, { org_id: 'a', app_version_id: 'v1', forMs: config.maxStickMs + 1 }),
      groups: [group('a', 'v1', 10), group('b', 'v1', 10)],
      busy: new Map(),
      idleDevices: 1,
      installMs: 0,
      config,
    });
    expect(d?.org_id).toBe('b');
  });

  it('takes the highest aged priority in the org, preferring an installed version on ties', () => {
    const groups = [
      group('a', 'v1', 3, { top_priority: 2.4, oldest_wait_ms: 50_000 }),
      group('a', 'v2', 3, { top_priority: 9 }),
      group('a', 'v3', 3, { top_priority: 9.5 }),
    ];
    const d = fairPolicy.choose({
      device: device({ a: 'v2' }),
      groups,
      busy: new Map(),
      idleDevices: 1,
      installMs: 0,
      config,
    });
    expect(d).toMatchObject({ app_version_id: 'v2', install: false });
  });
});

describe('planBatch: batches sized by time', () => {
  const decision = (share: number): Decision => ({ org_id: 'a', app_version_id: 'v1', size: 50, install: true, share });
  const jobs = (ms: (number | null)[]): Candidate[] => ms.map((m, i) => ({ id: `j${i}`, aged: 5, expected_ms: m }));
  const plan = (ms: (number | null)[], share: number, installMs: number) =>
    planBatch({ candidates: jobs(ms), decision: decision(share), installMs, config });

  it('keeps a small group whole: a part more would save less than its install', () => {
    expect(plan(Array(12).fill(1000), 10, 20_000)).toHaveLength(12);
  });

  it('spreads a group while the time saved exceeds the extra install', () => {
    // 40 tests of 10 s, 400 s of work; installs of 20 s: 4 parts save 400/3 − 400/4 = 33 s > 20 s, a 5th 20 s.
    expect(plan(Array(40).fill(10_000), 10, 20_000)).toHaveLength(10);
    // Installs that cost nothing: as many parts as the share allows, never under minSplit jobs.
    expect(plan(Array(40).fill(10_000), 10, 0)).toHaveLength(config.minSplit);
    expect(plan(Array(40).fill(10_000), 2, 0)).toHaveLength(20);
  });

  it('deals the longest tests first and balances the parts by time, not by count', () => {
    const ms = [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 20_000, 1000];
    const mine = plan(ms, 2, 0);
    // The part with the 20 s test takes it first, then less; the other part the fifteen 1 s tests.
    expect(mine[0]).toBe('j14');
    expect(mine.length).toBeLessThan(8);
  });

  it('gives tests never seen the median of the group', () => {
    const mine = plan(
      [5000, null, null, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000],
      2,
      0,
    );
    expect(mine).toHaveLength(8);
  });

  it('holds at most maxBatchMs of expected time, and a longer test alone', () => {
    // 40 tests of 60 s on one device: 5 minutes' worth, then the device comes back for more.
    expect(plan(Array(40).fill(60_000), 1, 0)).toHaveLength(config.maxBatchMs / 60_000);
    expect(plan([config.maxBatchMs * 2, 1000, 1000], 1, 0)).toEqual(['j0']);
  });

  it('takes higher aged priority levels first and at most maxBatch jobs', () => {
    const candidates = [
      { id: 'low', aged: 1.5, expected_ms: 90_000 },
      { id: 'high', aged: 7.2, expected_ms: 1000 },
    ];
    expect(planBatch({ candidates, decision: decision(1), installMs: 0, config })).toEqual(['high', 'low']);
    expect(plan(Array(500).fill(10), 1, 0)).toHaveLength(config.maxBatch);
  });
});

describe('shouldYield', () => {
  const waiting = [group('b', 'v1', 5, { oldest_wait_ms: 100 })];
  it('yields when moving the device evens the shares', () => {
    expect(
      shouldYield({
        orgId: 'a',
        busy: new Map([['a', 4]]),
        waiting,
        groupForMs: config.minQuantumMs,
        installMs: 0,
        config,
      }),
    ).toBe(true);
    expect(
      shouldYield({
        orgId: 'a',
        busy: new Map([
          ['a', 2],
          ['b', 1],
        ]),
        waiting,
        groupForMs: config.minQuantumMs,
        installMs: 0,
        config,
      }),
    ).toBe(false);
  });
  it('gives a starving org the only device after starveMs', () => {
    const busy = new Map([['a', 1]]);
    expect(shouldYield({ orgId: 'a', busy, waiting, groupForMs: config.minQuantumMs, installMs: 0, config })).toBe(
      false,
    );
    const starving = [group('b', 'v1', 5, { oldest_wait_ms: config.starveMs + 1 })];
    expect(
      shouldYield({ orgId: 'a', busy, waiting: starving, groupForMs: config.minQuantumMs, installMs: 0, config }),
    ).toBe(true);
  });
  it('never yields before the device served its group for a quantum', () => {
    const busy = new Map([['a', 4]]);
    const q = quantumMs(3000, config);
    expect(shouldYield({ orgId: 'a', busy, waiting, groupForMs: q - 1, installMs: 3000, config })).toBe(false);
    expect(shouldYield({ orgId: 'a', busy, waiting, groupForMs: q, installMs: 3000, config })).toBe(true);
  });
  it('after maxStickMs time-shares only unequal shares: equal ones stay put', () => {
    const long = config.maxStickMs + 1;
    const waiting2 = [group('b', 'v1', 5, { oldest_wait_ms: 100 })];
    const even = new Map([
      ['a', 1],
      ['b', 1],
    ]);
    expect(shouldYield({ orgId: 'a', busy: even, waiting: waiting2, groupForMs: long, installMs: 0, config })).toBe(
      false,
    );
    const uneven = new Map([
      ['a', 2],
      ['b', 1],
    ]);
    expect(shouldYield({ orgId: 'a', busy: uneven, waiting: waiting2, groupForMs: long, installMs: 0, config })).toBe(
      true,
    );
  });
  it('never yields to itself', () => {
    expect(
      shouldYield({
        orgId: 'b',
        busy: new Map([['b', 9]]),
        waiting,
        groupForMs: config.minQuantumMs,
        installMs: 0,
        config,
      }),
    ).toBe(false);
  });
});
