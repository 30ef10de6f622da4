/**
 * The test bundle `qgjob submit` uploads so agents run the very sources that were submitted:
 * which files go in (planBundle), and the packed .tar.gz with its manifest (packPlan).
 *
 * Without --bundle-root the bundle holds the submitted test files, the local files they
 * import (helpers, page objects, fixtures: see imports.ts), and the AppWright config,
 * package and tsconfig files found in the current directory; with --bundle-root=DIR it holds every
 * regular file under DIR except dependencies, VCS data and secrets. Either way a generated
 * `.qgjob-bundle.json` at its root tells the agent where the current directory was inside it
 * (`workdir`), since test paths are relative to that directory.
 *
 * In both cases the tests' relative imports are followed, and each that names no file, or a file
 * outside the root, becomes a warning: the bundle goes without it, and the test would fail on
 * the device.
 */
import { mkdtemp, readdir, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { BundleError, packBundle } from '@qgjob/bundle';
import { formatSize } from '@qgjob/protocol';
import { BUNDLE_MAX_BYTES } from './constants.js';
import { UsageError } from './errors.js';
import { type ImportProblem, scanImports } from './imports.js';

export { BUNDLE_MAX_BYTES };
export const BUNDLE_MANIFEST = '.qgjob-bundle.json';

/** Picked up from the bundle root besides the tests (without --bundle-root). */
export const PROJECT_FILES = [
  ...['ts', 'js', 'mjs', 'cjs', 'mts', 'cts'].map((ext) => `appwright.config.${ext}`),
  'package.json',
  'package-lock.json',
  'npm-shrinkwrap.json',
  'tsconfig.json',
];
/** Directories a --bundle-root walk never enters, at any depth. */
const SKIPPED_DIRS = new Set(['node_modules', '.git', '.qgjob']);

export interface BundleEntry {
  /** Relative POSIX path inside the bundle. */
  path: string;
  /** Absolute path of the file to read. */
  source: string;
  size: number;
}

export interface BundleManifest {
  version: 1;
  /** The submitting directory relative to the bundle root, POSIX; '.' when it is the root. */
  workdir: string;
}

/** Something the bundle will lack that a test needs: packing goes on, the submitter is told. */
export interface BundleWarning {
  code: 'import_missing' | 'import_outside_root';
  /** The importing file, relative to the bundle root, POSIX. */
  file: string;
  /** The import as written. */
  import: string;
  /** The whole sentence, as printed after `warning: `. */
  message: string;
}

export type BundlePlan =
  | { kind: 'skip'; note: string }
  | {
      kind: 'pack';
      root: string;
      manifest: BundleManifest;
      entries: BundleEntry[];
      bytes: number;
      warnings: BundleWarning[];
    };

export interface PackedBundle {
  data: Buffer;
  sha256: string;
  /** Files packed, the manifest included. */
  files: number;
  /** Bytes of file content, the manifest included. */
  bytes: number;
  /** What was packed, sorted by path, the manifest included. */
  listing: { path: string; bytes: number }[];
}

export interface PlanOptions {
  /** The directory the test paths are relative to. */
  cwd: string;
  /** --bundle-root as typed; undefined: the current directory, with only tests and project files. */
  root?: string | undefined;
  maxBytes?: number;
}

/** Files that hold credentials and must never leave the machine: .npmrc and .env*. */
export function isSecretFile(name: string): boolean {
  return name === '.npmrc' || name.startsWith('.env');
}

function toPosix(path: string): string {
  return sep === '/' ? path : path.split(sep).join('/');
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The file's size when `path` is (or links to) a regular file; undefined otherwise. */
async function fileSize(path: string): Promise<number | undefined> {
  const st = await stat(path).catch(() => undefined);
  return st?.isFile() ? st.size : undefined;
}

function missingTest(test: string, cwd: string, hint: string): UsageError {
  return new UsageError(`--test ${test} is not a file in ${cwd}`, { hint });
}

function refuseSecret(test: string): void {
  if (isSecretFile(baseName(test))) {
    throw new UsageError(`--test ${test} is never bundled: .env and .npmrc files hold secrets`, {
      hint: 'submit test files only, or pass --no-bundle',
    });
  }
}

function tooLarge(bytes: number, limit: number, root: string | undefined): UsageError {
  const size = `${formatSize(bytes)} (${bytes} bytes)`;
  const max = `${formatSize(limit)} (${limit} bytes)`;
  if (root === undefined) {
    return new UsageError(`the test bundle would hold ${size} of files, over the limit of ${max}`, {
      hint: 'submit fewer or smaller files, or pass --no-bundle to let agents run their own copy',
    });
  }
  return new UsageError(`--bundle-root ${root} holds ${size} of files, over the bundle limit of ${max}`, {
    hint: 'narrow --bundle-root to the directory with the tests and their config, or pass --no-bundle',
  });
}

/** A warning for each import the bundle cannot honour; `rootFlag` is --bundle-root as typed. */
function importWarnings(
  problems: readonly ImportProblem[],
  root: string,
  rootFlag: string | undefined,
): BundleWarning[] {
  return problems.map(({ kind, file, specifier }) => {
    if (kind === 'missing') {
      return {
        code: 'import_missing',
        file,
        import: specifier,
        message: `${file} imports ${specifier}, which does not exist: the test will fail on the device`,
      };
    }
    const fix = rootFlag === undefined ? 'use --bundle-root=DIR to include it' : 'widen --bundle-root to include it';
    return {
      code: 'import_outside_root',
      file,
      import: specifier,
      message: `${file} imports ${specifier}, outside the bundle root ${root}: it is not packed (${fix})`,
    };
  });
}

/** The tests plus the project files found in `cwd`; no bundle when no test is a local file. */
async function planDefault(tests: readonly string[], cwd: string, maxBytes: number): Promise<BundlePlan> {
  const sizes = await Promise.all(tests.map((test) => fileSize(join(cwd, test))));
  const firstMissing = tests.findIndex((_, i) => sizes[i] === undefined);
  if (firstMissing !== -1 && sizes.every((size) => size === undefined)) {
    return {
      kind: 'skip',
      note: `not bundling test sources: ${tests[firstMissing]} is not a file in ${cwd}; agents run their own copy (--no-bundle to silence)`,
    };
  }
  if (firstMissing !== -1) {
    throw missingTest(
      tests[firstMissing] as string,
      cwd,
      'fix the path, or pass --no-bundle to let agents run their own copy',
    );
  }
  const entries = new Map<string, BundleEntry>();
  tests.forEach((test, i) => {
    refuseSecret(test);
    entries.set(test, { path: test, source: resolve(cwd, test), size: sizes[i] as number });
  });
  // The helpers, page objects and fixtures the tests import, and theirs in turn.
  const scan = await scanImports(cwd, tests.map(toPosix));
  for (const path of [...PROJECT_FILES, ...scan.files]) {
    if (entries.has(path)) continue;
    const size = await fileSize(join(cwd, path));
    if (size !== undefined) entries.set(path, { path, source: join(cwd, path), size });
  }
  const warnings = importWarnings(scan.problems, resolve(cwd), undefined);
  return finish(cwd, { version: 1, workdir: '.' }, [...entries.values()], maxBytes, undefined, warnings);
}

/** Every regular file under `dir` except skipped directories, secrets and our manifest. */
async function walk(root: string, dir: string, out: BundleEntry[]): Promise<void> {
  const dirents = await readdir(dir, { withFileTypes: true });
  for (const dirent of dirents) {
    const source = join(dir, dirent.name);
    if (dirent.isDirectory()) {
      if (!SKIPPED_DIRS.has(dirent.name)) await walk(root, source, out);
      continue;
    }
    if (isSecretFile(dirent.name)) continue;
    // A symlink counts when it points to a file (packed as its content); never followed into a directory.
    if (!dirent.isFile() && !dirent.isSymbolicLink()) continue;
    const size = await fileSize(source);
    if (size === undefined) continue;
    const path = toPosix(relative(root, source));
    if (path === BUNDLE_MANIFEST) continue;
    out.push({ path, source, size });
  }
}

async function planRoot(tests: readonly string[], cwd: string, dir: string, maxBytes: number): Promise<BundlePlan> {
  const given = resolve(cwd, dir);
  const st = await stat(given).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new UsageError(`--bundle-root ${dir} is not a directory`, {
      hint: 'give the directory that holds the tests and their config, e.g. --bundle-root=.',
    });
  }
  const root = await realpath(given);
  const here = await realpath(cwd);
  const workdir = relative(root, here);
  if (workdir === '..' || workdir.startsWith(`..${sep}`) || isAbsolute(workdir)) {
    throw new UsageError(`--bundle-root ${dir} does not contain the current directory ${cwd}`, {
      hint: 'every test must lie inside --bundle-root and test paths are relative to the current directory: run qgjob from inside --bundle-root, or widen it',
    });
  }
  const entries: BundleEntry[] = [];
  const extra: BundleEntry[] = [];
  for (const test of tests) {
    // Inside the current directory (test paths have no '..'), so inside the root as well.
    const source = join(here, test);
    const path = toPosix(relative(root, source));
    const size = await fileSize(source);
    if (size === undefined) {
      throw missingTest(test, cwd, 'every test must exist locally to be bundled: fix the path, or pass --no-bundle');
    }
    refuseSecret(test);
    extra.push({ path, source, size });
  }
  await walk(root, root, entries);
  // Tests the walk did not reach (under node_modules/ or a symlinked directory) go in as well.
  const seen = new Set(entries.map((entry) => entry.path));
  for (const entry of extra) {
    if (!seen.has(entry.path)) {
      seen.add(entry.path);
      entries.push(entry);
    }
  }
  // The walk packed every file under the root; what the tests import from elsewhere, or
  // what does not exist, is still missing on the device.
  const scan = await scanImports(
    root,
    extra.map((entry) => entry.path),
  );
  const warnings = importWarnings(scan.problems, root, dir);
  return finish(root, { version: 1, workdir: toPosix(workdir) || '.' }, entries, maxBytes, dir, warnings);
}

function byPath(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function finish(
  root: string,
  manifest: BundleManifest,
  entries: BundleEntry[],
  maxBytes: number,
  rootFlag: string | undefined,
  warnings: BundleWarning[],
): BundlePlan {
  const bytes = entries.reduce((sum, entry) => sum + entry.size, 0);
  if (bytes > maxBytes) throw tooLarge(bytes, maxBytes, rootFlag);
  entries.sort((a, b) => byPath(a.path, b.path));
  return { kind: 'pack', root, manifest, entries, bytes, warnings };
}

/**
 * What to bundle for `tests` (paths relative to `options.cwd`, as submitted). Throws a
 * UsageError naming the flag to fix: a missing test, a test outside --bundle-root, too much.
 */
export function planBundle(tests: readonly string[], options: PlanOptions): Promise<BundlePlan> {
  const maxBytes = options.maxBytes ?? BUNDLE_MAX_BYTES;
  if (options.root === undefined) return planDefault(tests, options.cwd, maxBytes);
  return planRoot(tests, options.cwd, options.root, maxBytes);
}

/** Packs a plan and its manifest into the deterministic .tar.gz that is uploaded. */
export async function packPlan(
  plan: Extract<BundlePlan, { kind: 'pack' }>,
  options: { maxBytes?: number; rootFlag?: string } = {},
): Promise<PackedBundle> {
  const maxBytes = options.maxBytes ?? BUNDLE_MAX_BYTES;
  const temp = await mkdtemp(join(tmpdir(), 'qgjob-bundle-'));
  try {
    const manifest = join(temp, BUNDLE_MANIFEST);
    const text = JSON.stringify(plan.manifest);
    await writeFile(manifest, text);
    const entries = plan.entries.map(({ path, source }) => ({ path, source }));
    entries.push({ path: BUNDLE_MANIFEST, source: manifest });
    const packed = await packBundle(entries, { maxBytes: maxBytes + Buffer.byteLength(text) });
    const listing = plan.entries.map(({ path, size }) => ({ path, bytes: size }));
    listing.push({ path: BUNDLE_MANIFEST, bytes: Buffer.byteLength(text) });
    listing.sort((a, b) => byPath(a.path, b.path));
    return { ...packed, listing };
  } catch (error) {
    if (error instanceof BundleError && error.code === 'too_large') {
      throw tooLarge(plan.bytes, maxBytes, options.rootFlag);
    }
    const hint =
      error instanceof BundleError
        ? 'rename or leave out that file (narrow --bundle-root), or pass --no-bundle'
        : 'submit again once the files stopped changing, or pass --no-bundle';
    throw new UsageError(`cannot bundle the test sources: ${(error as Error).message}`, { cause: error, hint });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
