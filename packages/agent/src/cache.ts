/**
 * The agent's artifact cache: app builds and test bundles, content-addressed by SHA-256,
 * downloaded once from the server and kept on disk, verified on every use.
 *
 * Layout under `dir` (nothing is created outside it):
 * - `blobs/<sha256>`: downloaded files (builds and bundle archives);
 * - `bundles/<sha256>/`: an unpacked bundle, and `bundles/<sha256>.json`, its file list
 *   and work dir, written last: without it the directory is incomplete;
 * - `deps/<key>/`: package.json, lockfile and node_modules installed from them, keyed by
 *   the SHA-256 of what the install depends on: the lockfile's bytes (nothing when there is
 *   none), package.json's bytes (overrides, scripts), `process.platform`, `process.arch` and
 *   the Node major version (native modules), each part prefixed by its length in bytes and
 *   a colon; a bundle's node_modules is a symlink into it, so bundles with the same package
 *   files share one install; the marker records the runtime its key was derived for, and a
 *   key derived for another runtime is derived again on use;
 * - `named/<sha256>/<filename>`: symlinks to a blob under its own file name, made by the
 *   provisioner; removed with the blob, and not counted in the cache's size;
 * - `runs/<slot>/<sha256>/`: a device slot's private working copy of a bundle (bundle()'s
 *   `slot`; `<slot>` is a readable, file-name-safe form of it plus a hash of it), so that
 *   tests running at once on several devices of the host do not share output directories
 *   (Playwright empties `test-results/` at the start of every run): the bundle's listed
 *   files as hard links to those of `bundles/<sha256>/`, the directories holding them, its
 *   own node_modules symlink into `deps/`, and whatever the slot's tests write there. Built
 *   in `tmp/` and renamed into place whole; reused, test output and all, while every listed
 *   file is still a link to the cached one, rebuilt from scratch (test output thrown away)
 *   once the bundle was unpacked again (new inodes) or a listed file is gone; removed with
 *   the bundle. Nothing under it is counted in the cache's size: the links share their
 *   bytes with `bundles/`, and what tests write there is not accounted for;
 * - `tmp/`: partial work, renamed into place when complete.
 *
 * Device loops of one agent asking for the same entry at once share one download, unpack
 * or install. Agents sharing the directory stay consistent through temp-and-rename: a
 * complete entry is only ever replaced by an identical one. Entries handed out are pinned
 * until released and never evicted meanwhile; a pinned bundle pins its dependencies.
 * Pins are per process: agents sharing a directory should give it room enough for all.
 * A bundle is verified on every use; a changed one is unpacked again only when no other
 * caller holds it (its tests may be running in it), else handed out as it is. A run copy
 * shares its files with the bundle: a test writing a cached file in place through its link
 * changes the bundle too, which the check on use then finds and unpacks again, and the run
 * copies are rebuilt from the new files on their next use. A run copy is pinned with its
 * bundle; one slot name should be used by one device loop at a time (agents sharing the
 * directory included).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import {
  copyFile,
  link,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, posix, relative, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import {
  BundleError,
  type BundleErrorCode,
  isSafeBundlePath,
  sha256File,
  type TreeFile,
  type UnpackLimits,
  unpackBundle,
  verifyTree,
} from '@qgjob/bundle';
import { describe } from './errors.js';
import { runProcess } from './executors/process.js';
import type { OutputSink } from './executors/types.js';
import type { Logger } from './log.js';

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

export const BUNDLE_MANIFEST = '.qgjob-bundle.json';
const NPM_CI = 'npm ci --no-audit --no-fund';
const NPM_INSTALL = 'npm install --no-audit --no-fund';
const DEFAULT_DEPS_TIMEOUT_MS = 15 * 60_000;
/** npm reads the shrinkwrap first when both are there. */
const LOCKFILES = ['npm-shrinkwrap.json', 'package-lock.json'];
/** Leftovers in tmp/ this old are from a process that died: removed on eviction. */
const STALE_TMP_MS = 6 * 60 * 60_000;
/** Output of a failed install kept in the error. */
const DEPS_TAIL_CHARS = 3000;
const SHA256 = /^[0-9a-f]{64}$/;

/** Where a bundle's dependencies come from, relative to the bundle's root. */
interface BundleDeps {
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
interface BundleMarker {
  version: 1;
  workdir: string;
  bytes: number;
  files: TreeFile[];
  deps: BundleDeps | null;
}

interface PreparedBundle {
  dir: string;
  marker: BundleMarker;
  fetched: boolean;
}

interface Shared<T> {
  promise: Promise<T>;
  controller: AbortController;
  waiters: number;
}

interface Entry {
  id: string;
  size: number;
  lastUse: number;
  remove: () => Promise<void>;
}

export class ArtifactCache {
  private readonly root: string;
  private readonly log: Logger;
  private readonly pins = new Map<string, number>();
  private readonly lastUse = new Map<string, number>();
  private readonly inflight = new Map<string, Shared<unknown>>();
  private readonly removing = new Map<string, Promise<void>>();
  /** Sizes of bundle and deps directories: content-addressed, so they do not change. */
  private readonly sizes = new Map<string, number>();
  private readonly depsSinks = new Map<string, Set<OutputSink>>();
  private evicting: Promise<unknown> = Promise.resolve();
  private dirsReady: Promise<void> | undefined;
  private clock = 0;

