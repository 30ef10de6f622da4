/**
 * What the cache's modules share: the root and its layout, the in-flight work, pins, uses,
 * removals under way and known sizes, and the primitives that keep the directory
 * consistent for agents sharing it: partial work goes to `tmp/` and is renamed into place
 * whole, and a removal renames first, so that a complete entry is never seen half gone.
 * Nothing is ever created outside the root.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, utimes } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from '../log.js';
import { isMissing } from './fs.js';
import { Pins, UseClock } from './pins.js';
import { SingleFlight } from './single-flight.js';
import type { CacheOptions } from './types.js';

/** The top-level directories of the cache; `named/` is the provisioner's. */
const DIRS = ['blobs', 'bundles', 'deps', 'runs', 'tmp'];

export class CacheContext {
  readonly root: string;
  readonly log: Logger;
  readonly flights = new SingleFlight();
  readonly uses = new UseClock();
  readonly pins = new Pins(this.uses);
  /** Evictions under way, by entry id: a use waits for them and then fetches the entry again. */
  readonly removing = new Map<string, Promise<void>>();
  /** Sizes of bundle and deps directories: content-addressed, so they do not change. */
  readonly sizes = new Map<string, number>();
  private dirsReady: Promise<void> | undefined;

  constructor(readonly options: CacheOptions) {
    this.root = resolve(options.dir);
    this.log = options.log;
  }

  /** `<root>/<parts>` */
  path(...parts: string[]): string {
    return join(this.root, ...parts);
  }

  /** Whether the entry may not be removed now: pinned, or being fetched or made. */
  busy(id: string): boolean {
    return this.pins.count(id) > 0 || this.flights.has(id);
  }

  /**
   * Callers of this process holding the entry: its pins, less the callers waiting on the
   * shared work whose signal is `signal` (they hold nothing yet).
   */
  holders(id: string, signal: AbortSignal): number {
    return this.pins.count(id) - this.flights.waitersUnder(id, signal);
  }

  /** Waits until an eviction of the entry under way is over, and for the directories. */
  async ready(id: string): Promise<void> {
    await this.removing.get(id)?.catch(() => {});
    await this.dirs();
  }

  /** Records a use in memory and in the entry's mtime, which outlives this process. */
  async touch(id: string, path: string): Promise<void> {
    this.uses.touch(id);
    const now = new Date();
    await utimes(path, now, now).catch(() => {});
  }

  tempPath(kind: string, sha256: string): string {
    return this.path('tmp', `${kind}-${sha256.slice(0, 16)}-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  /** Removes a directory (or file) atomically first: renamed into tmp/, then deleted. */
  async trash(path: string): Promise<void> {
    const aside = this.tempPath('trash', 'x');
    try {
      await rename(path, aside);
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    await rm(aside, { recursive: true, force: true });
  }

  dirs(): Promise<void> {
    this.dirsReady ??= Promise.all(DIRS.map((name) => mkdir(this.path(name), { recursive: true }))).then(
      () => {},
      (error: unknown) => {
        this.dirsReady = undefined;
        throw error;
      },
    );
    return this.dirsReady;
  }
}
