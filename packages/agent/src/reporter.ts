/**
 * Sends a batch's events to the server, coalescing them: at most one report request is in
 * flight; whatever is queued meanwhile goes in the next one. A hundred 50 ms tests cost a
 * handful of requests, not two hundred, and the runner never waits on the network to start
 * the next test.
 *
 * States: idle (nothing queued) → sending (one request in flight; new events queue up) →
 * idle again, or → lost. Every answer updates `yielded` (sticky) and `cancelled`. Network
 * failures and 5xx are retried with backoff for as long as the lease could still be alive;
 * a 409 (fenced off), a 404 (batch forgotten) or retries outlasting the lease make the
 * reporter lost: `lostSignal` aborts, queued events are dropped, nothing more is sent.
 */
import { ApiError, isTransient, type QgjobClient } from '@qgjob/client';
import type { BatchEvent, ReportRequest, ReportResponse } from '@qgjob/protocol';
import { Acks } from './acks.js';
import { describe, LeaseLostError } from './errors.js';
import type { Logger } from './log.js';
import { Backoff, sleep } from './sleep.js';

export interface ReporterOptions {
  client: Pick<QgjobClient, 'report'>;
  batchId: string;
  /** How long to keep retrying one report before deciding the lease is gone. */
  retryForMs: number;
  /** Aborts sending altogether (forced stop): nothing more goes out. */
  signal?: AbortSignal;
  log: Logger;
  /** Called with every answer, after `yielded` and `cancelled` are updated. */
  onAnswer?: (answer: ReportResponse) => void;
  /** Events per request (the protocol allows 1000). */
  maxEvents?: number;
}

export class Reporter {
  /** The server asked to stop starting jobs of this batch. */
  yielded = false;
  /** Jobs a user cancelled: not to be started, killed if running. */
  readonly cancelled = new Set<string>();
  /** Report requests that got an answer (for tests and logs). */
  requests = 0;

  private readonly lost = new AbortController();
  private queue: BatchEvent[] = [];
  private unstarted: string[] | undefined;
  private doneSent = false;
  private beat = false;
  private sending = false;
  /** Items (events, and `done`) handed in, and those the server has acknowledged. */
  private readonly acks = new Acks();

  constructor(private readonly options: ReporterOptions) {}

  /** Aborts (reason: LeaseLostError or a rejection) when the batch must stop at once. */
  get lostSignal(): AbortSignal {
    return this.lost.signal;
  }

  push(event: BatchEvent): void {
    if (this.isOver()) return;
    this.queue.push(event);
    this.acks.add();
    this.kick();
  }

  /** The batch is over; `unstarted` go back to the queue. Sent after every queued event. */
  done(unstarted: string[]): void {
    if (this.isOver() || this.unstarted !== undefined) return;
    this.unstarted = unstarted;
    this.acks.add();
    this.kick();
  }

  /** Renews the lease: an empty report, unless a request is already on its way. */
  heartbeat(): void {
    if (this.sending || this.isOver()) return;
    this.beat = true;
    this.kick();
  }

  /** Resolves once everything handed in so far is acknowledged, or the reporter is lost or stopped. */
  flush(): Promise<void> {
    if (this.isOver()) return Promise.resolve();
    return this.acks.wait();
  }

  private isOver(): boolean {
    return this.lost.signal.aborted || this.options.signal?.aborted === true;
  }

  private kick(): void {
    if (!this.sending) void this.pump();
  }

  private async pump(): Promise<void> {
    this.sending = true;
    const max = this.options.maxEvents ?? 1000;
    try {
      while (!this.isOver() && (this.queue.length > 0 || this.beat || (this.unstarted && !this.doneSent))) {
        this.beat = false;
        const events = this.queue.slice(0, max);
        const withDone = events.length === this.queue.length && this.unstarted !== undefined && !this.doneSent;
        const body: ReportRequest = withDone ? { events, done: { unstarted: this.unstarted ?? [] } } : { events };
        const answer = await this.send(body);
        if (!answer) break;
        this.queue.splice(0, events.length);
        if (withDone) this.doneSent = true;
        this.apply(answer);
        this.acks.ack(events.length + (withDone ? 1 : 0));
      }
    } catch (error) {
      this.queue = [];
      this.lost.abort(error);
    } finally {
      this.sending = false;
      if (this.isOver()) this.acks.releaseAll();
    }
  }

  /** One report, retried until answered; undefined when stopped meanwhile. */
  private async send(body: ReportRequest): Promise<ReportResponse | undefined> {
    const { client, batchId, retryForMs, signal, log } = this.options;
    const deadline = Date.now() + retryForMs;
    const backoff = new Backoff(250, 5000);
    let warned = false;
    for (;;) {
      try {
        const answer = await client.report(batchId, body);
        this.requests++;
        if (warned) log.info('reporting again', { batch: batchId });
        return answer;
      } catch (error) {
        if (signal?.aborted) return undefined;
        if (error instanceof ApiError && (error.status === 409 || error.status === 404)) {
          throw new LeaseLostError(`the lease on batch ${batchId} is gone (${error.status} ${error.code})`, {
            cause: error,
          });
        }
        if (error instanceof ApiError && !isTransient(error)) throw error;
        if (Date.now() >= deadline) {
          throw new LeaseLostError(`could not report on batch ${batchId} for ${retryForMs} ms: the lease has expired`, {
            cause: error,
          });
        }
        if (!warned) log.warn('report failed; retrying', { batch: batchId, error: describe(error) });
        warned = true;
        await sleep(backoff.next(), signal);
      }
    }
  }

  private apply(answer: ReportResponse): void {
    if (answer.yield) this.yielded = true;
    for (const id of answer.cancelled) this.cancelled.add(id);
    this.options.onAnswer?.(answer);
  }
}
