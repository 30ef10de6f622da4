/**
 * A test's own folder for what Playwright leaves (`--output`), its report file, and the
 * artifacts gathered from both when it ends: every file under the output folder, named by
 * its path there, plus attachments the test kept elsewhere (under `attachments/`).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative, sep } from 'node:path';
import type { RunArtifacts } from '../executors/types.js';
import type { RunReport } from './verdict.js';

export interface RunFolder {
  root: string;
  outputDir: string;
  reportFile: string;
}

export async function runFolder(): Promise<RunFolder> {
  const root = await mkdtemp(join(tmpdir(), 'qgjob-run-'));
  return { root, outputDir: join(root, 'output'), reportFile: join(root, 'report.json') };
}

export async function gatherArtifacts(folder: RunFolder, report: RunReport | undefined): Promise<RunArtifacts> {
  const files: RunArtifacts['files'] = [];
  const seen = new Set<string>();
  for (const path of await listFiles(folder.outputDir)) {
    seen.add(path);
    files.push({ name: relative(folder.outputDir, path).split(sep).join('/'), path });
  }
  const types = new Map<string, string>();
  for (const test of report?.tests ?? []) {
    for (const attachment of test.attachments) {
      types.set(attachment.path, attachment.content_type);
      if (seen.has(attachment.path)) continue;
      seen.add(attachment.path);
      files.push({ name: `attachments/${basename(attachment.path)}`, path: attachment.path });
    }
  }
  for (const file of files) file.contentType = types.get(file.path);
  return { files, discard: () => rm(folder.root, { recursive: true, force: true }) };
}

async function listFiles(dir: string): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}
