/**
 * The NOTIFY that tells the other replicas what a committed transaction changed (wakeups.ts:
 * a target has work; job-changes.ts: jobs changed status). It is sent after the commit,
 * never inside the transaction: a transaction that NOTIFYs takes PostgreSQL's global
 * notify-queue lock at commit, which serialises commits; measured, notifying inside every
 * submit capped submits near 2,000/s on a 2-core machine. It is coalesced per key: what is
 * added for one key within COALESCE_MS goes out in one send, COALESCE_MS after the first.
 * A send that fails is dropped: the other replicas' waiters re-check after a short poll.
 */

/** Additions for one key within this window go out as one. */
const COALESCE_MS = 5;

export class CoalescedNotifier<K, V> {
  private readonly pending = new Map<K, V>();

  /**
   * `merge` folds an addition into what is pending for its key (nothing yet: undefined);
   * `send` sends what gathered for a key.
   */
  constructor(
    private readonly merge: (pending: V | undefined, added: V) => V,
    private readonly send: (key: K, value: V) => Promise<void>,
  ) {}

  /** Call after the commit. */
  add(key: K, value: V): void {
    const before = this.pending.get(key);
    this.pending.set(key, this.merge(before, value));
    if (before !== undefined) return;
    setTimeout(() => this.flush(key), COALESCE_MS).unref();
  }

  private flush(key: K): void {
    const value = this.pending.get(key) as V;
    this.pending.delete(key);
    this.send(key, value).catch(() => {
      // Other replicas fall back to their poll; nothing is lost.
    });
  }
}
