/**
 * An agent: registers this host's devices, then runs one independent loop per device —
 * claim a batch (long-poll), run it, claim again — until told to stop.
 *
 * States: registering → running → draining → stopped.
 * - registering: retried with backoff while the server is unreachable; a 4xx (bad token,
 *   invalid device names) is fatal: `done` rejects with RegisterRejectedError.
 * - running: a claim that fails backs off (jitter, ≤ 5 s) and tries again; a 404 means the
 *   server no longer knows the device, so the agent registers again (once for all devices).
 *   A batch the device could not run (not ready, install failed) is followed by a rest before
 *   the next claim for it, doubling while it keeps failing (1 s up to 30 s), whatever the
 *   server answers: a broken device never spins.
 * - draining (stop(), SIGTERM): claims are aborted, running tests finish and their batches
 *   report `done` with the jobs never started; after the grace period running tests are
 *   killed (reported errored) so stopping is bounded.
 * - kill() (second signal): running tests are SIGKILLed, nothing more is reported.
 */
import { ApiError, isTransient, QgjobClient } from '@qgjob/client';
import type { DeviceSpec, RegisterRequest, RegisterResponse } from '@qgjob/protocol';
import { runBatch } from './batch-runner.js';
import { BrowserStackApi, credentialsFromEnv } from './browserstack.js';
import { ArtifactCache } from './cache/index.js';
import { type AgentConfig, agentName, createExecutor, DEFAULTS, defaultCacheDir } from './config.js';
import { describe, ForcedStopError, RegisterRejectedError, ShutdownError } from './errors.js';
import { resolveAppPath } from './executors/app-path.js';
import type { Executor } from './executors/types.js';
import { createLogger, type Logger } from './log.js';
import { Provisioner } from './provision.js';
import { Backoff, sleep } from './sleep.js';
import { VERSION } from './version.js';

/** The rest after a batch the device could not run: from about 1 s, doubling to 30 s. */
const REST_BASE_MS = 1_000;
const REST_MAX_MS = 30_000;

export class Agent {
  readonly name: string;
  readonly executor: Executor;
  /** Resolves with the registration once the server has accepted this agent. */
  readonly ready: Promise<RegisterResponse>;
  private readonly client: QgjobClient;
  private readonly log: Logger;
  private readonly provisioner: Provisioner;
  private readonly browserstack: BrowserStackApi | undefined;
  private readonly drainController = new AbortController();
  private readonly killController = new AbortController();
  private readonly forceController = new AbortController();
  private registration: RegisterResponse | undefined;
  private registering: Promise<RegisterResponse | undefined> | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private fatal: unknown;
  private markReady: (registration: RegisterResponse) => void = () => {};
  private failReady: (error: unknown) => void = () => {};

  constructor(private readonly config: AgentConfig) {
    this.name = agentName(config);
    this.executor = createExecutor(config);
    this.log = (config.logger ?? createLogger({ level: config.logLevel ?? 'info' })).child({ agent: this.name });
    const client = new QgjobClient({
      server: config.server,
      token: config.token,
      userAgent: `qgjob-agent/${VERSION}`,
      signal: this.forceController.signal,
    });
    this.client = config.wrapClient?.(client) ?? client;
    const credentials = config.browserstackCredentials ?? credentialsFromEnv();
    const usesBrowserStack = config.devices.some((d) => d.target === 'browserstack');
    this.browserstack =
      credentials && usesBrowserStack
        ? new BrowserStackApi({ apiUrl: config.browserstackApi, credentials })
        : undefined;
    const cache = new ArtifactCache({
      dir: config.cacheDir ?? defaultCacheDir(),
      maxBytes: config.cacheMaxBytes ?? DEFAULTS.cacheMaxBytes,
      fetchBlob: (sha256, signal) => this.client.downloadBlob(sha256, signal),
      depsCommand: config.depsCommand,
      log: this.log.child({ part: 'cache' }),
    });
    this.provisioner = new Provisioner({
      cache,
      client: this.client,
      browserstack: this.browserstack,
      log: this.log,
      runsTests: this.executor.runsTests !== false,
    });
    this.ready = new Promise((resolve, reject) => {
      this.markReady = resolve;
      this.failReady = reject;
    });
    // Nobody need wait on `ready`: its failure also rejects start().
    this.ready.catch(() => {});
  }

