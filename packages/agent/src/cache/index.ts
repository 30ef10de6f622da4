/**
 * The agent's artifact cache: app builds and test bundles, content-addressed by SHA-256,
 * downloaded once from the server and kept on disk, verified on every use.
 *
 * Layout under `dir` (nothing is created outside it): `blobs/` (blobs.ts), `bundles/`
 * (bundles.ts), `deps/` (deps.ts), `runs/` (run-copies.ts), `named/<sha256>/<filename>`
 * (the provisioner's symlinks to a blob under its own file name, removed with it) and
 * `tmp/` (partial work, renamed into place when complete; context.ts).
 *
 * Device loops of one agent asking for the same entry at once share one download, unpack
 * or install (single-flight.ts). Agents sharing the directory stay consistent through
 * temp-and-rename: a complete entry is only ever replaced by an identical one. Entries
 * handed out are pinned until released and never evicted meanwhile (pins.ts, eviction.ts);
 * a pinned bundle pins its dependencies and its run copies. Pins are per process: agents
 * sharing a directory should give it room enough for all.
 */
import type { OutputSink } from '../executors/types.js';
import { Blobs } from './blobs.js';
import { Bundles } from './bundles.js';
import { CacheContext } from './context.js';
import { DepsInstalls } from './deps.js';
import { Eviction } from './eviction.js';
import { RunCopies } from './run-copies.js';
import { type CacheOptions, checkSha, inBundle, type Lease } from './types.js';

export { BUNDLE_MANIFEST } from './bundles.js';
export { slotKey } from './run-copies.js';
export { CacheError, type CacheErrorCode, type CacheOptions, type Lease } from './types.js';

export class ArtifactCache {
  private readonly ctx: CacheContext;
  private readonly blobs: Blobs;
  private readonly bundles: Bundles;
  private readonly deps: DepsInstalls;
  private readonly runs: RunCopies;
  private readonly eviction: Eviction;

  constructor(options: CacheOptions) {
    const evictQuietly = () => this.eviction.evictQuietly();
    this.ctx = new CacheContext(options);
    this.deps = new DepsInstalls(this.ctx, evictQuietly);
    this.runs = new RunCopies(this.ctx, this.deps);
    this.eviction = new Eviction(this.ctx, this.runs);
    this.blobs = new Blobs(this.ctx, evictQuietly);
    this.bundles = new Bundles(this.ctx, this.blobs, this.deps, evictQuietly);
  }

  /** The cache root, absolute. */
  get dir(): string {
    return this.ctx.root;
  }

  /**
   * A verified local copy of the blob; downloaded when missing, re-downloaded when the
   * cached copy does not match its hash. Pinned (never evicted) until released. `fetched`:
   * this call, or the one it waited on, downloaded it.
   */
  async blob(sha256: string, signal: AbortSignal): Promise<{ path: string; fetched: boolean } & Lease> {
    checkSha(sha256);
    return this.blobs.get(sha256, signal);
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
   * (see run-copies.ts), made of hard links to the cached files; what the slot's tests
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
    const leases = [this.ctx.pins.pin(`bundle:${sha256}`)];
    const release = () => {
      for (const lease of leases) lease.release();
    };
    try {
      const prepared = await this.bundles.get(sha256, signal);
      const { marker } = prepared;
      let { dir } = prepared;
      let depsInstalled = false;
      // `deps: false`: nothing will run the bundle's code (a simulated device), so no install.
      const withDeps = marker.deps !== null && options.deps !== false;
      if (marker.deps && withDeps) {
        leases.push(this.ctx.pins.pin(`deps:${marker.deps.key}`));
        depsInstalled = await this.deps.install(sha256, dir, marker.deps, signal, output);
      }
      if (options.slot !== undefined) {
        dir = await this.runs.get(sha256, options.slot, dir, marker, withDeps, signal);
      }
      return { dir, workdir: inBundle(dir, marker.workdir), fetched: prepared.fetched, depsInstalled, release };
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Deletes least-recently-used unpinned entries until the cache is under maxBytes. */
  evict(): Promise<{ removed: number; bytes: number }> {
    return this.eviction.evict();
  }

  /**
   * Bytes the cache holds now, partial work in tmp/ included, named/ and runs/ left out
   * (run copies link to the files of bundles/; test output written into them is not counted).
   */
  size(): Promise<number> {
    return this.eviction.size();
  }
}
