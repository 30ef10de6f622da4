import { describe, expect, it } from 'vitest';
import {
  afterOutcomes,
  afterRun,
  backoffMs,
  coolDownMs,
  DEFAULT_HEALTH_CONFIG,
  type DeviceHealth,
  HEALTHY,
  healthState,
} from '../src/services/retry-rules.js';

const retry = { infraRetries: 2, retryBaseMs: 2_000 };
const run = (over: Partial<Parameters<typeof afterRun>[0]>) =>
  afterRun(
    { status: 'errored', testFailures: 0, maxRetries: 0, infraFailures: 0, error: 'boom', ...over },
    retry,
    () => 0.5,
  );

describe('retry rules', () => {
  it('retries a test failure at once while max_retries allows, then fails the job', () => {
    expect(run({ status: 'failed', testFailures: 1, maxRetries: 1 })).toEqual({
      retry: true,
      delayMs: 0,
      infra: false,
      reason: 'test_failure',
    });
    expect(run({ status: 'failed', testFailures: 2, maxRetries: 1 })).toEqual({
      retry: false,
      status: 'failed',
      error: 'boom',
    });
  });

  it('backs off an infrastructure error exponentially with jitter, within the budget', () => {
    expect(run({ infraFailures: 0 })).toMatchObject({
      retry: true,
      infra: true,
      reason: 'infra_error',
      delayMs: 1_500,
    });
    expect(run({ infraFailures: 1 })).toMatchObject({ retry: true, delayMs: 3_000 });
    expect(run({ infraFailures: 2 })).toEqual({
      retry: false,
      status: 'errored',
      error: 'boom; gave up after 3 infrastructure errors',
    });
    for (const n of [0, 1, 2, 3]) {
      expect(backoffMs(n, 1_000, () => 0)).toBe(500 * 2 ** n);
      expect(backoffMs(n, 1_000, () => 0.999_999)).toBeLessThan(1_000 * 2 ** n);
    }
  });

  it('retries a lost run at once, and ends a final error at once', () => {
    expect(run({ status: 'lost', infraFailures: 1 })).toEqual({ retry: true, delayMs: 0, infra: true, reason: 'lost' });
    expect(run({ final: true, error: 'bundle refused' })).toEqual({
      retry: false,
      status: 'errored',
      error: 'bundle refused',
    });
  });
});

describe('device health', () => {
  const config = DEFAULT_HEALTH_CONFIG;
  const t0 = 1_000_000;

  it('quarantines after K failures in a row; a success between resets the count', () => {
    let h: DeviceHealth = HEALTHY;
    h = afterOutcomes(h, ['fail', 'fail', 'ok', 'fail', 'fail'], t0, config).health;
    expect(h).toEqual({ streak: 2, quarantines: 0, quarantinedUntil: null });
    expect(healthState(h, t0, config)).toBe('healthy');
    const third = afterOutcomes(h, ['fail'], t0, config);
    expect(third).toEqual({
      health: { streak: 3, quarantines: 1, quarantinedUntil: t0 + 30_000 },
      change: 'quarantined',
      coolDownMs: 30_000,
    });
    expect(healthState(third.health, t0 + 29_999, config)).toBe('quarantined');
    expect(healthState(third.health, t0 + 30_000, config)).toBe('probation');
  });

  it('doubles the cool-down on a failed probe, up to the maximum; a good probe heals', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => coolDownMs(n, config))).toEqual([
      30_000, 60_000, 120_000, 240_000, 480_000, 600_000, 600_000,
    ]);
    const quarantined = { streak: 3, quarantines: 1, quarantinedUntil: t0 };
    const failedProbe = afterOutcomes(quarantined, ['fail'], t0 + 1, config);
    expect(failedProbe.change).toBe('quarantined');
    expect(failedProbe.health).toEqual({ streak: 4, quarantines: 2, quarantinedUntil: t0 + 1 + 60_000 });
    const healed = afterOutcomes(failedProbe.health, ['ok'], t0 + 61_000, config);
    expect(healed).toEqual({ health: HEALTHY, change: 'healed' });
  });

  it('counts failures during a quarantine without extending it', () => {
    const quarantined = { streak: 3, quarantines: 1, quarantinedUntil: t0 + 30_000 };
    expect(afterOutcomes(quarantined, ['fail'], t0, config)).toEqual({
      health: { streak: 4, quarantines: 1, quarantinedUntil: t0 + 30_000 },
      change: undefined,
    });
  });

  it('follows its configuration: K = 1 quarantines at the first failure', () => {
    const k1 = { ...config, quarantineAfter: 1, coolDownMs: 100, maxCoolDownMs: 250 };
    const first = afterOutcomes(HEALTHY, ['fail'], t0, k1);
    expect(first.health.quarantinedUntil).toBe(t0 + 100);
    expect(coolDownMs(3, k1)).toBe(250);
  });
});