  constructor(private readonly options: CacheOptions) {
    this.root = resolve(options.dir);
    this.log = options.log;
  }

  /** The cache root, absolute. */
  get dir(): string {
    return this.root;
  }

  /**
   * A verified local copy of the blob; downloaded when missing, re-downloaded when the
   * cached copy does not match its hash. Pinned (never evicted) until released. `fetched`:
   * this call, or the one it waited on, downloaded it.
   */
  async blob(sha256: string, signal: AbortSignal): Promise<{ path: string; fetched: boolean } & Lease> {
    checkSha(sha256);
    const id = `blob:${sha256}`;
    const lease = this.pin(id);
    try {
      const fetched = await this.share(id, signal, (s) => this.ensureBlob(sha256, s));
      return { path: this.blobPath(sha256), fetched, release: lease.release };
    } catch (error) {
      lease.release();
      throw error;
    }
  }

  /**
   * The bundle unpacked and verified (re-unpacked when a file changed and no other caller
   * holds it), its npm deps installed (once per deps key, shared between bundles with the
   * same package files, via a node_modules symlink). `workdir` is the absolute dir to run
   * tests in; `output` receives the install's output. `depsInstalled`: this call, or the one it waited on,
   * ran the install.
   *
   * `slot` (any string naming a device slot, such as `browserstack:bs-1`): `dir` and
   * `workdir` point into the slot's private working copy of the bundle, `runs/<slot>/<sha256>/`
   * (see the layout above), made of hard links to the cached files; what the slot's tests
   * write there stays out of the cached bundle and of other slots' copies, and is kept
   * until the copy is rebuilt. Without it, the cached bundle itself.
   */
  async bundle(
    sha256: string,
    signal: AbortSignal,
    output?: OutputSink,
    options: { deps?: boolean; slot?: string } = {},
  ): Promise<{ dir: string; workdir: string; fetched: boolean; depsInstalled: boolean } & Lease> {
    checkSha(sha256);
    const leases = [this.pin(`bundle:${sha256}`)];
    const release = () => {
      for (const lease of leases) lease.release();
    };
    try {
      const prepared = await this.share(`bundle:${sha256}`, signal, (s) => this.prepareBundle(sha256, s));
      const { marker } = prepared;
      let { dir } = prepared;
      let depsInstalled = false;
      // `deps: false`: nothing will run the bundle's code (a simulated device), so no install.
      const withDeps = marker.deps !== null && options.deps !== false;
      if (marker.deps && withDeps) {
        const deps = marker.deps;
        const id = `deps:${deps.key}`;
        leases.push(this.pin(id));
        const sinks = this.depsSinks.get(deps.key) ?? new Set<OutputSink>();
        this.depsSinks.set(deps.key, sinks);
        if (output) sinks.add(output);
        try {
          depsInstalled = await this.share(id, signal, (s) => this.ensureDeps(sha256, dir, deps, s));
        } finally {
          if (output) sinks.delete(output);
          if (sinks.size === 0 && !this.inflight.has(id)) this.depsSinks.delete(deps.key);
        }
      }
      if (options.slot !== undefined) {
        const key = slotKey(options.slot);
        const bundleDir = dir;
        dir = await this.share(`run:${key}:${sha256}`, signal, () =>
          this.ensureRunCopy(sha256, key, bundleDir, marker, withDeps),
        );
      }
      return {
        dir,
        workdir: marker.workdir === '.' ? dir : join(dir, ...marker.workdir.split('/')),
        fetched: prepared.fetched,
        depsInstalled,
        release,
      };
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Deletes least-recently-used unpinned entries until the cache is under maxBytes. */
  evict(): Promise<{ removed: number; bytes: number }> {
    const run = this.evicting.then(() => this.evictOnce());
    this.evicting = run.catch(() => {});
    return run;
  }

  /**
   * Bytes the cache holds now, partial work in tmp/ included, named/ and runs/ left out
   * (run copies link to the files of bundles/; test output written into them is not counted).
   */
  async size(): Promise<number> {
    await this.dirs();
    let total = 0;
    for (const name of await readdir(this.root)) {
      if (name !== 'named' && name !== 'runs') total += await treeSize(join(this.root, name));
    }
    return total;
  }

  // --- blobs ---

  private blobPath(sha256: string): string {
    return join(this.root, 'blobs', sha256);
  }

  private async ensureBlob(sha256: string, signal: AbortSignal): Promise<boolean> {
    const id = `blob:${sha256}`;
    await this.removing.get(id)?.catch(() => {});
    await this.dirs();
    const path = this.blobPath(sha256);
    let actual: string | null = null;
    try {
      actual = await sha256File(path);
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
    if (actual === sha256) {
      await this.touch(id, path);
      return false;
    }
    if (actual !== null) {
      this.log.warn('cached blob is corrupted: downloading it again', { sha256, actual_sha256: actual });
    }
    await this.download(sha256, path, signal);
    this.touchMemory(id);
    await this.evictQuietly();
    return true;
  }

  private async download(sha256: string, dest: string, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    const max = this.options.maxBlobBytes;
    const tooLarge = (size: string) =>
      new CacheError(`blob ${sha256} is ${size}, over the ${max} bytes this agent accepts`, 'too_large');
    const tmp = this.tempPath('blob', sha256);
    try {
      const response = await this.options.fetchBlob(sha256, signal);
      const length = response.headers.get('content-length');
      if (max !== undefined && length !== null && Number(length) > max) {
        await response.body?.cancel().catch(() => {});
        throw tooLarge(`${length} bytes`);
      }
      const hash = createHash('sha256');
      let bytes = 0;
      const body = response.body
        ? Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>)
        : Readable.from([]);
      await pipeline(
        body,
        async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            bytes += chunk.length;
            if (max !== undefined && bytes > max) throw tooLarge(`over ${bytes} bytes`);
            hash.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(tmp, { flags: 'wx' }),
        { signal },
      );
      const actual = hash.digest('hex');
      if (actual !== sha256) {
        throw new CacheError(
          `blob ${sha256}: hash mismatch (expected ${sha256}, got ${actual}); the download was discarded`,
          'hash_mismatch',
        );
      }
      await rename(tmp, dest);
      this.log.info('blob downloaded', { sha256, bytes, duration_ms: Math.round(performance.now() - started) });
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }

  // --- bundles ---

  private async prepareBundle(sha256: string, signal: AbortSignal): Promise<PreparedBundle> {
    const id = `bundle:${sha256}`;
    await this.removing.get(id)?.catch(() => {});
    await this.dirs();
    const dir = join(this.root, 'bundles', sha256);
    const markerPath = `${dir}.json`;
    const cached = await readMarker(markerPath);
    if (cached && (await isDir(dir))) {
      const check = await verifyTree(dir, cached.files);
      // Callers holding the bundle, those waiting on this very preparation left out.
      const holders = check.ok ? 0 : this.holders(id, signal);
      if (check.ok || holders > 0) {
        let marker = cached;
        if (check.ok && cached.deps && cached.deps.runtime !== runtimeTag()) {
          // Key derived for another runtime, or by an older rule: the files are verified, derive it again.
          const deps = { ...cached.deps, key: await depsKeyOf(dir, cached.deps), runtime: runtimeTag() };
          marker = { ...cached, deps };
          await writeAtomic(markerPath, JSON.stringify(marker), this.tempPath('marker', sha256));
        }
        if (!check.ok) {
          // Its tests may be running in it right now (one rewrote a snapshot): keep it as it is.
          this.log.warn('cached bundle changed while in use: handing it out as it is', {
            sha256,
            path: check.path,
            reason: check.reason,
            holders,
          });
        }
        if (marker.deps) await this.linkDeps(dir, marker.deps);
        await this.touch(id, markerPath);
        return { dir, marker, fetched: false };
      }
      this.log.warn('cached bundle changed: unpacking it again', {
        sha256,
        path: check.path,
        reason: check.reason,
      });
    }
    if (cached) {
      await rm(markerPath, { force: true });
      await this.trash(dir);
    }
    this.sizes.delete(id);

    const archive = await this.blob(sha256, signal);
    const tmp = this.tempPath('bundle', sha256);
    let refused = false;
    try {
      const started = performance.now();
      await mkdir(tmp);
      let unpacked: Awaited<ReturnType<typeof unpackBundle>>;
      try {
        unpacked = await unpackBundle(archive.path, tmp, this.options.unpackLimits);
      } catch (error) {
        if (error instanceof BundleError) {
          refused = true;
          throw new CacheError(`bundle ${sha256}: unpack refused: ${error.message}`, error.code, { cause: error });
        }
        throw error;
      }
      signal.throwIfAborted();
      const names = new Set(unpacked.files.map((f) => f.path));
      const workdir = await readManifest(tmp, sha256, names);
      const deps = await findDeps(tmp, sha256, workdir, unpacked.files);
      let files = unpacked.files;
      if (deps) {
        // The bundle's own node_modules (if it carries one) gives way to the shared install.
        const inside = deps.dir === '.' ? 'node_modules' : `${deps.dir}/node_modules`;
        files = files.filter((f) => f.path !== inside && !f.path.startsWith(`${inside}/`));
        const link = join(tmp, ...inside.split('/'));
        await rm(link, { recursive: true, force: true });
        await symlink(this.depsLinkTarget(dir, deps), link);
      }
      const marker: BundleMarker = { version: 1, workdir, bytes: unpacked.bytes, files, deps };
      await this.placeBundle(tmp, dir, files);
      if (deps) await this.linkDeps(dir, deps);
      await writeAtomic(markerPath, JSON.stringify(marker), this.tempPath('marker', sha256));
      this.touchMemory(id);
      this.log.info('bundle unpacked', {
        sha256,
        files: files.length,
        bytes: unpacked.bytes,
        workdir,
        duration_ms: Math.round(performance.now() - started),
      });
      return { dir, marker, fetched: archive.fetched };
    } finally {
      archive.release();
      await rm(tmp, { recursive: true, force: true });
      // A refused archive is of no use to anyone: do not keep it.
      if (refused && !this.pins.has(`blob:${sha256}`)) await rm(archive.path, { force: true });
      await this.evictQuietly();
    }
  }

  /**
   * Renames the unpacked tree into place. A directory already there was put there whole
   * by another agent sharing the cache (or by one that died before writing the marker):
   * kept when it holds the same files, replaced when something in it changed.
   */
  private async placeBundle(tmp: string, dir: string, files: TreeFile[]): Promise<void> {
    try {
      await rename(tmp, dir);
      return;
    } catch (error) {
      if (!isCode(error, 'ENOTEMPTY', 'EEXIST')) throw error;
    }
    if ((await verifyTree(dir, files)).ok) return;
    await this.trash(dir);
    await rename(tmp, dir);
  }

  /** The node_modules symlink, relative so that the cache directory may move. */
  private depsLinkTarget(bundleDir: string, deps: BundleDeps): string {
    const from = deps.dir === '.' ? bundleDir : join(bundleDir, ...deps.dir.split('/'));
    return relative(from, join(this.root, 'deps', deps.key, 'node_modules'));
  }

  /** Puts the node_modules symlink back if something replaced or removed it. */
  private async linkDeps(bundleDir: string, deps: BundleDeps): Promise<void> {
    const link = join(bundleDir, ...(deps.dir === '.' ? [] : deps.dir.split('/')), 'node_modules');
    const target = this.depsLinkTarget(bundleDir, deps);
    try {
      if ((await readlink(link)) === target) return;
    } catch {
      // Missing, or not a symlink.
    }
    await rm(link, { recursive: true, force: true });
    try {
      await symlink(target, link);
    } catch (error) {
      if (!isCode(error, 'EEXIST')) throw error;
    }
  }

  // --- run copies ---

  /**
   * The slot's working copy of the bundle at `bundleDir`: reused while every listed file is
   * still the cached one (same inode), else built again in tmp/ and renamed into place.
   */
  private async ensureRunCopy(
    sha256: string,
    key: string,
    bundleDir: string,
    marker: BundleMarker,
    withDeps: boolean,
  ): Promise<string> {
    const runDir = join(this.root, 'runs', key, sha256);
    const stale = await staleRunCopy(bundleDir, runDir, marker.files);
    if (stale !== null) {
      const started = performance.now();
      const tmp = this.tempPath('run', sha256);
      try {
        await mkdir(tmp);
        const dirs = new Set([marker.workdir, ...marker.files.map((f) => posix.dirname(f.path))]);
        for (const d of dirs) if (d !== '.') await mkdir(join(tmp, ...d.split('/')), { recursive: true });
        for (const file of marker.files) {
          const parts = file.path.split('/');
          try {
            await link(join(bundleDir, ...parts), join(tmp, ...parts));
          } catch (error) {
            // Gone from a bundle handed out as it is: the copy mirrors what is there.
            if (!isMissing(error)) throw error;
          }
        }
        if (marker.deps && withDeps) {
          const inside = join(tmp, ...(marker.deps.dir === '.' ? [] : marker.deps.dir.split('/')), 'node_modules');
          await symlink(this.depsLinkTarget(runDir, marker.deps), inside);
        }
        await mkdir(dirname(runDir), { recursive: true });
        // The old copy goes whole, with what its tests wrote.
        await this.trash(runDir);
        try {
          await rename(tmp, runDir);
        } catch (error) {
          if (!isCode(error, 'ENOTEMPTY', 'EEXIST')) throw error;
          // Put there meanwhile by another agent sharing the cache: kept when it is as good.
          if ((await staleRunCopy(bundleDir, runDir, marker.files)) !== null) {
            await this.trash(runDir);
            await rename(tmp, runDir);
          }
        }
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      this.log.info('bundle run copy made', {
        sha256,
        slot: key,
        files: marker.files.length,
        ...(stale === 'missing' ? {} : { reason: stale }),
        duration_ms: Math.round(performance.now() - started),
      });
    }
    if (marker.deps && withDeps) await this.linkDeps(runDir, marker.deps);
    return runDir;
  }

  /** Removes every slot's run copy of the bundle. */
  private async removeRunCopies(sha256: string): Promise<void> {
    const runs = join(this.root, 'runs');
    for (const slot of await readdirOrEmpty(runs)) await this.trash(join(runs, slot, sha256));
  }

  /**
   * Removes run copies of bundles that are neither cached nor in use (a removal or a
   * re-unpack that stopped half way): their links keep stale files alive.
   */
  private async removeOrphanRuns(): Promise<void> {
    const runs = join(this.root, 'runs');
    for (const slot of await readdirOrEmpty(runs)) {
      for (const sha of await readdirOrEmpty(join(runs, slot))) {
        const id = `bundle:${sha}`;
        if (!SHA256.test(sha) || this.pins.has(id) || this.inflight.has(id)) continue;
        const bundleDir = join(this.root, 'bundles', sha);
        if ((await lstatOrNull(bundleDir)) || (await lstatOrNull(`${bundleDir}.json`))) continue;
        await this.trash(join(runs, slot, sha));
      }
    }
  }

  private async ensureDeps(sha256: string, bundleDir: string, deps: BundleDeps, signal: AbortSignal): Promise<boolean> {
    const id = `deps:${deps.key}`;
    await this.removing.get(id)?.catch(() => {});
    await this.dirs();
    const dest = join(this.root, 'deps', deps.key);
    if (await isDir(join(dest, 'node_modules'))) {
      await this.touch(id, dest);
      return false;
    }
    await this.trash(dest);
    this.sizes.delete(id);

    const tmp = this.tempPath('deps', deps.key);
    try {
      await mkdir(tmp);
      const from = join(bundleDir, ...(deps.dir === '.' ? [] : deps.dir.split('/')));
      for (const name of ['package.json', ...(deps.lockfile ? [deps.lockfile] : []), ...deps.extra]) {
        await copyFile(join(from, name), join(tmp, name));
      }
      const command = this.options.depsCommand ?? (deps.lockfile ? NPM_CI : NPM_INSTALL);
      const timeoutMs = this.options.depsTimeoutMs ?? DEFAULT_DEPS_TIMEOUT_MS;
      this.log.info('installing bundle dependencies', { sha256, deps: deps.key, command });
      const result = await runProcess({
        command: '/bin/sh',
        args: ['-c', command],
        cwd: tmp,
        env: installEnv(),
        timeoutMs,
        signal,
        tailChars: DEPS_TAIL_CHARS,
        onOutput: (stream, text) => {
          for (const sink of this.depsSinks.get(deps.key) ?? []) sink(stream, text);
        },
      });
      const { end } = result;
      if (end.kind === 'aborted') throw end.reason;
      if (end.kind !== 'exit' || end.code !== 0) {
        const how =
          end.kind === 'exit'
            ? `exited with code ${end.code}`
            : end.kind === 'signal'
              ? `was killed by ${end.signal}`
              : end.kind === 'timeout'
                ? `timed out after ${timeoutMs} ms`
                : `could not start: ${end.error.message}`;
        const tail = result.output.trim();
        throw new CacheError(
          `installing the dependencies of bundle ${sha256} failed: \`${command}\` ${how}${tail ? `\n${tail}` : ''}`,
          'deps_failed',
        );
      }
      await mkdir(join(tmp, 'node_modules'), { recursive: true });
      try {
        await rename(tmp, dest);
      } catch (error) {
        // Another agent sharing the directory installed the same deps key meanwhile: keep theirs.
        if (!isCode(error, 'ENOTEMPTY', 'EEXIST')) throw error;
      }
      this.touchMemory(id);
      this.log.info('bundle dependencies installed', {
        sha256,
        deps: deps.key,
        duration_ms: result.duration_ms,
      });
      return true;
    } finally {
      await rm(tmp, { recursive: true, force: true });
      await this.evictQuietly();
    }
  }

  // --- eviction ---

  private async evictQuietly(): Promise<void> {
    try {
      await this.evict();
    } catch (error) {
      this.log.warn('cache eviction failed', { error: describe(error) });
    }
  }

  private async evictOnce(): Promise<{ removed: number; bytes: number }> {
    await this.dirs();
    await this.removeStaleTemp();
    await this.removeOrphanRuns();
    const entries = await this.entries();
    let total = entries.reduce((sum, e) => sum + e.size, 0);
    let removed = 0;
    let bytes = 0;
    entries.sort((a, b) => a.lastUse - b.lastUse);
    for (const entry of entries) {
      if (total <= this.options.maxBytes) break;
      // Checked and marked without an await in between: a use that pins the entry after
      // this point waits for the removal and then fetches it again.
      if ((this.pins.get(entry.id) ?? 0) > 0 || this.inflight.has(entry.id)) continue;
      const removal = entry.remove();
      this.removing.set(entry.id, removal);
      try {
        await removal;
      } catch (error) {
        this.log.warn('cannot evict cache entry', { entry: entry.id, error: describe(error) });
        continue;
      } finally {
        this.removing.delete(entry.id);
      }
      this.sizes.delete(entry.id);
      this.lastUse.delete(entry.id);
      total -= entry.size;
      bytes += entry.size;
      removed++;
    }
    if (removed > 0) {
      this.log.info('cache evicted', { removed, bytes, size: total, max_bytes: this.options.maxBytes });
    }
    return { removed, bytes };
  }

  /** Every complete or partial entry with its size and last use (in memory, or its mtime). */
  private async entries(): Promise<Entry[]> {
    const entries: Entry[] = [];
    const used = (id: string, mtimeMs: number) => Math.max(mtimeMs, this.lastUse.get(id) ?? 0);

    for (const name of await readdir(join(this.root, 'blobs'))) {
      const path = join(this.root, 'blobs', name);
      const st = await lstatOrNull(path);
      if (!st) continue;
      const id = `blob:${name}`;
      const remove = async () => {
        await rm(path, { force: true });
        // The provisioner's links to it under its own file name would dangle.
        await rm(join(this.root, 'named', name), { recursive: true, force: true });
      };
      entries.push({ id, size: st.size, lastUse: used(id, st.mtimeMs), remove });
    }

    const bundles = new Set<string>();
    for (const name of await readdir(join(this.root, 'bundles'))) bundles.add(name.replace(/\.json$/, ''));
    for (const sha of bundles) {
      const dir = join(this.root, 'bundles', sha);
      const marker = await lstatOrNull(`${dir}.json`);
      const st = marker ?? (await lstatOrNull(dir));
      if (!st) continue;
      const id = `bundle:${sha}`;
      const size = (marker?.size ?? 0) + (await this.dirSize(id, dir));
      const remove = async () => {
        // Copies first: one that outlived its bundle would hold on to stale files.
        await this.removeRunCopies(sha);
        await rm(`${dir}.json`, { force: true });
        await this.trash(dir);
      };
      entries.push({ id, size, lastUse: used(id, st.mtimeMs), remove });
    }

    for (const key of await readdir(join(this.root, 'deps'))) {
      const dir = join(this.root, 'deps', key);
      const st = await lstatOrNull(dir);
      if (!st) continue;
      const id = `deps:${key}`;
      const size = await this.dirSize(id, dir);
      entries.push({ id, size, lastUse: used(id, st.mtimeMs), remove: () => this.trash(dir) });
    }
    return entries;
  }

  private async dirSize(id: string, dir: string): Promise<number> {
    let size = this.sizes.get(id);
    if (size === undefined) {
      size = await treeSize(dir);
      this.sizes.set(id, size);
    }
    return size;
  }

  private async removeStaleTemp(): Promise<void> {
    const tmp = join(this.root, 'tmp');
    const cutoff = Date.now() - STALE_TMP_MS;
    for (const name of await readdir(tmp)) {
      const st = await lstatOrNull(join(tmp, name));
      if (st && st.mtimeMs < cutoff) await rm(join(tmp, name), { recursive: true, force: true });
    }
  }

  // --- helpers ---

  /**
   * One run of `work` per key for every caller asking meanwhile. A caller whose signal
   * aborts stops waiting; the work itself is aborted when no caller is left.
   */
  private share<T>(key: string, signal: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    let shared = this.inflight.get(key) as Shared<T> | undefined;
    if (!shared) {
      const controller = new AbortController();
      const entry: Shared<T> = { promise: work(controller.signal), controller, waiters: 0 };
      const forget = () => {
        if (this.inflight.get(key) === entry) this.inflight.delete(key);
      };
      entry.promise.then(forget, forget);
      this.inflight.set(key, entry);
      shared = entry;
    }
    const entry = shared;
    entry.waiters++;
    return new Promise<T>((resolvePromise, reject) => {
      let left = false;
      const leave = () => {
        if (left) return false;
        left = true;
        entry.waiters--;
        signal.removeEventListener('abort', onAbort);
        return true;
      };
      const onAbort = () => {
        if (!leave()) return;
        if (entry.waiters === 0) {
          // Nobody waits any more: stop, and let the next caller start afresh.
          if (this.inflight.get(key) === entry) this.inflight.delete(key);
          entry.controller.abort(signal.reason);
        }
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      entry.promise.then(
        (value) => {
          if (leave()) resolvePromise(value);
        },
        (error: unknown) => {
          if (leave()) reject(error);
        },
      );
    });
  }

  /**
   * Callers of this process holding the entry: its pins, less the callers waiting on the
   * shared work whose signal is `signal` (they hold nothing yet).
   */
  private holders(id: string, signal: AbortSignal): number {
    const shared = this.inflight.get(id);
    const waiting = shared && shared.controller.signal === signal ? shared.waiters : 0;
    return (this.pins.get(id) ?? 0) - waiting;
  }

  private pin(id: string): Lease {
    this.pins.set(id, (this.pins.get(id) ?? 0) + 1);
    this.touchMemory(id);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const left = (this.pins.get(id) ?? 1) - 1;
        if (left > 0) this.pins.set(id, left);
        else this.pins.delete(id);
        this.touchMemory(id);
      },
    };
  }

  /** Strictly increasing, so that uses within one millisecond keep their order. */
  private touchMemory(id: string): void {
    this.clock = Math.max(Date.now(), this.clock + 0.001);
    this.lastUse.set(id, this.clock);
  }

  /** Records a use in memory and in the entry's mtime, which outlives this process. */
  private async touch(id: string, path: string): Promise<void> {
    this.touchMemory(id);
    const now = new Date();
    await utimes(path, now, now).catch(() => {});
  }

  private tempPath(kind: string, sha256: string): string {
    return join(this.root, 'tmp', `${kind}-${sha256.slice(0, 16)}-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** Removes a directory (or file) atomically first: renamed into tmp/, then deleted. */
  private async trash(path: string): Promise<void> {
    const aside = this.tempPath('trash', 'x');
    try {
      await rename(path, aside);
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    await rm(aside, { recursive: true, force: true });
  }

  private dirs(): Promise<void> {
    this.dirsReady ??= Promise.all(
      ['blobs', 'bundles', 'deps', 'runs', 'tmp'].map((name) => mkdir(join(this.root, name), { recursive: true })),
    ).then(
      () => {},
      (error: unknown) => {
        this.dirsReady = undefined;
        throw error;
      },
    );
    return this.dirsReady;
  }
}

function checkSha(sha256: string): void {
  if (!SHA256.test(sha256)) throw new TypeError(`not a SHA-256 (64 lowercase hex characters): ${sha256}`);
}

/**
 * A file-name-safe key for a slot name: its readable part (at most 40 characters of
 * letters, digits, `.`, `_` and `-`, never starting with a dot) and 12 hex digits of its
 * SHA-256, so that names sanitized alike stay apart.
 */
export function slotKey(slot: string): string {
  const readable = slot
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^\./, '_')
    .slice(0, 40);
  const hash = createHash('sha256').update(slot).digest('hex').slice(0, 12);
  return readable ? `${readable}-${hash}` : hash;
}

/**
 * Why the run copy at `runDir` no longer mirrors the bundle at `bundleDir`: 'missing'
 * (no copy), or the first listed file that is not the same file (inode) in both; null when
 * it does. A file missing from both counts as the same.
 */
async function staleRunCopy(bundleDir: string, runDir: string, files: TreeFile[]): Promise<string | null> {
  if (!(await isDir(runDir))) return 'missing';
  for (const file of files) {
    const parts = file.path.split('/');
    const [cached, copy] = await Promise.all([inode(join(bundleDir, ...parts)), inode(join(runDir, ...parts))]);
    if (cached !== copy) return `${file.path} ${copy === null ? 'is missing' : 'is not the cached file'}`;
  }
  return null;
}

/** Device and inode of a regular file (as strings: they may not fit a double); null when it is not one. */
async function inode(path: string): Promise<string | null> {
  try {
    const st = await lstat(path, { bigint: true });
    return st.isFile() ? `${st.dev}:${st.ino}` : null;
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
}

async function readdirOrEmpty(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
}

function badBundle(sha256: string, message: string): CacheError {
  return new CacheError(`bundle ${sha256}: ${message}`, 'bad_bundle');
}

/** The work dir named by the bundle's manifest ('.' without one), checked to stay inside. */
async function readManifest(root: string, sha256: string, files: Set<string>): Promise<string> {
  if (!files.has(BUNDLE_MANIFEST)) return '.';
  let manifest: unknown;
  try {
    manifest = JSON.parse(await readFile(join(root, BUNDLE_MANIFEST), 'utf8'));
  } catch (error) {
    throw badBundle(sha256, `${BUNDLE_MANIFEST} is not valid JSON (${describe(error)})`);
  }
  if (typeof manifest !== 'object' || manifest === null || (manifest as { version?: unknown }).version !== 1) {
    throw badBundle(sha256, `${BUNDLE_MANIFEST} is not a version 1 bundle manifest`);
  }
  const raw = (manifest as { workdir?: unknown }).workdir ?? '.';
  if (typeof raw !== 'string' || raw === '') throw badBundle(sha256, `workdir in ${BUNDLE_MANIFEST} must be a string`);
  if (raw.startsWith('/') || raw.includes('\\') || raw.split('/').includes('..')) {
    throw badBundle(sha256, `workdir ${JSON.stringify(raw)} is refused: it must be a relative path inside the bundle`);
  }
  const workdir = posix.normalize(raw).replace(/\/+$/, '') || '.';
  if (workdir !== '.' && !isSafeBundlePath(workdir)) {
    throw badBundle(sha256, `workdir ${JSON.stringify(raw)} is refused: it must be a relative path inside the bundle`);
  }
  if (!(await isDir(join(root, ...workdir.split('/'))))) {
    throw badBundle(sha256, `workdir ${JSON.stringify(workdir)} is not a directory of the bundle`);
  }
  return workdir;
}

/**
 * The nearest package.json from the work dir up to the bundle's root, when it declares
 * any dependencies; null when there is nothing to install.
 */
async function findDeps(root: string, sha256: string, workdir: string, files: TreeFile[]): Promise<BundleDeps | null> {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const inDir = (dir: string, name: string) => byPath.get(dir === '.' ? name : `${dir}/${name}`);
  let dir = workdir;
  while (!inDir(dir, 'package.json')) {
    if (dir === '.') return null;
    dir = posix.dirname(dir);
  }
  const packageFile = inDir(dir, 'package.json')!;
  let pkg: Record<string, unknown>;
  try {
    const bytes = await readFile(join(root, ...packageFile.path.split('/')));
    pkg = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch (error) {
    throw badBundle(sha256, `${packageFile.path} is not valid JSON (${describe(error)})`);
  }
  const count = (field: string) => {
    const deps = pkg?.[field];
    return typeof deps === 'object' && deps !== null ? Object.keys(deps).length : 0;
  };
  if (count('dependencies') + count('devDependencies') + count('optionalDependencies') === 0) return null;
  const lockfile = LOCKFILES.find((name) => inDir(dir, name)) ?? null;
  const source = { dir, lockfile, extra: inDir(dir, '.npmrc') ? ['.npmrc'] : [] };
  return { key: await depsKeyOf(root, source), runtime: runtimeTag(), ...source };
}

/** The runtime an install is made for: npm builds native modules for it. */
function runtimeParts(): string[] {
  return [process.platform, process.arch, process.versions.node.split('.')[0]!];
}

function runtimeTag(): string {
  return runtimeParts().join('/');
}

/**
 * The deps key: SHA-256 of the lockfile's bytes (nothing without one), package.json's
 * bytes, platform, arch and Node major, each part prefixed by `<length in bytes>:`.
 */
function depsKey(packageJson: Buffer, lockfile: Buffer | null): string {
  const hash = createHash('sha256');
  for (const part of [lockfile ?? Buffer.alloc(0), packageJson, ...runtimeParts().map((p) => Buffer.from(p))]) {
    hash.update(`${part.length}:`);
    hash.update(part);
  }
  return hash.digest('hex');
}

/** The deps key of the package files in the bundle unpacked at `root`. */
async function depsKeyOf(root: string, deps: Pick<BundleDeps, 'dir' | 'lockfile'>): Promise<string> {
  const from = join(root, ...(deps.dir === '.' ? [] : deps.dir.split('/')));
  const packageJson = await readFile(join(from, 'package.json'));
  return depsKey(packageJson, deps.lockfile ? await readFile(join(from, deps.lockfile)) : null);
}

async function readMarker(path: string): Promise<BundleMarker | null> {
  try {
    const marker = JSON.parse(await readFile(path, 'utf8')) as BundleMarker;
    if (marker?.version !== 1 || !Array.isArray(marker.files) || !isDirPath(marker.workdir)) return null;
    const deps = marker.deps;
    if (
      deps !== null &&
      !(
        typeof deps?.key === 'string' &&
        SHA256.test(deps.key) &&
        isDirPath(deps.dir) &&
        (deps.lockfile === null || LOCKFILES.includes(deps.lockfile))
      )
    ) {
      return null;
    }
    return marker;
  } catch {
    return null;
  }
}

function isDirPath(path: unknown): path is string {
  return path === '.' || (typeof path === 'string' && isSafeBundlePath(path));
}

async function writeAtomic(path: string, text: string, tmp: string): Promise<void> {
  await writeFile(tmp, text, { flag: 'wx' });
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** The agent's environment without QGJOB_* variables (the token above all). */
function installEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('QGJOB_')) env[key] = value;
  }
  return env;
}

/** Sum of the sizes of the regular files under `path`; symlinks are not followed. */
async function treeSize(path: string): Promise<number> {
  const st = await lstatOrNull(path);
  if (!st) return 0;
  if (st.isFile()) return st.size;
  if (!st.isDirectory()) return 0;
  let total = 0;
  let names: string[];
  try {
    names = await readdir(path);
  } catch (error) {
    if (isMissing(error)) return 0;
    throw error;
  }
  for (const name of names) total += await treeSize(join(path, name));
  return total;
}

async function lstatOrNull(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
}

async function isDir(path: string): Promise<boolean> {
  return (await lstatOrNull(path))?.isDirectory() ?? false;
}

function isCode(error: unknown, ...codes: string[]): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code !== undefined && codes.includes(code);
}

function isMissing(error: unknown): boolean {
  return isCode(error, 'ENOENT', 'ENOTDIR');
}
