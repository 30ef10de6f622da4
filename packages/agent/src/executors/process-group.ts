/**
 * A test runs in its own process group (spawned detached), so a timeout or a kill reaches
 * everything it started: AppWright, Appium, a shell's children. "Gone" ignores zombies:
 * where PID 1 does not reap orphans (containers), a dead group can linger as zombies.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { sleep } from '../sleep.js';

export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

/** Does any live (non-zombie) process belong to process group `pgid`? */
export function groupAlive(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return signalZeroAlive(pgid);
  }
  let sawAny = false;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    sawAny = true;
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
  }
  return sawAny ? false : signalZeroAlive(pgid);
}

function signalZeroAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves true once the group is gone, false if it is still alive after `ms`. */
export async function waitGroupGone(pgid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (!groupAlive(pgid)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
}

/** SIGTERM (SIGKILL when `hard`), then SIGKILL whatever is left after `graceMs`. */
export async function terminateGroup(pgid: number, graceMs: number, hard = false): Promise<boolean> {
  killGroup(pgid, hard ? 'SIGKILL' : 'SIGTERM');
  if (await waitGroupGone(pgid, hard ? 1000 : graceMs)) return true;
  killGroup(pgid, 'SIGKILL');
  return waitGroupGone(pgid, 1000);
}
