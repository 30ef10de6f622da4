/**
 * Sends a batch's events to the server, coalescing them: at most one report request is in
 * flight; whatever is queued meanwhile goes in the next one. A hundred 50 ms tests cost a
 * handful of requests, not two hundred, and the runner never waits on the network to start
 * the next test.
 *
 * States: idle (nothing queued) → sending (one request in flight; new events queue up) →
 * idle again, or → lost. Run output (`carry`) rides along: a job's output with or after its
 * start and with or before its finish. Every answer updates `yielded` (sticky) and `cancelled`. Network
 * failures and 5xx are retried with backoff for as long as the lease could still be alive;
 * a 409 (fenced off), a 404 (batch forgotten) or retries outlasting the lease make the
 * reporter lost: `lostSignal` aborts, queued events are dropped, nothing more is sent.
 */
import { ApiError, isTransient, type QgjobClient } from '@qgjob/client';
import type { BatchEvent, ReportRequest, ReportResponse } from '@qgjob/protocol';
import { Acks } from './acks.js';
import { describe, LeaseLostError } from './errors.js';
import type { Logger } from './log.js';
import type { TakenLogs } from './log-shipper.js';
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

/** Run output that rides in the reports (a LogShipper in carrier mode). */
export interface ReportLogs {
  pending(jobId?: string): boolean;
  takeForReport(ready: (jobId: string) => boolean): TakenLogs | undefined;
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
  private logs: ReportLogs | undefined;
  /** Jobs whose start went out: their output may follow. */
  private readonly started = new Set<string>();

  constructor(private readonly options: ReporterOptions) {}

  /** Carries this run output in the reports: a job's output after its start, before its finish. */
  carry(logs: ReportLogs): void {
    this.logs = logs;
  }

  /** Sends what is queued now (new output to carry), unless a request is on its way (it goes next). */
  kick(): void {
    if (!this.sending && !this.isOver()) void this.pump();
  }

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

  private async pump(): Promise<void> {
    this.sending = true;
    const max = this.options.maxEvents ?? 1000;
    try {
      while (
        !this.isOver() &&
        (this.queue.length > 0 || this.beat || (this.unstarted && !this.doneSent) || this.logs?.pending())
      ) {
        const beat = this.beat;
        this.beat = false;
        const { events, logs } = this.nextBody(max);
        // The batch ends only once all of its output went out.
        const withDone =
          events.length === this.queue.length &&
          this.unstarted !== undefined &&
          !this.doneSent &&
          !this.logs?.pending();
        if (events.length === 0 && !logs && !withDone && !beat) break;
        const body: ReportRequest = { events };
        if (logs) body.logs = logs.chunks;
        if (withDone) body.done = { unstarted: this.unstarted ?? [] };
        const answer = await this.send(body);
        if (!answer) break;
        this.queue.splice(0, events.length);
        if (withDone) this.doneSent = true;
        logs?.settle(answer.truncated);
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

  /**
   * The next request's events and output. Output of a job goes with or after its start;
   * a finish whose job still has output waiting (more than one request holds) waits too,
   * with everything after it, so the server stores a run's output before its end.
   */
  private nextBody(max: number): { events: BatchEvent[]; logs: TakenLogs | undefined } {
    let events = this.queue.slice(0, max);
    const logs = this.logs;
    if (!logs) return { events, logs: undefined };
    const starting = new Set(events.flatMap((e) => (e.type === 'start' ? [e.job_id] : [])));
    const taken = logs.takeForReport((jobId) => this.started.has(jobId) || starting.has(jobId));
    const cut = events.findIndex((e) => e.type === 'finish' && logs.pending(e.job_id));
    if (cut >= 0) events = events.slice(0, cut);
    for (const e of events) if (e.type === 'start') this.started.add(e.job_id);
    return { events, logs: taken };
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
