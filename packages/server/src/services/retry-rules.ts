/**
 * What happens after something goes wrong: pure functions, beside the scheduling policy,
 * so every rule is unit-tested without a database.
 *
 * A job's run ends one of three ways that are not a pass:
 * - `failed`, the test's own verdict: retried while `max_retries` allows, at once;
 * - `errored`, the infrastructure (install, session, spawn, timeout): retried within the
 *   infrastructure budget, after an exponential backoff with jitter, on another device when
 *   there is one; `final` errors (a refused test bundle) end the job at once;
 * - `lost`, the device went away (lease expired, agent restarted): like `errored`, but at
 *   once, since the device it failed on is simply gone.
 *
 * A device's health follows its infrastructure failures: after `quarantineAfter` in a row it
 * is quarantined (no batch) for a cool-down that doubles with each quarantine, from
 * `coolDownMs` up to `maxCoolDownMs`; past the cool-down its next batch is a probe of one
 * job. Any success (an install, or a test that ran to a verdict) heals it.
 */

export interface RetryConfig {
  /** Infrastructure errors a job may have and still be retried (the budget). */
  infraRetries: number;
  /** First backoff after an infrastructure error; each next one doubles. */
  retryBaseMs: number;
}

export interface EndedRun {
  status: 'failed' | 'errored' | 'lost';
  /** Runs of the job that failed by the test's verdict, this one included. */
  testFailures: number;
  maxRetries: number;
  /** Infrastructure errors of the job before this run. */
  infraFailures: number;
  /** An infrastructure error no retry can cure. */
  final?: boolean;
  error: string | null;
}

export type NextStep =
  | { retry: true; delayMs: number; infra: boolean; reason: 'test_failure' | 'infra_error' | 'lost' }
  | { retry: false; status: 'failed' | 'errored'; error: string | null };

/** The backoff before retry number `failuresBefore + 1`: uniformly in [b/2, b), b = base · 2^failuresBefore. */
export function backoffMs(failuresBefore: number, baseMs: number, random: () => number = Math.random): number {
  const ceiling = baseMs * 2 ** failuresBefore;
  return ceiling / 2 + random() * (ceiling / 2);
}

/** What becomes of a job whose run ended without passing. */
export function afterRun(run: EndedRun, config: RetryConfig, random: () => number = Math.random): NextStep {
  if (run.status === 'failed') {
    if (run.testFailures <= run.maxRetries) return { retry: true, delayMs: 0, infra: false, reason: 'test_failure' };
    return { retry: false, status: 'failed', error: run.error };
  }
  if (run.final) return { retry: false, status: 'errored', error: run.error ?? run.status };
  if (run.infraFailures < config.infraRetries) {
    if (run.status === 'lost') return { retry: true, delayMs: 0, infra: true, reason: 'lost' };
    return {
      retry: true,
      delayMs: backoffMs(run.infraFailures, config.retryBaseMs, random),
      infra: true,
      reason: 'infra_error',
    };
  }
  const why = run.error ?? run.status;
  return {
    retry: false,
    status: 'errored',
    error: `${why}; gave up after ${run.infraFailures + 1} infrastructure errors`,
  };
}

export interface HealthConfig {
  /** Consecutive infrastructure failures that quarantine a device. */
  quarantineAfter: number;
  /** The first quarantine's cool-down; each next one doubles. */
  coolDownMs: number;
  maxCoolDownMs: number;
}

export const DEFAULT_HEALTH_CONFIG: HealthConfig = {
  quarantineAfter: 3,
  coolDownMs: 30_000,
  maxCoolDownMs: 10 * 60_000,
};

export interface DeviceHealth {
  /** Infrastructure failures in a row. */
  streak: number;
  /** Quarantines since the device was last healthy. */
  quarantines: number;
  /** Epoch ms the current (or last) quarantine ends; null when never quarantined since healthy. */
  quarantinedUntil: number | null;
}

export const HEALTHY: DeviceHealth = { streak: 0, quarantines: 0, quarantinedUntil: null };

/** healthy; quarantined (no batch until the cool-down ends); probation (the next batch is a one-job probe). */
export type HealthState = 'healthy' | 'quarantined' | 'probation';

export function healthState(health: DeviceHealth, now: number, config: HealthConfig): HealthState {
  if (health.quarantinedUntil !== null && now < health.quarantinedUntil) return 'quarantined';
  return health.streak >= config.quarantineAfter ? 'probation' : 'healthy';
}

/** The cool-down of quarantine number `n` (from 1). */
export function coolDownMs(n: number, config: HealthConfig): number {
  return Math.min(config.maxCoolDownMs, config.coolDownMs * 2 ** Math.max(0, n - 1));
}

/** One thing a device did: it worked (`ok`) or failed for reasons of its own (`fail`). */
export type DeviceOutcome = 'ok' | 'fail';

export interface HealthChange {
  health: DeviceHealth;
  /** Set when the device changed state: quarantined now, or healed after a quarantine. */
  change?: 'quarantined' | 'healed';
  /** The cool-down of the quarantine just begun. */
  coolDownMs?: number;
}

/** The device's health after these outcomes, in order. */
export function afterOutcomes(
  health: DeviceHealth,
  outcomes: readonly DeviceOutcome[],
  now: number,
  config: HealthConfig,
): HealthChange {
  let h = health;
  let change: HealthChange['change'];
  let coolDown: number | undefined;
  for (const outcome of outcomes) {
    if (outcome === 'ok') {
      if (h.quarantines > 0) change = 'healed';
      h = HEALTHY;
      continue;
    }
    const streak = h.streak + 1;
    if (streak >= config.quarantineAfter && healthState(h, now, config) !== 'quarantined') {
      const n = h.quarantines + 1;
      coolDown = coolDownMs(n, config);
      h = { streak, quarantines: n, quarantinedUntil: now + coolDown };
      change = 'quarantined';
    } else {
      h = { ...h, streak };
    }
  }
  // Healed and quarantined again in one report: what stands is the quarantine.
  return change === 'quarantined' ? { health: h, change, coolDownMs: coolDown } : { health: h, change };
}

export function sameHealth(a: DeviceHealth, b: DeviceHealth): boolean {
  return a.streak === b.streak && a.quarantines === b.quarantines && a.quarantinedUntil === b.quarantinedUntil;
}
