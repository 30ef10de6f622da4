/**
 * The device timeline: a lane per device with the batches it ran in a window, their runs,
 * yields and health changes. Read from the database each time, so every replica draws the
 * same farm. An org sees every device and when it was busy, but of another org's batch
 * neither its group nor its tests (as in the overview).
 */
import {
  OFFLINE_AFTER_MS,
  type Timeline,
  type TimelineBatch,
  type TimelineLane,
  type TimelineRun,
  VIEW_WINDOWS,
  type ViewWindow,
} from '@qgjob/protocol';
import type { Db } from '../db/db.js';
import { agentDevices } from '../store/overview.js';
import * as store from '../store/timeline.js';

/** At most this many batches in one answer (the ones that ended last are kept). */
export const TIMELINE_MAX_BATCHES = 2_000;

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export class TimelineService {
  constructor(
    private readonly db: Db,
    private readonly maxBatches = TIMELINE_MAX_BATCHES,
  ) {}

  /** `orgId`: the caller's org (an org token), undefined for every org. */
  async timeline(window: ViewWindow, orgId: string | undefined): Promise<Timeline> {
    const to = new Date();
    const from = new Date(to.getTime() - VIEW_WINDOWS[window]);
    const [devices, batchRows, events] = await Promise.all([
      agentDevices(this.db, OFFLINE_AFTER_MS),
      store.batchesSince(this.db, from, this.maxBatches + 1),
      store.deviceEventsSince(this.db, from),
    ]);
    const truncated = batchRows.length > this.maxBatches;
    // The oldest start first: the extra row, when there is one, is the batch that ended earliest.
    const kept = truncated ? dropEarliestEnded(batchRows) : batchRows;
    const runs = groupBy(
      await store.runsOfBatches(
        this.db,
        kept.map((b) => b.id),
      ),
      (r) => r.batch_id,
    );
    const lanes = new Map<string, TimelineLane>();
    for (const d of devices) {
      if (d.device_id === null || d.device_name === null || d.target === null) continue;
      lanes.set(d.device_id, {
        device_id: d.device_id,
        device: d.device_name,
        agent: d.agent_name,
        target: d.target,
        state: d.state ?? 'offline',
        batches: [],
        events: [],
      });
    }
    for (const b of kept) {
      const own = orgId === undefined || b.org_id === orgId;
      lanes.get(b.device_id)?.batches.push(batchView(b, runs.get(b.id) ?? [], own));
    }
    for (const e of events) {
      lanes.get(e.device_id)?.events.push({ kind: e.kind, at: e.at.toISOString(), until: iso(e.until) });
    }
    return { window, from: from.toISOString(), to: to.toISOString(), truncated, lanes: [...lanes.values()] };
  }
}

/**
 * A batch as its lane shows it. It installed when it was leased to install and the install
 * did not fail: a failed install, or a device not ready, starts its runs without the app.
 * Another org's batch keeps only its times, state and install: no id, group or runs.
 */
function batchView(b: store.TimelineBatchRow, runs: store.TimelineRunRow[], own: boolean): TimelineBatch {
  const firstStart = runs.find((r) => r.started_at !== null)?.started_at ?? null;
  const install = b.install && (runs.length === 0 || runs.some((r) => r.app_installed));
  // A run starts at the moment its start is written (clock_timestamp) but ends, as a batch
  // does, at its transaction's start (now()): one report that starts and finishes a test (and
  // ends the batch) would draw the end before the start. Drawn, an end is never earlier.
  const ended = runs.map((r) => later(r.finished_at, r.started_at));
  const last = ended.reduce<Date | null>((m, t) => later(t, m), null);
  return {
    id: own ? b.id : null,
    org_id: own ? b.org_id : null,
    app_version_id: own ? b.app_version_id : null,
    install,
    state: b.state,
    started_at: b.created_at.toISOString(),
    finished_at: iso(b.finished_at && later(b.finished_at, last)),
    install_until: install ? iso(firstStart) : null,
    yielded_at: iso(b.yielded_at),
    runs: (own ? runs : []).map(
      (r, i): TimelineRun => ({
        job_id: r.job_id,
        test_path: r.test_path,
        n: r.n,
        status: r.status as TimelineRun['status'],
        started_at: iso(r.started_at),
        finished_at: iso(ended[i] ?? null),
        duration_ms: r.duration_ms,
      }),
    ),
  };
}

/** The later of two moments; `a` itself when it is null (a run not ended stays so). */
function later(a: Date | null, b: Date | null): Date | null {
  if (a === null || b === null) return a;
  return a.getTime() >= b.getTime() ? a : b;
}

/** The batches less the one that ended first (active ones never end first). */
function dropEarliestEnded(rows: store.TimelineBatchRow[]): store.TimelineBatchRow[] {
  let earliest = -1;
  rows.forEach((b, i) => {
    const at = b.finished_at?.getTime();
    if (at === undefined) return;
    const best = earliest < 0 ? undefined : rows[earliest]?.finished_at?.getTime();
    if (best === undefined || at < best) earliest = i;
  });
  return rows.filter((_, i) => i !== earliest);
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k);
    if (list) list.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
