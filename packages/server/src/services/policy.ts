/**
 * Scheduling policies: pure functions from a snapshot (the device asking, the ready
 * groups of its target, how many devices each org keeps busy, what an install costs) to
 * a decision. No I/O, so every rule is unit-tested directly, and the benchmark and the
 * virtual-time simulator drive the very functions the server runs.
 *
 * `fair` (ours), in order:
 *  1. Stay warm: keep serving the group the device serves while it has ready jobs, until
 *     switching is both wanted and paid for (`wantsSwitch`): another org holds fewer
 *     devices by two or more, or holds none and has waited past `starveMs`, or the device
 *     has stuck with the group past `maxStickMs` while an org with fewer devices waits — and the device has
 *     served the group for at least a quantum (`quantumMs`): `switchCost` times what an
 *     install takes, and never less than `minQuantumMs`. A switch costs an install, so a
 *     device moves between orgs at most once per quantum: installs stay near one per org
 *     per device-quantum however many orgs wait, and fairness holds over a window of
 *     device time rather than instant by instant.
 *  2. Fair across orgs: otherwise serve the org with the fewest busy devices (max-min
 *     fairness in device time), ties to the org whose oldest job waited longest.
 *  3. Priority within the org, aged (+1 level per `agingMs` waited); among groups at the
 *     same level prefer one this device already holds installed, then the oldest.
 *  4. Batches sized by time (`planBatch`): the group's ready jobs with their expected
 *     durations are split into parts so the group finishes earliest; a part more is worth
 *     it only while the time it saves exceeds the install it costs. Longest tests first.
 *  While a batch runs, `shouldYield` applies rule 1's test to it: a batch hands back its
 *  unstarted jobs when a switch is wanted and paid for.
 *
 * `grouped`: what most peers do: group by app version (oldest group first, whole groups
 * up to maxBatch), no fairness, and no memory of installs (always installs).
 * `fifo`: one job at a time in submit order, one install per job.
 */

export interface GroupStat {
  org_id: string;
  app_version_id: string;
  /** Highest priority in the group after ageing (priority + waited / agingMs). */
  top_priority: number;
  /** How long the group's oldest ready job has waited, in ms. */
  oldest_wait_ms: number;
}

export interface DeviceView {
  /** Builds the device holds, by org. */
  warm: Map<string, string>;
  /** The group it served last, and for how long it has been serving it. */
  last: { org_id: string; app_version_id: string; forMs: number } | null;
}

export interface PolicyConfig {
  agingMs: number;
  maxStickMs: number;
  maxBatch: number;
  minSplit: number;
  /** An org with no device at all gets one once its oldest job waited this long, even from an equal share. */
  starveMs: number;
  /** A device serves a group at least this many installs' worth of time before it switches for fairness. */
  switchCost: number;
  /** ... and never less than this. */
  minQuantumMs: number;
  /** Expected length of a test never seen, in a group none of whose tests was seen. */
  defaultTestMs: number;
  /**
   * The most expected test time one batch holds. A device comes back for more at least this
   * often, so the end of a workload spreads over the devices that free up instead of waiting
   * in long batches, and a new org's share is decided afresh.
   */
  maxBatchMs: number;
}

export const DEFAULT_POLICY_CONFIG: PolicyConfig = {
  agingMs: 60_000,
  maxStickMs: 10 * 60_000,
  maxBatch: 50,
  minSplit: 8,
  starveMs: 30_000,
  switchCost: 4,
  minQuantumMs: 2_000,
  defaultTestMs: 30_000,
  maxBatchMs: 5 * 60_000,
};

export interface ClaimInput {
  device: DeviceView;
  groups: GroupStat[];
  /** Devices busy per org on this target, not counting the device asking. */
  busy: Map<string, number>;
  /** Idle devices of this target, the one asking included. */
  idleDevices: number;
  /** What an install takes on this target (a running average; 0 when never measured). */
  installMs: number;
  config: PolicyConfig;
}

export interface Decision {
  org_id: string;
  app_version_id: string;
  /** The most jobs the batch may take; `plan` picks which. */
  size: number;
  install: boolean;
  /** Devices the group may spread over (its share of the idle ones). */
  share: number;
}

/** A ready job of the chosen group, in queue order (highest aged priority first). */
export interface Candidate {
  id: string;
  /** Aged priority (priority + waited / agingMs). */
  aged: number;
  /** Running average of this test's runs; null when never run. */
  expected_ms: number | null;
}

