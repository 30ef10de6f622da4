/**
 * Packs files into a bundle: a gzip-compressed POSIX tar that is byte-for-byte the same
 * for the same paths and contents, whatever the order given, the files' times, owners,
 * permissions (other than the execute bit) or the platform.
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants, type Stats } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants as zlibConstants } from 'node:zlib';
import { BundleError, formatBytes, quote } from './errors.js';
import { ancestors, isSafeBundlePath } from './paths.js';
import { endOfArchive, fileHeader, padding } from './tar.js';

export interface PackEntry {
  /** Relative POSIX path inside the bundle. */
  path: string;
  /** Absolute path of the file to read; symlinks are followed. */
  source: string;
}

export interface PackResult {
  /** The .tar.gz bytes. */
  data: Buffer;
  /** Hex SHA-256 of `data`. */
  sha256: string;
  files: number;
  /** Uncompressed bytes of file content. */
  bytes: number;
}

export interface PackOptions {
  /** Refuse to pack more than this many bytes of file content. */
  maxBytes?: number;
}

/** The compression settings, fixed so that the output never depends on defaults. */
const GZIP = {
  level: 6,
  memLevel: 8,
  windowBits: 15,
  strategy: zlibConstants.Z_DEFAULT_STRATEGY,
} as const;
const READ_CHUNK = 1024 * 1024;
const OS_UNKNOWN = 255;
// O_NONBLOCK keeps a FIFO swapped in after the stat from blocking the open.
const OPEN_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0);

interface Item {
  path: string;
  key: Buffer;
  source: string;
  size: number;
  mode: number;
}

function describe(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

async function statSource(entry: PackEntry): Promise<Stats> {
  try {
    return await stat(entry.source);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist (or is a broken symlink)' : `cannot be read (${code ?? err})`;
    throw new Error(`cannot pack ${quote(entry.path)}: source file ${entry.source} ${why}`, { cause: err });
  }
}

/** Checks the entries and reads their sizes and modes, sorted by the UTF-8 bytes of the path. */
async function plan(entries: readonly PackEntry[], maxBytes: number | undefined): Promise<Item[]> {
  const paths = new Set<string>();
  for (const entry of entries) {
    if (!isSafeBundlePath(entry.path)) {
      throw new BundleError(
        'unsafe_path',
        `bundle path ${quote(entry.path)} is not allowed: use a relative path with '/' separators, no '.' or '..' segments, no backslashes or control characters, at most 1024 characters`,
        entry.path,
      );
    }
    if (paths.has(entry.path)) {
      throw new BundleError('duplicate', `bundle path ${quote(entry.path)} is given twice`, entry.path);
    }
    paths.add(entry.path);
  }
  for (const path of paths) {
    const parent = ancestors(path).find((dir) => paths.has(dir));
    if (parent !== undefined) {
      throw new BundleError(
        'duplicate',
        `bundle path ${quote(path)} needs ${quote(parent)} to be a directory, but ${quote(parent)} is also given as a file`,
        path,
      );
    }
  }

  const items: Item[] = [];
  let total = 0;
  for (const entry of entries) {
    const st = await statSource(entry);
    if (!st.isFile()) {
      throw new BundleError(
        'special_file',
        `cannot pack ${quote(entry.path)}: source ${entry.source} is ${describe(st)}; only regular files can go into a bundle`,
        entry.path,
      );
    }
    total += st.size;
    items.push({
      path: entry.path,
      key: Buffer.from(entry.path, 'utf8'),
      source: entry.source,
      size: st.size,
      mode: st.mode & 0o111 ? 0o755 : 0o644,
    });
  }
  if (maxBytes !== undefined && total > maxBytes) {
    throw new BundleError(
      'too_large',
      `bundle would hold ${formatBytes(total)} of files, over the limit of ${formatBytes(maxBytes)}; leave out large files or raise the limit`,
    );
  }
  return items.sort((a, b) => Buffer.compare(a.key, b.key));
}

function changed(item: Item, how: string): Error {
  return new Error(`cannot pack ${quote(item.path)}: ${item.source} ${how} while it was being packed; pack again`);
}

async function* fileContent(item: Item): AsyncGenerator<Buffer> {
  let handle: FileHandle;
  try {
    handle = await open(item.source, OPEN_FLAGS);
  } catch (err) {
    throw changed(item, `could not be opened (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile() || st.size !== item.size) throw changed(item, 'changed');
    let left = item.size;
    while (left > 0) {
      const chunk = Buffer.allocUnsafe(Math.min(left, READ_CHUNK));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) throw changed(item, 'shrank');
      left -= bytesRead;
      yield bytesRead === chunk.length ? chunk : chunk.subarray(0, bytesRead);
    }
    const probe = await handle.read(Buffer.alloc(1), 0, 1, null);
    if (probe.bytesRead !== 0) throw changed(item, 'grew');
  } finally {
    await handle.close();
  }
}

async function* tarStream(items: readonly Item[]): AsyncGenerator<Buffer> {
  for (const item of items) {
    yield fileHeader(item.path, item.size, item.mode);
    yield* fileContent(item);
    const pad = padding(item.size);
    if (pad > 0) yield Buffer.alloc(pad);
  }
  yield endOfArchive();
}

/**
 * Packs `entries` into a deterministic .tar.gz: sorted by path, mtime 0, owner 0, mode
 * 0644 or 0755 (when the source has any execute bit), regular files only. Throws a
 * BundleError for an unsafe or duplicate path, a source that is not a regular file, or
 * more than `options.maxBytes` bytes of content.
 */
export async function packBundle(entries: PackEntry[], options: PackOptions = {}): Promise<PackResult> {
  const items = await plan(entries, options.maxBytes);
  const chunks: Buffer[] = [];
  await pipeline(Readable.from(tarStream(items)), createGzip(GZIP), async (compressed: AsyncIterable<Buffer>) => {
    for await (const chunk of compressed) chunks.push(chunk);
  });
  const data = Buffer.concat(chunks);
  // The gzip header's MTIME (bytes 4-7) and OS (byte 9) fields.
  data.fill(0, 4, 8);
  data[9] = OS_UNKNOWN;
  return {
    data,
    sha256: createHash('sha256').update(data).digest('hex'),
    files: items.length,
    bytes: items.reduce((sum, item) => sum + item.size, 0),
  };
}
