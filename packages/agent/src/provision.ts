/**
 * Puts a batch's code on the host before it runs:
 * - the app build the server registered for the app version: downloaded once into the
 *   cache, verified, and handed to the install command under its file name; on a
 *   BrowserStack slot, its `bs://` upload instead — made once per build across every
 *   agent (the server leases the upload to one batch; the others wait for its URL);
 * - each job's test bundle: unpacked once into the cache with its npm dependencies; the
 *   test runs in the device's own hard-linked working copy of it.
 * A batch without a registered build, or a job without a bundle, keeps the old way: the
 * --app-path template and the agent's own --workdir.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readlink, rename, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { QgjobClient } from '@qgjob/client';
import type { Batch, BatchApp, BatchJob } from '@qgjob/protocol';
import type { BrowserStackApi } from './browserstack.js';
import { type ArtifactCache, CacheError, type CacheErrorCode } from './cache/index.js';
import { describe } from './errors.js';
import type { OutputSink } from './executors/types.js';
import type { Logger } from './log.js';
import { sleep } from './sleep.js';

export interface Provisioned {
  /** Where the build is (local file or bs:// URL); undefined: resolve it the old way. */
  appPath?: string;
  /** Why the build could not be provided: the batch fails as a failed install. */
  appError?: string;
  /** The directory a job runs in, when it has a bundle. */
  workdirOf(job: BatchJob): string | undefined;
  /** Why a job's bundle could not be provided; `final`: the bundle itself is refused, retrying cannot help. */
  bundleErrorOf(job: BatchJob): { error: string; final: boolean } | undefined;
  release(): void;
}

/** Cache errors that say the bundle itself is bad: the same bytes fail the same way anywhere. */
const REFUSALS = new Set<CacheErrorCode>([
  'unsafe_path',
  'link',
  'special_file',
  'duplicate',
  'too_large',
  'too_many_files',
  'corrupt',
  'bad_bundle',
]);

export interface ProvisionerOptions {
  cache: ArtifactCache;
  client: Pick<QgjobClient, 'browserstackApp' | 'setBrowserstackApp'>;
  /** Absent: this host has no BrowserStack credentials. */
  browserstack?: BrowserStackApi;
  log: Logger;
  /**
   * False for an executor that runs no test code (simulate): bundles are fetched and unpacked
   * but their npm dependencies not installed, and no build is uploaded to BrowserStack (that
   * upload is the install there, which such an executor only pretends).
   */
  runsTests?: boolean;
}

export class Provisioner {
  constructor(private readonly options: ProvisionerOptions) {}

  async provision(batch: Batch, signal: AbortSignal, output?: OutputSink): Promise<Provisioned> {
    const releases: (() => void)[] = [];
    const release = () => {
      for (const r of releases.splice(0)) r();
    };
    let appPath: string | undefined;
    let appError: string | undefined;
    if (batch.app) {
      try {
        if (batch.target === 'browserstack') {
          if (batch.app.browserstack_url || this.options.runsTests !== false) {
            appPath = await this.browserstackUrl(batch, batch.app, signal, releases);
          }
        } else if (batch.install) {
          appPath = await this.localBuild(batch.app, signal, releases);
        } else {
          // The device holds the build already: name the cached copy if this host has it,
          // and fetch nothing (a failed download must not fail a batch that installs nothing).
          appPath = await this.cachedBuild(batch.app);
        }
      } catch (error) {
        appError = `the build of app version ${batch.app_version_id} (${batch.app.sha256.slice(0, 12)}): ${describe(error)}`;
      }
    }
    const workdirs = new Map<string, string>();
    const errors = new Map<string, { error: string; final: boolean }>();
    const wanted = [...new Set(batch.jobs.map((j) => j.bundle_sha256).filter((s): s is string => !!s))];
    for (const sha256 of wanted) {
      if (signal.aborted) break;
      try {
        // A working copy per device: tests running at once on this host's devices keep
        // their output (test-results/, snapshots) apart.
        const bundle = await this.options.cache.bundle(sha256, signal, output, {
          deps: this.options.runsTests !== false,
          slot: batch.device_id,
        });
        releases.push(() => bundle.release());
        workdirs.set(sha256, bundle.workdir);
        this.options.log.info('bundle ready', {
          bundle: sha256.slice(0, 12),
          fetched: bundle.fetched,
          deps_installed: bundle.depsInstalled,
        });
      } catch (error) {
        // A CacheError says which bundle and why, its cause included.
        errors.set(
          sha256,
          error instanceof CacheError
            ? { error: `test ${error.message}`, final: REFUSALS.has(error.code) }
            : { error: `test bundle ${sha256}: ${describe(error)}`, final: false },
        );
        this.options.log.warn('bundle refused', { bundle: sha256.slice(0, 12), error: describe(error) });
      }
    }
    return {
      appPath,
      appError,
      workdirOf: (job) => (job.bundle_sha256 ? workdirs.get(job.bundle_sha256) : undefined),
      bundleErrorOf: (job) =>
        job.bundle_sha256 && !workdirs.has(job.bundle_sha256)
          ? (errors.get(job.bundle_sha256) ?? { error: `test bundle ${job.bundle_sha256} is not ready`, final: false })
          : undefined,
      release,
    };
  }

