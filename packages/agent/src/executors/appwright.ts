/**
 * The default executor: real AppWright. Each test is `npx appwright test <path> --project
 * <project> --workers 1 --retries 0` in the job's working directory (`--project NAME` as two
 * arguments: AppWright rejects `--project=NAME`), with the agent's reporter beside the list
 * reporter and an output folder of its own.
 *
 * On emulators and phones (see appwright/gateway.ts for why):
 * - prepare (once per batch): `adb get-state` (a missing device runs no test), then an
 *   Appium server for this device;
 * - each test: the Appium port AppWright dials (4723) routes to that server, with the
 *   leased udid and the batch's install kept; AppWright's own `npx appium` calls are
 *   answered by a shim. Local tests of a host take turns on that port.
 * - verdict: from the reporter (appwright/verdict.ts); a failed test whose device is gone
 *   afterwards is `errored`, not `failed`.
 * BrowserStack sessions go to BrowserStack's hub and run at once.
 * With `localParallel` the agent starts no Appium and routes nothing: each test's config
 * must reach an Appium of its own.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { BatchJob } from '@qgjob/protocol';
import { type AppiumServer, startAppium } from '../appwright/appium-server.js';
import { clearAppData, deviceProblem } from '../appwright/device.js';
import { type Attachment, GatewayPortError, SessionGateway } from '../appwright/gateway.js';
import { gatherArtifacts, runFolder } from '../appwright/output.js';
import { npxShimDir, withShim } from '../appwright/shim.js';
import { readReport, type Verdict, verdictOf } from '../appwright/verdict.js';
import { runnerVersions } from '../appwright/versions.js';
import { describe } from '../errors.js';
import { testEnv } from './env.js';
import { runInstallCommand } from './install.js';
import { Mutex } from './mutex.js';
import { runOutcome } from './outcome.js';
import { type ProcessResult, runProcess } from './process.js';
import type { ExecContext, Executor, InstallOutcome, OutputSink, Prepared, RunOutcome, StartupNote } from './types.js';

export const DEFAULT_APPIUM_COMMAND = 'npx appium';
/** The port AppWright's emulator and local-device providers always dial. */
export const APPWRIGHT_APPIUM_PORT = 4723;
/** UiAutomator2's host ports: one per device slot of this agent, from here. */
const SYSTEM_PORT_BASE = 8200;

export interface AppwrightOptions {
  workdir: string;
  /** AppWright project; default: the device's target (`emulator`, `device`, `browserstack`). */
  project?: string;
  testTimeoutMs: number;
  installCommand: string;
  installTimeoutMs: number;
  /** Start no Appium and route nothing: each test reaches its own Appium (its config must say where). */
  localParallel?: boolean;
  killGraceMs?: number;
  /** Starts Appium for one device; `--address 127.0.0.1 --port N` is appended. Default `npx appium`. */
  appiumCommand?: string;
  /** Where AppWright dials Appium. Default 4723. */
  appiumPort?: number;
  appiumStartTimeoutMs?: number;
  /** The adb binary. Default `adb` (on PATH). */
  adb?: string;
}

/**
 * One listener per port in this process, shared by every agent in it (the port is the
 * host's): their local tests take turns on it.
 */
const ports = new Map<number, { gateway: SessionGateway; turn: Mutex; users: number }>();

function sharedPort(port: number) {
  let shared = ports.get(port);
  if (!shared) {
    shared = { gateway: new SessionGateway(port), turn: new Mutex(), users: 0 };
    ports.set(port, shared);
  }
  shared.users++;
  return shared;
}

/** UiAutomator2's host port of each device of this host, kept for the process's life. */
const systemPorts = new Map<string, number>();

function systemPort(serial: string): number {
  let port = systemPorts.get(serial);
  if (port === undefined) {
    port = SYSTEM_PORT_BASE + systemPorts.size;
    systemPorts.set(serial, port);
  }
  return port;
}

export class AppwrightExecutor implements Executor {
  readonly name = 'appwright';
  private readonly appiumPort: Mutex;
  private readonly gateway: SessionGateway;
  private readonly servers = new Map<string, AppiumServer>();
  private closed = false;

  constructor(private readonly options: AppwrightOptions) {
    const shared = sharedPort(options.appiumPort ?? APPWRIGHT_APPIUM_PORT);
    this.gateway = shared.gateway;
    this.appiumPort = shared.turn;
  }

  startupNotes(): StartupNote[] {
    const found = runnerVersions(this.options.workdir);
    const fields = { appwright: found.appwright ?? 'not found', playwright: found.playwright ?? 'not found' };
    return [
      { level: 'info', message: 'appwright runner', fields: { ...fields, workdir: this.options.workdir } },
      ...found.notes.map((note) => ({ ...note, message: `appwright ${found.appwright ?? ''}: ${note.message}` })),
    ];
  }

  private routed(ctx: ExecContext): boolean {
    return ctx.device.target !== 'browserstack' && !this.options.localParallel;
  }

  async prepare(ctx: ExecContext, signal: AbortSignal, output?: OutputSink): Promise<Prepared> {
    if (!this.routed(ctx)) return { ok: true, close: async () => {} };
    const problem = await deviceProblem(this.adb, ctx.device.name, signal);
    if (problem) return { ok: false, error: problem };
    try {
      const server = await startAppium({
        command: this.options.appiumCommand ?? DEFAULT_APPIUM_COMMAND,
        cwd: ctx.workdir ?? this.options.workdir,
        env: testEnv(ctx),
        startTimeoutMs: this.options.appiumStartTimeoutMs ?? 60_000,
        killGraceMs: this.options.killGraceMs,
        output,
        signal,
      });
      this.servers.set(ctx.batch.id, server);
      return {
        ok: true,
        close: async () => {
          this.servers.delete(ctx.batch.id);
          await server.stop();
        },
      };
    } catch (error) {
      return { ok: false, error: `${describe(error)}` };
    }
  }

