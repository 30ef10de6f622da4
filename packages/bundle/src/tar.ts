/**
 * POSIX tar (ustar) headers and pax extended header records: encoding for the packer and
 * strict decoding for the unpacker. Only what bundles need: regular files, directories
 * and pax 'path'/'size' records.
 */
import { BundleError } from './errors.js';

export const BLOCK = 512;
/** Largest size the 11-digit octal size field can hold (8 GiB - 1). */
export const MAX_OCTAL_SIZE = 0o77777777777;

const ZERO_BLOCK = Buffer.alloc(BLOCK);
const PAX_NAME = '././@PaxHeader';

/** Bytes of zero padding that follow `size` bytes of entry data. */
export function padding(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

export function isZeroBlock(block: Buffer): boolean {
  return block.equals(ZERO_BLOCK);
}

function writeString(block: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new RangeError(`tar field of ${length} bytes cannot hold ${bytes.length} bytes`);
  bytes.copy(block, offset);
}

function writeOctal(block: Buffer, offset: number, length: number, value: number): void {
  writeString(block, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

/** GNU base-256 number: high bit of the first byte set, the value big-endian in the rest. */
function writeBase256(block: Buffer, offset: number, length: number, value: number): void {
  let rest = BigInt(value);
  for (let i = length - 1; i > 0; i--) {
    block[offset + i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  block[offset] = 0x80;
}

function checksum(block: Buffer): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += byte;
    signed += byte >= 0x80 ? byte - 0x100 : byte;
  }
  return { unsigned, signed };
}

interface HeaderInput {
  name: string;
  prefix?: string;
  mode: number;
  size: number;
  type: string;
}

function ustarHeader(input: HeaderInput): Buffer {
  const block = Buffer.alloc(BLOCK);
  writeString(block, 0, 100, input.name);
  writeOctal(block, 100, 8, input.mode);
  writeOctal(block, 108, 8, 0); // uid
  writeOctal(block, 116, 8, 0); // gid
  if (input.size <= MAX_OCTAL_SIZE) writeOctal(block, 124, 12, input.size);
  else writeBase256(block, 124, 12, input.size);
  writeOctal(block, 136, 12, 0); // mtime
  block.write(input.type, 156, 'latin1');
  writeString(block, 257, 6, 'ustar\0');
  writeString(block, 263, 2, '00');
  writeOctal(block, 329, 8, 0); // devmajor
  writeOctal(block, 337, 8, 0); // devminor
  if (input.prefix) writeString(block, 345, 155, input.prefix);
  writeString(block, 148, 8, `${checksum(block).unsigned.toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** One pax record, "<length> <key>=<value>\n", where the length counts itself. */
export function paxRecord(key: string, value: string): Buffer {
  const body = Buffer.byteLength(` ${key}=${value}\n`, 'utf8');
  let length = body + String(body).length;
  if (String(length).length !== String(body).length) length = body + String(length).length;
  return Buffer.from(`${length} ${key}=${value}\n`, 'utf8');
}

/** Splits a path into ustar prefix and name, or returns null when it does not fit. */
function splitUstar(path: string): { prefix: string; name: string } | null {
  if (!/^[\x20-\x7e]*$/.test(path)) return null; // non-ASCII goes into a pax record
  if (path.length <= 100) return { prefix: '', name: path };
  for (let at = path.indexOf('/'); at !== -1; at = path.indexOf('/', at + 1)) {
    if (path.length - at - 1 <= 100) {
      return at <= 155 && at > 0 ? { prefix: path.slice(0, at), name: path.slice(at + 1) } : null;
    }
  }
  return null;
}

/** The longest leading part of `s` that is at most `max` bytes of UTF-8. */
function truncateUtf8(s: string, max: number): string {
  let bytes = 0;
  let out = '';
  for (const ch of s) {
    bytes += Buffer.byteLength(ch, 'utf8');
    if (bytes > max) break;
    out += ch;
  }
  return out;
}

/**
 * The header blocks of one regular file: a ustar header, preceded by a pax extended
 * header when the path does not fit ustar's fields or the size does not fit 11 octal digits.
 */
export function fileHeader(path: string, size: number, mode: number): Buffer {
  const split = splitUstar(path);
  const records: Buffer[] = [];
  if (!split) records.push(paxRecord('path', path));
  if (size > MAX_OCTAL_SIZE) records.push(paxRecord('size', String(size)));
  const header = ustarHeader({
    name: split ? split.name : truncateUtf8(path, 100),
    prefix: split ? split.prefix : '',
    mode,
    size,
    type: '0',
  });
  if (records.length === 0) return header;
  const data = Buffer.concat(records);
  const pax = ustarHeader({ name: PAX_NAME, mode: 0o644, size: data.length, type: 'x' });
  return Buffer.concat([pax, data, Buffer.alloc(padding(data.length)), header]);
}

/** The end-of-archive marker: two zero blocks. */
export function endOfArchive(): Buffer {
  return Buffer.alloc(2 * BLOCK);
}

export interface ParsedHeader {
  name: string;
  prefix: string;
  mode: number;
  /** Declared size; Infinity when it is too large to represent exactly. */
  size: number;
  type: string;
  linkname: string;
}

function corrupt(message: string): BundleError {
  return new BundleError('corrupt', message);
}

function readString(block: Buffer, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return (end === -1 ? field : field.subarray(0, end)).toString('utf8');
}

/** Octal (NUL- or space-terminated) or GNU base-256 number field. */
function readNumber(block: Buffer, offset: number, length: number, field: string): number {
  const first = block[offset]!;
  if (first & 0x80) {
    if (first !== 0x80) throw corrupt(`tar header has a negative or oversized ${field} field`);
    let value = 0;
    for (let i = offset + 1; i < offset + length; i++) value = value * 256 + block[i]!;
    return Number.isSafeInteger(value) ? value : Number.POSITIVE_INFINITY;
  }
  const text = block
    .subarray(offset, offset + length)
    .toString('latin1')
    .replace(/^[ ]+/, '');
  const match = /^([0-7]*)[ \0]*$/.exec(text) ?? /^([0-7]*)[ \0]/.exec(text);
  if (!match) throw corrupt(`tar header has a malformed ${field} field ${JSON.stringify(text)}`);
  if (match[1] === '') return 0;
  const value = Number.parseInt(match[1]!, 8);
  return Number.isSafeInteger(value) ? value : Number.POSITIVE_INFINITY;
}

/** Decodes one header block, checking its checksum. `where` locates it for messages. */
export function parseHeader(block: Buffer, where: string): ParsedHeader {
  const stored = readNumber(block, 148, 8, 'checksum');
  const sums = checksum(block);
  if (stored !== sums.unsigned && stored !== sums.signed) {
    throw corrupt(`tar header ${where} has a bad checksum (stored ${stored}, computed ${sums.unsigned})`);
  }
  const magic = block.subarray(257, 263).toString('latin1');
  const type = block[156] === 0 ? '\0' : String.fromCharCode(block[156]!);
  return {
    name: readString(block, 0, 100),
    // Only POSIX ustar has the prefix field; GNU tar keeps other data there.
    prefix: magic === 'ustar\0' ? readString(block, 345, 155) : '',
    mode: readNumber(block, 100, 8, 'mode'),
    size: readNumber(block, 124, 12, 'size'),
    type,
    linkname: readString(block, 157, 100),
  };
}

/** Decodes the records of a pax extended header. */
export function parsePax(data: Buffer, where: string): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    // Some writers pad the record area with NULs.
    if (data[at] === 0) break;
    const space = data.indexOf(0x20, at);
    const lengthText = space === -1 ? '' : data.subarray(at, space).toString('latin1');
    const length = /^[1-9][0-9]{0,8}$/.test(lengthText) ? Number(lengthText) : 0;
    if (length === 0 || at + length > data.length || data[at + length - 1] !== 0x0a) {
      throw corrupt(`pax extended header ${where} has a malformed record at byte ${at}`);
    }
    const record = data.subarray(space + 1, at + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq <= 0) throw corrupt(`pax extended header ${where} has a record without a key at byte ${at}`);
    records.set(record.slice(0, eq), record.slice(eq + 1));
    at += length;
  }
  return records;
}
