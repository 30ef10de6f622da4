import { DEFAULT_POLICY_CONFIG, fairPolicy, type GroupStat, shouldYield } from '@qgjob/server';
import { describe, expect, it } from 'vitest';

const config = DEFAULT_POLICY_CONFIG;
const group = (org_id: string, app_version_id: string, queued: number, extra: Partial<GroupStat> = {}): GroupStat => ({
  org_id,
  app_version_id,
  queued,
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
      config,
    });
    expect(d?.org_id).toBe('b');
  });

  it('stays warm on the last group unless that org holds more devices than another waiting org', () => {
    const input = {
      device: device({ a: 'v1' }, { org_id: 'a', app_version_id: 'v1', forMs: 1000 }),
      groups: [group('a', 'v1', 10), group('a', 'v2', 10, { oldest_wait_ms: 99_000 }), group('b', 'v1', 10)],
      idleDevices: 1,
      config,
    };
    expect(fairPolicy.choose({ ...input, busy: new Map([['b', 0]]) })).toMatchObject({
      org_id: 'a',
      app_version_id: 'v1',
      install: false,
    });
    expect(fairPolicy.choose({ ...input, busy: new Map([['a', 1]]) })?.org_id).toBe('b');
  });

  it('leaves a group it stuck with too long when others wait', () => {
    const d = fairPolicy.choose({
      device: device({ a: 'v1' }, { org_id: 'a', app_version_id: 'v1', forMs: config.maxStickMs + 1 }),
      groups: [group('a', 'v1', 10), group('b', 'v1', 10)],
      busy: new Map(),
      idleDevices: 1,
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
    const d = fairPolicy.choose({ device: device({ a: 'v2' }), groups, busy: new Map(), idleDevices: 1, config });
    expect(d).toMatchObject({ app_version_id: 'v2', install: false });
  });

  it('keeps small groups whole and splits big ones over idle devices', () => {
    const choose = (queued: number, idleDevices: number) =>
      fairPolicy.choose({ device: device(), groups: [group('a', 'v1', queued)], busy: new Map(), idleDevices, config })
        ?.size;
    expect(choose(3, 10)).toBe(3);
    expect(choose(12, 10)).toBe(12);
    expect(choose(40, 4)).toBe(10);
    expect(choose(200, 10)).toBe(20);
    expect(choose(5000, 2)).toBe(config.maxBatch);
  });

  it('shares idle devices among waiting groups: with enough devices each group stays whole', () => {
    const groups = [group('a', 'v1', 40), group('a', 'v2', 40), group('b', 'v1', 40)];
    const size = (idleDevices: number) =>
      fairPolicy.choose({ device: device(), groups, busy: new Map(), idleDevices, config })?.size;
    expect(size(3)).toBe(40);
    expect(size(5)).toBe(40);
    expect(size(6)).toBe(20);
  });
});

describe('shouldYield', () => {
  const waiting = [group('b', 'v1', 5, { oldest_wait_ms: 100 })];
  it('yields when moving the device evens the shares', () => {
    expect(shouldYield({ orgId: 'a', busy: new Map([['a', 4]]), waiting, groupForMs: 0, config })).toBe(true);
    expect(
      shouldYield({
        orgId: 'a',
        busy: new Map([
          ['a', 2],
          ['b', 1],
        ]),
        waiting,
        groupForMs: 0,
        config,
      }),
    ).toBe(false);
  });
  it('gives a starving org the only device after starveMs', () => {
    const busy = new Map([['a', 1]]);
    expect(shouldYield({ orgId: 'a', busy, waiting, groupForMs: 0, config })).toBe(false);
    const starving = [group('b', 'v1', 5, { oldest_wait_ms: config.starveMs + 1 })];
    expect(shouldYield({ orgId: 'a', busy, waiting: starving, groupForMs: 0, config })).toBe(true);
  });
  it('never yields to itself', () => {
    expect(shouldYield({ orgId: 'b', busy: new Map([['b', 9]]), waiting, groupForMs: 0, config })).toBe(false);
  });
});
