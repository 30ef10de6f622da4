/**
 * Policy simulator: the real scheduling policies (packages/server/src/services/policy.ts,
 * imported, not copied) driven in virtual time by a deterministic discrete-event simulation
 * of one target's device farm, at a scale no single job-server test could reach.
 *
 * Workload (seeded mulberry32 PRNG; the same workload for every policy of a run):
 *  - ORGS orgs; each has 1–5 app versions (groups). Org sizes are Zipf(1) over a shuffled
 *    rank (org ranked r gets a share ∝ 1/r: a few big orgs, most small), and an org's jobs are
 *    split over its groups by random weights; JOBS jobs in all (largest-remainder rounding; a
 *    group left with no job does not exist).
 *  - Every group is submitted at once, at a uniform random time in the first 30 virtual
 *    minutes: all its jobs share that queued_at, in job order. Priority 5 for every job.
 *  - Each org has a suite of clamp(√(org's jobs), 3, 400) test paths; a group's jobs cycle
 *    through the suite from a random offset. A path's base duration: 90 % uniform 20–60 s,
 *    10 % that times 10–20 (200–1,200 s); every run takes base × U(0.9, 1.1).
 *  - Installing an app version takes a fixed U(15, 40) s for that version.
 *
 * Server model (packages/server/src/services/scheduler.ts: snapshot, lease, shouldYield):
 *  - A device with no batch claims. ClaimInput is built as the snapshot builds it: `groups` =
 *    the target's ready groups (queued jobs whose run_after passed; here every job is ready
 *    from its submit) in (org_id, app_version_id) order, with top_priority = 5 + waited /
 *    agingMs and oldest_wait_ms of the group's oldest queued job; `busy` = active batches per
 *    org (the asking device has none, so it is not counted); `idleDevices` = max(1, devices
 *    with no batch, the asking one included); device.warm = the device's build per org (one
 *    per org: installing another version of an org replaces it); device.last = the group it
 *    served last and forMs = now − group_since (kept across consecutive batches of one group,
 *    reset when the group changes, as setDeviceBatch does); installMs = running average of the
 *    installs reported so far (newest weighs 0.3, as InstallTimes.observe; 0 before the first).
 *  - decision = policy.choose(input). Candidates, as lockCandidates: the group's first
 *    min(400, maxBatch × share) queued jobs in queue order (decision.size when the policy has
 *    no `plan`), each with aged = 5 + waited / agingMs and expected_ms = running average
 *    (newest 0.3) of the finished runs of that org's test path, null if none finished yet.
 *    The batch = policy.plan(...) or the first decision.size candidates. Its jobs leave the
 *    queue at once; the device's busy count, last group and (on install) warm build change at
 *    the claim, as in lease.
 *  - The device installs first when decision.install (the install is reported, and folded
 *    into installMs, when it ends), then runs the jobs in order. After each test the agent
 *    reports; the test's duration is recorded at once. If policy.yields, the server asks as
 *    Scheduler.shouldYield does: groupForMs ≥ quantumMs(installMs), the batch has unstarted
 *    jobs, another org has ready jobs, no device is idle, then shouldYield({orgId, busy
 *    including this device, waiting = other orgs with ready jobs and their oldest wait,
 *    groupForMs, installMs, config}). On a yield the unstarted jobs go back to the queue with
 *    their original queued_at (their place and age) and the device claims again at once.
 *  - A device that finds nothing waits (long-polls) until work becomes ready (a group is
 *    submitted, a batch hands jobs back); then waiting devices claim in the order they began
 *    waiting until one finds nothing. No lease expiry, no failures, no retries, no network or
 *    database time: claims and reports take no virtual time.
 *
 * Printed per policy, in two tables:
 *  - installs; inst/org-dev = installs ÷ (org, device) pairs that ran a batch of the org (the
 *    "≤ 2" goal of `fair`) and its largest value for one org; reinstalls (installs of a build
 *    the device had installed before: since replaced by another version of the same org, or
 *    still held, as grouped and fifo install every batch);
 *    install % = install time ÷ (install + test time); busy % = (install + test time) ÷
 *    (devices × makespan); claims that leased a batch; yields.
 *  - makespan (virtual time from 0 to the last test's end) and makespan ÷ lower bound, where
 *    lower bound = max((Σ test durations + Σ over groups of one install) ÷ devices, max over
 *    jobs of (its group's submit time + its install + its duration)): every group needs at
 *    least one install somewhere, and no job starts before its submit and an install.
 *  - drained: when the queue last emptied (no job waits from then on; what is left runs in
 *    batches already leased), and "held then": the jobs those batches held unstarted.
 *  - batch p99 / max: the true test time of the batches as leased (before any yield).
 *  - choose ms: the simulator's wall time in policy.choose per claim, mean and max.
 *  - Jain's fairness index (Σx)² ÷ (n Σx²) of device time per org, per 5-minute window of
 *    virtual time: x = device-ms an org's batches held devices (installing or testing) in the
 *    window, over the n orgs backlogged throughout the window (ready jobs queued from before
 *    the window's start to its end). Windows with fewer than 2 such orgs, or in which they got
 *    no device time at all, are skipped; shown are the mean and the minimum over the windows
 *    counted, and the mean n.
 *  - p50 / p99 / max over orgs of the first-start wait (from the org's first submit to the
 *    start of its first test, after any install); p99 / max of the same per group (from the
 *    group's submit to its first test's start).
 *  - yield after p50: how long a device had served its group when it yielded; past
 *    maxStick %: the yields that came after maxStickMs.
 *  - wall: the simulator's own time for the policy (the workload is generated once, before).
 * Also writes bench/results/policy.json through writeResults() of bench/lib.ts (when that
 * module loads: it needs pg and the built server; otherwise the tables are only printed).
 *
 *   npx tsx bench/policy-sim.ts   (DEVICES=10000 ORGS=1000 JOBS=1000000 SEED=1 POLICIES=fair,grouped;
 *                                  add fifo to POLICIES for one install per job)
 * At the default scale `fair` takes about 20 s and `grouped` 5 s of one core; `fifo`
 * (1,000,000 claims, each sorting the ~3,000 ready groups in choose) about 6½ minutes.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Candidate,
  type ClaimInput,
  DEFAULT_POLICY_CONFIG,
  type GroupStat,
  POLICIES,
  type Policy,
  type PolicyConfig,
  type PolicyName,
  quantumMs,
  shouldYield,
} from '../packages/server/src/services/policy.js';
import { percentile, type Row, table } from './format.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
/** The most ready jobs one claim reads (the scheduler's MAX_WINDOW). */
const MAX_WINDOW = 400;
const PRIORITY = 5;
/** Weight of the newest sample in the running averages (durations.ts, install-times.ts). */
const NEWEST = 0.3;

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface WorkloadOptions {
  orgs: number;
  jobs: number;
  seed: number;
  /** Groups are submitted uniformly in [0, arrivalMs). Default 30 minutes. */
  arrivalMs?: number;
}

