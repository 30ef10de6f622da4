/**
 * Dependency installs: `deps/<key>/`, package.json, lockfile and node_modules installed
 * from them, and the node_modules symlinks that point bundles (and run copies) there.
 *
 * Invariants: the key is the SHA-256 of what the install depends on: the lockfile's bytes
 * (nothing when there is none), package.json's bytes (overrides, scripts),
 * `process.platform`, `process.arch` and the Node major version (native modules), each part
 * prefixed by its length in bytes and a colon; bundles with the same package files share
 * one install. An install runs in `tmp/` and is renamed into place only when it succeeded;
 * an entry is complete once its node_modules exists. The bundle marker records the runtime
 * its key was derived for; a key derived for another runtime is derived again on use.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import { join, posix, relative } from 'node:path';
import type { TreeFile } from '@qgjob/bundle';
import { describe } from '../errors.js';
import { failureMessage } from '../executors/outcome.js';
import { runProcess } from '../executors/process.js';
import type { OutputSink } from '../executors/types.js';
import type { CacheContext } from './context.js';
import { isCode, isDir } from './fs.js';
import { type BundleDeps, badBundle, CacheError, inBundle } from './types.js';

const NPM_CI = 'npm ci --no-audit --no-fund';
const NPM_INSTALL = 'npm install --no-audit --no-fund';
const DEFAULT_DEPS_TIMEOUT_MS = 15 * 60_000;
/** npm reads the shrinkwrap first when both are there. */
export const LOCKFILES = ['npm-shrinkwrap.json', 'package-lock.json'];
/** Output of a failed install kept in the error. */
const DEPS_TAIL_CHARS = 3000;

export class DepsInstalls {
  /** Where the output of the install under way for a deps key goes: every caller waiting on it. */
  private readonly sinks = new Map<string, Set<OutputSink>>();

  constructor(
    private readonly ctx: CacheContext,
    private readonly evictQuietly: () => Promise<void>,
  ) {}

  /**
   * Installs the dependencies of the bundle unpacked at `bundleDir` unless `deps/<key>` is
   * complete; true when this call, or the one it waited on, ran the install. The caller pins `deps:<key>`.
   */
  async install(
    sha256: string,
    bundleDir: string,
    deps: BundleDeps,
    signal: AbortSignal,
    output?: OutputSink,
  ): Promise<boolean> {
    const id = `deps:${deps.key}`;
    const sinks = this.sinks.get(deps.key) ?? new Set<OutputSink>();
    this.sinks.set(deps.key, sinks);
    if (output) sinks.add(output);
    try {
      return await this.ctx.flights.run(id, signal, (s) => this.ensure(sha256, bundleDir, deps, s));
    } finally {
      if (output) sinks.delete(output);
      if (sinks.size === 0 && !this.ctx.flights.has(id)) this.sinks.delete(deps.key);
    }
  }

  /** The node_modules symlink, relative so that the cache directory may move. */
  linkTarget(bundleDir: string, deps: BundleDeps): string {
    return relative(inBundle(bundleDir, deps.dir), this.ctx.path('deps', deps.key, 'node_modules'));
  }

  /** Puts the node_modules symlink back if something replaced or removed it. */
  async link(bundleDir: string, deps: BundleDeps): Promise<void> {
    const link = join(inBundle(bundleDir, deps.dir), 'node_modules');
    const target = this.linkTarget(bundleDir, deps);
    try {
      if ((await readlink(link)) === target) return;
    } catch {
      // Missing, or not a symlink.
    }
    await rm(link, { recursive: true, force: true });
    try {
      await symlink(target, link);
    } catch (error) {
      if (!isCode(error, 'EEXIST')) throw error;
    }
  }

  private async ensure(sha256: string, bundleDir: string, deps: BundleDeps, signal: AbortSignal): Promise<boolean> {
    const id = `deps:${deps.key}`;
    await this.ctx.ready(id);
    const dest = this.ctx.path('deps', deps.key);
    if (await isDir(join(dest, 'node_modules'))) {
      await this.ctx.touch(id, dest);
      return false;
    }
    await this.ctx.trash(dest);
    this.ctx.sizes.delete(id);

    const tmp = this.ctx.tempPath('deps', deps.key);
    try {
      await mkdir(tmp);
      const from = inBundle(bundleDir, deps.dir);
      for (const name of ['package.json', ...(deps.lockfile ? [deps.lockfile] : []), ...deps.extra]) {
        await copyFile(join(from, name), join(tmp, name));
      }
      const duration_ms = await this.run(sha256, deps, tmp, signal);
      await mkdir(join(tmp, 'node_modules'), { recursive: true });
      try {
        await rename(tmp, dest);
      } catch (error) {
        // Another agent sharing the directory installed the same deps key meanwhile: keep theirs.
        if (!isCode(error, 'ENOTEMPTY', 'EEXIST')) throw error;
      }
      this.ctx.uses.touch(id);
      this.ctx.log.info('bundle dependencies installed', { sha256, deps: deps.key, duration_ms });
      return true;
    } finally {
      await rm(tmp, { recursive: true, force: true });
      await this.evictQuietly();
    }
  }

