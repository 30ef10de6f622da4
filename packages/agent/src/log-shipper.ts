/**
 * Ships a batch's run output to the server as it is produced, coalescing like the Reporter:
 * at most one request in flight; whatever is written meanwhile goes in the next one, up to
 * about 64 KiB of text a request. A quiet test's line goes out at once; a chatty test's
 * output goes in a few large requests.
 *
 * A job's output is held until `open(job, ready)`'s `ready` settles: the server keeps
 * chunks only for a running run, so they must not overtake the report of the job's start.
 *
 * States: idle → sending → idle, or → off. Logs are best effort and never stop a batch:
 * - network errors and 5xx are retried with backoff for `retryForMs`, then that request's
 *   chunks are dropped (with a warning) and shipping goes on;
 * - a 409 (lease gone), 404 (batch unknown, or a server without logs) or any other 4xx
 *   turns the shipper off: queued output is dropped and nothing more is sent;
 * - a job the server reports `truncated` (its run log is full), or output beyond
 *   `maxPendingChars` waiting to be sent, is no longer sent as text: only its byte count
 *   goes, so the server's truncation marker counts every byte.
 */
import { ApiError, isTransient, type QgjobClient } from '@qgjob/client';
import { LOG_LIMITS, type LogChunkIn, type LogStream, type LogsResponse } from '@qgjob/protocol';
import { Acks } from './acks.js';
import { describe } from './errors.js';
import type { Logger } from './log.js';
import { Backoff, sleep } from './sleep.js';

export interface LogShipperOptions {
  client: Pick<QgjobClient, 'sendLogs'>;
  batchId: string;
  /** How long to retry one request before dropping its chunks. */
  retryForMs: number;
  /** Aborts shipping altogether (forced stop). */
  signal?: AbortSignal;
  log: Logger;
  /** Characters of text per request. Default 64 KiB. */
  maxRequestChars?: number;
  /** Characters waiting to be sent beyond which new output is only counted. Default 1 MiB. */
  maxPendingChars?: number;
  /**
   * Carrier mode: the output rides in the batch's reports (the reporter takes it with
   * `takeForReport`) and nothing is sent from here; new output kicks the carrier.
   */
  carrier?: { kick(): void };
}

/** Output taken for one report: `settle` once the server answered it. */
export interface TakenLogs {
  chunks: LogChunkIn[];
  settle(truncated: string[] | undefined): void;
}

interface Item {
  jobId: string;
  stream: LogStream;
  text: string;
  /** Bytes of this job's output not sent, reported with this item. */
  dropped: number;
  /** write() calls this item completes (flush counts them). */
  writes: number;
}

export class LogShipper {
  /** Requests answered (for tests and logs). */
  requests = 0;

  private queue: Item[] = [];
  private pendingChars = 0;
  private readonly gates = new Map<string, Promise<unknown>>();
  /** Jobs whose output is only counted from now on. */
  private readonly counting = new Set<string>();
  private sending = false;
  private off = false;
  /** Writes handed in, and those sent (or given up on). */
  private readonly acks = new Acks();

  constructor(private readonly options: LogShipperOptions) {}

  /**
   * Output of `jobId` waits until `ready` settles (the report of its start is acknowledged).
   * In carrier mode there is nothing to wait for: the reporter sends a job's output only
   * with or after its start.
   */
  open(jobId: string, ready: Promise<unknown>): void {
    if (this.options.carrier) return;
    const gate = ready.then(
      () => {
        if (this.gates.get(jobId) === gate) this.gates.delete(jobId);
      },
      () => {
        if (this.gates.get(jobId) === gate) this.gates.delete(jobId);
      },
    );
    this.gates.set(jobId, gate);
  }

  write(jobId: string, stream: LogStream, text: string): void {
    if (text === '' || this.isOff()) return;
    this.acks.add();
    const max = this.options.maxPendingChars ?? 1024 * 1024;
    if (!this.counting.has(jobId) && this.pendingChars + text.length > max) {
      this.options.log.warn('run output is coming faster than the server takes it: the rest is counted, not sent', {
        job: jobId,
      });
      this.counting.add(jobId);
    }
    // Queued items are never in flight (take() removes what it sends): the last one may grow.
    const last = this.queue[this.queue.length - 1];
    const same = last !== undefined && last.jobId === jobId;
    if (this.counting.has(jobId)) {
      const bytes = Buffer.byteLength(text);
      if (same && last.text === '') {
        last.dropped += bytes;
        last.writes++;
      } else this.queue.push({ jobId, stream, text: '', dropped: bytes, writes: 1 });
    } else if (
      same &&
      last.stream === stream &&
      last.dropped === 0 &&
      last.text.length + text.length <= this.chunkChars
    ) {
      last.text += text;
      last.writes++;
      this.pendingChars += text.length;
    } else {
      this.queue.push({ jobId, stream, text, dropped: 0, writes: 1 });
      this.pendingChars += text.length;
    }
    if (this.options.carrier) this.options.carrier.kick();
    else this.kick();
  }

  /** Carrier mode: is output waiting, of any job or of this one. */
  pending(jobId?: string): boolean {
    if (this.isOff()) return false;
    return jobId === undefined ? this.queue.length > 0 : this.queue.some((item) => item.jobId === jobId);
  }