export interface PlanInput {
  candidates: Candidate[];
  decision: Decision;
  installMs: number;
  /** What a test on this target takes lately (a running average), for groups with no test seen; default defaultTestMs. */
  typicalTestMs?: number;
  config: PolicyConfig;
}

export type PolicyName = 'fair' | 'grouped' | 'fifo';

export interface Policy {
  name: PolicyName;
  choose(input: ClaimInput): Decision | null;
  /** The jobs of the batch, in the order to run them. Default: the first `size` candidates. */
  plan?(input: PlanInput): string[];
  /** Whether a running batch should hand back its unstarted jobs. */
  yields: boolean;
}

const busyOf = (busy: Map<string, number>, org: string) => busy.get(org) ?? 0;

/** The least time a device serves one group before a switch for fairness pays for its install. */
export function quantumMs(installMs: number, config: PolicyConfig): number {
  return Math.max(config.minQuantumMs, config.switchCost * installMs);
}

/**
 * Should a device serving `orgId` (which holds `busy(orgId)` devices, this one included)
 * move to another org? Wanted when the move makes the shares more even (the other org
 * ends with no more than this one), when the other org holds no device and its oldest job
 * waited past `starveMs`, or when the device has stuck with its group past `maxStickMs`;
 * paid for once the device has served its group for a quantum.
 */
export function wantsSwitch(input: {
  orgId: string;
  busy: Map<string, number>;
  /** Orgs with ready jobs; the wait matters only for orgs holding no device. */
  waiting: Pick<GroupStat, 'org_id' | 'oldest_wait_ms'>[];
  groupForMs: number;
  installMs: number;
  config: PolicyConfig;
}): boolean {
  if (input.groupForMs < quantumMs(input.installMs, input.config)) return false;
  const mine = busyOf(input.busy, input.orgId);
  for (const g of input.waiting) {
    if (g.org_id === input.orgId) continue;
    const theirs = busyOf(input.busy, g.org_id);
    if (theirs + 1 < mine) return true;
    if (theirs === 0 && g.oldest_wait_ms > input.config.starveMs) return true;
    // Stuck long with shares that could be more even: time-share the difference.
    if (input.groupForMs > input.config.maxStickMs && theirs < mine) return true;
  }
  return false;
}

/** Whether a running batch of `orgId` should hand its device over: `wantsSwitch` for the batch. */
export const shouldYield = wantsSwitch;

function orgOrder(groups: GroupStat[], busy: Map<string, number>): string[] {
  const oldest = new Map<string, number>();
  for (const g of groups) oldest.set(g.org_id, Math.max(oldest.get(g.org_id) ?? 0, g.oldest_wait_ms));
  return [...oldest.keys()].sort(
    (a, b) => busyOf(busy, a) - busyOf(busy, b) || (oldest.get(b) ?? 0) - (oldest.get(a) ?? 0) || a.localeCompare(b),
  );
}

/** Devices a group may take: the idle ones shared among the groups waiting. */
function shareOf(idleDevices: number, groupsWaiting: number): number {
  return Math.max(1, Math.floor(idleDevices / Math.max(1, groupsWaiting)));
}

function decide(g: GroupStat, input: ClaimInput): Decision {
  return {
    org_id: g.org_id,
    app_version_id: g.app_version_id,
    size: input.config.maxBatch,
    install: input.device.warm.get(g.org_id) !== g.app_version_id,
    share: shareOf(input.idleDevices, input.groups.length),
  };
}

export const fairPolicy: Policy = {
  name: 'fair',
  yields: true,
  choose(input) {
    const { device, groups, busy, config } = input;
    if (groups.length === 0) return null;
    const orgs = orgOrder(groups, busy);
    const last = device.last;
    const current = last && groups.find((g) => g.org_id === last.org_id && g.app_version_id === last.app_version_id);
    let leaving: string | undefined;
    if (current && last) {
      const mine = new Map(busy).set(last.org_id, busyOf(busy, last.org_id) + 1);
      const others = orgs.filter((o) => o !== last.org_id);
      const waiting = others.map((org_id) => ({
        org_id,
        oldest_wait_ms: Math.max(...groups.filter((g) => g.org_id === org_id).map((g) => g.oldest_wait_ms)),
      }));
      const switchNow = wantsSwitch({
        orgId: last.org_id,
        busy: mine,
        waiting,
        groupForMs: last.forMs,
        installMs: input.installMs,
        config,
      });
      if (!switchNow) return decide(current, input);
      leaving = last.org_id;
    }
    const org = orgs.find((o) => o !== leaving) ?? (orgs[0] as string);
    const level = (g: GroupStat) => Math.floor(g.top_priority);
    const best = groups
      .filter((g) => g.org_id === org)
      .sort(
        (a, b) =>
          level(b) - level(a) ||
          Number(device.warm.get(b.org_id) === b.app_version_id) -
            Number(device.warm.get(a.org_id) === a.app_version_id) ||
          b.oldest_wait_ms - a.oldest_wait_ms,
      )[0] as GroupStat;
    return decide(best, input);
  },
  plan: planBatch,
};

