/**
 * A raw tar writer that writes anything, for building hostile archives in tests: names
 * with `..` or a leading `/`, links, special files, lying sizes (octal, GNU base-256 or
 * pax), spoilt checksums, and gzip bombs built cheaply from one repeated gzip member.
 */
import { gzipSync } from 'node:zlib';

export interface RawHeader {
  name: string;
  type?: string;
  size?: number;
  /** Encode the size field in GNU base-256 instead of octal. */
  base256?: boolean;
  linkname?: string;
  mode?: number;
  prefix?: string;
  /** Spoil the checksum. */
  badChecksum?: boolean;
}

function octal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, 'latin1');
}

export function rawHeader(h: RawHeader): Buffer {
  const block = Buffer.alloc(512);
  block.write(h.name, 0, 100, 'utf8');
  octal(block, 100, 8, h.mode ?? 0o644);
  octal(block, 108, 8, 0);
  octal(block, 116, 8, 0);
  const size = h.size ?? 0;
  if (h.base256) {
    let rest = BigInt(size);
    for (let i = 11; i > 0; i--) {
      block[124 + i] = Number(rest & 0xffn);
      rest >>= 8n;
    }
    block[124] = 0x80;
  } else {
    octal(block, 124, 12, size);
  }
  octal(block, 136, 12, 0);
  block.write(h.type ?? '0', 156, 'latin1');
  block.write(h.linkname ?? '', 157, 100, 'utf8');
  block.write('ustar\0' + '00', 257, 'latin1');
  block.write(h.prefix ?? '', 345, 155, 'utf8');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  if (h.badChecksum) sum += 1;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

export function pad(length: number): Buffer {
  return Buffer.alloc((512 - (length % 512)) % 512);
}

export function paxHeader(records: Record<string, string>): Buffer {
  const data = Buffer.concat(
    Object.entries(records).map(([key, value]) => {
      const body = Buffer.byteLength(` ${key}=${value}\n`);
      let length = body + String(body).length;
      if (String(length).length !== String(body).length) length = body + String(length).length;
      return Buffer.from(`${length} ${key}=${value}\n`);
    }),
  );
  return Buffer.concat([rawHeader({ name: 'PaxHeader', type: 'x', size: data.length }), data, pad(data.length)]);
}

export function fileEntry(name: string, content: string | Buffer, extra: Partial<RawHeader> = {}): Buffer {
  const data = typeof content === 'string' ? Buffer.from(content) : content;
  return Buffer.concat([rawHeader({ name, size: data.length, ...extra }), data, pad(data.length)]);
}

export const END = Buffer.alloc(1024);

export function tarGz(...parts: Buffer[]): Buffer {
  return gzipSync(Buffer.concat([...parts, END]));
}

const GiB = 1024 ** 3;
let zeros64: Buffer | undefined;

/**
 * A gzip stream that inflates to about `gib` GiB of zeros after `head` (tar headers):
 * one 64 MiB gzip member of zeros, repeated (gzip readers take concatenated members).
 * About 64 KiB per GiB on disk.
 */
export function gzipBomb(head: Buffer, gib = 10): Buffer {
  zeros64 ??= gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
  const members = Math.ceil((gib * GiB) / (64 * 1024 * 1024));
  return Buffer.concat([gzipSync(head), ...Array.from({ length: members }, () => zeros64 as Buffer)]);
}
