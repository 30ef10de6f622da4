/** Waiting that an AbortSignal cuts short, and retry delays for a flaky network. */

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Exponential backoff with jitter: the n-th delay is drawn from [½, 1] × min(cap, base × 2ⁿ),
 * so agents that lost the server together do not all come back in the same millisecond.
 */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly baseMs = 200,
    private readonly capMs = 5000,
  ) {}

  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return Math.round(ceiling * (0.5 + Math.random() / 2));
  }

  reset(): void {
    this.attempt = 0;
  }
}
