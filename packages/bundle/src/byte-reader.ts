/**
 * The decompressed side of an unpack: exact byte counts pulled from the gunzip stream,
 * without copying file data, and the error for an archive that ends too soon.
 */
import { BundleError } from './errors.js';

/** A damaged archive, with what to do about it. */
export function corrupt(message: string, entry?: string): BundleError {
  return new BundleError('corrupt', `${message}; the bundle is damaged or truncated, so fetch it again`, entry);
}

/** Pulls exact byte counts out of the decompressed stream without copying file data. */
export class ByteReader {
  private chunk: Buffer = Buffer.alloc(0);
  private ended = false;
  /** Decompressed bytes consumed so far. */
  offset = 0;

  constructor(
    private readonly source: AsyncIterator<Buffer>,
    private readonly onChunk: (length: number) => void,
  ) {}

  private async more(): Promise<boolean> {
    if (this.chunk.length > 0) return true;
    if (this.ended) return false;
    const next = await this.source.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    this.onChunk(next.value.length);
    this.chunk = next.value;
    return true;
  }

  private take(max: number): Buffer {
    const part = this.chunk.subarray(0, max);
    this.chunk = this.chunk.subarray(part.length);
    this.offset += part.length;
    return part;
  }

  /** Exactly `n` bytes, or null when the stream ends before the first of them. */
  async read(n: number, what: string, entry?: string): Promise<Buffer | null> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      if (!(await this.more())) {
        if (got === 0) return null;
        throw corrupt(`archive ends in the middle of ${what}`, entry);
      }
      const part = this.take(n - got);
      parts.push(part);
      got += part.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }

  /** Passes the next `n` bytes to `sink` chunk by chunk. */
  async forEach(n: number, what: string, entry: string, sink: (part: Buffer) => Promise<void>): Promise<void> {
    let left = n;
    while (left > 0) {
      if (!(await this.more())) throw corrupt(`archive ends in the middle of ${what}`, entry);
      const part = this.take(left);
      left -= part.length;
      await sink(part);
    }
  }

  async skip(n: number, what: string, entry?: string): Promise<void> {
    let left = n;
    while (left > 0) {
      if (!(await this.more())) throw corrupt(`archive ends in the middle of ${what}`, entry);
      left -= this.take(left).length;
    }
  }

  /** Reads to the end, so that gzip's trailing checksum is verified too. */
  async drain(): Promise<void> {
    while (await this.more()) this.take(this.chunk.length);
  }
}
