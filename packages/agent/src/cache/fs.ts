/** File-system primitives of the cache: missing paths read as empty, writes land whole. */
import { lstat, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export async function lstatOrNull(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
}

export async function isDir(path: string): Promise<boolean> {
  return (await lstatOrNull(path))?.isDirectory() ?? false;
}

export async function readdirOrEmpty(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
}

/** Sum of the sizes of the regular files under `path`; symlinks are not followed. */
export async function treeSize(path: string): Promise<number> {
  const st = await lstatOrNull(path);
  if (!st) return 0;
  if (st.isFile()) return st.size;
  if (!st.isDirectory()) return 0;
  let total = 0;
  for (const name of await readdirOrEmpty(path)) total += await treeSize(join(path, name));
  return total;
}

/** Writes `text` to `tmp`, then renames it over `path`. */
export async function writeAtomic(path: string, text: string, tmp: string): Promise<void> {
  await writeFile(tmp, text, { flag: 'wx' });
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

export function isCode(error: unknown, ...codes: string[]): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code !== undefined && codes.includes(code);
}

export function isMissing(error: unknown): boolean {
  return isCode(error, 'ENOENT', 'ENOTDIR');
}
