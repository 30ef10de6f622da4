/**
 * Scheduling policies: pure functions from a snapshot (the device asking, the queued
 * groups of its target, how many devices each org keeps busy) to a decision. No I/O, so
 * every rule is unit-tested directly and the benchmark can swap policies.
 *
 * `fair` (ours), in order:
 *  1. Stay warm: keep serving the group the device just served while it has ready jobs,
 *     unless that org already holds more devices than another waiting org, or the device
 *     has stuck with the group longer than `maxStickMs` while others wait.
 *  2. Fair across orgs: otherwise serve the org with the fewest busy devices (max-min
 *     fairness in device time), ties to the org whose oldest job waited longest.
 *  3. Priority within the org, aged (+1 level per `agingMs` waited); among groups at the
 *     same level prefer one this device already holds installed, then the oldest.
 *  4. Split big groups, keep small ones whole: the idle devices are shared among the
 *     groups waiting, and a group takes k = min(its share, queued / minSplit) of them, so
 *     a part is never smaller than `minSplit` jobs; at most `maxBatch` jobs a batch. With
 *     at least as many devices as groups, each group stays on one device (one install).
 *  While a batch runs, `shouldYield` lets it hand its unstarted jobs back when another
 *  org waits with fewer busy devices: that is what bounds another org's wait to about
 *  one test, even behind a long backlog.
 *
 * `grouped`: what most peers do: group by app version (oldest group first, whole groups
 * up to maxBatch), no fairness, and no memory of installs (always installs).
 * `fifo`: one job at a time in submit order, one install per job.
 */

export interface GroupStat {
  org_id: string;
  app_version_id: string;
  queued: number;
  top_priority: number;
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
}

export const DEFAULT_POLICY_CONFIG: PolicyConfig = {
  agingMs: 60_000,
  maxStickMs: 10 * 60_000,
  maxBatch: 50,
  minSplit: 8,
  starveMs: 30_000,
};

export interface ClaimInput {
  device: DeviceView;
  groups: GroupStat[];
  /** Devices busy per org on this target, not counting the device asking. */
  busy: Map<string, number>;
  /** Idle devices of this target, the one asking included. */
  idleDevices: number;
  config: PolicyConfig;
}

export interface Decision {
  org_id: string;
  app_version_id: string;
  size: number;
  install: boolean;
}

export type PolicyName = 'fair' | 'grouped' | 'fifo';

export interface Policy {
  name: PolicyName;
  choose(input: ClaimInput): Decision | null;
  /** Whether a running batch should hand back its unstarted jobs. */
  yields: boolean;
}

const busyOf = (busy: Map<string, number>, org: string) => busy.get(org) ?? 0;

function batchSize(queued: number, idleDevices: number, groupsWaiting: number, config: PolicyConfig): number {
  const share = Math.floor(idleDevices / Math.max(1, groupsWaiting));
  const parts = Math.max(1, Math.min(share, Math.floor(queued / config.minSplit)));
  return Math.max(1, Math.min(config.maxBatch, Math.ceil(queued / parts)));
}

function orgOrder(groups: GroupStat[], busy: Map<string, number>): string[] {
  const oldest = new Map<string, number>();
  for (const g of groups) oldest.set(g.org_id, Math.max(oldest.get(g.org_id) ?? 0, g.oldest_wait_ms));
  return [...oldest.keys()].sort(
    (a, b) => busyOf(busy, a) - busyOf(busy, b) || (oldest.get(b) ?? 0) - (oldest.get(a) ?? 0) || a.localeCompare(b),
  );
}

export const fairPolicy: Policy = {
  name: 'fair',
  yields: true,
  choose({ device, groups, busy, idleDevices, config }) {
    if (groups.length === 0) return null;
    const orgs = orgOrder(groups, busy);
    const fewest = busyOf(busy, orgs[0] as string);
    const last = device.last;
    const current = last && groups.find((g) => g.org_id === last.org_id && g.app_version_id === last.app_version_id);
    if (current && last) {
      const othersWait = orgs.some((o) => o !== last.org_id);
      const overShare = busyOf(busy, last.org_id) > fewest;
      const stuck = othersWait && last.forMs > config.maxStickMs;
      if (!overShare && !stuck) return decide(current, device, idleDevices, groups.length, config);
    }
    // When stuck, the next org in line goes first even at an equal share.
    const stuckOrg = current && last && last.forMs > config.maxStickMs ? last.org_id : undefined;
    const org = orgs.find((o) => o !== stuckOrg) ?? (orgs[0] as string);
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
    return decide(best, device, idleDevices, groups.length, config);
  },
};

function decide(
  g: GroupStat,
  device: DeviceView,
  idleDevices: number,
  groupsWaiting: number,
  config: PolicyConfig,
): Decision {
  return {
    org_id: g.org_id,
    app_version_id: g.app_version_id,
    size: batchSize(g.queued, idleDevices, groupsWaiting, config),
    install: device.warm.get(g.org_id) !== g.app_version_id,
  };
}

/**
 * Should a batch of `orgId` (holding `busy(orgId)` devices, this one included) stop and
 * hand its device to another waiting org? Yes when moving the device makes the shares
 * more even (the other org ends with no more than this one), or when the other org has
 * no device at all and its oldest job waited past `starveMs`, or when this device has
 * stuck with its group past `maxStickMs`.
 */
export function shouldYield(input: {
  orgId: string;
  busy: Map<string, number>;
  /** Orgs with ready jobs; the wait matters only for orgs holding no device. */
  waiting: Pick<GroupStat, 'org_id' | 'oldest_wait_ms'>[];
  groupForMs: number;
  config: PolicyConfig;
}): boolean {
  const mine = busyOf(input.busy, input.orgId);
  for (const g of input.waiting) {
    if (g.org_id === input.orgId) continue;
    const theirs = busyOf(input.busy, g.org_id);
    if (theirs + 1 < mine) return true;
    if (theirs === 0 && g.oldest_wait_ms > input.config.starveMs) return true;
    if (input.groupForMs > input.config.maxStickMs) return true;
  }
  return false;
}

export const groupedPolicy: Policy = {
  name: 'grouped',
  yields: false,
  choose({ groups, config }) {
    const g = [...groups].sort((a, b) => b.oldest_wait_ms - a.oldest_wait_ms)[0];
    if (!g) return null;
    return {
      org_id: g.org_id,
      app_version_id: g.app_version_id,
      size: Math.min(g.queued, config.maxBatch),
      install: true,
    };
  },
};

export const fifoPolicy: Policy = {
  name: 'fifo',
  yields: false,
  choose({ groups }) {
    const g = [...groups].sort((a, b) => b.oldest_wait_ms - a.oldest_wait_ms)[0];
    if (!g) return null;
    return { org_id: g.org_id, app_version_id: g.app_version_id, size: 1, install: true };
  },
};

export const POLICIES: Record<PolicyName, Policy> = { fair: fairPolicy, grouped: groupedPolicy, fifo: fifoPolicy };
