/**
 * LRU eviction and accounting. Entries are blobs, bundles (directory and marker) and deps
 * installs; their last use is the later of the in-memory record and the mtime (which
 * outlives the process). Leftovers in `tmp/` from a process that died and orphaned run
 * copies are removed first.
 *
 * Invariants: one eviction runs at a time; a pinned entry, or one being fetched or made,
 * is never removed; an entry is checked and marked as being removed without an await in
 * between, so that a use starting meanwhile waits for the removal and fetches it again.
 * A blob goes with the provisioner's `named/<sha256>/` links to it, a bundle with its run
 * copies. `named/` and `runs/` are not counted in the size.
 */
import type { Stats } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe } from '../errors.js';
import type { CacheContext } from './context.js';
import { lstatOrNull, treeSize } from './fs.js';
import type { RunCopies } from './run-copies.js';

/** Leftovers in tmp/ this old are from a process that died: removed on eviction. */
const STALE_TMP_MS = 6 * 60 * 60_000;

interface Entry {
  id: string;
  size: number;
  lastUse: number;
  remove: () => Promise<void>;
}

export class Eviction {
  private evicting: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ctx: CacheContext,
    private readonly runs: RunCopies,
  ) {}

  /** Deletes least-recently-used unpinned entries until the cache is under maxBytes. */
  evict(): Promise<{ removed: number; bytes: number }> {
    const run = this.evicting.then(() => this.evictOnce());
    this.evicting = run.catch(() => {});
    return run;
  }

  /** `evict`, a failure logged rather than thrown: for the end of a download, unpack or install. */
  async evictQuietly(): Promise<void> {
    try {
      await this.evict();
    } catch (error) {
      this.ctx.log.warn('cache eviction failed', { error: describe(error) });
    }
  }

  /** Bytes the cache holds now, partial work in tmp/ included, named/ and runs/ left out. */
  async size(): Promise<number> {
    await this.ctx.dirs();
    let total = 0;
    for (const name of await readdir(this.ctx.root)) {
      if (name !== 'named' && name !== 'runs') total += await treeSize(this.ctx.path(name));
    }
    return total;
  }

  private async evictOnce(): Promise<{ removed: number; bytes: number }> {
    const { ctx } = this;
    await ctx.dirs();
    await this.removeStaleTemp();
    await this.runs.removeOrphans();
    const entries = await this.entries();
    let total = entries.reduce((sum, e) => sum + e.size, 0);
    let removed = 0;
    let bytes = 0;
    entries.sort((a, b) => a.lastUse - b.lastUse);
    for (const entry of entries) {
      if (total <= ctx.options.maxBytes) break;
      // Checked and marked without an await in between: a use that pins the entry after
      // this point waits for the removal and then fetches it again.
      if (ctx.busy(entry.id)) continue;
      const removal = entry.remove();
      ctx.removing.set(entry.id, removal);
      try {
        await removal;
      } catch (error) {
        ctx.log.warn('cannot evict cache entry', { entry: entry.id, error: describe(error) });
        continue;
      } finally {
        ctx.removing.delete(entry.id);
      }
      ctx.sizes.delete(entry.id);
      ctx.uses.forget(entry.id);
      total -= entry.size;
      bytes += entry.size;
      removed++;
    }
    if (removed > 0) {
      ctx.log.info('cache evicted', { removed, bytes, size: total, max_bytes: ctx.options.maxBytes });
    }
    return { removed, bytes };
  }

  /** Every complete or partial entry with its size and last use (in memory, or its mtime). */
  private async entries(): Promise<Entry[]> {
    return [...(await this.blobEntries()), ...(await this.bundleEntries()), ...(await this.depsEntries())];
  }

  private used(id: string, mtimeMs: number): number {
    return Math.max(mtimeMs, this.ctx.uses.get(id));
  }

  /** The names in `<root>/<folder>` that are still there, with their path and lstat. */
  private async present(folder: string): Promise<{ name: string; path: string; st: Stats }[]> {
    const found: { name: string; path: string; st: Stats }[] = [];
    for (const name of await readdir(this.ctx.path(folder))) {
      const path = this.ctx.path(folder, name);
      const st = await lstatOrNull(path);
      if (st) found.push({ name, path, st });
    }
    return found;
  }

  private async blobEntries(): Promise<Entry[]> {
    return (await this.present('blobs')).map(({ name, path, st }) => {
      const id = `blob:${name}`;
      const remove = async () => {
        await rm(path, { force: true });
        // The provisioner's links to it under its own file name would dangle.
        await rm(this.ctx.path('named', name), { recursive: true, force: true });
      };
      return { id, size: st.size, lastUse: this.used(id, st.mtimeMs), remove };
    });
  }

  private async bundleEntries(): Promise<Entry[]> {
    const entries: Entry[] = [];
    const bundles = new Set<string>();
    for (const name of await readdir(this.ctx.path('bundles'))) bundles.add(name.replace(/\.json$/, ''));
    for (const sha of bundles) {
      const dir = this.ctx.path('bundles', sha);
      const marker = await lstatOrNull(`${dir}.json`);
      const st = marker ?? (await lstatOrNull(dir));
      if (!st) continue;
      const id = `bundle:${sha}`;
      const size = (marker?.size ?? 0) + (await this.dirSize(id, dir));
      const remove = async () => {
        // Copies first: one that outlived its bundle would hold on to stale files.
        await this.runs.removeAll(sha);
        await rm(`${dir}.json`, { force: true });
        await this.ctx.trash(dir);
      };
      entries.push({ id, size, lastUse: this.used(id, st.mtimeMs), remove });
    }
    return entries;
  }

  private async depsEntries(): Promise<Entry[]> {
    const entries: Entry[] = [];
    for (const { name, path, st } of await this.present('deps')) {
      const id = `deps:${name}`;
      const size = await this.dirSize(id, path);
      entries.push({ id, size, lastUse: this.used(id, st.mtimeMs), remove: () => this.ctx.trash(path) });
    }
    return entries;
  }

  private async dirSize(id: string, dir: string): Promise<number> {
    let size = this.ctx.sizes.get(id);
    if (size === undefined) {
      size = await treeSize(dir);
      this.ctx.sizes.set(id, size);
    }
    return size;
  }

  private async removeStaleTemp(): Promise<void> {
    const tmp = this.ctx.path('tmp');
    const cutoff = Date.now() - STALE_TMP_MS;
    for (const name of await readdir(tmp)) {
      const st = await lstatOrNull(join(tmp, name));
      if (st && st.mtimeMs < cutoff) await rm(join(tmp, name), { recursive: true, force: true });
    }
  }
}
