/**
 * What an install takes per target, for the policy's switch cost (and, TestTimes, what a
 * test takes, for batches of tests never seen): a running average kept
 * in memory, read from the install history at most every REFRESH_MS (other job-servers
 * record installs too), and folded in at once for the installs this server records.
 */
import type { Target } from '@qgjob/protocol';
import type { Queryable } from '../db/db.js';
import { recentInstallMs } from '../store/durations.js';

const REFRESH_MS = 30_000;
const NEWEST = 0.3;

/** What a test takes on each target lately, from the runs this server recorded (0 ms tests count as 1 ms). */
export class TestTimes {
  private readonly known = new Map<Target, number>();

  get(target: Target): number | undefined {
    return this.known.get(target);
  }

  observe(target: Target, ms: number): void {
    const cached = this.known.get(target);
    this.known.set(target, cached === undefined ? ms : cached * (1 - NEWEST) + ms * NEWEST);
  }
}

export class InstallTimes {
  private readonly known = new Map<Target, { ms: number; at: number }>();

  /** 0 until an install on this target was measured. */
  async get(q: Queryable, target: Target): Promise<number> {
    const cached = this.known.get(target);
    if (cached && Date.now() - cached.at < REFRESH_MS) return cached.ms;
    const ms = (await recentInstallMs(q, target)) ?? cached?.ms ?? 0;
    this.known.set(target, { ms, at: Date.now() });
    return ms;
  }

  /** An install this server recorded. */
  observe(target: Target, ms: number): void {
    const cached = this.known.get(target);
    this.known.set(target, {
      ms: cached && cached.ms > 0 ? cached.ms * (1 - NEWEST) + ms * NEWEST : ms,
      at: cached?.at ?? 0,
    });
  }
}
