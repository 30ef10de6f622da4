/**
 * The farm over the last 24 hours, per target: queue depth and oldest wait, installs made
 * and avoided, devices heard from and busy. Every job-server samples once an interval (a
 * minute by default) on interval boundaries, so replicas sampling together write each
 * sample once; samples older than 24 hours are deleted as new ones come.
 */
import { OFFLINE_AFTER_MS, TARGETS, type Target, type Trends, VIEW_WINDOWS, type ViewWindow } from '@qgjob/protocol';
import type { Db } from '../db/db.js';
import { pruneDeviceEvents } from '../store/timeline.js';
import * as store from '../store/trends.js';

export const TREND_INTERVAL_MS = 60_000;
/** Samples are kept this long: the longest window. */
const KEEP_MS = VIEW_WINDOWS['24h'];
/** Health changes a little longer, so a 24-hour window starts with the device's state. */
const KEEP_EVENTS_MS = 2 * KEEP_MS;

export class TrendService {
  private timer: NodeJS.Timeout | undefined;
  /** The sample being written, awaited on stop so none outlives the database. */
  private running: Promise<unknown> | undefined;
  private stopped = false;

  constructor(
    private readonly db: Db,
    readonly intervalMs = TREND_INTERVAL_MS,
    private readonly log?: { warn(fields: object, message: string): void },
  ) {}

  /** Samples at every interval boundary until stopped; a slow sample delays the next, never overlaps it. */
  start(): void {
    this.stopped = false;
    const next = () => {
      if (this.stopped) return;
      const wait = this.intervalMs - (Date.now() % this.intervalMs);
      this.timer = setTimeout(() => {
        this.running = this.sample()
          .catch((error) => this.log?.warn({ err: error }, 'farm sample failed'))
          .finally(next);
      }, wait);
      this.timer.unref();
    };
    next();
  }

  /** Stops sampling, once the sample being written (if any) is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /**
   * Writes the sample of the interval that ended last, one row per target, and answers how
   * many rows it wrote: none when another replica sampled that interval first.
   */
  async sample(now = Date.now()): Promise<number> {
    const at = new Date(now - (now % this.intervalMs));
    const written = await store.writeSample(this.db, {
      at,
      intervalMs: this.intervalMs,
      aliveMs: OFFLINE_AFTER_MS,
      targets: TARGETS,
    });
    await store.pruneSamples(this.db, new Date(now - KEEP_MS));
    await pruneDeviceEvents(this.db, new Date(now - KEEP_EVENTS_MS));
    return written;
  }

  async trends(window: ViewWindow): Promise<Trends> {
    const rows = await store.samplesSince(this.db, new Date(Date.now() - VIEW_WINDOWS[window]));
    const byTarget = new Map<Target, Trends['targets'][number]>();
    for (const target of TARGETS) byTarget.set(target, { target, samples: [] });
    for (const r of rows) {
      byTarget.get(r.target)?.samples.push({
        at: r.at.toISOString(),
        queued: r.queued,
        oldest_wait_ms: Math.round(r.oldest_wait_ms),
        installs_made: r.installs_made,
        installs_avoided: r.installs_avoided,
        devices: r.devices,
        busy: r.busy,
      });
    }
    return { window, interval_ms: this.intervalMs, targets: [...byTarget.values()] };
  }
}
