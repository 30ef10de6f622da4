/**
 * Wakes long-polling claims when work may have appeared. Every job-server LISTENs on
 * the `qgjob_queued` channel (payload: the target); any server that queues jobs
 * NOTIFYs, so a device long-polling one replica hears about a submit made on another.
 * Waiters also time out after a short poll, the fallback if a notification is missed.
 */
import type { Target } from '@qgjob/protocol';
import type { Db } from '../db/db.js';

export class Wakeups {
  private readonly waiters = new Map<Target, Set<() => void>>();
  private unlisten: (() => Promise<void>) | undefined;

  constructor(private readonly db: Db) {}

  async start(): Promise<void> {
    this.unlisten = await this.db.listen('qgjob_queued', (payload) => this.wake(payload as Target));
  }

  async stop(): Promise<void> {
    await this.unlisten?.();
    for (const set of this.waiters.values()) for (const w of set) w();
    this.waiters.clear();
  }

  wake(target: Target): void {
    const set = this.waiters.get(target);
    if (!set) return;
    this.waiters.delete(target);
    for (const w of set) w();
  }

  /** Resolves when `target` may have new work, after `ms`, or when `signal` aborts. */
  wait(target: Target, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(target);
      if (!set) {
        set = new Set();
        this.waiters.set(target, set);
      }
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
