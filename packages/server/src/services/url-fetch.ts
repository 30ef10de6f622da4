/**
 * Fetches an app build registered by URL into the blob store's staging area. Redirects are
 * followed by hand, so every hop passes url-guard.ts's checks like the first; every failure
 * is a 4xx naming the `url` field, saying what went wrong and what to do instead.
 */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { StagedBlob } from '../blobs/store.js';
import { AppError, ValidationError } from '../errors.js';
import { guardedGet, InternalAddressError } from './url-guard.js';

export interface FetchOptions {
  /** Time allowed to fetch a build from a URL. */
  fetchTimeoutMs: number;
  /** May a build URL point into the server's own network (loopback, private addresses)? */
  fetchInternalUrls: boolean;
}

export const DEFAULT_FETCH_OPTIONS: FetchOptions = {
  fetchTimeoutMs: 10 * 60_000,
  fetchInternalUrls: false,
};

const MAX_REDIRECTS = 5;

const failed = (message: string) => new AppError('fetch_failed', message, { field: 'url' });

/**
 * GETs `url` and stages its body with `stage` (which enforces the size limit as bytes
 * arrive); a declared length over `maxAppBytes` is refused before any byte is read.
 */
export async function fetchBuild(
  url: string,
  options: FetchOptions & { maxAppBytes: number },
  stage: (body: Readable) => Promise<StagedBlob>,
): Promise<StagedBlob> {
  const signal = AbortSignal.timeout(options.fetchTimeoutMs);
  const { response, target } = await follow(url, signal, options.fetchInternalUrls);
  const status = response.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    response.resume();
    throw failed(`fetching ${target.href} answered ${status} ${response.statusMessage ?? ''}`.trim());
  }
  const declared = Number(response.headers['content-length']);
  if (Number.isFinite(declared) && declared > options.maxAppBytes) {
    response.destroy();
    throw new AppError(
      'body_too_large',
      `${url} is ${declared} bytes, more than the limit of ${options.maxAppBytes} for an app build`,
      { field: 'url' },
    );
  }
  try {
    return await stage(response);
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw failed(`fetching ${url} broke off: ${signal.aborted ? 'timed out' : (error as Error).message}`);
  }
}

/** GETs `url`, following up to MAX_REDIRECTS redirects; the answer of the last hop and its URL. */
async function follow(
  url: string,
  signal: AbortSignal,
  allowInternal: boolean,
): Promise<{ response: IncomingMessage; target: URL }> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new ValidationError([{ field: 'url', message: `url is not a valid URL (got ${JSON.stringify(url)})` }]);
  }
  for (let hop = 0; ; hop++) {
    const response = await get(target, signal, allowInternal);
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (status < 300 || status >= 400 || !location) return { response, target };
    response.resume();
    if (hop === MAX_REDIRECTS) throw failed(`fetching ${url} redirected more than ${MAX_REDIRECTS} times`);
    try {
      target = new URL(location, target);
    } catch {
      throw failed(`fetching ${url} redirected to an invalid URL`);
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      throw failed(`fetching ${url} redirected to a ${target.protocol} URL`);
    }
  }
}

/** One hop: its response once the headers are in, or the reason it failed. */
async function get(target: URL, signal: AbortSignal, allowInternal: boolean): Promise<IncomingMessage> {
  try {
    return await guardedGet(target, { signal, allowInternal });
  } catch (error) {
    if (error instanceof InternalAddressError) {
      throw failed(
        `refusing to fetch ${target.href}: ${error.message}; give a public URL, or upload the file (qgjob app upload FILE)`,
      );
    }
    const { code, message } = error as NodeJS.ErrnoException;
    throw failed(`could not fetch ${target.href}: ${signal.aborted ? 'timed out' : (code ?? message)}`);
  }
}