  /**
   * Carrier mode: the next report's share of the output, from the head in order, up to the
   * size limits, stopping at the first job that is not `ready` (its start not yet sent).
   */
  takeForReport(ready: (jobId: string) => boolean): TakenLogs | undefined {
    if (this.isOff() || this.queue.length === 0) return undefined;
    const items = this.take(ready);
    if (items.length === 0) return undefined;
    return {
      chunks: items.map(toChunk),
      settle: (truncated) => {
        for (const jobId of truncated ?? []) this.countOnly(jobId);
        this.acks.ack(writes(items));
      },
    };
  }

  /** Drops what is queued for `jobId` (a cancelled job: the server would drop it anyway). */
  discard(jobId: string): void {
    const gone = this.queue.filter((item) => item.jobId === jobId);
    this.queue = this.queue.filter((item) => item.jobId !== jobId);
    this.gates.delete(jobId);
    this.acks.ack(writes(gone));
  }

  /**
   * Resolves once everything written so far was sent (or given up on), the shipper is off,
   * or `timeoutMs` passed.
   */
  flush(timeoutMs = Number.POSITIVE_INFINITY): Promise<void> {
    if (this.isOff()) return Promise.resolve();
    return this.acks.wait(timeoutMs);
  }

  /** Sends nothing more; queued output is dropped. */
  stop(): void {
    this.off = true;
    this.drop();
  }

  private get chunkChars(): number {
    return Math.min(LOG_LIMITS.chunkChars, this.options.maxRequestChars ?? LOG_LIMITS.chunkChars);
  }

  private isOff(): boolean {
    return this.off || this.options.signal?.aborted === true;
  }

  private kick(): void {
    if (!this.sending) void this.pump();
  }

  private async pump(): Promise<void> {
    this.sending = true;
    try {
      while (!this.isOff() && this.queue.length > 0) {
        const head = this.queue[0] as Item;
        const gate = this.gates.get(head.jobId);
        if (gate) {
          await gate;
          continue;
        }
        const batch = this.take();
        const answer = await this.send(batch.map(toChunk));
        if (answer) {
          for (const jobId of answer.truncated) this.countOnly(jobId);
        }
        this.acks.ack(writes(batch));
      }
    } finally {
      this.sending = false;
      if (this.isOff()) this.drop();
    }
  }

  /** The next request: items from the head, in order, up to the size limits; a long one is split. */
  private take(ready: (jobId: string) => boolean = (jobId) => !this.gates.has(jobId)): Item[] {
    let room = this.chunkChars;
    const taken: Item[] = [];
    while (this.queue.length > 0 && taken.length < LOG_LIMITS.requestChunks) {
      const item = this.queue[0] as Item;
      if (!ready(item.jobId) || (room <= 0 && item.text !== '')) break;
      if (item.text.length <= room) {
        taken.push(item);
        this.queue.shift();
        room -= item.text.length;
        this.pendingChars -= item.text.length;
        continue;
      }
      let cut = room;
      // Never split a surrogate pair.
      const code = item.text.charCodeAt(cut - 1);
      if (code >= 0xd800 && code <= 0xdbff) cut--;
      if (cut <= 0) break;
      taken.push({ ...item, text: item.text.slice(0, cut), writes: 0 });
      item.text = item.text.slice(cut);
      item.dropped = 0;
      this.pendingChars -= cut;
      break;
    }
    return taken;
  }

  /** From now on `jobId`'s output is counted, not sent; what is queued of it becomes a count. */
  private countOnly(jobId: string): void {
    if (this.counting.has(jobId)) return;
    this.counting.add(jobId);
    for (const item of this.queue) {
      if (item.jobId !== jobId || item.text === '') continue;
      item.dropped += Buffer.byteLength(item.text);
      this.pendingChars -= item.text.length;
      item.text = '';
    }
  }

  /** One request, retried until answered; undefined when given up on (its chunks are dropped). */
  private async send(chunks: LogChunkIn[]): Promise<LogsResponse | undefined> {
    const { client, batchId, retryForMs, signal, log } = this.options;
    const deadline = Date.now() + retryForMs;
    const backoff = new Backoff(250, 5000);
    let warned = false;
    for (;;) {
      try {
        const answer = await client.sendLogs(batchId, { chunks });
        this.requests++;
        return answer;
      } catch (error) {
        if (this.isOff()) return undefined;
        if (error instanceof ApiError && !isTransient(error)) {
          // 409: the lease is gone (the reporter finds out too). 404: no such batch, or no logs here.
          log.debug('run logs are not taken: sending no more for this batch', {
            batch: batchId,
            error: describe(error),
          });
          this.off = true;
          return undefined;
        }
        if (Date.now() >= deadline) {
          log.warn('could not send run logs: output dropped', { batch: batchId, error: describe(error) });
          return undefined;
        }
        if (!warned) log.debug('sending run logs failed; retrying', { batch: batchId, error: describe(error) });
        warned = true;
        await sleep(backoff.next(), signal);
      }
    }
  }

  private drop(): void {
    this.acks.ack(writes(this.queue));
    this.queue = [];
    this.pendingChars = 0;
    this.acks.releaseAll();
  }
}

function writes(items: Item[]): number {
  return items.reduce((sum, item) => sum + item.writes, 0);
}

function toChunk(item: Item): LogChunkIn {
  const chunk: LogChunkIn = { job_id: item.jobId, stream: item.stream, text: item.text };
  if (item.dropped > 0) chunk.dropped = item.dropped;
  return chunk;
}
