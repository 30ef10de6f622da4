/**
 * Tests of the bundle format: round trips, determinism, and refusal of hostile archives
 * (path traversal, links, special files, duplicates, decompression bombs, damage), with
 * checks that nothing was written outside the destination.
 */
import { existsSync } from 'node:fs';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { END, fileEntry, paxHeader, rawHeader, tarGz } from '../../../tests/helpers/raw-tar.js';
import {
  BundleError,
  isSafeBundlePath,
  type PackEntry,
  packBundle,
  sha256File,
  type UnpackLimits,
  unpackBundle,
  verifyTree,
} from '../src/index.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const scratch: string[] = [];
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `qgjob-bundle-${prefix}-`));
  scratch.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

// --- helpers ---

async function writeTree(root: string, files: Record<string, string | Buffer>): Promise<PackEntry[]> {
  const entries: PackEntry[] = [];
  for (const [path, content] of Object.entries(files)) {
    const source = join(root, ...path.split('/'));
    await mkdir(dirname(source), { recursive: true });
    await writeFile(source, content);
    entries.push({ path, source });
  }
  return entries;
}

async function listTree(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    const rel = full.slice(base.length + 1);
    if (entry.isDirectory()) out.push(`${rel}/`, ...(await listTree(full, base)));
    else out.push(entry.isSymbolicLink() ? `${rel}@` : rel);
  }
  return out.sort();
}

async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

async function caught(promise: Promise<unknown>): Promise<BundleError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BundleError);
  return err as BundleError;
}

/**
 * Unpacks `archive` into a fresh `dest` under a fresh temp dir, expects a BundleError with
 * `code`, and checks that nothing appeared beside `dest` and no link was made inside it.
 */
async function expectRefused(
  archive: Buffer,
  code: BundleError['code'],
  limits?: Partial<UnpackLimits>,
): Promise<{ err: BundleError; root: string; dest: string }> {
  const root = await tempDir('evil');
  const dest = join(root, 'dest');
  await mkdir(dest);
  const file = join(root, 'archive.tar.gz');
  await writeFile(file, archive);
  const before = await listTree(root);
  const err = await caught(unpackBundle(file, dest, limits));
  expect(err.code, err.message).toBe(code);
  const after = (await listTree(root)).filter((p) => p === 'dest/' || !p.startsWith('dest/'));
  expect(after).toEqual(before);
  expect((await listTree(dest)).filter((p) => p.endsWith('@'))).toEqual([]);
  return { err, root, dest };
}

// --- tests ---

describe('isSafeBundlePath', () => {
  it('accepts relative POSIX paths', () => {
    for (const p of ['a', 'a/b.txt', 'tests/login.spec.ts', 'ü/日本.txt', 'a..b/c.', '.hidden/x', 'x'.repeat(1024)]) {
      expect(isSafeBundlePath(p), p).toBe(true);
    }
  });

  it('refuses everything that could escape or is ambiguous', () => {
    const bad = [
      '',
      '/abs',
      '../x',
      'a/../b',
      'a/..',
      './a',
      'a/./b',
      'a//b',
      'a/',
      'a\\b',
      '..\\x',
      'C:/x',
      'c:x',
      'a\0b',
      'a\nb',
      'a\u007fb',
      'x'.repeat(1025),
      'a\ud800b',
    ];
    for (const p of bad) expect(isSafeBundlePath(p), JSON.stringify(p)).toBe(false);
  });
});

