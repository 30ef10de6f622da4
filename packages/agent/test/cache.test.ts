/**
 * The artifact cache against blobs served from memory: one download for concurrent users,
 * hash checks on download and on use, bundles unpacked once and re-unpacked when changed
 * (but never under a caller holding them), dependencies installed once per package files
 * and runtime by a fake npm, LRU eviction that spares pinned entries and takes the named
 * links with the blob, and malicious bundles refused without a trace outside the cache.
 * Device slots get private run copies of a bundle (hard links), rebuilt when the bundle is
 * unpacked again and removed with it.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { packBundle } from '@qgjob/bundle';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileEntry, tarGz } from '../../../tests/helpers/raw-tar.js';
import { ArtifactCache, CacheError, type CacheOptions, slotKey } from '../src/cache/index.js';
import type { LogFields, Logger } from '../src/log.js';
import { sleep } from '../src/sleep.js';
import { neverAborted, tempDir, writeScript } from './fakes.js';

const root = tempDir('qgjob-cache-');
const npmLog = join(root.path, 'npm.log');
const savedPath = process.env.PATH;

beforeAll(() => {
  const bin = join(root.path, 'bin');
  mkdirSync(bin);
  writeScript(
    join(bin, 'npm'),
    [
      'echo "$* @ $PWD" >> "$FAKE_NPM_LOG"',
      'if grep -q fail-me package.json; then echo "npm ERR! 404 fail-me is not in this registry" >&2; exit 1; fi',
      'mkdir -p node_modules && touch node_modules/.installed',
    ].join('\n'),
  );
  process.env.PATH = `${bin}:${savedPath}`;
  process.env.FAKE_NPM_LOG = npmLog;
});

afterAll(() => {
  process.env.PATH = savedPath;
  delete process.env.FAKE_NPM_LOG;
  root.remove();
});

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** The deps dir name, by the rule of cache.ts: length-prefixed lockfile, package.json and runtime. */
function depsKey(packageJson: string, lockfile: string | null): string {
  const hash = createHash('sha256');
  const runtime = [process.platform, process.arch, process.versions.node.split('.')[0]!];
  for (const part of [lockfile ?? '', packageJson, ...runtime].map((p) => Buffer.from(p))) {
    hash.update(`${part.length}:`);
    hash.update(part);
  }
  return hash.digest('hex');
}

interface Logged {
  level: string;
  msg: string;
  fields: LogFields;
}

function captureLogger(): { log: Logger; lines: Logged[] } {
  const lines: Logged[] = [];
  const at =
    (level: string) =>
    (msg: string, fields: LogFields = {}) =>
      void lines.push({ level, msg, fields });
  const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
  return { log, lines };
}

/** Blobs served from memory; `served` overrides what is answered for a hash. */
class BlobStore {
  readonly blobs = new Map<string, Buffer>();
  readonly served = new Map<string, Buffer>();
  fetches = 0;

  add(data: Buffer): string {
    const key = sha(data);
    this.blobs.set(key, data);
    return key;
  }

  readonly fetchBlob = async (sha256: string, signal: AbortSignal): Promise<Response> => {
    this.fetches++;
    await sleep(20, signal);
    const data = this.served.get(sha256) ?? this.blobs.get(sha256);
    if (!data) throw new Error(`404: no blob ${sha256}`);
    return new Response(new Uint8Array(data), { headers: { 'content-length': String(data.length) } });
  };
}

let cacheCount = 0;

function setup(options: Partial<CacheOptions> = {}) {
  const store = new BlobStore();
  const { log, lines } = captureLogger();
  const dir = join(root.path, `cache-${++cacheCount}`);
  const cache = new ArtifactCache({ dir, maxBytes: 1 << 30, fetchBlob: store.fetchBlob, log, ...options });
  return { store, cache, dir, lines };
}

/** A real bundle of the given files (path → content). */
async function makeBundle(files: Record<string, string>): Promise<Buffer> {
  const src = join(root.path, `src-${++cacheCount}`);
  const entries = Object.entries(files).map(([path, content]) => {
    const source = join(src, path);
    mkdirSync(dirname(source), { recursive: true });
    writeFileSync(source, content);
    return { path, source };
  });
  return (await packBundle(entries)).data;
}

function maliciousBundle(): Buffer {
  return tarGz(fileEntry('tests/a.spec.js', ''), fileEntry('../evil', 'owned\n'));
}

/** Every path under `dir`, relative. */
function walk(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix + entry.name;
    out.push(rel);
    if (entry.isDirectory()) out.push(...walk(join(dir, entry.name), `${rel}/`));
  }
  return out;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const PACKAGE = JSON.stringify({ name: 'e2e', private: true, devDependencies: { appwright: '^0.1.0' } });
const LOCK_A = JSON.stringify({ name: 'e2e', lockfileVersion: 3, packages: { 'node_modules/appwright': {} } });
const LOCK_B = JSON.stringify({ name: 'e2e', lockfileVersion: 3, packages: { 'node_modules/appwright': { v: 2 } } });

