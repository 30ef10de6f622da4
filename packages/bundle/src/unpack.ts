/**
 * Unpacks a bundle into an empty directory as a stream (file, gunzip, tar parser, files),
 * refusing anything that could write outside the directory, links, special files,
 * duplicate paths, and archives that expand beyond the limits. The decompressed bytes are
 * read through byte-reader.ts.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, stat } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { ByteReader, corrupt } from './byte-reader.js';
import { BundleError, formatBytes, quote } from './errors.js';
import type { TreeFile } from './hash.js';
import { ancestors, isSafeBundlePath } from './paths.js';
import { BLOCK, isZeroBlock, type ParsedHeader, padding, parseHeader, parsePax } from './tar.js';

export interface UnpackLimits {
  /** Total uncompressed bytes of file content. */
  maxBytes: number;
  /** Entries (files and directories). */
  maxFiles: number;
  /** Size of the compressed archive. */
  maxArchiveBytes?: number;
}

export const DEFAULT_UNPACK_LIMITS: Readonly<UnpackLimits> = Object.freeze({
  maxBytes: 1024 * 1024 * 1024,
  maxFiles: 100_000,
  maxArchiveBytes: 256 * 1024 * 1024,
});

export interface UnpackResult {
  files: TreeFile[];
  bytes: number;
}

/** Largest pax extended header accepted; real ones are a few hundred bytes. */
const MAX_PAX_BYTES = 64 * 1024;
/** Decompressed bytes allowed besides file content: headers, padding, the end marker. */
const METADATA_BASE = 1024 * 1024;
const METADATA_PER_ENTRY = 4 * 1024;

function resolveLimits(limits: Partial<UnpackLimits>): UnpackLimits {
  const out: UnpackLimits = { ...DEFAULT_UNPACK_LIMITS };
  for (const key of ['maxBytes', 'maxFiles', 'maxArchiveBytes'] as const) {
    const value = limits[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !(value >= 0)) {
      throw new RangeError(`unpack limit ${key} must be a non-negative number, got ${String(value)}`);
    }
    out[key] = value;
  }
  return out;
}

type Kind = 'file' | 'dir';

class Extractor {
  readonly files: TreeFile[] = [];
  bytes = 0;
  private entries = 0;
  private produced = 0;
  private readonly kinds = new Map<string, Kind>();
  private readonly made = new Set<string>();
  private readonly producedLimit: number;

  constructor(
    private readonly root: string,
    private readonly limits: UnpackLimits,
  ) {
    this.producedLimit = limits.maxBytes + METADATA_BASE + METADATA_PER_ENTRY * limits.maxFiles;
  }

  /** Counts every decompressed byte, whatever it turns out to be. */
  private count = (length: number): void => {
    this.produced += length;
    if (this.produced > this.producedLimit) {
      throw new BundleError(
        'too_large',
        `archive decompresses to more than ${formatBytes(this.producedLimit)} (the ${formatBytes(this.limits.maxBytes)} file limit plus room for headers); it is not a bundle this agent will unpack`,
      );
    }
  };

  async run(source: AsyncIterable<Buffer>): Promise<void> {
    const reader = new ByteReader(source[Symbol.asyncIterator](), this.count);
    let pax: Map<string, string> | null = null;
    for (;;) {
      const where = `at byte ${reader.offset}`;
      const block = await reader.read(BLOCK, 'a header');
      if (block === null) {
        throw corrupt(`archive ends ${where} without the end-of-archive marker`);
      }
      if (isZeroBlock(block)) {
        if (pax) throw corrupt(`pax extended header ${where} is followed by the end of the archive`);
        const next = await reader.read(BLOCK, 'the end-of-archive marker');
        if (next !== null && !isZeroBlock(next)) throw corrupt(`archive has a lone zero block ${where}`);
        break;
      }
      const header = parseHeader(block, where);
      if (header.type === 'x' || header.type === 'g') {
        if (header.size > MAX_PAX_BYTES) {
          throw corrupt(`pax extended header ${where} declares ${formatBytes(header.size)}, over ${MAX_PAX_BYTES}`);
        }
        const data = (await reader.read(header.size, 'a pax extended header')) ?? Buffer.alloc(0);
        if (data.length < header.size) throw corrupt(`archive ends in the middle of a pax extended header ${where}`);
        await reader.skip(padding(header.size), 'a pax extended header');
        // Global ('g') records are read past and ignored: none of them matter for bundles.
        if (header.type === 'x') {
          if (pax) throw corrupt(`two pax extended headers in a row ${where}`);
          pax = parsePax(data, where);
        }
        continue;
      }
      await this.entry(reader, header, pax, where);
      pax = null;
    }
    await reader.drain();
  }

