/**
 * Uploads what a run left (RunOutcome.artifacts) to the server before its finish is
 * reported (the server takes artifacts only for a running run), then removes the local
 * copies. Bounded per run like the server bounds it; a file over a bound, or an upload
 * that fails, is skipped with one line in the run's log: artifacts never change a verdict.
 */
import { readFile, stat } from 'node:fs/promises';
import { ARTIFACT_LIMITS, formatSize } from '@qgjob/protocol';
import { describe } from './errors.js';
import type { RunArtifacts } from './executors/types.js';

export type PutArtifact = (
  batchId: string,
  jobId: string,
  name: string,
  bytes: Uint8Array,
  contentType?: string,
) => Promise<unknown>;

export interface UploadResult {
  uploaded: number;
  notes: string[];
}

export async function uploadArtifacts(
  put: PutArtifact,
  batchId: string,
  jobId: string,
  artifacts: RunArtifacts,
  limits = ARTIFACT_LIMITS,
): Promise<UploadResult> {
  const notes: string[] = [];
  let uploaded = 0;
  let bytes = 0;
  try {
    for (const file of artifacts.files) {
      if (uploaded >= limits.runFiles) {
        notes.push(`artifacts past the first ${limits.runFiles} files are not kept`);
        break;
      }
      const size = (await stat(file.path).catch(() => undefined))?.size;
      if (size === undefined) continue;
      if (size > limits.fileBytes || bytes + size > limits.runBytes) {
        notes.push(
          `artifact ${file.name} (${formatSize(size)}) not kept: over the limit of ${formatSize(size > limits.fileBytes ? limits.fileBytes : limits.runBytes)}${size > limits.fileBytes ? ' per file' : ' per run'}`,
        );
        continue;
      }
      try {
        await put(batchId, jobId, file.name, await readFile(file.path), file.contentType);
        uploaded++;
        bytes += size;
      } catch (error) {
        notes.push(`artifact ${file.name} not uploaded: ${describe(error)}`);
      }
    }
  } finally {
    await artifacts.discard().catch(() => {});
  }
  return { uploaded, notes };
}