  install(ctx: ExecContext, signal: AbortSignal, output?: OutputSink): Promise<InstallOutcome> {
    const { installCommand, workdir, installTimeoutMs, killGraceMs } = this.options;
    return runInstallCommand(
      ctx,
      { command: installCommand, workdir, timeoutMs: installTimeoutMs, killGraceMs, onOutput: output },
      signal,
    );
  }

  async run(job: BatchJob, ctx: ExecContext, signal: AbortSignal, output?: OutputSink): Promise<RunOutcome> {
    const routed = this.routed(ctx);
    if (routed && !(await this.appiumPort.acquire(signal))) {
      return { status: 'errored', duration_ms: 0, error: `killed before it started: ${describe(signal.reason)}` };
    }
    try {
      return await this.runTest(job, ctx, signal, routed, output);
    } finally {
      if (routed) this.appiumPort.release();
    }
  }

  private async runTest(
    job: BatchJob,
    ctx: ExecContext,
    signal: AbortSignal,
    routed: boolean,
    output?: OutputSink,
  ): Promise<RunOutcome> {
    const route = routed ? await this.attach(ctx, signal, output) : undefined;
    if (typeof route === 'string') return { status: 'errored', duration_ms: 0, error: route };
    const workdir = ctx.workdir ?? this.options.workdir;
    const folder = await runFolder();
    let env: NodeJS.ProcessEnv = { ...testEnv(ctx, job), QGJOB_REPORT_FILE: folder.reportFile };
    if (routed) env = withShim(env, npxShimDir(), this.gateway.port);
    try {
      const result = await runProcess({
        command: 'npx',
        args: [
          ...['appwright', 'test', job.test_path, '--project', this.options.project ?? ctx.device.target],
          ...['--workers', '1', '--retries', '0', `--reporter=list,${REPORTER}`, '--output', folder.outputDir],
        ],
        cwd: workdir,
        env,
        timeoutMs: this.options.testTimeoutMs,
        signal,
        killGraceMs: this.options.killGraceMs,
        onOutput: output,
      });
      const report = await readReport(folder.reportFile);
      const artifacts = await gatherArtifacts(folder, report);
      const outcome = report && result.end.kind === 'exit' ? verdictOf(report, workdir) : this.noVerdict(result);
      if (outcome.status === 'failed' && routed) {
        // A red test on a device that is gone now is the device's fault, not the test's.
        const gone = await deviceProblem(this.adb, ctx.device.name, signal);
        if (gone)
          return {
            status: 'errored',
            duration_ms: result.duration_ms,
            error: `${gone} after the test failed:\n${outcome.error}`,
            artifacts,
          };
      }
      return { status: outcome.status, duration_ms: result.duration_ms, error: outcome.error, artifacts };
    } catch (error) {
      // No outcome carries the folder away to be discarded: remove it here.
      await rm(folder.root, { recursive: true, force: true });
      throw error;
    } finally {
      await route?.detach();
    }
  }

  /** Routes the Appium port to the batch's server for this device; a string says why not. */
  private async attach(ctx: ExecContext, signal: AbortSignal, output?: OutputSink): Promise<Attachment | string> {
    const serial = ctx.device.name;
    const server = this.servers.get(ctx.batch.id);
    if (!server) return `no Appium is running for ${serial}`;
    try {
      await this.gateway.listen();
    } catch (error) {
      return error instanceof GatewayPortError ? error.message : describe(error);
    }
    return this.gateway.attach({
      upstream: server.url,
      serial,
      systemPort: systemPort(serial),
      note: (text) => output?.('stdout', text),
      beforeSession: async (caps) => {
        const pkg = caps['appium:appPackage'];
        return typeof pkg === 'string' ? clearAppData(this.adb, serial, pkg, signal) : undefined;
      },
    });
  }

  /** Killed, timed out, could not start, or no report: the process says more than any report. */
  private noVerdict(result: ProcessResult): Verdict {
    const fallback = runOutcome(result, { what: 'npx appwright', timeoutMs: this.options.testTimeoutMs });
    if (result.end.kind !== 'exit' || fallback.status === 'passed') return fallback;
    const tail = result.output.trim().slice(-2000);
    return {
      status: 'errored',
      error: `npx appwright exited with code ${result.end.code} before any test result:\n${tail}`,
    };
  }

  private get adb(): string {
    return this.options.adb ?? 'adb';
  }

  /** Stops listening on the Appium port once no agent of this process uses it. */
  async close(): Promise<void> {
    const shared = ports.get(this.gateway.port);
    if (this.closed || !shared) return;
    this.closed = true;
    if (--shared.users > 0) return;
    ports.delete(this.gateway.port);
    await shared.gateway.close();
  }
}

/** The reporter, compiled (dist) or as source (tests run the sources; Playwright loads TypeScript). */
const REPORTER = ((): string => {
  for (const ext of ['js', 'ts']) {
    const file = fileURLToPath(new URL(`../appwright/reporter.${ext}`, import.meta.url));
    if (existsSync(file)) return file;
  }
  return fileURLToPath(new URL('../appwright/reporter.js', import.meta.url));
})();