  /** Runs until stopped; rejects only when the server refuses this agent for good. */
  start(): Promise<void> {
    this.running ??= this.main();
    return this.running;
  }

  /** Graceful stop: resolves once every device loop has ended and reported. */
  stop(): Promise<void> {
    if (!this.drainController.signal.aborted) {
      const graceMs = this.config.graceMs ?? DEFAULTS.graceMs;
      this.log.info('stopping: no new batches; running tests may finish', { grace_ms: graceMs });
      this.drainController.abort(new ShutdownError('agent stopping'));
      this.graceTimer = setTimeout(() => {
        this.log.warn('grace period elapsed: killing running tests');
        this.killController.abort(new ShutdownError(`agent shutting down (grace period of ${graceMs} ms elapsed)`));
      }, graceMs);
    }
    return (this.running ?? Promise.resolve()).catch(() => {});
  }

  /** Forced stop: kill running tests at once (SIGKILL), report nothing more. */
  kill(): void {
    const reason = new ForcedStopError('agent killed');
    this.drainController.abort(reason);
    this.killController.abort(reason);
    this.forceController.abort(reason);
  }

  private async main(): Promise<void> {
    try {
      const registration = await this.register();
      if (!registration) {
        this.failReady(new ShutdownError('stopped before registering'));
        return;
      }
      this.markReady(registration);
      for (const note of this.executor.startupNotes?.() ?? []) this.log[note.level](note.message, note.fields);
      await Promise.all(this.config.devices.map((device) => this.deviceLoop(device)));
      if (this.fatal) throw this.fatal;
      this.log.info('stopped');
    } catch (error) {
      this.failReady(error);
      throw error;
    } finally {
      clearTimeout(this.graceTimer);
      await this.executor.close?.().catch(() => {});
    }
  }

  /** Registers (again), shared by every device loop that asks meanwhile. */
  private register(): Promise<RegisterResponse | undefined> {
    this.registering ??= this.registerOnce().finally(() => {
      this.registering = undefined;
    });
    return this.registering;
  }

  private async registerOnce(): Promise<RegisterResponse | undefined> {
    const drain = this.drainController.signal;
    const backoff = new Backoff();
    let warned = false;
    const browserstack = await this.browserstackAccount();
    while (!drain.aborted) {
      try {
        const registration = await this.client.registerAgent({
          name: this.name,
          version: VERSION,
          devices: this.config.devices,
          browserstack,
        });
        this.registration = registration;
        this.log.info('registered', {
          agent_id: registration.agent_id,
          server: this.client.server,
          devices: registration.devices.map((d) => `${d.target}:${d.name}`).join(','),
          executor: this.executor.name,
        });
        return registration;
      } catch (error) {
        if (drain.aborted) break;
        if (error instanceof ApiError && !isTransient(error)) {
          throw new RegisterRejectedError(
            `the server refused to register agent ${this.name}: ${error.message}`,
            error.status,
            {
              cause: error,
            },
          );
        }
        if (!warned) this.log.warn('cannot register; retrying', { error: describe(error) });
        warned = true;
        await sleep(backoff.next(), drain);
      }
    }
    return undefined;
  }