export interface Workload {
  orgIds: string[];
  /** Group g: org, app version, jobs [start, end), submit time, install time. */
  groupOrg: Int32Array;
  groupVersion: string[];
  groupStart: Int32Array;
  groupEnd: Int32Array;
  groupSubmit: Float64Array;
  groupInstall: Float64Array;
  orgGroups: number[][];
  jobPath: Int32Array;
  jobMs: Float64Array;
  paths: number;
}

export function makeWorkload({ orgs, jobs, seed, arrivalMs = 30 * MINUTE }: WorkloadOptions): Workload {
  const rng = mulberry32(seed);
  const between = (lo: number, hi: number) => lo + (hi - lo) * rng();
  // Zipf(1) over a shuffled rank.
  const rank = Array.from({ length: orgs }, (_, i) => i + 1);
  for (let i = orgs - 1; i > 0; i--) {
    const k = Math.floor(rng() * (i + 1));
    [rank[i], rank[k]] = [rank[k] as number, rank[i] as number];
  }
  const specs: { org: number; version: number; weight: number }[] = [];
  for (let o = 0; o < orgs; o++) {
    const versions = 1 + Math.floor(rng() * 5);
    const parts = Array.from({ length: versions }, () => between(0.2, 1));
    const sum = parts.reduce((s, p) => s + p, 0);
    parts.forEach((p, v) => {
      specs.push({ org: o, version: v, weight: p / sum / (rank[o] as number) });
    });
  }
  // Largest remainder: exactly `jobs` jobs.
  const total = specs.reduce((s, g) => s + g.weight, 0);
  const quota = specs.map((g) => (jobs * g.weight) / total);
  const count = quota.map(Math.floor);
  let left = jobs - count.reduce((s, n) => s + n, 0);
  const byRemainder = quota.map((q, i) => ({ i, r: q - Math.floor(q) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (const { i } of byRemainder) {
    if (left-- <= 0) break;
    count[i] = (count[i] as number) + 1;
  }
  const kept = specs.map((s, i) => ({ ...s, n: count[i] as number })).filter((s) => s.n > 0);
  const orgIndex = new Map<number, number>();
  for (const s of kept) if (!orgIndex.has(s.org)) orgIndex.set(s.org, orgIndex.size);
  const width = String(orgs).length;
  const orgIds = [...orgIndex.keys()].map((o) => `org${String(o + 1).padStart(width, '0')}`);
  const G = kept.length;
  const w: Workload = {
    orgIds,
    groupOrg: new Int32Array(G),
    groupVersion: [],
    groupStart: new Int32Array(G),
    groupEnd: new Int32Array(G),
    groupSubmit: new Float64Array(G),
    groupInstall: new Float64Array(G),
    orgGroups: orgIds.map(() => []),
    jobPath: new Int32Array(jobs),
    jobMs: new Float64Array(jobs),
    paths: 0,
  };
  const orgJobs = new Array<number>(orgIds.length).fill(0);
  for (const s of kept) {
    const o = orgIndex.get(s.org) as number;
    orgJobs[o] = (orgJobs[o] as number) + s.n;
  }
  const suite = orgJobs.map((n) => Math.min(400, Math.max(3, Math.ceil(Math.sqrt(n)))));
  const pathBase = suite.map(() => 0);
  for (let o = 0; o < suite.length; o++) {
    pathBase[o] = w.paths;
    w.paths += suite[o] as number;
  }
  const pathMs = new Float64Array(w.paths);
  for (let p = 0; p < w.paths; p++) {
    const base = between(20 * SECOND, 60 * SECOND);
    pathMs[p] = rng() < 0.1 ? base * between(10, 20) : base;
  }
  let next = 0;
  kept.forEach((s, g) => {
    const o = orgIndex.get(s.org) as number;
    w.groupOrg[g] = o;
    w.groupVersion.push(`${orgIds[o]}-v${s.version + 1}`);
    w.orgGroups[o]?.push(g);
    w.groupSubmit[g] = rng() * arrivalMs;
    w.groupInstall[g] = between(15 * SECOND, 40 * SECOND);
    w.groupStart[g] = next;
    const size = suite[o] as number;
    const offset = Math.floor(rng() * size);
    for (let k = 0; k < s.n; k++, next++) {
      const path = (pathBase[o] as number) + ((offset + k) % size);
      w.jobPath[next] = path;
      w.jobMs[next] = (pathMs[path] as number) * between(0.9, 1.1);
    }
    w.groupEnd[g] = next;
  });
  return w;
}

/** Events in virtual time, earliest first, ties in the order they were pushed. */
class EventHeap {
  private t: number[] = [];
  private s: number[] = [];
  private k: number[] = [];
  private a: number[] = [];
  private seq = 0;
  size = 0;
  topT = 0;
  topKind = 0;
  topArg = 0;

  private less(i: number, j: number): boolean {
    const ti = this.t[i] as number;
    const tj = this.t[j] as number;
    return ti < tj || (ti === tj && (this.s[i] as number) < (this.s[j] as number));
  }

  private swap(i: number, j: number): void {
    for (const arr of [this.t, this.s, this.k, this.a]) {
      const x = arr[i] as number;
      arr[i] = arr[j] as number;
      arr[j] = x;
    }
  }

  push(t: number, kind: number, arg: number): void {
    let i = this.size++;
    this.t[i] = t;
    this.s[i] = this.seq++;
    this.k[i] = kind;
    this.a[i] = arg;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** Removes the earliest event into topT / topKind / topArg. */
  pop(): void {
    this.topT = this.t[0] as number;
    this.topKind = this.k[0] as number;
    this.topArg = this.a[0] as number;
    const last = --this.size;
    this.t[0] = this.t[last] as number;
    this.s[0] = this.s[last] as number;
    this.k[0] = this.k[last] as number;
    this.a[0] = this.a[last] as number;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < last && this.less(l, m)) m = l;
      if (r < last && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
  }
}

export interface PolicyResult {
  policy: PolicyName;
  devices: number;
  orgs: number;
  groups: number;
  jobs: number;
  /** Test runs started; equal to jobs when every job ran once. */
  runs: number;
  installs: number;
  /** installs ÷ (org, device) pairs that ran a batch of the org. */
  installsPerOrgDevice: number;
  /** The largest installs ÷ devices of one org. */
  maxInstallsPerOrgDevice: number;
  reinstalls: number;
  /** Install time ÷ (install + test time) of the devices. */
  installShare: number;
  /** Device time installing or testing ÷ (devices × makespan). */
  busyShare: number;
  claims: number;
  yields: number;
  /** Median time a device had served its group when it yielded it. */
  yieldAfterP50Ms: number;
  /** Yields after the device served its group past maxStickMs. */
  yieldsPastStick: number;
  /** True test time of the batches as leased: p99 and max. */
  batchWorkP99Ms: number;
  batchWorkMaxMs: number;
  /** Wall time in policy.choose per claim: mean and max. */
  chooseMeanMs: number;
  chooseMaxMs: number;
  makespanMs: number;
  /** When the queue last emptied: no job waits from then on, the last batches run out. */
  drainedMs: number;
  /** Jobs then still waiting in batches, unstarted. */
  heldAtDrain: number;
  lowerBoundMs: number;
  jainMean: number;
  jainMin: number;
  jainWindows: number;
  /** Mean number of backlogged orgs per counted window. */
  jainOrgs: number;
  jainByWindow: { startMs: number; orgs: number; jain: number }[];
  firstStartP50Ms: number;
  firstStartP99Ms: number;
  firstStartMaxMs: number;
  /** The same per group: from its submit to its first test's start. */
  groupFirstStartP99Ms: number;
  groupFirstStartMaxMs: number;
  /** Per group: when its first test started. */
  groupFirstStartMs: Float64Array;
  wallMs: number;
  /** Runs per job (each should be 1). */
  jobRuns: Uint8Array;
}

export function lowerBoundMs(w: Workload, devices: number): number {
  let work = 0;
  let longest = 0;
  for (let g = 0; g < w.groupOrg.length; g++) {
    const install = w.groupInstall[g] as number;
    work += install;
    for (let j = w.groupStart[g] as number; j < (w.groupEnd[g] as number); j++) {
      const ms = w.jobMs[j] as number;
      work += ms;
      longest = Math.max(longest, (w.groupSubmit[g] as number) + install + ms);
    }
  }
  return Math.max(work / devices, longest);
}

/** Where `x` is, or would go, in an ascending array. */
function lowerBound(list: number[], x: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((list[mid] as number) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Inserts / removes `x` in an ascending array (a no-op when already there / absent). */
function sortedInsert(list: number[], x: number): void {
  const at = lowerBound(list, x);
  if (list[at] !== x) list.splice(at, 0, x);
}

function sortedRemove(list: number[], x: number): void {
  const at = lowerBound(list, x);
  if (list[at] === x) list.splice(at, 1);
}

const QUEUED = 0;
const ASSIGNED = 1;
const DONE = 2;
const EV_SUBMIT = 0;
const EV_INSTALLED = 1;
const EV_TEST_END = 2;

export interface RunOptions {
  devices: number;
  config?: Partial<PolicyConfig>;
  /** Length of a fairness window. Default 5 minutes. */
  windowMs?: number;
}

/** One policy over one workload. */
export function runPolicy(w: Workload, policy: Policy, options: RunOptions): PolicyResult {
  const started = performance.now();
  const D = options.devices;
  const config: PolicyConfig = { ...DEFAULT_POLICY_CONFIG, ...options.config };
  const windowMs = options.windowMs ?? 5 * MINUTE;
  const O = w.orgIds.length;
  const G = w.groupOrg.length;
  const J = w.jobMs.length;

  const status = new Uint8Array(J);
  const jobRuns = new Uint8Array(J);
  const pathExpected = new Float64Array(w.paths).fill(Number.NaN);

  const groupHead = Int32Array.from(w.groupStart);
  const groupQueued = new Int32Array(G);
  const groupStat: GroupStat[] = Array.from({ length: G }, (_, g) => ({
    org_id: w.orgIds[w.groupOrg[g] as number] as string,
    app_version_id: w.groupVersion[g] as string,
    top_priority: PRIORITY,
    oldest_wait_ms: 0,
  }));
  const groupOf = new Map(w.groupVersion.map((v, g) => [v, g]));
  /** Ready groups (queued jobs), ascending: (org_id, app_version_id) order. */
  const readyGroups: number[] = [];

  const orgReadyGroups = new Int32Array(O);
  /** Orgs with ready jobs, ascending. */
  const readyOrgs: number[] = [];
  const orgReadySince = new Float64Array(O).fill(Number.POSITIVE_INFINITY);
  /** queued_at of the org's oldest ready job. */
  const orgOldest = new Float64Array(O);
  const waitingOf = w.orgIds.map((org_id) => ({ org_id, oldest_wait_ms: 0 }));
  const waiting: { org_id: string; oldest_wait_ms: number }[] = [];

  const busyCount = new Int32Array(O);
  const busy = new Map<string, number>();
  const orgDeviceMs = new Float64Array(O);
  const orgSince = new Float64Array(O);
  const orgWindowStart = new Float64Array(O);
  const orgFirstSubmit = new Float64Array(O).fill(Number.POSITIVE_INFINITY);
  for (let g = 0; g < G; g++) {
    const o = w.groupOrg[g] as number;
    orgFirstSubmit[o] = Math.min(orgFirstSubmit[o] as number, w.groupSubmit[g] as number);
  }
  const orgFirstStart = new Float64Array(O).fill(Number.NaN);
  const groupFirstStart = new Float64Array(G).fill(Number.NaN);
  const yieldAfter: number[] = [];
  const batchWork: number[] = [];
  let chooseMs = 0;
  let chooseMax = 0;
  const orgInstalls = new Int32Array(O);
  const orgDevices = new Int32Array(O);
  const servedPairs = new Set<number>();
  const installedBefore = new Set<number>();

  const devJobs: (Int32Array | null)[] = new Array(D).fill(null);
  const devPos = new Int32Array(D);
  const devGroup = new Int32Array(D).fill(-1);
  const devLast = new Int32Array(D).fill(-1);
  const devGroupSince = new Float64Array(D);
  const devWarm = Array.from({ length: D }, () => new Map<string, string>());
  let idle = D;
  // Devices waiting for work, in the order they began waiting (a ring).
  const waitRing = Int32Array.from({ length: D }, (_, d) => d);
  let waitHead = 0;
  let waitCount = D;

  let installMs = 0;
  /** As the server's TestTimes: what a test takes lately, for groups with no test seen. */
  let typicalTestMs: number | undefined;
  let installs = 0;
  let reinstalls = 0;
  let installTime = 0;
  let testTime = 0;
  let claims = 0;
  let yields = 0;
  let runs = 0;
  let makespan = 0;
  let drained = 0;
  let heldAtDrain = 0;
  const jain: { startMs: number; orgs: number; jain: number }[] = [];
  let jainOrgs = 0;

  const heap = new EventHeap();
  for (let g = 0; g < G; g++) heap.push(w.groupSubmit[g] as number, EV_SUBMIT, g);

  const accrue = (o: number, t: number) => {
    orgDeviceMs[o] = (orgDeviceMs[o] as number) + (busyCount[o] as number) * (t - (orgSince[o] as number));
    orgSince[o] = t;
  };
  const setBusy = (o: number, t: number, delta: number) => {
    accrue(o, t);
    const n = (busyCount[o] as number) + delta;
    busyCount[o] = n;
    if (n > 0) busy.set(w.orgIds[o] as string, n);
    else busy.delete(w.orgIds[o] as string);
  };
  const refreshOrgOldest = (o: number) => {
    let oldest = Number.POSITIVE_INFINITY;
    for (const g of w.orgGroups[o] as number[]) {
      if ((groupQueued[g] as number) > 0) oldest = Math.min(oldest, w.groupSubmit[g] as number);
    }
    orgOldest[o] = oldest;
  };
  const groupReady = (g: number, t: number) => {
    sortedInsert(readyGroups, g);
    const o = w.groupOrg[g] as number;
    orgReadyGroups[o] = (orgReadyGroups[o] as number) + 1;
    if (orgReadyGroups[o] === 1) {
      sortedInsert(readyOrgs, o);
      orgReadySince[o] = t;
    }
    refreshOrgOldest(o);
  };
  const groupDrained = (g: number) => {
    sortedRemove(readyGroups, g);
    const o = w.groupOrg[g] as number;
    orgReadyGroups[o] = (orgReadyGroups[o] as number) - 1;
    if (orgReadyGroups[o] === 0) {
      sortedRemove(readyOrgs, o);
      orgReadySince[o] = Number.POSITIVE_INFINITY;
    }
    refreshOrgOldest(o);
  };
  const advanceHead = (g: number) => {
    let h = groupHead[g] as number;
    const end = w.groupEnd[g] as number;
    while (h < end && status[h] !== QUEUED) h++;
    groupHead[g] = h;
  };

  const startTest = (d: number, t: number) => {
    const jobs = devJobs[d] as Int32Array;
    const j = jobs[devPos[d] as number] as number;
    const g = devGroup[d] as number;
    const o = w.groupOrg[g] as number;
    if (Number.isNaN(orgFirstStart[o] as number)) orgFirstStart[o] = t;
    if (Number.isNaN(groupFirstStart[g] as number)) groupFirstStart[g] = t;
    jobRuns[j] = (jobRuns[j] as number) + 1;
    runs++;
    heap.push(t + (w.jobMs[j] as number), EV_TEST_END, d);
  };

  /** Scheduler.tryClaim for device d at time t: snapshot → choose → candidates → plan → lease. */
  const claim = (d: number, t: number): boolean => {
    if (readyGroups.length === 0) return false;
    const groups: GroupStat[] = new Array(readyGroups.length);
    for (let i = 0; i < readyGroups.length; i++) {
      const g = readyGroups[i] as number;
      const s = groupStat[g] as GroupStat;
      // Every job of a group shares its submit time: the oldest queued one waited since then.
      const waited = t - (w.groupSubmit[g] as number);
      s.oldest_wait_ms = waited;
      s.top_priority = PRIORITY + waited / config.agingMs;
      groups[i] = s;
    }
    const lastG = devLast[d] as number;
    const input: ClaimInput = {
      device: {
        warm: devWarm[d] as Map<string, string>,
        last:
          lastG >= 0
            ? {
                org_id: (groupStat[lastG] as GroupStat).org_id,
                app_version_id: w.groupVersion[lastG] as string,
                forMs: t - (devGroupSince[d] as number),
              }
            : null,
      },
      groups,
      busy,
      idleDevices: Math.max(1, idle),
      installMs,
      config,
    };
    const before = performance.now();
    const decision = policy.choose(input);
    const took = performance.now() - before;
    chooseMs += took;
    chooseMax = Math.max(chooseMax, took);
    if (!decision) return false;
    const g = groupOf.get(decision.app_version_id);
    if (g === undefined) throw new Error(`policy chose unknown group ${decision.app_version_id}`);
    const window = policy.plan ? Math.min(MAX_WINDOW, config.maxBatch * decision.share) : decision.size;
    const limit = Math.max(1, window);
    const candidates: Candidate[] = [];
    const end = w.groupEnd[g] as number;
    const aged = PRIORITY + (t - (w.groupSubmit[g] as number)) / config.agingMs;
    for (let j = groupHead[g] as number; j < end && candidates.length < limit; j++) {
      if (status[j] !== QUEUED) continue;
      const expected = pathExpected[w.jobPath[j] as number] as number;
      candidates.push({ id: String(j), aged, expected_ms: Number.isNaN(expected) ? null : expected });
    }
    const ids = policy.plan
      ? policy.plan({ candidates, decision, installMs, typicalTestMs, config })
      : candidates.slice(0, decision.size).map((c) => c.id);
    if (ids.length === 0) throw new Error('a ready group planned an empty batch');
    claims++;
    const jobs = Int32Array.from(ids, Number);
    let work = 0;
    for (const j of jobs) {
      if (status[j] !== QUEUED) throw new Error(`job ${j} planned twice`);
      status[j] = ASSIGNED;
      work += w.jobMs[j] as number;
    }
    batchWork.push(work);
    groupQueued[g] = (groupQueued[g] as number) - jobs.length;
    advanceHead(g);
    if (groupQueued[g] === 0) {
      groupDrained(g);
      if (readyGroups.length === 0) {
        drained = t;
        heldAtDrain = jobs.length;
        for (let k = 0; k < D; k++) {
          const held = devJobs[k];
          if (!held) continue;
          for (let i = devPos[k] as number; i < held.length; i++) if (jobRuns[held[i] as number] === 0) heldAtDrain++;
        }
      }
    }
    const o = w.groupOrg[g] as number;
    devJobs[d] = jobs;
    devPos[d] = 0;
    devGroup[d] = g;
    idle--;
    setBusy(o, t, +1);
    const pair = o * D + d;
    if (!servedPairs.has(pair)) {
      servedPairs.add(pair);
      orgDevices[o] = (orgDevices[o] as number) + 1;
    }
    if (devLast[d] !== g) {
      devGroupSince[d] = t;
      devLast[d] = g;
    }
    if (decision.install) {
      (devWarm[d] as Map<string, string>).set(decision.org_id, decision.app_version_id);
      installs++;
      orgInstalls[o] = (orgInstalls[o] as number) + 1;
      const key = d * G + g;
      if (installedBefore.has(key)) reinstalls++;
      else installedBefore.add(key);
      const ms = w.groupInstall[g] as number;
      installTime += ms;
      heap.push(t + ms, EV_INSTALLED, d);
    } else {
      startTest(d, t);
    }
    return true;
  };

  const claimOrWait = (d: number, t: number) => {
    if (claim(d, t)) return;
    waitRing[(waitHead + waitCount) % D] = d;
    waitCount++;
  };

  /** New work is ready: waiting devices claim, oldest waiter first, until one finds nothing. */
  const wakeWaiting = (t: number) => {
    while (waitCount > 0 && readyGroups.length > 0) {
      if (!claim(waitRing[waitHead] as number, t)) break;
      waitHead = (waitHead + 1) % D;
      waitCount--;
    }
  };

  const endBatch = (d: number, t: number) => {
    setBusy(w.groupOrg[devGroup[d] as number] as number, t, -1);
    devJobs[d] = null;
    devGroup[d] = -1;
    idle++;
  };

  /** Scheduler.shouldYield, after a test of device d's batch ended at t. */
  const wantsYield = (d: number, t: number): boolean => {
    const groupForMs = t - (devGroupSince[d] as number);
    if (groupForMs < quantumMs(installMs, config)) return false;
    if ((devPos[d] as number) >= (devJobs[d] as Int32Array).length) return false;
    const o = w.groupOrg[devGroup[d] as number] as number;
    if (readyOrgs.length - ((orgReadyGroups[o] as number) > 0 ? 1 : 0) === 0) return false;
    if (idle > 0) return false;
    waiting.length = 0;
    for (const r of readyOrgs) {
      if (r === o) continue;
      const entry = waitingOf[r] as { org_id: string; oldest_wait_ms: number };
      entry.oldest_wait_ms = t - (orgOldest[r] as number);
      waiting.push(entry);
    }
    return shouldYield({ orgId: w.orgIds[o] as string, busy, waiting, groupForMs, installMs, config });
  };

  /** The unstarted jobs of device d's batch go back to the queue, in place, with their age. */
  const handBack = (d: number, t: number) => {
    const jobs = devJobs[d] as Int32Array;
    const g = devGroup[d] as number;
    const wasDrained = groupQueued[g] === 0;
    let first = groupHead[g] as number;
    for (let k = devPos[d] as number; k < jobs.length; k++) {
      const j = jobs[k] as number;
      status[j] = QUEUED;
      first = Math.min(first, j);
    }
    groupQueued[g] = (groupQueued[g] as number) + jobs.length - (devPos[d] as number);
    groupHead[g] = first;
    if (wasDrained) groupReady(g, t);
  };

  let nextWindow = windowMs;
  const closeWindow = (b: number) => {
    const a = b - windowMs;
    let sum = 0;
    let squares = 0;
    let n = 0;
    for (let o = 0; o < O; o++) {
      accrue(o, b);
      const x = (orgDeviceMs[o] as number) - (orgWindowStart[o] as number);
      orgWindowStart[o] = orgDeviceMs[o] as number;
      if ((orgReadyGroups[o] as number) > 0 && (orgReadySince[o] as number) <= a) {
        sum += x;
        squares += x * x;
        n++;
      }
    }
    if (n >= 2 && squares > 0) {
      jain.push({ startMs: a, orgs: n, jain: (sum * sum) / (n * squares) });
      jainOrgs += n;
    }
  };

  while (heap.size > 0) {
    heap.pop();
    const t = heap.topT;
    const arg = heap.topArg;
    while (t >= nextWindow) {
      closeWindow(nextWindow);
      nextWindow += windowMs;
    }
    if (heap.topKind === EV_SUBMIT) {
      const g = arg;
      groupQueued[g] = (w.groupEnd[g] as number) - (w.groupStart[g] as number);
      groupReady(g, t);
      wakeWaiting(t);
    } else if (heap.topKind === EV_INSTALLED) {
      const ms = w.groupInstall[devGroup[arg] as number] as number;
      installMs = installMs > 0 ? installMs * (1 - NEWEST) + ms * NEWEST : ms;
      startTest(arg, t);
    } else {
      const d = arg;
      const jobs = devJobs[d] as Int32Array;
      const j = jobs[devPos[d] as number] as number;
      status[j] = DONE;
      makespan = t;
      const ms = w.jobMs[j] as number;
      testTime += ms;
      const p = w.jobPath[j] as number;
      const seen = pathExpected[p] as number;
      pathExpected[p] = Number.isNaN(seen) ? ms : seen * (1 - NEWEST) + ms * NEWEST;
      typicalTestMs = typicalTestMs === undefined ? ms : typicalTestMs * (1 - NEWEST) + ms * NEWEST;
      devPos[d] = (devPos[d] as number) + 1;
      if ((devPos[d] as number) < jobs.length) {
        if (policy.yields && wantsYield(d, t)) {
          yields++;
          yieldAfter.push(t - (devGroupSince[d] as number));
          handBack(d, t);
          endBatch(d, t);
          claimOrWait(d, t);
          wakeWaiting(t);
        } else {
          startTest(d, t);
        }
      } else {
        endBatch(d, t);
        claimOrWait(d, t);
      }
    }
  }

  for (let j = 0; j < J; j++) {
    if (status[j] !== DONE) throw new Error(`job ${j} never finished (${policy.name})`);
  }
  let pairs = 0;
  let maxRatio = 0;
  const firstStart: number[] = [];
  for (let o = 0; o < O; o++) {
    pairs += orgDevices[o] as number;
    if ((orgDevices[o] as number) > 0) {
      maxRatio = Math.max(maxRatio, (orgInstalls[o] as number) / (orgDevices[o] as number));
    }
    firstStart.push((orgFirstStart[o] as number) - (orgFirstSubmit[o] as number));
  }
  firstStart.sort((a, b) => a - b);
  const groupStart = Array.from(groupFirstStart, (s, g) => s - (w.groupSubmit[g] as number)).sort((a, b) => a - b);
  yieldAfter.sort((a, b) => a - b);
  batchWork.sort((a, b) => a - b);
  return {
    policy: policy.name,
    devices: D,
    orgs: O,
    groups: G,
    jobs: J,
    runs,
    installs,
    installsPerOrgDevice: installs / Math.max(1, pairs),
    maxInstallsPerOrgDevice: maxRatio,
    reinstalls,
    installShare: installTime / Math.max(1, installTime + testTime),
    busyShare: (installTime + testTime) / Math.max(1, D * makespan),
    claims,
    yields,
    yieldAfterP50Ms: percentile(yieldAfter, 50),
    yieldsPastStick: yieldAfter.filter((ms) => ms > config.maxStickMs).length,
    batchWorkP99Ms: percentile(batchWork, 99),
    batchWorkMaxMs: batchWork[batchWork.length - 1] ?? 0,
    chooseMeanMs: chooseMs / Math.max(1, claims),
    chooseMaxMs: chooseMax,
    makespanMs: makespan,
    drainedMs: drained,
    heldAtDrain,
    lowerBoundMs: lowerBoundMs(w, D),
    jainMean: jain.length > 0 ? jain.reduce((s, x) => s + x.jain, 0) / jain.length : Number.NaN,
    jainMin: jain.length > 0 ? Math.min(...jain.map((x) => x.jain)) : Number.NaN,
    jainWindows: jain.length,
    jainOrgs: jain.length > 0 ? jainOrgs / jain.length : 0,
    jainByWindow: jain,
    firstStartP50Ms: percentile(firstStart, 50),
    firstStartP99Ms: percentile(firstStart, 99),
    firstStartMaxMs: firstStart[firstStart.length - 1] ?? Number.NaN,
    groupFirstStartP99Ms: percentile(groupStart, 99),
    groupFirstStartMaxMs: groupStart[groupStart.length - 1] ?? Number.NaN,
    groupFirstStartMs: groupFirstStart,
    wallMs: performance.now() - started,
    jobRuns,
  };
}

export interface SimOptions {
  devices: number;
  orgs: number;
  jobs: number;
  seed: number;
  policies?: PolicyName[];
  config?: Partial<PolicyConfig>;
  arrivalMs?: number;
  windowMs?: number;
  /** Called with each policy's result as it is done. */
  onResult?: (r: PolicyResult) => void;
}

/** One workload from the seed, then every policy over it. */
export function simulate(options: SimOptions): { workload: Workload; results: PolicyResult[] } {
  const workload = makeWorkload(options);
  const results: PolicyResult[] = [];
  for (const name of options.policies ?? ['fair', 'grouped']) {
    const policy = POLICIES[name];
    if (!policy) throw new Error(`unknown policy ${name}; known: ${Object.keys(POLICIES).join(', ')}`);
    const r = runPolicy(workload, policy, options);
    options.onResult?.(r);
    results.push(r);
  }
  return { workload, results };
}

const minutes = (ms: number) => (ms / MINUTE).toFixed(1);
const seconds = (ms: number) => (ms / SECOND).toFixed(1);

/** The printed columns: installs and time, then fairness. */
export function rows(r: PolicyResult): { time: Row; fairness: Row } {
  return {
    time: {
      policy: r.policy,
      jobs: r.jobs,
      groups: r.groups,
      installs: r.installs,
      'inst/org-dev': r.installsPerOrgDevice.toFixed(2),
      'max inst/org-dev': r.maxInstallsPerOrgDevice.toFixed(2),
      reinstalls: r.reinstalls,
      'install %': (100 * r.installShare).toFixed(1),
      'busy %': (100 * r.busyShare).toFixed(1),
      claims: r.claims,
      yields: r.yields,
      'makespan min': minutes(r.makespanMs),
      '÷ bound': (r.makespanMs / r.lowerBoundMs).toFixed(3),
      'drained min': minutes(r.drainedMs),
      'held then': r.heldAtDrain,
      'batch p99 min': minutes(r.batchWorkP99Ms),
      'batch max min': minutes(r.batchWorkMaxMs),
      'choose ms': `${r.chooseMeanMs.toFixed(2)} (max ${r.chooseMaxMs.toFixed(1)})`,
      'wall s': seconds(r.wallMs),
    },
    fairness: {
      policy: r.policy,
      'jain mean': r.jainMean.toFixed(3),
      'jain min': r.jainMin.toFixed(3),
      windows: r.jainWindows,
      'orgs/window': r.jainOrgs.toFixed(0),
      'org first start p50 s': seconds(r.firstStartP50Ms),
      'p99 s': seconds(r.firstStartP99Ms),
      'max s': seconds(r.firstStartMaxMs),
      'group first start p99 s': seconds(r.groupFirstStartP99Ms),
      'group max s': seconds(r.groupFirstStartMaxMs),
      'yield after p50 s': seconds(r.yieldAfterP50Ms),
      'past maxStick %': r.yields > 0 ? ((100 * r.yieldsPastStick) / r.yields).toFixed(0) : '-',
    },
  };
}

async function main(): Promise<void> {
  const env = (name: string, fallback: number) => {
    const n = Number(process.env[name] ?? fallback);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
    return Math.floor(n);
  };
  const DEVICES = env('DEVICES', 10_000);
  const ORGS = env('ORGS', 1000);
  const JOBS = env('JOBS', 1_000_000);
  const SEED = env('SEED', 1);
  const policies = (process.env.POLICIES ?? 'fair,grouped').split(',').map((p) => p.trim()) as PolicyName[];
  // bench/lib.ts pulls in pg and the built server; the simulator needs neither, so it can print without them.
  let lib: typeof import('./lib.js') | undefined;
  try {
    lib = await import('./lib.js');
  } catch {
    lib = undefined;
  }
  const workload = makeWorkload({ orgs: ORGS, jobs: JOBS, seed: SEED });
  const lb = lowerBoundMs(workload, DEVICES);
  const describe =
    `${DEVICES} devices, ${workload.orgIds.length} orgs, ${workload.groupOrg.length} groups, ${JOBS} jobs, ` +
    `seed ${SEED}; lower bound ${minutes(lb)} min`;
  console.log(`bench/policy-sim: ${describe}`);
  const time: Row[] = [];
  const fairness: Row[] = [];
  for (const name of policies) {
    const policy = POLICIES[name];
    if (!policy) throw new Error(`unknown policy ${name}; known: ${Object.keys(POLICIES).join(', ')}`);
    const r = runPolicy(workload, policy, { devices: DEVICES });
    const printed = rows(r);
    time.push(printed.time);
    fairness.push(printed.fairness);
    console.log(`  ${name}: ${seconds(r.wallMs)} s`);
  }
  console.log(`\n${table(time)}\n\n${table(fairness)}`);
  if (lib?.writeResults) {
    await lib.writeResults('policy', {
      params: { DEVICES, ORGS, JOBS, SEED, POLICIES: policies.join(',') },
      rows: time.map((r, i) => ({ ...r, ...fairness[i] })),
      notes: [describe, 'virtual time: claims and reports take none; the model is in bench/policy-sim.ts'],
      command: 'npm run bench:policy',
    });
  }
}

const direct = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (direct) await main();