describe('packBundle and unpackBundle', () => {
  const long100 = `${'d'.repeat(60)}/${'e'.repeat(60)}.txt`;
  const long155 = `${'x'.repeat(80)}/${'y'.repeat(80)}/${'z'.repeat(80)}.txt`;
  const longName = `${'n'.repeat(120)}.txt`;
  const tree: Record<string, string | Buffer> = {
    'README.md': '# tests\n',
    'tests/login.spec.ts': 'test("login", () => {});\n',
    'tests/deep/nested/dir/data.bin': Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251)),
    'bin/run.sh': '#!/bin/sh\necho run\n',
    'empty.txt': '',
    'ü/日本.txt': 'unicode\n',
    [long100]: 'over 100\n',
    [long155]: 'over 155\n',
    [longName]: 'long single name\n',
  };

  it('round-trips nested files, long paths, the execute bit and symlinked sources', async () => {
    expect(long100.length).toBeGreaterThan(100);
    expect(long155.length).toBeGreaterThan(155);
    const src = await tempDir('src');
    const entries = await writeTree(src, tree);
    await chmod(join(src, 'bin', 'run.sh'), 0o755);
    await writeFile(join(src, 'target.txt'), 'through a link\n');
    await symlink(join(src, 'target.txt'), join(src, 'link.txt'));
    entries.push({ path: 'linked.txt', source: join(src, 'link.txt') });

    const packed = await packBundle(entries);
    expect(packed.files).toBe(entries.length);
    expect(packed.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(packed.data[9]).toBe(255);
    expect(packed.data.readUInt32LE(4)).toBe(0);
    const expectedBytes = Object.values(tree).reduce((sum, c) => sum + Buffer.byteLength(c), 0) + 15;
    expect(packed.bytes).toBe(expectedBytes);

    const root = await tempDir('out');
    const archive = join(root, 'bundle.tar.gz');
    await writeFile(archive, packed.data);
    const dest = join(root, 'dest');
    await mkdir(dest);
    const result = await unpackBundle(archive, dest);
    expect(result.bytes).toBe(expectedBytes);
    expect(result.files.map((f) => f.path).sort()).toEqual([...Object.keys(tree), 'linked.txt'].sort());

    for (const [path, content] of Object.entries(tree)) {
      const out = await readFile(join(dest, ...path.split('/')));
      expect(out.equals(Buffer.from(content)), path).toBe(true);
    }
    expect(await readFile(join(dest, 'linked.txt'), 'utf8')).toBe('through a link\n');
    expect((await lstat(join(dest, 'linked.txt'))).isFile()).toBe(true);
    expect((await stat(join(dest, 'bin', 'run.sh'))).mode & 0o100).toBe(0o100);
    expect((await stat(join(dest, 'README.md'))).mode & 0o111).toBe(0);

    for (const file of result.files) {
      expect(file.sha256).toBe(await sha256File(join(dest, ...file.path.split('/'))));
    }
    expect(await verifyTree(dest, result.files)).toEqual({ ok: true });
  });

  it('is deterministic: same content gives the same bytes whatever the order, times and permissions', async () => {
    const a = await tempDir('det-a');
    const b = await tempDir('det-b');
    const entriesA = await writeTree(a, tree);
    const entriesB = (await writeTree(b, tree)).reverse();
    await chmod(join(a, 'bin', 'run.sh'), 0o755);
    await chmod(join(b, 'bin', 'run.sh'), 0o700);
    await chmod(join(b, 'README.md'), 0o600);
    for (const [i, entry] of entriesB.entries()) await utimes(entry.source, 1_000_000 + i, 2_000_000 + i);

    const first = await packBundle(entriesA);
    const second = await packBundle(entriesB);
    expect(second.sha256).toBe(first.sha256);
    expect(second.data.equals(first.data)).toBe(true);

    await writeFile(join(b, 'README.md'), '# tests!\n');
    const third = await packBundle(entriesB);
    expect(third.sha256).not.toBe(first.sha256);

    await chmod(join(b, 'README.md'), 0o644);
    await writeFile(join(b, 'README.md'), '# tests\n');
    await chmod(join(b, 'bin', 'run.sh'), 0o644);
    const fourth = await packBundle(entriesB);
    expect(fourth.sha256).not.toBe(first.sha256);
  });

  it('refuses bad pack input', async () => {
    const src = await tempDir('packbad');
    const [entry] = await writeTree(src, { 'a.txt': 'a' });
    const a = entry!;
    await mkdir(join(src, 'dir'));

    expect((await caught(packBundle([{ path: '../a.txt', source: a.source }]))).code).toBe('unsafe_path');
    expect((await caught(packBundle([{ path: 'a\\b', source: a.source }]))).code).toBe('unsafe_path');
    expect((await caught(packBundle([a, { ...a }]))).code).toBe('duplicate');
    expect((await caught(packBundle([a, { path: 'a.txt/b', source: a.source }]))).code).toBe('duplicate');
    const special = await caught(packBundle([{ path: 'dir', source: join(src, 'dir') }]));
    expect(special.code).toBe('special_file');
    expect(special.message).toContain('directory');

    const big = await writeTree(src, { 'big.bin': Buffer.alloc(2000), 'small.bin': Buffer.alloc(100) });
    const tooLarge = await caught(packBundle(big, { maxBytes: 2048 }));
    expect(tooLarge.code).toBe('too_large');
    expect(tooLarge.message).toContain('2100 bytes');
    expect(tooLarge.message).toContain('2048 bytes');
    expect((await packBundle(big, { maxBytes: 2100 })).bytes).toBe(2100);
  });

  it('refuses a destination that is not empty', async () => {
    const root = await tempDir('notempty');
    await writeFile(join(root, 'existing'), 'x');
    const archive = join(root, 'b.tar.gz');
    await writeFile(archive, tarGz(fileEntry('a.txt', 'a')));
    await expect(unpackBundle(archive, root)).rejects.toThrow(/not empty/);
  });
});