  /**
   * The BrowserStack account's parallel-session limit, from its plan: the server keeps busy
   * BrowserStack devices of all agents on this account within it. Plan unreachable: the
   * account alone, so the limit known from other agents still applies. No credentials:
   * nothing, and only the device slots limit the sessions.
   */
  private async browserstackAccount(): Promise<RegisterRequest['browserstack']> {
    if (!this.config.devices.some((d) => d.target === 'browserstack')) return undefined;
    if (!this.browserstack) {
      this.log.warn(
        'BROWSERSTACK_USERNAME and BROWSERSTACK_ACCESS_KEY are not set: builds cannot be uploaded to BrowserStack from this host',
      );
      return undefined;
    }
    const account = this.browserstack.username;
    try {
      const plan = await this.browserstack.plan(this.drainController.signal);
      this.log.info('browserstack plan', { plan: plan.plan, parallel_limit: plan.parallelLimit });
      if (plan.parallelLimit < 1) {
        this.log.warn('the BrowserStack plan allows no parallel session: BrowserStack devices get no work', {
          account,
        });
      }
      return { account, parallel_limit: plan.parallelLimit };
    } catch (error) {
      // Still one of the account's devices: the limit another agent read (if any) holds.
      this.log.warn('cannot read the BrowserStack plan; the last known parallel limit of the account applies', {
        error: describe(error),
      });
      return { account };
    }
  }

  private deviceId(device: DeviceSpec): string | undefined {
    return this.registration?.devices.find((d) => d.name === device.name && d.target === device.target)?.id;
  }

  private async deviceLoop(device: DeviceSpec): Promise<void> {
    const drain = this.drainController.signal;
    const log = this.log.child({ device: device.name });
    const backoff = new Backoff();
    // Rests after batches the device could not run.
    const rest = new Backoff(REST_BASE_MS, REST_MAX_MS);
    let failing = false;
    while (!drain.aborted) {
      const id = this.deviceId(device);
      const registration = this.registration;
      if (!id || !registration) {
        if (!(await this.reregister(log))) return;
        continue;
      }
      let batch: Awaited<ReturnType<QgjobClient['claim']>>['batch'];
      try {
        ({ batch } = await this.client.claim(id, this.config.claimWaitMs ?? DEFAULTS.claimWaitMs, drain));
        if (failing) log.info('claiming again');
        failing = false;
        backoff.reset();
      } catch (error) {
        if (drain.aborted) break;
        if (error instanceof ApiError && error.status === 404) {
          log.warn('the server does not know this device; registering again');
          if (!(await this.reregister(log))) return;
          continue;
        }
        if (!failing) log.warn('claim failed; retrying', { error: describe(error) });
        failing = true;
        await sleep(backoff.next(), drain);
        continue;
      }
      if (!batch) continue;
      try {
        const summary = await runBatch(batch, {
          client: this.client,
          executor: this.executor,
          device,
          appPath: (b) =>
            resolveAppPath(this.config.appPath ?? DEFAULTS.appPath, b, this.config.workdir ?? process.cwd()),
          provision: (b, signal, output) => this.provisioner.provision(b, signal, output),
          heartbeatMs: registration.heartbeat_ms,
          leaseMs: registration.lease_ms,
          log,
          drain,
          kill: this.killController.signal,
          force: this.forceController.signal,
        });
        if (summary.setupFailed) {
          const ms = rest.next();
          log.info('resting after a failed batch', { rest_ms: Math.round(ms) });
          await sleep(ms, drain);
        } else if (!summary.dropped) {
          rest.reset();
        }
      } catch (error) {
        // A bug, not the network: the lease will expire and the server requeue the jobs.
        log.error('batch crashed', { batch: batch.id, error: describe(error) });
        await sleep(backoff.next(), drain);
      }
    }
  }

  /** False when the agent must stop (drained, or the server refused it: then fatal is set). */
  private async reregister(log: Logger): Promise<boolean> {
    try {
      return (await this.register()) !== undefined;
    } catch (error) {
      this.fatal ??= error;
      log.error('registration refused; stopping', { error: describe(error) });
      this.drainController.abort(error);
      return false;
    }
  }
}
