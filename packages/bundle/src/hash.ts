/**
 * SHA-256 of files, streamed, and the check that an unpacked tree still holds exactly
 * the content it was unpacked with.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { isSafeBundlePath } from './paths.js';

export interface TreeFile {
  path: string;
  size: number;
  sha256: string;
}

/** Hex SHA-256 of the file at `path`, read as a stream. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export type VerifyResult = { ok: true } | { ok: false; path: string; reason: string };

/**
 * Re-hashes every listed file under `dir` and reports the first one that is missing, is
 * no longer a regular file, or has a different size or content.
 */
export async function verifyTree(dir: string, files: TreeFile[]): Promise<VerifyResult> {
  for (const file of files) {
    if (!isSafeBundlePath(file.path)) return { ok: false, path: file.path, reason: 'unsafe path in the file list' };
    const full = join(dir, ...file.path.split('/'));
    let st: Awaited<ReturnType<typeof lstat>>;
    try {
      st = await lstat(full);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { ok: false, path: file.path, reason: code === 'ENOENT' ? 'missing' : `cannot be read (${code})` };
    }
    if (!st.isFile()) return { ok: false, path: file.path, reason: 'not a regular file' };
    if (st.size !== file.size) {
      return { ok: false, path: file.path, reason: `size is ${st.size} bytes, expected ${file.size}` };
    }
    const sha256 = await sha256File(full);
    if (sha256 !== file.sha256) {
      return { ok: false, path: file.path, reason: `content changed: sha256 is ${sha256}, expected ${file.sha256}` };
    }
  }
  return { ok: true };
}