  private async entry(
    reader: ByteReader,
    header: ParsedHeader,
    pax: Map<string, string> | null,
    where: string,
  ): Promise<void> {
    let path = pax?.get('path') ?? (header.prefix ? `${header.prefix}/${header.name}` : header.name);
    const paxSize = pax?.get('size');
    let size = header.size;
    if (paxSize !== undefined) {
      if (!/^[0-9]+$/.test(paxSize))
        throw corrupt(`pax size ${quote(paxSize)} of ${quote(path)} is not a number`, path);
      size = Number(paxSize);
      if (!Number.isSafeInteger(size)) size = Number.POSITIVE_INFINITY;
    }
    const type = header.type;
    if (type === '5' && path.endsWith('/')) path = path.slice(0, -1);

    if (type === '1' || type === '2') {
      const target = pax?.get('linkpath') ?? header.linkname;
      const kind = type === '2' ? 'symbolic link' : 'hard link';
      throw new BundleError(
        'link',
        `archive entry ${quote(path)} is a ${kind} to ${quote(target)}; bundles may contain only regular files and directories`,
        path,
      );
    }
    const isFile = type === '0' || type === '\0' || type === '7';
    if (!isFile && type !== '5') {
      throw new BundleError(
        'special_file',
        `archive entry ${quote(path)} is ${describeType(type)}; ${ONLY_FILES}`,
        path,
      );
    }
    if (pax && [...pax.keys()].some((key) => key.startsWith('GNU.sparse.'))) {
      throw new BundleError('special_file', `archive entry ${quote(path)} is a sparse file; ${ONLY_FILES}`, path);
    }

    if (!isSafeBundlePath(path)) {
      throw new BundleError(
        'unsafe_path',
        `archive entry ${quote(path)} (${where}) has an unsafe path: bundle paths must be relative, use '/' separators and contain no '.' or '..' segments, backslashes or control characters; refusing to unpack`,
        path,
      );
    }
    this.entries++;
    if (this.entries > this.limits.maxFiles) {
      throw new BundleError(
        'too_many_files',
        `archive has more than ${this.limits.maxFiles} entries (stopped at ${quote(path)}); bundles over the file limit are refused`,
        path,
      );
    }
    this.claim(path, isFile ? 'file' : 'dir');
    const target = this.target(path);

    if (!isFile) {
      if (size !== 0) throw corrupt(`directory entry ${quote(path)} declares ${formatBytes(size)} of data`, path);
      await this.mkdir(target, path);
      return;
    }
    const remaining = this.limits.maxBytes - this.bytes;
    if (size > remaining) {
      throw new BundleError(
        'too_large',
        `archive entry ${quote(path)} declares ${formatBytes(size)}, but only ${formatBytes(remaining)} of the ${formatBytes(this.limits.maxBytes)} limit on unpacked files remain; refusing to unpack`,
        path,
      );
    }
    await this.writeFile(reader, path, target, size, header.mode);
    await reader.skip(padding(size), 'file padding', path);
  }

  /** Records `path` as a file or directory, refusing any collision with earlier entries. */
  private claim(path: string, kind: Kind): void {
    const parents = ancestors(path);
    for (const parent of parents) {
      if (this.kinds.get(parent) === 'file') {
        throw new BundleError(
          'duplicate',
          `archive entry ${quote(path)} is inside ${quote(parent)}, which is a file earlier in the archive`,
          path,
        );
      }
    }
    const earlier = this.kinds.get(path);
    if (earlier === 'file' || (earlier === 'dir' && kind === 'file')) {
      const what = earlier === kind ? 'appears twice in the archive' : `is both a ${kind} and an earlier ${earlier}`;
      throw new BundleError('duplicate', `archive entry ${quote(path)} ${what}`, path);
    }
    for (const parent of parents) this.kinds.set(parent, 'dir');
    this.kinds.set(path, kind);
  }

  private target(path: string): string {
    const target = resolve(this.root, ...path.split('/'));
    if (!target.startsWith(this.root + sep)) {
      throw new BundleError('unsafe_path', `archive entry ${quote(path)} resolves outside the destination`, path);
    }
    return target;
  }

