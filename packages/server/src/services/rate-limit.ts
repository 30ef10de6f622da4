/**
 * Per-org token buckets: `rate` requests a second, bursts up to `burst`. Kept in each
 * job-server's memory, so with N replicas behind a balancer an org gets up to N times
 * the rate; the cap on queued jobs (in the database) bounds what that can do.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {}

  /** 0 when allowed; otherwise the seconds to wait before the next request fits. */
  take(key: string, now = Date.now()): number {
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.rate);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    if (this.buckets.size > 10_000) this.buckets.clear();
    return Math.max(1, Math.ceil((1 - b.tokens) / this.rate));
  }
}