describe('unpackBundle refuses hostile archives', () => {
  it('unpacks a hand-built archive with prefix, pax path and base-256 size', async () => {
    const root = await tempDir('raw');
    const dest = join(root, 'dest');
    await mkdir(dest);
    const archive = join(root, 'b.tar.gz');
    await writeFile(
      archive,
      tarGz(
        rawHeader({ name: 'dir/', type: '5', mode: 0o755 }),
        fileEntry('file.txt', 'prefixed', { prefix: 'dir' }),
        paxHeader({ path: 'pax/path.txt', mtime: '1.5' }),
        fileEntry('ignored-name', 'pax'),
        fileEntry('b256.txt', 'base256', { base256: true }),
      ),
    );
    const result = await unpackBundle(archive, dest);
    expect(result.files.map((f) => f.path)).toEqual(['dir/file.txt', 'pax/path.txt', 'b256.txt']);
    expect(await readFile(join(dest, 'dir', 'file.txt'), 'utf8')).toBe('prefixed');
    expect(await readFile(join(dest, 'pax', 'path.txt'), 'utf8')).toBe('pax');
    expect(await readFile(join(dest, 'b256.txt'), 'utf8')).toBe('base256');
  });

  it('refuses ../evil.txt', async () => {
    const { err, root } = await expectRefused(tarGz(fileEntry('../evil.txt', 'pwned')), 'unsafe_path');
    expect(err.entry).toBe('../evil.txt');
    expect(err.message).toContain('../evil.txt');
    expect(existsSync(join(root, 'evil.txt'))).toBe(false);
  });

  it('refuses a/../../evil', async () => {
    const { root } = await expectRefused(tarGz(fileEntry('a/../../evil', 'pwned')), 'unsafe_path');
    expect(existsSync(join(root, 'evil'))).toBe(false);
  });

  it('refuses an absolute path', async () => {
    const target = join(tmpdir(), `abs-evil-${process.pid}-${Date.now()}`);
    await expectRefused(tarGz(fileEntry(target, 'pwned')), 'unsafe_path');
    expect(existsSync(target)).toBe(false);
  });

  it('refuses ../x in a pax path record behind a harmless ustar name', async () => {
    const { root } = await expectRefused(tarGz(paxHeader({ path: '../x' }), fileEntry('x', 'pwned')), 'unsafe_path');
    expect(existsSync(join(root, 'x'))).toBe(false);
  });

  it('refuses ../ in the ustar prefix and backslash paths', async () => {
    await expectRefused(tarGz(fileEntry('evil', 'pwned', { prefix: '..' })), 'unsafe_path');
    await expectRefused(tarGz(fileEntry('..\\evil', 'pwned')), 'unsafe_path');
  });

  it('refuses a symlink, before anything can be written through it', async () => {
    const { err, dest } = await expectRefused(
      tarGz(
        rawHeader({ name: 'link', type: '2', linkname: '/etc' }),
        fileEntry('link/passwd', 'root::0:0::/:/bin/sh\n'),
      ),
      'link',
    );
    expect(err.message).toContain('symbolic link');
    expect(err.message).toContain('/etc');
    expect(await readdir(dest)).toEqual([]);
  });

  it('refuses a hard link', async () => {
    const { err, dest } = await expectRefused(
      tarGz(fileEntry('a.txt', 'a'), rawHeader({ name: 'hard', type: '1', linkname: 'a.txt' })),
      'link',
    );
    expect(err.message).toContain('hard link');
    expect(existsSync(join(dest, 'hard'))).toBe(false);
  });

  it('refuses FIFOs, devices and unknown entry types', async () => {
    const { err } = await expectRefused(tarGz(rawHeader({ name: 'fifo', type: '6' })), 'special_file');
    expect(err.message).toContain('FIFO');
    await expectRefused(tarGz(rawHeader({ name: 'tty', type: '3' })), 'special_file');
    await expectRefused(tarGz(rawHeader({ name: 'disk', type: '4' })), 'special_file');
    await expectRefused(tarGz(rawHeader({ name: '././@LongLink', type: 'L', size: 0 })), 'special_file');
  });

  it('refuses duplicate paths and file/directory collisions', async () => {
    await expectRefused(tarGz(fileEntry('a.txt', '1'), fileEntry('a.txt', '2')), 'duplicate');
    await expectRefused(tarGz(fileEntry('a', '1'), fileEntry('a/b', '2')), 'duplicate');
    await expectRefused(tarGz(rawHeader({ name: 'd/', type: '5' }), fileEntry('d', 'x')), 'duplicate');
    await expectRefused(tarGz(fileEntry('d/x', '1'), fileEntry('d', 'x')), 'duplicate');
    await expectRefused(tarGz(fileEntry('f', '1'), rawHeader({ name: 'f/', type: '5' })), 'duplicate');
  });

  it('refuses more entries than maxFiles', async () => {
    const files = Array.from({ length: 5 }, (_, i) => fileEntry(`f${i}.txt`, `${i}`));
    const { dest } = await expectRefused(tarGz(...files), 'too_many_files', { maxFiles: 3 });
    expect((await readdir(dest)).length).toBeLessThanOrEqual(3);
  });

  it('refuses an archive over maxArchiveBytes', async () => {
    await expectRefused(tarGz(fileEntry('a.bin', Buffer.alloc(10_000, 1))), 'too_large', { maxArchiveBytes: 20 });
  });

  it('refuses truncated, garbled and checksum-damaged archives', async () => {
    const src = await tempDir('trunc');
    const entries = await writeTree(src, {
      'a.bin': Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) % 253)),
    });
    const packed = await packBundle(entries);
    const { err } = await expectRefused(packed.data.subarray(0, Math.floor(packed.data.length / 2)), 'corrupt');
    expect(err.message).toMatch(/gzip|truncated/);

    // Valid gzip around a tar cut short in the middle of a file or before its end marker.
    const cut = gzipSync(Buffer.concat([rawHeader({ name: 'a.txt', size: 1000 }), Buffer.alloc(100)]));
    expect((await expectRefused(cut, 'corrupt')).err.message).toContain('a.txt');
    await expectRefused(gzipSync(fileEntry('a.txt', 'a')), 'corrupt');

    await expectRefused(tarGz(fileEntry('a.txt', 'a', { badChecksum: true })), 'corrupt');
    await expectRefused(Buffer.from('this is not a gzip file at all'), 'corrupt');
    const flipped = Buffer.from(packed.data);
    const at = flipped.length - 20;
    flipped.writeUInt8(flipped.readUInt8(at) ^ 0xff, at);
    await expectRefused(flipped, 'corrupt');
  });
});

