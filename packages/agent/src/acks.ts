/**
 * Counting what was handed to a sender and what the server acknowledged, and waiting for
 * the acknowledgements: the flush() of the Reporter and of the LogShipper.
 */
export class Acks {
  private handed = 0;
  private acked = 0;
  private waiters: { target: number; resolve: () => void }[] = [];

  /** `n` more items were handed in. */
  add(n = 1): void {
    this.handed += n;
  }

  /** `n` more items were acknowledged (or given up on). */
  ack(n: number): void {
    this.acked += n;
    this.release(false);
  }

  /** Everything handed in so far is acknowledged. */
  get settled(): boolean {
    return this.acked >= this.handed;
  }

  /** Resolves once everything handed in so far is acknowledged, releaseAll() runs, or `timeoutMs` passes. */
  wait(timeoutMs = Number.POSITIVE_INFINITY): Promise<void> {
    const target = this.handed;
    if (this.acked >= target) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = Number.isFinite(timeoutMs) ? setTimeout(finish, timeoutMs) : undefined;
      function finish() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.push({ target, resolve: finish });
    });
  }

  /** Lets every waiter go: the sender stopped. */
  releaseAll(): void {
    this.release(true);
  }

  private release(all: boolean): void {
    const keep: typeof this.waiters = [];
    for (const waiter of this.waiters) {
      if (all || this.acked >= waiter.target) waiter.resolve();
      else keep.push(waiter);
    }
    this.waiters = keep;
  }
}
