/**
 * Waiting reads (long-poll) of job states. The first read gives the document and its ETag;
 * sent again with that ETag and `waitSeconds`, the server answers as soon as a job of it
 * changes status, or with "unchanged" (304) when the wait ends. A server without waiting
 * reads answers every read at once, without an ETag.
 */
import { MAX_WAIT_SECONDS } from '@qgjob/protocol';

export interface WatchOptions {
  /** The ETag of the copy held (from the previous answer); without it the read answers at once. */
  etag?: string;
  /** How long the server may hold the read while the copy is current. At most 60. */
  waitSeconds?: number;
  signal?: AbortSignal;
}

export type Watched<T> =
  /** `etag` undefined: the server does not support waiting reads (it answered at once, untagged). */
  | { changed: true; doc: T; etag: string | undefined }
  /** The copy named by `etag` is still current. */
  | { changed: false; etag: string };

/** The largest `waitSeconds` servers take. */
export const MAX_WATCH_SECONDS = MAX_WAIT_SECONDS;

export interface WatchRequest {
  query: Record<string, string | number | undefined>;
  headers: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
  notModified: true;
}

/** The request options of a waiting read; `timeoutMs` is the client's own, beyond the wait. */
export function watchRequest(options: WatchOptions, timeoutMs: number): WatchRequest {
  const wait =
    options.etag === undefined
      ? undefined
      : Math.max(0, Math.min(MAX_WATCH_SECONDS, Math.ceil(options.waitSeconds ?? 0)));
  return {
    query: { wait: wait || undefined },
    headers: options.etag === undefined ? {} : { 'if-none-match': options.etag },
    timeoutMs: (wait ?? 0) * 1000 + timeoutMs,
    signal: options.signal,
    notModified: true,
  };
}

export async function watchedAnswer<T>(response: Response, sent: WatchOptions): Promise<Watched<T>> {
  const etag = response.headers.get('etag') ?? undefined;
  if (response.status === 304) {
    await response.body?.cancel().catch(() => {});
    return { changed: false, etag: etag ?? (sent.etag as string) };
  }
  return { changed: true, doc: (await response.json()) as T, etag };
}