describe('decompression bombs', () => {
  const LIMIT = 32 * MiB;
  let zeros64: Buffer;
  let zeros1: Buffer;

  beforeAll(() => {
    // Concatenated gzip members decompress as one stream: 160 copies of one 64 MiB member
    // of zeros is 10 GiB of output from about 10 MB of archive.
    zeros64 = gzipSync(Buffer.alloc(64 * MiB), { level: 9 });
    zeros1 = gzipSync(Buffer.alloc(1 * MiB), { level: 9 });
  });

  function bomb(head: Buffer): Buffer {
    return Buffer.concat([gzipSync(head), ...Array.from({ length: 160 }, () => zeros64)]);
  }

  it('refuses a 10 GiB file declared with a pax size record', async () => {
    const archive = bomb(Buffer.concat([paxHeader({ size: String(10 * GiB) }), rawHeader({ name: 'bomb.bin' })]));
    expect(archive.length).toBeLessThan(12 * MiB);
    const started = performance.now();
    const { err, dest } = await expectRefused(archive, 'too_large', { maxBytes: LIMIT });
    console.info(`pax 10 GiB bomb refused in ${Math.round(performance.now() - started)} ms`);
    expect(err.entry).toBe('bomb.bin');
    expect(err.message).toContain('10 GiB');
    expect(await treeBytes(dest)).toBeLessThanOrEqual(LIMIT);
  });

  it('refuses a 10 GiB file declared in GNU base-256', async () => {
    const archive = bomb(rawHeader({ name: 'bomb.bin', size: 10 * GiB, base256: true }));
    const started = performance.now();
    const { dest } = await expectRefused(archive, 'too_large', { maxBytes: LIMIT });
    console.info(`base-256 10 GiB bomb refused in ${Math.round(performance.now() - started)} ms`);
    expect(await treeBytes(dest)).toBeLessThanOrEqual(LIMIT);
  });

  it('refuses once many small files add up to more than maxBytes', async () => {
    const parts: Buffer[] = [];
    for (let i = 0; i < 48; i++) parts.push(gzipSync(rawHeader({ name: `f${i}.bin`, size: MiB })), zeros1);
    parts.push(gzipSync(END));
    const started = performance.now();
    const { err, dest } = await expectRefused(Buffer.concat(parts), 'too_large', { maxBytes: LIMIT });
    console.info(`48 x 1 MiB refused in ${Math.round(performance.now() - started)} ms`);
    expect(err.entry).toBe('f32.bin');
    expect(await treeBytes(dest)).toBeLessThanOrEqual(LIMIT);
  });

  it('counts every decompressed byte: 10 GiB after the end-of-archive marker is refused', async () => {
    const archive = bomb(Buffer.concat([fileEntry('ok.txt', 'fine'), END]));
    const started = performance.now();
    const { err, dest } = await expectRefused(archive, 'too_large', { maxBytes: LIMIT, maxFiles: 100 });
    console.info(`trailing 10 GiB refused in ${Math.round(performance.now() - started)} ms`);
    expect(err.message).toContain('decompresses to more than');
    expect(await treeBytes(dest)).toBeLessThanOrEqual(LIMIT);
  });
});

describe('verifyTree', () => {
  it('detects a changed byte and a missing file', async () => {
    const src = await tempDir('verify-src');
    const entries = await writeTree(src, { 'a.txt': 'hello world\n', 'dir/b.txt': 'second file\n' });
    const packed = await packBundle(entries);
    const root = await tempDir('verify');
    const archive = join(root, 'b.tar.gz');
    await writeFile(archive, packed.data);
    const dest = join(root, 'dest');
    await mkdir(dest);
    const { files } = await unpackBundle(archive, dest);
    expect(await verifyTree(dest, files)).toEqual({ ok: true });

    await writeFile(join(dest, 'a.txt'), 'hello World\n');
    const changed = await verifyTree(dest, files);
    expect(changed).toMatchObject({ ok: false, path: 'a.txt' });
    expect(changed.ok === false && changed.reason).toContain('content changed');

    await writeFile(join(dest, 'a.txt'), 'hello world\n');
    await rm(join(dest, 'dir', 'b.txt'));
    expect(await verifyTree(dest, files)).toEqual({ ok: false, path: 'dir/b.txt', reason: 'missing' });
  });
});