/**
 * Sizes a batch by time. The candidates (the group's first ready jobs, at most `share`
 * batches' worth) get their expected durations, unknown ones the group's median (in a group
 * with none seen, what tests on the target take lately, else `defaultTestMs`). Parts:
 * one more while the time it saves, W/k − W/(k+1), exceeds the install it costs, at most
 * `share`, and never parts under `minSplit` jobs. The candidates are dealt longest first
 * to the least loaded part (higher aged priority levels first); this batch is the part
 * with the longest test, in that order, at most `maxBatch` jobs and `maxBatchMs` of
 * expected time (a longer test alone is a batch of its own; with no duration measured at
 * all, only the count bounds it).
 */
export function planBatch({ candidates, decision, installMs, typicalTestMs, config }: PlanInput): string[] {
  if (candidates.length === 0) return [];
  const known = candidates
    .map((c) => c.expected_ms)
    .filter((ms): ms is number => ms !== null)
    .sort((a, b) => a - b);
  const median =
    known.length > 0 ? (known[Math.floor((known.length - 1) / 2)] as number) : (typicalTestMs ?? config.defaultTestMs);
  const jobs = candidates.map((c, i) => ({ c, i, ms: Math.max(1, c.expected_ms ?? median) }));
  const work = jobs.reduce((s, j) => s + j.ms, 0);
  const maxParts = Math.max(1, Math.min(decision.share, Math.floor(jobs.length / config.minSplit)));
  let parts = 1;
  while (parts < maxParts && work / parts - work / (parts + 1) > installMs) parts++;
  const level = (c: Candidate) => Math.floor(c.aged);
  jobs.sort((a, b) => level(b.c) - level(a.c) || b.ms - a.ms || a.i - b.i);
  const loads = new Array<number>(parts).fill(0);
  const mine: string[] = [];
  for (const j of jobs) {
    let k = 0;
    for (let p = 1; p < parts; p++) if ((loads[p] as number) < (loads[k] as number)) k = p;
    loads[k] = (loads[k] as number) + j.ms;
    if (k === 0) mine.push(j.c.id);
  }
  // Durations nobody measured say nothing about time: then only the count bounds the batch.
  const timeKnown = known.length > 0 || typicalTestMs !== undefined;
  const batch: string[] = [];
  let planned = 0;
  const expected = new Map(jobs.map((j) => [j.c.id, j.ms]));
  for (const id of mine) {
    const ms = expected.get(id) as number;
    if (batch.length >= Math.min(config.maxBatch, decision.size)) break;
    if (timeKnown && batch.length > 0 && planned + ms > config.maxBatchMs) break;
    batch.push(id);
    planned += ms;
  }
  return batch;
}

export const groupedPolicy: Policy = {
  name: 'grouped',
  yields: false,
  choose({ groups, config }) {
    const g = [...groups].sort((a, b) => b.oldest_wait_ms - a.oldest_wait_ms)[0];
    if (!g) return null;
    return { org_id: g.org_id, app_version_id: g.app_version_id, size: config.maxBatch, install: true, share: 1 };
  },
};

export const fifoPolicy: Policy = {
  name: 'fifo',
  yields: false,
  choose({ groups }) {
    const g = [...groups].sort((a, b) => b.oldest_wait_ms - a.oldest_wait_ms)[0];
    if (!g) return null;
    return { org_id: g.org_id, app_version_id: g.app_version_id, size: 1, install: true, share: 1 };
  },
};

export const POLICIES: Record<PolicyName, Policy> = { fair: fairPolicy, grouped: groupedPolicy, fifo: fifoPolicy };