  /**
   * The cached build (verified), under its own file name, as installers such as adb want
   * `.apk`: a symbolic link beside the cache's hash-named file, so eviction frees the bytes.
   */
  private async localBuild(app: BatchApp, signal: AbortSignal, releases: (() => void)[]): Promise<string> {
    const blob = await this.options.cache.blob(app.sha256, signal);
    releases.push(() => blob.release());
    const dir = join(this.options.cache.dir, 'named', app.sha256);
    const named = join(dir, app.filename);
    await mkdir(dir, { recursive: true });
    if ((await readlink(named).catch(() => undefined)) !== blob.path) {
      // Made under a unique name and renamed over: devices installing the same build at
      // once each end with a correct link, never an EEXIST or a missing one.
      const temp = `${named}.${process.pid}.${randomBytes(4).toString('hex')}`;
      await symlink(blob.path, temp);
      await rename(temp, named);
    }
    return named;
  }

  private async cachedBuild(app: BatchApp): Promise<string | undefined> {
    const named = join(this.options.cache.dir, 'named', app.sha256, app.filename);
    return (await stat(named).catch(() => undefined))?.isFile() ? named : undefined;
  }

  private async browserstackUrl(
    batch: Batch,
    app: BatchApp,
    signal: AbortSignal,
    releases: (() => void)[],
  ): Promise<string> {
    if (app.browserstack_url) return app.browserstack_url;
    const { client, log } = this.options;
    for (;;) {
      signal.throwIfAborted();
      const answer = await client.browserstackApp(batch.id);
      if (answer.state === 'ready' && answer.browserstack_url) return answer.browserstack_url;
      if (answer.state === 'wait') {
        await sleep(answer.retry_ms, signal);
        continue;
      }
      // This batch holds the upload lease.
      const api = this.options.browserstack;
      if (!api) {
        const error =
          'BROWSERSTACK_USERNAME and BROWSERSTACK_ACCESS_KEY are not set on this agent: it cannot upload the build';
        await client.setBrowserstackApp(batch.id, { error }).catch(() => {});
        throw new Error(error);
      }
      try {
        // Under its own file name: BrowserStack tells builds apart by their extension.
        const file = await this.localBuild(app, signal, releases);
        const started = performance.now();
        const customId = batch.app_version_id.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
        // Keep the upload lease while a big build goes up, so nobody else starts the same upload.
        const renew = setInterval(
          () => void client.browserstackApp(batch.id).catch(() => {}),
          Math.max(1000, Math.floor(answer.lease_ms / 3)),
        );
        let url: string;
        try {
          url = await api.uploadApp(file, { signal, customId });
        } finally {
          clearInterval(renew);
        }
        log.info('build uploaded to browserstack', {
          app_version: batch.app_version_id,
          url,
          duration_ms: Math.round(performance.now() - started),
        });
        const recorded = await client.setBrowserstackApp(batch.id, { browserstack_url: url });
        return recorded.browserstack_url ?? url;
      } catch (error) {
        await client.setBrowserstackApp(batch.id, { error: describe(error).slice(0, 4000) }).catch(() => {});
        throw error;
      }
    }
  }
}