  private async mkdir(dir: string, entry: string): Promise<void> {
    if (dir === this.root || this.made.has(dir)) return;
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw collision(err, entry);
    }
    for (let d = dir; d !== this.root && !this.made.has(d); d = dirname(d)) this.made.add(d);
  }

  private async writeFile(reader: ByteReader, path: string, target: string, size: number, mode: number) {
    await this.mkdir(dirname(target), path);
    let handle: FileHandle;
    try {
      handle = await open(target, 'wx', mode & 0o111 ? 0o755 : 0o644);
    } catch (err) {
      throw collision(err, path);
    }
    const hash = createHash('sha256');
    try {
      await reader.forEach(size, `file ${quote(path)}`, path, async (part) => {
        this.bytes += part.length;
        if (this.bytes > this.limits.maxBytes) {
          throw new BundleError(
            'too_large',
            `unpacked files exceed the ${formatBytes(this.limits.maxBytes)} limit at ${quote(path)}`,
            path,
          );
        }
        hash.update(part);
        let at = 0;
        while (at < part.length) at += (await handle.write(part, at, part.length - at)).bytesWritten;
      });
    } finally {
      await handle.close();
    }
    this.files.push({ path, size, sha256: hash.digest('hex') });
  }
}

const ONLY_FILES = 'bundles may contain only regular files and directories';

function describeType(type: string): string {
  switch (type) {
    case '3':
      return 'a character device';
    case '4':
      return 'a block device';
    case '6':
      return 'a FIFO';
    case 'L':
    case 'K':
      return 'a GNU long-name record (not supported: write the archive in pax format)';
    case 'S':
      return 'a GNU sparse file';
    default:
      return `an entry of unsupported type ${quote(type)}`;
  }
}

/** A filesystem refusal while creating an entry: on a case-insensitive disk, two paths clash. */
function collision(err: unknown, entry: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EEXIST' || code === 'ENOTDIR' || code === 'EISDIR') {
    return new BundleError(
      'duplicate',
      `archive entry ${quote(entry)} clashes with an earlier entry on this filesystem (${code}); paths may differ only in letter case`,
      entry,
    );
  }
  return err;
}

function isZlibError(err: unknown): err is NodeJS.ErrnoException {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}

/**
 * Unpacks the .tar.gz at `archive` into `dest`, which must be an existing empty
 * directory, and returns the files written with their sizes and SHA-256. Throws a
 * BundleError, having stopped reading and writing, for an unsafe path, a link, a special
 * file, a duplicate path, an archive beyond `limits`, or a damaged archive. On error the
 * caller should delete `dest`.
 */
export async function unpackBundle(
  archive: string,
  dest: string,
  limits: Partial<UnpackLimits> = {},
): Promise<UnpackResult> {
  const resolved = resolveLimits(limits);
  const root = resolve(dest);
  const existing = await readdir(root);
  if (existing.length > 0) throw new Error(`cannot unpack into ${root}: the directory is not empty`);
  const st = await stat(archive);
  if (!st.isFile()) throw new Error(`cannot unpack ${archive}: not a regular file`);
  const maxArchive = resolved.maxArchiveBytes;
  const archiveTooLarge = (size: string) =>
    new BundleError(
      'too_large',
      `archive ${archive} is ${size}, over the ${formatBytes(maxArchive ?? 0)} limit on compressed bundles`,
    );
  if (maxArchive !== undefined && st.size > maxArchive) throw archiveTooLarge(formatBytes(st.size));

  const extractor = new Extractor(root, resolved);
  let compressed = 0;
  try {
    await pipeline(
      createReadStream(archive),
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          compressed += chunk.length;
          if (maxArchive !== undefined && compressed > maxArchive)
            throw archiveTooLarge(`over ${formatBytes(compressed)}`);
          yield chunk;
        }
      },
      createGunzip(),
      (decompressed: AsyncIterable<Buffer>) => extractor.run(decompressed),
    );
  } catch (err) {
    if (isZlibError(err)) {
      throw new BundleError(
        'corrupt',
        `archive ${archive} is not valid gzip data (${err.message}); the bundle is damaged or truncated, so fetch it again`,
      );
    }
    throw err;
  }
  return { files: extractor.files, bytes: extractor.bytes };
}
