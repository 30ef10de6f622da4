/**
 * Where `qgjob artifacts` puts each file a run left, and how: `DIR/run-<n>/<name>`, never
 * outside DIR. A name the server sends is checked twice before anything is written: it
 * must be a name the server itself accepts (relative, no `.` or `..` segment, no
 * backslash), and its path must resolve inside DIR. Each file is streamed to a fresh
 * temporary file beside its place (opened `wx`, so an existing file or link there is
 * never followed), checked against the listed size and SHA-256, then renamed into place;
 * a directory on the way that resolves outside DIR (a symlink) is refused.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, realpath, rename, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { isArtifactName, type RunArtifact } from '@qgjob/protocol';
import { ServerAnswerError } from './errors.js';

export interface PlannedFile {
  run: number;
  name: string;
  size: number;
  sha256: string;
  /** Absolute path it is written to. */
  path: string;
}

/** True when `path` is `root` or below it. */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** The place of every file below `dir` (absolute); refuses the lot when one name would leave it. */
export function planFiles(
  dir: string,
  runs: readonly { n: number; artifacts: readonly RunArtifact[] }[],
): PlannedFile[] {
  const root = resolve(dir);
  const planned: PlannedFile[] = [];
  const refused: string[] = [];
  for (const run of runs) {
    for (const artifact of run.artifacts) {
      const path = resolve(root, `run-${run.n}`, ...artifact.name.split('/'));
      if (!isArtifactName(artifact.name) || !isInside(join(root, `run-${run.n}`), path)) {
        refused.push(JSON.stringify(artifact.name));
        continue;
      }
      planned.push({ run: run.n, name: artifact.name, size: artifact.size, sha256: artifact.sha256, path });
    }
  }
  if (refused.length > 0) {
    throw new ServerAnswerError(
      `refusing artifact names that would be written outside ${root}: ${refused.join(', ')}; nothing was written`,
      { hint: 'the server listed names it should never accept: report it to whoever runs the job-server' },
    );
  }
  return planned;
}

/** Streams `body` into `file.path` (below `root`), checked against the listed size and hash. */
export async function writeFile(
  root: string,
  file: PlannedFile,
  body: ReadableStream<Uint8Array> | null,
  signal: AbortSignal,
): Promise<void> {
  await mkdir(dirname(file.path), { recursive: true });
  const [realRoot, realParent] = await Promise.all([realpath(root), realpath(dirname(file.path))]);
  if (!isInside(realRoot, realParent)) {
    throw new ServerAnswerError(`refusing to write ${file.path}: ${dirname(file.path)} leads outside ${root}`, {
      hint: 'remove the link, or give another --dir',
    });
  }
  const temp = `${file.path}.${randomUUID()}.part`;
  const hash = createHash('sha256');
  let size = 0;
  try {
    const source = body ? Readable.fromWeb(body as unknown as WebReadableStream<Uint8Array>) : Readable.from([]);
    source.on('data', (chunk: Buffer) => {
      size += chunk.length;
      hash.update(chunk);
    });
    await pipeline(source, createWriteStream(temp, { flags: 'wx' }), { signal });
    const sha256 = hash.digest('hex');
    if (size !== file.size || sha256 !== file.sha256) {
      throw new ServerAnswerError(
        `artifact ${file.name} of run ${file.run} arrived as ${size} bytes with SHA-256 ${sha256}, not the ${file.size} bytes with ${file.sha256} listed: it was not kept`,
        { hint: 'download it again' },
      );
    }
    await rename(temp, file.path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
