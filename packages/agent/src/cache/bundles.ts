/**
 * Bundles: `bundles/<sha256>/`, a test bundle unpacked from its blob, and
 * `bundles/<sha256>.json`, its marker (file list, work dir, deps), written last: without
 * it the directory is incomplete.
 *
 * Invariants: a bundle is verified against its marker on every use; a changed one is
 * unpacked again only when no other caller holds it (its tests may be running in it), else
 * handed out as it is. An unpack goes to `tmp/` and is renamed into place; a directory
 * already there (put by another agent sharing the cache) is kept when it holds the same
 * files. A bundle's own node_modules gives way to a symlink into `deps/`. A refused
 * archive is deleted unless someone else holds it.
 */
import { mkdir, readFile, rename, rm, symlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { BundleError, isSafeBundlePath, type TreeFile, unpackBundle, verifyTree } from '@qgjob/bundle';
import { describe } from '../errors.js';
import type { Blobs } from './blobs.js';
import type { CacheContext } from './context.js';
import { type DepsInstalls, depsKeyOf, findDeps, LOCKFILES, runtimeTag } from './deps.js';
import { isCode, isDir, writeAtomic } from './fs.js';
import { type BundleMarker, badBundle, CacheError, inBundle, SHA256 } from './types.js';

export const BUNDLE_MANIFEST = '.qgjob-bundle.json';

export interface PreparedBundle {
  dir: string;
  marker: BundleMarker;
  fetched: boolean;
}

export class Bundles {
  constructor(
    private readonly ctx: CacheContext,
    private readonly blobs: Blobs,
    private readonly deps: DepsInstalls,
    private readonly evictQuietly: () => Promise<void>,
  ) {}

  /** The bundle unpacked and verified, once for every caller asking meanwhile. The caller pins `bundle:<sha256>`. */
  get(sha256: string, signal: AbortSignal): Promise<PreparedBundle> {
    return this.ctx.flights.run(`bundle:${sha256}`, signal, (s) => this.prepare(sha256, s));
  }

  private async prepare(sha256: string, signal: AbortSignal): Promise<PreparedBundle> {
    const id = `bundle:${sha256}`;
    await this.ctx.ready(id);
    const dir = this.ctx.path('bundles', sha256);
    const markerPath = `${dir}.json`;
    const cached = await readMarker(markerPath);
    if (cached && (await isDir(dir))) {
      const reused = await this.reuse(sha256, dir, cached, signal);
      if (reused) return reused;
    }
    if (cached) {
      await rm(markerPath, { force: true });
      await this.ctx.trash(dir);
    }
    this.ctx.sizes.delete(id);
    return this.unpack(sha256, dir, signal);
  }

  /**
   * The cached bundle at `dir` when it is as its marker says, or changed but held by
   * another caller; null when it is to be unpacked again.
   */
  private async reuse(
    sha256: string,
    dir: string,
    cached: BundleMarker,
    signal: AbortSignal,
  ): Promise<PreparedBundle | null> {
    const id = `bundle:${sha256}`;
    const check = await verifyTree(dir, cached.files);
    // Callers holding the bundle, those waiting on this very preparation left out.
    const holders = check.ok ? 0 : this.ctx.holders(id, signal);
    if (!(check.ok || holders > 0)) {
      this.ctx.log.warn('cached bundle changed: unpacking it again', {
        sha256,
        path: check.path,
        reason: check.reason,
      });
      return null;
    }
    let marker = cached;
    if (check.ok && cached.deps && cached.deps.runtime !== runtimeTag()) {
      // Key derived for another runtime, or by an older rule: the files are verified, derive it again.
      const deps = { ...cached.deps, key: await depsKeyOf(dir, cached.deps), runtime: runtimeTag() };
      marker = { ...cached, deps };
      await writeAtomic(`${dir}.json`, JSON.stringify(marker), this.ctx.tempPath('marker', sha256));
    }
    if (!check.ok) {
      // Its tests may be running in it right now (one rewrote a snapshot): keep it as it is.
      this.ctx.log.warn('cached bundle changed while in use: handing it out as it is', {
        sha256,
        path: check.path,
        reason: check.reason,
        holders,
      });
    }
    if (marker.deps) await this.deps.link(dir, marker.deps);
    await this.ctx.touch(id, `${dir}.json`);
    return { dir, marker, fetched: false };
  }

  /** Unpacks the bundle's archive (downloaded when missing) to `dir` and writes its marker. */
  private async unpack(sha256: string, dir: string, signal: AbortSignal): Promise<PreparedBundle> {
    const archive = await this.blobs.get(sha256, signal);
    const tmp = this.ctx.tempPath('bundle', sha256);
    let refused = false;
    try {
      const started = performance.now();
      await mkdir(tmp);
      let unpacked: Awaited<ReturnType<typeof unpackBundle>>;
      try {
        unpacked = await unpackBundle(archive.path, tmp, this.ctx.options.unpackLimits);
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
        const link = inBundle(tmp, inside);
        await rm(link, { recursive: true, force: true });
        await symlink(this.deps.linkTarget(dir, deps), link);
      }
      const marker: BundleMarker = { version: 1, workdir, bytes: unpacked.bytes, files, deps };
      await this.place(tmp, dir, files);
      if (deps) await this.deps.link(dir, deps);
      await writeAtomic(`${dir}.json`, JSON.stringify(marker), this.ctx.tempPath('marker', sha256));
      this.ctx.uses.touch(`bundle:${sha256}`);
      this.ctx.log.info('bundle unpacked', {
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
      if (refused && this.ctx.pins.count(`blob:${sha256}`) === 0) await rm(archive.path, { force: true });
      await this.evictQuietly();
    }
  }

  /**
   * Renames the unpacked tree into place. A directory already there was put there whole
   * by another agent sharing the cache (or by one that died before writing the marker):
   * kept when it holds the same files, replaced when something in it changed.
   */
  private async place(tmp: string, dir: string, files: TreeFile[]): Promise<void> {
    try {
      await rename(tmp, dir);
      return;
    } catch (error) {
      if (!isCode(error, 'ENOTEMPTY', 'EEXIST')) throw error;
    }
    if ((await verifyTree(dir, files)).ok) return;
    await this.ctx.trash(dir);
    await rename(tmp, dir);
  }
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
  if (!(await isDir(inBundle(root, workdir)))) {
    throw badBundle(sha256, `workdir ${JSON.stringify(workdir)} is not a directory of the bundle`);
  }
  return workdir;
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
