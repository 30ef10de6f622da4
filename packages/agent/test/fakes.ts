/** Temporary directories, fake binaries on PATH, and process checks for executor tests. */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeviceSpec } from '@qgjob/protocol';
import type { ExecContext } from '../src/executors/types.js';
import { batchOf } from './stub-server.js';

export function tempDir(prefix = 'qgjob-agent-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function writeScript(path: string, body: string): void {
  writeFileSync(path, `#!/bin/bash\n${body}\n`);
  chmodSync(path, 0o755);
}

/** Is `pid` a live process (zombies count as gone: nobody may reap them here)? */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export function contextFor(device: DeviceSpec, appPath: string): ExecContext {
  return { batch: batchOf('b1', ['tests/a.spec.js'], { target: device.target }), device, appPath };
}

export const neverAborted = new AbortController().signal;