describe('blobs', () => {
  it('downloads once for five concurrent users and verifies the cached copy afterwards', async () => {
    const { store, cache, dir } = setup();
    const data = Buffer.from('app build bytes '.repeat(1000));
    const key = store.add(data);
    const got = await Promise.all(Array.from({ length: 5 }, () => cache.blob(key, neverAborted)));
    expect(store.fetches).toBe(1);
    expect(new Set(got.map((g) => g.path))).toEqual(new Set([join(dir, 'blobs', key)]));
    expect(got.every((g) => g.fetched)).toBe(true);
    expect(readFileSync(got[0]!.path).equals(data)).toBe(true);
    for (const g of got) g.release();

    const again = await cache.blob(key, neverAborted);
    expect(again.fetched).toBe(false);
    expect(store.fetches).toBe(1);
    again.release();
    expect(await cache.size()).toBe(data.length);
  });

  it('fetches a corrupted cached copy again, with a warning', async () => {
    const { store, cache, lines } = setup();
    const data = Buffer.from('the real build');
    const key = store.add(data);
    const first = await cache.blob(key, neverAborted);
    first.release();
    const bytes = readFileSync(first.path);
    bytes[3] = bytes[3]! ^ 0xff;
    writeFileSync(first.path, bytes);

    const second = await cache.blob(key, neverAborted);
    second.release();
    expect(second.fetched).toBe(true);
    expect(store.fetches).toBe(2);
    expect(readFileSync(second.path).equals(data)).toBe(true);
    expect(lines.some((l) => l.level === 'warn' && /corrupted/.test(l.msg))).toBe(true);
  });

  it('refuses bytes that do not match the hash and keeps nothing', async () => {
    const { store, cache, dir } = setup();
    const key = store.add(Buffer.from('what was uploaded'));
    const wrong = Buffer.from('what the server sent instead');
    store.served.set(key, wrong);
    const error = await rejection(cache.blob(key, neverAborted));
    expect(error).toBeInstanceOf(CacheError);
    expect((error as CacheError).code).toBe('hash_mismatch');
    expect((error as Error).message).toContain(`expected ${key}, got ${sha(wrong)}`);
    expect(readdirSync(join(dir, 'blobs'))).toEqual([]);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('refuses a blob larger than maxBlobBytes', async () => {
    const { store, cache, dir } = setup({ maxBlobBytes: 100 });
    const key = store.add(Buffer.alloc(101, 1));
    const error = await rejection(cache.blob(key, neverAborted));
    expect(error).toBeInstanceOf(CacheError);
    expect((error as CacheError).code).toBe('too_large');
    expect(readdirSync(join(dir, 'blobs'))).toEqual([]);
  });

  it('refuses something that is not a hash before touching the disk', async () => {
    const { cache, dir } = setup();
    await expect(cache.blob('../../etc/passwd', neverAborted)).rejects.toThrow(/not a SHA-256/);
    expect(existsSync(dir)).toBe(false);
  });
});

describe('bundles', () => {
  it('unpacks once for concurrent users, runs in the manifest workdir, and re-unpacks a changed file', async () => {
    const { store, cache, dir, lines } = setup();
    const key = store.add(
      await makeBundle({
        '.qgjob-bundle.json': JSON.stringify({ version: 1, workdir: 'e2e' }),
        'e2e/package.json': JSON.stringify({ name: 'e2e', private: true }),
        'e2e/tests/a.spec.js': 'test a\n',
        'shared/util.js': 'util\n',
      }),
    );
    const got = await Promise.all(Array.from({ length: 3 }, () => cache.bundle(key, neverAborted)));
    expect(store.fetches).toBe(1);
    expect(lines.filter((l) => l.msg === 'bundle unpacked')).toHaveLength(1);
    const bundleDir = join(dir, 'bundles', key);
    for (const g of got) {
      expect(g).toMatchObject({ dir: bundleDir, workdir: join(bundleDir, 'e2e'), depsInstalled: false, fetched: true });
      g.release();
    }
    expect(readFileSync(join(bundleDir, 'e2e/tests/a.spec.js'), 'utf8')).toBe('test a\n');
    expect(existsSync(`${bundleDir}.json`)).toBe(true);

    const same = await cache.bundle(key, neverAborted);
    same.release();
    expect(same.fetched).toBe(false);
    expect(lines.filter((l) => l.msg === 'bundle unpacked')).toHaveLength(1);

    writeFileSync(join(bundleDir, 'e2e/tests/a.spec.js'), 'tampered\n');
    const again = await cache.bundle(key, neverAborted);
    again.release();
    expect(readFileSync(join(again.workdir, 'tests/a.spec.js'), 'utf8')).toBe('test a\n');
    expect(lines.filter((l) => l.msg === 'bundle unpacked')).toHaveLength(2);
    expect(lines.some((l) => l.level === 'warn' && l.fields.path === 'e2e/tests/a.spec.js')).toBe(true);
    // The archive stayed in the cache: re-unpacking needs no download.
    expect(store.fetches).toBe(1);
    expect(again.fetched).toBe(false);
  });

  it('never re-unpacks a changed bundle under a caller holding it, and does once all have released it', async () => {
    const { store, cache, dir, lines } = setup();
    const key = store.add(
      await makeBundle({
        '.qgjob-bundle.json': JSON.stringify({ version: 1, workdir: 'e2e' }),
        'e2e/tests/a.spec.js': 'test a\n',
        'e2e/tests/__snapshots__/a.snap': 'old snapshot\n',
      }),
    );
    const unpacks = () => lines.filter((l) => l.msg === 'bundle unpacked').length;
    const first = await cache.bundle(key, neverAborted);
    const second = await cache.bundle(key, neverAborted);
    expect(first.dir).toBe(join(dir, 'bundles', key));
    expect(second.dir).toBe(first.dir);
    expect(unpacks()).toBe(1);

    // The first holder's test is running: it rewrites a tracked snapshot and writes a file of its own.
    const snapshot = join(first.workdir, 'tests/__snapshots__/a.snap');
    writeFileSync(snapshot, 'new snapshot\n');
    const own = join(first.workdir, 'test-results.json');
    writeFileSync(own, '{}\n');

    const third = await cache.bundle(key, neverAborted);
    expect(third).toMatchObject({ dir: first.dir, workdir: first.workdir, fetched: false });
    expect(unpacks()).toBe(1);
    expect(readFileSync(snapshot, 'utf8')).toBe('new snapshot\n');
    expect(existsSync(own)).toBe(true);
    const warning = lines.find((l) => l.level === 'warn' && /changed while in use/.test(l.msg));
    expect(warning?.fields).toMatchObject({ sha256: key, path: 'e2e/tests/__snapshots__/a.snap', holders: 2 });
    expect(lines.some((l) => /unpacking it again/.test(l.msg))).toBe(false);

    // Still held by one: still left alone.
    second.release();
    third.release();
    const fourth = await cache.bundle(key, neverAborted);
    fourth.release();
    expect(unpacks()).toBe(1);
    expect(existsSync(own)).toBe(true);

    first.release();
    const fifth = await cache.bundle(key, neverAborted);
    fifth.release();
    expect(fifth.dir).toBe(first.dir);
    expect(unpacks()).toBe(2);
    expect(readFileSync(snapshot, 'utf8')).toBe('old snapshot\n');
    expect(existsSync(own)).toBe(false);
    expect(lines.some((l) => l.level === 'warn' && /unpacking it again/.test(l.msg))).toBe(true);
    expect(store.fetches).toBe(1);
  });

  it('re-unpacks a changed bundle for concurrent first users (waiting is not holding)', async () => {
    const { store, cache, dir, lines } = setup();
    const key = store.add(await makeBundle({ 'tests/a.spec.js': 'a\n' }));
    (await cache.bundle(key, neverAborted)).release();
    writeFileSync(join(dir, 'bundles', key, 'tests/a.spec.js'), 'tampered\n');
    const got = await Promise.all(Array.from({ length: 3 }, () => cache.bundle(key, neverAborted)));
    for (const g of got) g.release();
    expect(lines.filter((l) => l.msg === 'bundle unpacked')).toHaveLength(2);
    expect(readFileSync(join(dir, 'bundles', key, 'tests/a.spec.js'), 'utf8')).toBe('a\n');
  });

  it('runs a bundle without a manifest in its root', async () => {
    const { store, cache, dir } = setup();
    const key = store.add(await makeBundle({ 'tests/a.spec.js': 'a\n' }));
    const got = await cache.bundle(key, neverAborted);
    got.release();
    expect(got.workdir).toBe(join(dir, 'bundles', key));
  });

  it('installs dependencies once per lockfile and package.json, shared through a node_modules symlink', async () => {
    const { store, cache, dir } = setup();
    const files = (test: string, lock: string) => ({
      '.qgjob-bundle.json': JSON.stringify({ version: 1, workdir: 'e2e' }),
      'e2e/package.json': PACKAGE,
      'e2e/package-lock.json': lock,
      'e2e/tests/a.spec.js': test,
      // Replaced by the shared install.
      'e2e/node_modules/stale/index.js': 'stale\n',
    });
    const a = store.add(await makeBundle(files('a\n', LOCK_A)));
    const b = store.add(await makeBundle(files('b\n', LOCK_A)));
    const c = store.add(await makeBundle(files('c\n', LOCK_B)));
    writeFileSync(npmLog, '');
    const output: string[] = [];
    const [ga, gb] = await Promise.all([
      cache.bundle(a, neverAborted, (_stream, text) => output.push(text)),
      cache.bundle(b, neverAborted),
    ]);
    let installs = readFileSync(npmLog, 'utf8').trim().split('\n');
    expect(installs).toHaveLength(1);
    expect(installs[0]).toMatch(new RegExp(`^ci --no-audit --no-fund @ ${join(dir, 'tmp')}/`));
    expect([ga!.depsInstalled, gb!.depsInstalled]).toContain(true);
    for (const g of [ga!, gb!]) {
      const link = join(g.workdir, 'node_modules');
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(existsSync(join(link, '.installed'))).toBe(true);
      expect(existsSync(join(link, 'stale'))).toBe(false);
      g.release();
    }
    expect(readdirSync(join(dir, 'deps'))).toEqual([depsKey(PACKAGE, LOCK_A)]);

    // Used again: verified as unchanged (the symlink is not a change), nothing installed.
    const again = await cache.bundle(a, neverAborted);
    again.release();
    expect(again.depsInstalled).toBe(false);

    const gc = await cache.bundle(c, neverAborted);
    gc.release();
    expect(gc.depsInstalled).toBe(true);
    installs = readFileSync(npmLog, 'utf8').trim().split('\n');
    expect(installs).toHaveLength(2);
    expect(readdirSync(join(dir, 'deps')).sort()).toEqual([depsKey(PACKAGE, LOCK_A), depsKey(PACKAGE, LOCK_B)].sort());
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('installs apart bundles with the same lockfile but another package.json', async () => {
    const { store, cache, dir } = setup();
    const overridden = JSON.stringify({ ...JSON.parse(PACKAGE), overrides: { appwright: '0.1.1' } });
    const a = store.add(await makeBundle({ 'package.json': PACKAGE, 'package-lock.json': LOCK_A, 'a.spec.js': 'a\n' }));
    const b = store.add(
      await makeBundle({ 'package.json': overridden, 'package-lock.json': LOCK_A, 'a.spec.js': 'a\n' }),
    );
    writeFileSync(npmLog, '');
    const ga = await cache.bundle(a, neverAborted);
    const gb = await cache.bundle(b, neverAborted);
    expect([ga.depsInstalled, gb.depsInstalled]).toEqual([true, true]);
    expect(readFileSync(npmLog, 'utf8').trim().split('\n')).toHaveLength(2);
    expect(readdirSync(join(dir, 'deps')).sort()).toEqual(
      [depsKey(PACKAGE, LOCK_A), depsKey(overridden, LOCK_A)].sort(),
    );
    expect(depsKey(PACKAGE, LOCK_A)).not.toBe(depsKey(overridden, LOCK_A));
    for (const [g, pkg] of [
      [ga, PACKAGE],
      [gb, overridden],
    ] as const) {
      const link = join(g.workdir, 'node_modules');
      expect(resolve(g.workdir, readlinkSync(link))).toBe(join(dir, 'deps', depsKey(pkg, LOCK_A), 'node_modules'));
      expect(existsSync(join(link, '.installed'))).toBe(true);
      g.release();
    }
    // Without a lockfile the key still covers package.json (and the runtime).
    expect(depsKey(PACKAGE, null)).not.toBe(depsKey(PACKAGE, LOCK_A));
  });

  it('derives again the deps key of a bundle unpacked under another rule or runtime', async () => {
    const { store, cache, dir, lines } = setup();
    const key = store.add(
      await makeBundle({ 'package.json': PACKAGE, 'package-lock.json': LOCK_A, 'a.spec.js': 'a\n' }),
    );
    (await cache.bundle(key, neverAborted)).release();
    // As an older agent wrote it: keyed by the lockfile alone, no runtime recorded.
    const markerPath = join(dir, 'bundles', `${key}.json`);
    const marker = JSON.parse(readFileSync(markerPath, 'utf8'));
    expect(marker.deps).toMatchObject({ key: depsKey(PACKAGE, LOCK_A), lockfile: 'package-lock.json' });
    marker.deps.key = sha(Buffer.from(LOCK_A));
    delete marker.deps.runtime;
    writeFileSync(markerPath, JSON.stringify(marker));

    const later = new ArtifactCache({ dir, maxBytes: 1 << 30, fetchBlob: store.fetchBlob, log: captureLogger().log });
    const got = await later.bundle(key, neverAborted);
    got.release();
    expect(got).toMatchObject({ fetched: false, depsInstalled: false });
    expect(JSON.parse(readFileSync(markerPath, 'utf8')).deps.key).toBe(depsKey(PACKAGE, LOCK_A));
    expect(existsSync(join(got.workdir, 'node_modules', '.installed'))).toBe(true);
    expect(lines.filter((l) => l.msg === 'bundle unpacked')).toHaveLength(1);
  });

  it('installs nothing when asked not to (an executor that runs no test code)', async () => {
    const { store, cache, dir } = setup();
    const key = store.add(
      await makeBundle({ 'package.json': PACKAGE, 'package-lock.json': LOCK_A, 'tests/a.spec.js': 'a\n' }),
    );
    writeFileSync(npmLog, '');
    const got = await cache.bundle(key, neverAborted, undefined, { deps: false });
    got.release();
    expect(got.depsInstalled).toBe(false);
    expect(readFileSync(npmLog, 'utf8')).toBe('');
    expect(readdirSync(join(dir, 'deps'))).toEqual([]);
    expect(existsSync(join(got.dir, 'tests/a.spec.js'))).toBe(true);
  });

  it('reports a failed install with its output and keeps nothing of it', async () => {
    const { store, cache, dir } = setup();
    const key = store.add(
      await makeBundle({
        'package.json': JSON.stringify({ name: 'x', dependencies: { 'fail-me': '1.0.0' } }),
        'tests/a.spec.js': 'a\n',
      }),
    );
    const output: string[] = [];
    const error = await rejection(cache.bundle(key, neverAborted, (_s, text) => output.push(text)));
    expect(error).toBeInstanceOf(CacheError);
    expect((error as CacheError).code).toBe('deps_failed');
    expect((error as Error).message).toContain('`npm install --no-audit --no-fund` exited with code 1');
    expect((error as Error).message).toContain('npm ERR! 404 fail-me is not in this registry');
    expect(output.join('')).toContain('fail-me');
    expect(readdirSync(join(dir, 'deps'))).toEqual([]);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('refuses a bundle with a ../ entry and leaves nothing behind', async () => {
    const { store, cache, dir } = setup();
    const before = walk(root.path).filter((p) => !p.startsWith(`cache-${cacheCount}`));
    const key = store.add(maliciousBundle());
    const error = await rejection(cache.bundle(key, neverAborted));
    expect(error).toBeInstanceOf(CacheError);
    expect((error as CacheError).code).toBe('unsafe_path');
    expect((error as Error).message).toContain('unpack refused');
    expect((error as Error).message).toContain('../evil');
    expect(walk(root.path).filter((p) => !p.startsWith(`cache-${cacheCount}`))).toEqual(before);
    expect(walk(root.path).some((p) => p.endsWith('evil'))).toBe(false);
    for (const sub of ['blobs', 'bundles', 'deps', 'tmp']) expect(readdirSync(join(dir, sub))).toEqual([]);
  });

  it('refuses a manifest workdir outside the bundle', async () => {
    const { store, cache, dir } = setup();
    for (const workdir of ['../outside', '/etc']) {
      const key = store.add(
        await makeBundle({ '.qgjob-bundle.json': JSON.stringify({ version: 1, workdir }), 'a.spec.js': 'a\n' }),
      );
      const error = await rejection(cache.bundle(key, neverAborted));
      expect(error).toBeInstanceOf(CacheError);
      expect((error as Error).message).toContain('is refused');
    }
    expect(readdirSync(join(dir, 'bundles'))).toEqual([]);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });
});

describe('eviction', () => {
  const blobOf = (n: number) => Buffer.alloc(1000, n);

  it('deletes the least recently used unpinned blob', async () => {
    const { store, cache, dir } = setup({ maxBytes: 2500 });
    const [a, b, c] = [1, 2, 3].map((n) => store.add(blobOf(n)));
    for (const key of [a!, b!, a!]) (await cache.blob(key, neverAborted)).release();
    const held = await cache.blob(c!, neverAborted);
    // The download of c evicted b, used longest ago; a was used after it.
    expect(readdirSync(join(dir, 'blobs')).sort()).toEqual([a!, c!].sort());
    expect(await cache.size()).toBe(2000);
    held.release();
    expect(await cache.evict()).toEqual({ removed: 0, bytes: 0 });
  });

  it('exposes its root, removes the named links of an evicted blob, and counts no named link', async () => {
    const { store, cache, dir } = setup({ maxBytes: 1500 });
    expect(cache.dir).toBe(resolve(dir));
    const [a, b] = [1, 2].map((n) => store.add(blobOf(n)));
    // What the provisioner does: <dir>/named/<sha256>/<filename> → blobs/<sha256>.
    const name = async (key: string, filename: string) => {
      const got = await cache.blob(key, neverAborted);
      mkdirSync(join(cache.dir, 'named', key), { recursive: true });
      symlinkSync(got.path, join(cache.dir, 'named', key, filename));
      return got;
    };
    (await name(a!, 'app.apk')).release();
    expect(await cache.size()).toBe(1000);
    const held = await name(b!, 'other.apk');
    // b's download evicted a: its named dir went with it.
    expect(readdirSync(join(dir, 'blobs'))).toEqual([b]);
    expect(readdirSync(join(dir, 'named'))).toEqual([b]);
    expect(existsSync(join(dir, 'named', b!, 'other.apk'))).toBe(true);
    expect(await cache.size()).toBe(1000);
    held.release();

    // Even a regular file put under named/ does not count.
    writeFileSync(join(dir, 'named', b!, 'copy.apk'), blobOf(9));
    expect(await cache.size()).toBe(1000);
    expect(await cache.evict()).toEqual({ removed: 0, bytes: 0 });
  });

  it('never deletes a pinned entry, and pinned bundles pin their dependencies', async () => {
    const { store, cache, dir } = setup({ maxBytes: 1 });
    const a = store.add(blobOf(1));
    const b = store.add(blobOf(2));
    const held = await cache.blob(a, neverAborted);
    (await cache.blob(b, neverAborted)).release();
    // b was pinned by its user while its own download evicted: it goes on the next pass.
    expect(readdirSync(join(dir, 'blobs')).sort()).toEqual([a, b].sort());
    expect(await cache.evict()).toEqual({ removed: 1, bytes: 1000 });
    expect(readdirSync(join(dir, 'blobs'))).toEqual([a]);

    const bundleKey = store.add(
      await makeBundle({ 'package.json': PACKAGE, 'package-lock.json': LOCK_A, 'tests/a.spec.js': 'a\n' }),
    );
    const bundle = await cache.bundle(bundleKey, neverAborted);
    await cache.evict();
    expect(readdirSync(join(dir, 'bundles')).sort()).toEqual([bundleKey, `${bundleKey}.json`].sort());
    expect(readdirSync(join(dir, 'deps'))).toEqual([depsKey(PACKAGE, LOCK_A)]);
    expect(readdirSync(join(dir, 'blobs'))).toEqual([a]);

    held.release();
    bundle.release();
    const result = await cache.evict();
    expect(result.removed).toBe(3);
    expect(await cache.size()).toBe(0);
    for (const sub of ['blobs', 'bundles', 'deps']) expect(readdirSync(join(dir, sub))).toEqual([]);

    // Evicted dependencies come back on the next use.
    const back = await cache.bundle(bundleKey, neverAborted);
    back.release();
    expect(back).toMatchObject({ fetched: true, depsInstalled: true });
    expect(existsSync(join(back.workdir, 'node_modules', '.installed'))).toBe(true);
  });
});

describe('run copies', () => {
  const files = {
    '.qgjob-bundle.json': JSON.stringify({ version: 1, workdir: 'e2e' }),
    'e2e/playwright.config.js': 'config\n',
    'e2e/tests/a.spec.js': 'test a\n',
    'shared/util.js': 'util\n',
  };
  const ino = (path: string) => lstatSync(path).ino;

  it('makes the slot key file-name safe, readable and distinct', () => {
    expect(slotKey('browserstack:bs-1')).toMatch(/^browserstack_bs-1-[0-9a-f]{12}$/);
    expect(slotKey('browserstack:bs-1')).not.toBe(slotKey('browserstack/bs-1'));
    expect(slotKey('../..')).toMatch(/^_\._\.\.-[0-9a-f]{12}$/);
    expect(slotKey('')).toMatch(/^[0-9a-f]{12}$/);
    expect(slotKey('x'.repeat(500))).toHaveLength(40 + 1 + 12);
  });

  it('gives each slot its own copy of hard links, and keeps what its tests wrote', async () => {
    const { store, cache, dir, lines } = setup();
    const key = store.add(await makeBundle(files));
    const bundleDir = join(dir, 'bundles', key);
    const [one, two] = await Promise.all([
      cache.bundle(key, neverAborted, undefined, { slot: 'browserstack:bs-1' }),
      cache.bundle(key, neverAborted, undefined, { slot: 'browserstack:bs-2' }),
    ]);
    expect(store.fetches).toBe(1);
    expect(lines.filter((l) => l.msg === 'bundle unpacked')).toHaveLength(1);
    expect(one!.dir).toBe(join(dir, 'runs', slotKey('browserstack:bs-1'), key));
    expect(two!.dir).toBe(join(dir, 'runs', slotKey('browserstack:bs-2'), key));
    expect(one!.workdir).toBe(join(one!.dir, 'e2e'));
    expect(two!.workdir).toBe(join(two!.dir, 'e2e'));
    for (const g of [one!, two!]) {
      expect(walk(g.dir).sort()).toEqual(walk(bundleDir).sort());
      for (const path of Object.keys(files)) {
        expect(readFileSync(join(g.dir, path), 'utf8')).toBe(files[path as keyof typeof files]);
        expect(ino(join(g.dir, path))).toBe(ino(join(bundleDir, path)));
      }
    }

    // A test run in slot 1 writes its output: nobody else sees it.
    mkdirSync(join(one!.workdir, 'test-results'));
    writeFileSync(join(one!.workdir, 'test-results/x'), 'output of slot 1\n');
    expect(existsSync(join(two!.workdir, 'test-results'))).toBe(false);
    expect(existsSync(join(bundleDir, 'e2e/test-results'))).toBe(false);
    // Not counted: the links share bytes with bundles/, the output is not accounted for.
    const size = await cache.size();
    writeFileSync(join(one!.workdir, 'test-results/big'), Buffer.alloc(100_000));
    expect(await cache.size()).toBe(size);
    one!.release();
    two!.release();

    // Used again by the same slot: the same copy, its output still there, nothing rebuilt.
    const made = lines.filter((l) => l.msg === 'bundle run copy made').length;
    const again = await cache.bundle(key, neverAborted, undefined, { slot: 'browserstack:bs-1' });
    again.release();
    expect(again).toMatchObject({ dir: one!.dir, workdir: one!.workdir, fetched: false });
    expect(readFileSync(join(again.workdir, 'test-results/x'), 'utf8')).toBe('output of slot 1\n');
    expect(lines.filter((l) => l.msg === 'bundle run copy made')).toHaveLength(made);

    // Without a slot: the cached bundle itself, as before.
    const plain = await cache.bundle(key, neverAborted);
    plain.release();
    expect(plain).toMatchObject({ dir: bundleDir, workdir: join(bundleDir, 'e2e') });
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('rebuilds a copy that lost a listed file, throwing its output away', async () => {
    const { store, cache } = setup();
    const key = store.add(await makeBundle(files));
    const first = await cache.bundle(key, neverAborted, undefined, { slot: 'emulator:a' });
    first.release();
    writeFileSync(join(first.workdir, 'out.txt'), 'output\n');
    rmSync(join(first.workdir, 'tests/a.spec.js'));
    const second = await cache.bundle(key, neverAborted, undefined, { slot: 'emulator:a' });
    second.release();
    expect(second.workdir).toBe(first.workdir);
    expect(readFileSync(join(second.workdir, 'tests/a.spec.js'), 'utf8')).toBe('test a\n');
    expect(existsSync(join(second.workdir, 'out.txt'))).toBe(false);
  });

  it('a file changed in place through a copy: the bundle is unpacked again and the copies rebuilt', async () => {
    const { store, cache, dir, lines } = setup();
    const key = store.add(await makeBundle(files));
    const bundleDir = join(dir, 'bundles', key);
    const unpacks = () => lines.filter((l) => l.msg === 'bundle unpacked').length;
    const one = await cache.bundle(key, neverAborted, undefined, { slot: 'bs-1' });
    const two = await cache.bundle(key, neverAborted, undefined, { slot: 'bs-2' });
    // Slot 1's test rewrites a tracked file in place (same inode: the cached copy changes too).
    const spec = join(one.workdir, 'tests/a.spec.js');
    const before = ino(spec);
    writeFileSync(spec, 'rewritten\n');
    expect(ino(spec)).toBe(before);
    expect(readFileSync(join(bundleDir, 'e2e/tests/a.spec.js'), 'utf8')).toBe('rewritten\n');
    writeFileSync(join(one.workdir, 'test-results.json'), '{}\n');

    // Slot 2 still holds the bundle: handed out as it is, nothing rebuilt.
    one.release();
    const held = await cache.bundle(key, neverAborted, undefined, { slot: 'bs-1' });
    held.release();
    expect(unpacks()).toBe(1);
    expect(readFileSync(join(held.workdir, 'tests/a.spec.js'), 'utf8')).toBe('rewritten\n');
    expect(existsSync(join(held.workdir, 'test-results.json'))).toBe(true);
    two.release();

    // Nobody holds it: unpacked again (new inodes), and slot 1's copy rebuilt from it.
    const after = await cache.bundle(key, neverAborted, undefined, { slot: 'bs-1' });
    expect(unpacks()).toBe(2);
    expect(after.workdir).toBe(one.workdir);
    expect(readFileSync(join(after.workdir, 'tests/a.spec.js'), 'utf8')).toBe('test a\n');
    expect(existsSync(join(after.workdir, 'test-results.json'))).toBe(false);
    expect(ino(join(after.workdir, 'tests/a.spec.js'))).toBe(ino(join(bundleDir, 'e2e/tests/a.spec.js')));
    expect(ino(join(after.workdir, 'tests/a.spec.js'))).not.toBe(before);
    const rebuilt = lines.find((l) => l.msg === 'bundle run copy made' && l.fields.reason !== undefined);
    expect(rebuilt?.fields).toMatchObject({ sha256: key, slot: slotKey('bs-1') });

    // Slot 2's copy still links to the old files: rebuilt on its next use too, even while slot 1 holds the bundle.
    const twoAgain = await cache.bundle(key, neverAborted, undefined, { slot: 'bs-2' });
    expect(unpacks()).toBe(2);
    expect(twoAgain.workdir).toBe(two.workdir);
    expect(readFileSync(join(twoAgain.workdir, 'tests/a.spec.js'), 'utf8')).toBe('test a\n');
    expect(ino(join(twoAgain.workdir, 'tests/a.spec.js'))).toBe(ino(join(bundleDir, 'e2e/tests/a.spec.js')));
    after.release();
    twoAgain.release();
  });

  it('links the copy to the installed dependencies, and only when they are used', async () => {
    const { store, cache, dir } = setup();
    const key = store.add(
      await makeBundle({
        '.qgjob-bundle.json': JSON.stringify({ version: 1, workdir: 'e2e' }),
        'e2e/package.json': PACKAGE,
        'e2e/package-lock.json': LOCK_A,
        'e2e/tests/a.spec.js': 'a\n',
      }),
    );
    writeFileSync(npmLog, '');
    const [one, two] = await Promise.all([
      cache.bundle(key, neverAborted, undefined, { slot: 'bs-1' }),
      cache.bundle(key, neverAborted, undefined, { slot: 'bs-2' }),
    ]);
    expect(readFileSync(npmLog, 'utf8').trim().split('\n')).toHaveLength(1);
    const deps = join(dir, 'deps', depsKey(PACKAGE, LOCK_A), 'node_modules');
    for (const g of [one!, two!]) {
      const link = join(g.workdir, 'node_modules');
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(resolve(g.workdir, readlinkSync(link))).toBe(deps);
      expect(existsSync(join(link, '.installed'))).toBe(true);
      expect(ino(join(g.workdir, 'package.json'))).toBe(ino(join(dir, 'bundles', key, 'e2e/package.json')));
      g.release();
    }
    // A removed link is put back on the next use, the copy kept.
    rmSync(join(one!.workdir, 'node_modules'));
    writeFileSync(join(one!.workdir, 'kept'), '');
    const again = await cache.bundle(key, neverAborted, undefined, { slot: 'bs-1' });
    again.release();
    expect(existsSync(join(again.workdir, 'node_modules', '.installed'))).toBe(true);
    expect(existsSync(join(again.workdir, 'kept'))).toBe(true);

    const bare = await cache.bundle(key, neverAborted, undefined, { slot: 'simulated', deps: false });
    bare.release();
    expect(existsSync(join(bare.workdir, 'tests/a.spec.js'))).toBe(true);
    expect(() => lstatSync(join(bare.workdir, 'node_modules'))).toThrow(/ENOENT/);
  });

  it('removes the slot copies with their bundle, and copies whose bundle is gone', async () => {
    const { store, cache, dir } = setup({ maxBytes: 1 });
    const key = store.add(await makeBundle(files));
    const slots = ['bs-1', 'bs-2'];
    const got = await Promise.all(slots.map((slot) => cache.bundle(key, neverAborted, undefined, { slot })));
    writeFileSync(join(got[0]!.workdir, 'out.txt'), 'output\n');
    // Pinned: the bundle and its copies stay.
    await cache.evict();
    expect(readdirSync(join(dir, 'bundles')).sort()).toEqual([key, `${key}.json`].sort());
    for (const slot of slots) expect(readdirSync(join(dir, 'runs', slotKey(slot)))).toEqual([key]);
    for (const g of got) g.release();

    const result = await cache.evict();
    expect(result.removed).toBeGreaterThanOrEqual(1);
    expect(readdirSync(join(dir, 'bundles'))).toEqual([]);
    for (const slot of slots) expect(readdirSync(join(dir, 'runs', slotKey(slot)))).toEqual([]);
    expect(await cache.size()).toBe(0);

    // Back on the next use, fresh.
    const back = await cache.bundle(key, neverAborted, undefined, { slot: 'bs-1' });
    back.release();
    expect(back.fetched).toBe(true);
    expect(readFileSync(join(back.workdir, 'tests/a.spec.js'), 'utf8')).toBe('test a\n');
    expect(existsSync(join(back.workdir, 'out.txt'))).toBe(false);

    // A copy that outlived its bundle (a removal stopped half way) goes on the next eviction.
    const roomy = new ArtifactCache({ dir, maxBytes: 1 << 30, fetchBlob: store.fetchBlob, log: captureLogger().log });
    rmSync(join(dir, 'bundles', `${key}.json`));
    rmSync(join(dir, 'bundles', key), { recursive: true });
    await roomy.evict();
    expect(readdirSync(join(dir, 'runs', slotKey('bs-1')))).toEqual([]);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });
});

describe('sharing', () => {
  it('goes on for the others when one user gives up, and stops when the last one does', async () => {
    const { store, cache, dir } = setup();
    const key = store.add(Buffer.alloc(10_000, 7));
    const quitter = new AbortController();
    const first = cache.blob(key, quitter.signal);
    const second = cache.blob(key, neverAborted);
    quitter.abort(new Error('device loop stopped'));
    await expect(first).rejects.toThrow('device loop stopped');
    const got = await second;
    got.release();
    expect(store.fetches).toBe(1);
    expect(readFileSync(got.path).equals(Buffer.alloc(10_000, 7))).toBe(true);

    const other = store.add(Buffer.from('never needed'));
    const alone = new AbortController();
    const pending = cache.blob(other, alone.signal);
    alone.abort(new Error('gone'));
    await expect(pending).rejects.toThrow('gone');
    await sleep(100);
    expect(existsSync(join(dir, 'blobs', other))).toBe(false);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('keeps two agents sharing one directory consistent', async () => {
    const { store, cache, dir } = setup();
    const other = new ArtifactCache({ dir, maxBytes: 1 << 30, fetchBlob: store.fetchBlob, log: captureLogger().log });
    const key = store.add(
      await makeBundle({ 'package.json': PACKAGE, 'package-lock.json': LOCK_B, 'tests/a.spec.js': 'a\n' }),
    );
    const got = await Promise.all([cache.bundle(key, neverAborted), other.bundle(key, neverAborted)]);
    for (const g of got) {
      expect(g.dir).toBe(join(dir, 'bundles', key));
      expect(readFileSync(join(g.workdir, 'tests/a.spec.js'), 'utf8')).toBe('a\n');
      expect(existsSync(join(g.workdir, 'node_modules', '.installed'))).toBe(true);
      g.release();
    }
    expect(readdirSync(join(dir, 'deps'))).toEqual([depsKey(PACKAGE, LOCK_B)]);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    // Either agent finds the other's work complete.
    const again = await other.bundle(key, neverAborted);
    again.release();
    expect(again).toMatchObject({ fetched: false, depsInstalled: false });
  });
});
