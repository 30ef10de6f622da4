/**
 * Pins and recency of use. An entry handed out is pinned until its lease is released and
 * is never evicted meanwhile; pins count per process (agents sharing a directory do not
 * see each other's). Every pin, release and use moves the entry to the young end of the
 * LRU order; that order lives in memory and, through `CacheContext.touch`, in mtimes.
 */
import type { Lease } from './types.js';

export class UseClock {
  private readonly lastUse = new Map<string, number>();
  private clock = 0;

  /** Records a use now. Strictly increasing, so that uses within one millisecond keep their order. */
  touch(id: string): void {
    this.clock = Math.max(Date.now(), this.clock + 0.001);
    this.lastUse.set(id, this.clock);
  }

  /** The last use recorded in memory, 0 when none. */
  get(id: string): number {
    return this.lastUse.get(id) ?? 0;
  }

  forget(id: string): void {
    this.lastUse.delete(id);
  }
}

export class Pins {
  private readonly counts = new Map<string, number>();

  constructor(private readonly uses: UseClock) {}

  /** Pins the entry until the lease is released. */
  pin(id: string): Lease {
    this.counts.set(id, this.count(id) + 1);
    this.uses.touch(id);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const left = (this.counts.get(id) ?? 1) - 1;
        if (left > 0) this.counts.set(id, left);
        else this.counts.delete(id);
        this.uses.touch(id);
      },
    };
  }

  /** Leases not yet released on the entry. */
  count(id: string): number {
    return this.counts.get(id) ?? 0;
  }
}
