/**
 * The cache's public option and error types, and the on-disk records its modules share.
 * Every entry is named by the SHA-256 of its content; `checkSha` guards the names handed in.
 */
import { join } from 'node:path';
import type { BundleErrorCode, TreeFile, UnpackLimits } from '@qgjob/bundle';
import type { Logger } from '../log.js';

export interface CacheOptions {
  /** Cache root. */
  dir: string;
  /** Eviction threshold for the whole cache. */
  maxBytes: number;
  /** GET /v1/blobs/{sha256}; a non-2xx answer is thrown as an error. */
  fetchBlob: (sha256: string, signal: AbortSignal) => Promise<Response>;
  log: Logger;
  unpackLimits?: Partial<UnpackLimits>;
  /** Refuse downloads larger than this (by Content-Length and by the bytes received). */
  maxBlobBytes?: number;
  /**
   * Dependency install command run through /bin/sh in a dir holding package.json (+ lockfile).
   * Default: `npm ci --no-audit --no-fund` when a lockfile exists, else `npm install --no-audit --no-fund`.
   */
  depsCommand?: string;
  /** Default 15 min. */
  depsTimeoutMs?: number;
}

export interface Lease {
  /** Unpins the entry; calling it again does nothing. */
  release(): void;
}

export type CacheErrorCode = 'hash_mismatch' | 'too_large' | 'bad_bundle' | 'deps_failed' | BundleErrorCode;

export class CacheError extends Error {
  override readonly name = 'CacheError';
  constructor(
    message: string,
    /** What went wrong; for a refused unpack, the BundleError's code. */
    readonly code: CacheErrorCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const SHA256 = /^[0-9a-f]{64}$/;

export function checkSha(sha256: string): void {
  if (!SHA256.test(sha256)) throw new TypeError(`not a SHA-256 (64 lowercase hex characters): ${sha256}`);
}

/** A bundle that cannot be used as it is (its manifest or package.json is invalid). */
export function badBundle(sha256: string, message: string): CacheError {
  return new CacheError(`bundle ${sha256}: ${message}`, 'bad_bundle');
}

/** Where a bundle's dependencies come from, relative to the bundle's root. */
export interface BundleDeps {
  /** deps/<key>: see depsKey. */
  key: string;
  /** The runtime `key` was derived for (see runtimeTag); absent in markers of older agents. */
  runtime?: string;
  /** Directory holding package.json; its node_modules links to deps/<key>/node_modules. */
  dir: string;
  lockfile: string | null;
  /** Other files copied next to package.json for the install (.npmrc). */
  extra: string[];
}

/** bundles/<sha256>.json */
export interface BundleMarker {
  version: 1;
  workdir: string;
  bytes: number;
  files: TreeFile[];
  deps: BundleDeps | null;
}

/** The absolute path of `path` ('/'-separated, relative to the bundle, '.' for its root) under `root`. */
export function inBundle(root: string, path: string): string {
  return path === '.' ? root : join(root, ...path.split('/'));
}
