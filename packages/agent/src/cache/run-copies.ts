/**
 * Run copies: `runs/<slot>/<sha256>/`, a device slot's private working copy of a bundle,
 * so that tests running at once on several devices of the host do not share output
 * directories (Playwright empties `test-results/` at the start of every run). `<slot>` is
 * a readable, file-name-safe form of the slot name plus a hash of it (`slotKey`).
 *
 * A copy holds the bundle's listed files as hard links to those of `bundles/<sha256>/`, the
 * directories holding them, its own node_modules symlink into `deps/`, and whatever the
 * slot's tests write there. Invariants: built in `tmp/` and renamed into place whole;
 * reused, test output and all, while every listed file is still a link to the cached one;
 * rebuilt from scratch (test output thrown away) once the bundle was unpacked again (new
 * inodes) or a listed file is gone; removed with the bundle, and orphans (a removal that
 * stopped half way) removed on eviction. A copy is pinned with its bundle; one slot name
 * should be used by one device loop at a time (agents sharing the directory included).
 * Nothing under `runs/` is counted in the cache's size.
 */
import { createHash } from 'node:crypto';
import { link, lstat, mkdir, rename, rm, symlink } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { TreeFile } from '@qgjob/bundle';
import type { CacheContext } from './context.js';
import type { DepsInstalls } from './deps.js';
import { isCode, isDir, isMissing, lstatOrNull, readdirOrEmpty } from './fs.js';
import { type BundleMarker, inBundle, SHA256 } from './types.js';

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

export class RunCopies {
  constructor(
    private readonly ctx: CacheContext,
    private readonly deps: DepsInstalls,
  ) {}

  /** The slot's copy of the bundle at `bundleDir`, made or checked once for every caller asking meanwhile. */
  get(
    sha256: string,
    slot: string,
    bundleDir: string,
    marker: BundleMarker,
    withDeps: boolean,
    signal: AbortSignal,
  ): Promise<string> {
    const key = slotKey(slot);
    return this.ctx.flights.run(`run:${key}:${sha256}`, signal, () =>
      this.ensure(sha256, key, bundleDir, marker, withDeps),
    );
  }

  /** Removes every slot's run copy of the bundle. */
  async removeAll(sha256: string): Promise<void> {
    const runs = this.ctx.path('runs');
    for (const slot of await readdirOrEmpty(runs)) await this.ctx.trash(join(runs, slot, sha256));
  }

  /**
   * Removes run copies of bundles that are neither cached nor in use (a removal or a
   * re-unpack that stopped half way): their links keep stale files alive.
   */
  async removeOrphans(): Promise<void> {
    const runs = this.ctx.path('runs');
    for (const slot of await readdirOrEmpty(runs)) {
      for (const sha of await readdirOrEmpty(join(runs, slot))) {
        if (!SHA256.test(sha) || this.ctx.busy(`bundle:${sha}`)) continue;
        const bundleDir = this.ctx.path('bundles', sha);
        if ((await lstatOrNull(bundleDir)) || (await lstatOrNull(`${bundleDir}.json`))) continue;
        await this.ctx.trash(join(runs, slot, sha));
      }
    }
  }

  /**
   * The slot's working copy of the bundle at `bundleDir`: reused while every listed file is
   * still the cached one (same inode), else built again in tmp/ and renamed into place.
   */
  private async ensure(
    sha256: string,
    key: string,
    bundleDir: string,
    marker: BundleMarker,
    withDeps: boolean,
  ): Promise<string> {
    const runDir = this.ctx.path('runs', key, sha256);
    const stale = await staleRunCopy(bundleDir, runDir, marker.files);
    if (stale !== null) {
      const started = performance.now();
      const tmp = this.ctx.tempPath('run', sha256);
      try {
        await this.build(tmp, bundleDir, runDir, marker, withDeps);
        await this.place(tmp, bundleDir, runDir, marker.files);
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      this.ctx.log.info('bundle run copy made', {
        sha256,
        slot: key,
        files: marker.files.length,
        ...(stale === 'missing' ? {} : { reason: stale }),
        duration_ms: Math.round(performance.now() - started),
      });
    }
    if (marker.deps && withDeps) await this.deps.link(runDir, marker.deps);
    return runDir;
  }

  /** Builds in `tmp` the copy that is to live at `runDir`. */
  private async build(
    tmp: string,
    bundleDir: string,
    runDir: string,
    marker: BundleMarker,
    withDeps: boolean,
  ): Promise<void> {
    await mkdir(tmp);
    const dirs = new Set([marker.workdir, ...marker.files.map((f) => posix.dirname(f.path))]);
    for (const d of dirs) if (d !== '.') await mkdir(inBundle(tmp, d), { recursive: true });
    for (const file of marker.files) {
      try {
        await link(inBundle(bundleDir, file.path), inBundle(tmp, file.path));
      } catch (error) {
        // Gone from a bundle handed out as it is: the copy mirrors what is there.
        if (!isMissing(error)) throw error;
      }
    }
    if (marker.deps && withDeps) {
      await symlink(this.deps.linkTarget(runDir, marker.deps), join(inBundle(tmp, marker.deps.dir), 'node_modules'));
    }
  }

  /** Renames the copy built in `tmp` to `runDir`, in place of the old one. */
  private async place(tmp: string, bundleDir: string, runDir: string, files: TreeFile[]): Promise<void> {
    await mkdir(dirname(runDir), { recursive: true });
    // The old copy goes whole, with what its tests wrote.
    await this.ctx.trash(runDir);
    try {
      await rename(tmp, runDir);
    } catch (error) {
      if (!isCode(error, 'ENOTEMPTY', 'EEXIST')) throw error;
      // Put there meanwhile by another agent sharing the cache: kept when it is as good.
      if ((await staleRunCopy(bundleDir, runDir, files)) !== null) {
        await this.ctx.trash(runDir);
        await rename(tmp, runDir);
      }
    }
  }
}

/**
 * Why the run copy at `runDir` no longer mirrors the bundle at `bundleDir`: 'missing'
 * (no copy), or the first listed file that is not the same file (inode) in both; null when
 * it does. A file missing from both counts as the same.
 */
async function staleRunCopy(bundleDir: string, runDir: string, files: TreeFile[]): Promise<string | null> {
  if (!(await isDir(runDir))) return 'missing';
  for (const file of files) {
    const [cached, copy] = await Promise.all([
      inode(inBundle(bundleDir, file.path)),
      inode(inBundle(runDir, file.path)),
    ]);
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
