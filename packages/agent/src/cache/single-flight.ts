/**
 * One run of a piece of work per key for every caller asking meanwhile (one download,
 * unpack or install for all the device loops that want the same entry at once).
 *
 * Invariants: a key is in flight from the first call until its work settles or every
 * caller has left; a caller whose signal aborts stops waiting at once, and the work itself
 * is aborted (and the key forgotten, so that the next caller starts afresh) when no caller
 * is left.
 */

interface Flight<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}

export class SingleFlight {
  private readonly flights = new Map<string, Flight<unknown>>();

  /** Whether work for `key` is under way. */
  has(key: string): boolean {
    return this.flights.has(key);
  }

  /** Callers waiting on the work for `key` when that work runs under `signal`, else 0. */
  waitersUnder(key: string, signal: AbortSignal): number {
    const flight = this.flights.get(key);
    return flight && flight.controller.signal === signal ? flight.waiters : 0;
  }

  run<T>(key: string, signal: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const flight = this.join(key, work);
    flight.waiters++;
    return new Promise<T>((resolvePromise, reject) => {
      let left = false;
      const leave = () => {
        if (left) return false;
        left = true;
        flight.waiters--;
        signal.removeEventListener('abort', onAbort);
        return true;
      };
      const onAbort = () => {
        if (!leave()) return;
        if (flight.waiters === 0) {
          // Nobody waits any more: stop, and let the next caller start afresh.
          this.forget(key, flight);
          flight.controller.abort(signal.reason);
        }
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (value) => {
          if (leave()) resolvePromise(value);
        },
        (error: unknown) => {
          if (leave()) reject(error);
        },
      );
    });
  }

  /** The work under way for `key`, or `work` started now. */
  private join<T>(key: string, work: (signal: AbortSignal) => Promise<T>): Flight<T> {
    const running = this.flights.get(key) as Flight<T> | undefined;
    if (running) return running;
    const controller = new AbortController();
    const flight: Flight<T> = { promise: work(controller.signal), controller, waiters: 0 };
    const forget = () => this.forget(key, flight);
    flight.promise.then(forget, forget);
    this.flights.set(key, flight);
    return flight;
  }

  private forget(key: string, flight: Flight<unknown>): void {
    if (this.flights.get(key) === flight) this.flights.delete(key);
  }
}