  /** Runs the install command in `cwd`; its duration, or a CacheError with the end of its output. */
  private async run(sha256: string, deps: BundleDeps, cwd: string, signal: AbortSignal): Promise<number> {
    const command = this.ctx.options.depsCommand ?? (deps.lockfile ? NPM_CI : NPM_INSTALL);
    const timeoutMs = this.ctx.options.depsTimeoutMs ?? DEFAULT_DEPS_TIMEOUT_MS;
    this.ctx.log.info('installing bundle dependencies', { sha256, deps: deps.key, command });
    const result = await runProcess({
      command: '/bin/sh',
      args: ['-c', command],
      cwd,
      env: installEnv(),
      timeoutMs,
      signal,
      tailChars: DEPS_TAIL_CHARS,
      onOutput: (stream, text) => {
        for (const sink of this.sinks.get(deps.key) ?? []) sink(stream, text);
      },
    });
    const { end } = result;
    if (end.kind === 'aborted') throw end.reason;
    if (end.kind !== 'exit' || end.code !== 0) {
      const how = failureMessage(result, { what: `\`${command}\``, timeoutMs });
      const tail = result.output.trim();
      throw new CacheError(
        `installing the dependencies of bundle ${sha256} failed: ${how}${tail ? `\n${tail}` : ''}`,
        'deps_failed',
      );
    }
    return result.duration_ms;
  }
}

/**
 * The nearest package.json from the work dir up to the bundle's root, when it declares
 * any dependencies; null when there is nothing to install.
 */
export async function findDeps(
  root: string,
  sha256: string,
  workdir: string,
  files: TreeFile[],
): Promise<BundleDeps | null> {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const inDir = (dir: string, name: string) => byPath.get(dir === '.' ? name : `${dir}/${name}`);
  let dir = workdir;
  while (!inDir(dir, 'package.json')) {
    if (dir === '.') return null;
    dir = posix.dirname(dir);
  }
  const packageFile = inDir(dir, 'package.json')!;
  let pkg: Record<string, unknown>;
  try {
    const bytes = await readFile(inBundle(root, packageFile.path));
    pkg = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch (error) {
    throw badBundle(sha256, `${packageFile.path} is not valid JSON (${describe(error)})`);
  }
  const count = (field: string) => {
    const deps = pkg?.[field];
    return typeof deps === 'object' && deps !== null ? Object.keys(deps).length : 0;
  };
  if (count('dependencies') + count('devDependencies') + count('optionalDependencies') === 0) return null;
  const lockfile = LOCKFILES.find((name) => inDir(dir, name)) ?? null;
  const source = { dir, lockfile, extra: inDir(dir, '.npmrc') ? ['.npmrc'] : [] };
  return { key: await depsKeyOf(root, source), runtime: runtimeTag(), ...source };
}

/** The runtime an install is made for: npm builds native modules for it. */
function runtimeParts(): string[] {
  return [process.platform, process.arch, process.versions.node.split('.')[0]!];
}

export function runtimeTag(): string {
  return runtimeParts().join('/');
}

/**
 * The deps key: SHA-256 of the lockfile's bytes (nothing without one), package.json's
 * bytes, platform, arch and Node major, each part prefixed by `<length in bytes>:`.
 */
function depsKey(packageJson: Buffer, lockfile: Buffer | null): string {
  const hash = createHash('sha256');
  for (const part of [lockfile ?? Buffer.alloc(0), packageJson, ...runtimeParts().map((p) => Buffer.from(p))]) {
    hash.update(`${part.length}:`);
    hash.update(part);
  }
  return hash.digest('hex');
}

/** The deps key of the package files in the bundle unpacked at `root`. */
export async function depsKeyOf(root: string, deps: Pick<BundleDeps, 'dir' | 'lockfile'>): Promise<string> {
  const from = inBundle(root, deps.dir);
  const packageJson = await readFile(join(from, 'package.json'));
  return depsKey(packageJson, deps.lockfile ? await readFile(join(from, deps.lockfile)) : null);
}

/** The agent's environment without QGJOB_* variables (the token above all). */
function installEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('QGJOB_')) env[key] = value;
  }
  return env;
}
