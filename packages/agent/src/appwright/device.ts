/**
 * The adb calls the agent makes itself for an emulator or phone: is the device there
 * (`adb -s SERIAL get-state` prints `device`), and clear an app's data before a test.
 */
import { runProcess } from '../executors/process.js';

const ADB_TIMEOUT_MS = 30_000;

async function adb(bin: string, serial: string, args: string[], signal: AbortSignal) {
  const env = { ...process.env, ANDROID_SERIAL: serial };
  return runProcess({
    command: bin,
    args: ['-s', serial, ...args],
    cwd: process.cwd(),
    env,
    timeoutMs: ADB_TIMEOUT_MS,
    signal,
  });
}

/** Undefined when the device is online; otherwise why not, in adb's words. */
export async function deviceProblem(bin: string, serial: string, signal: AbortSignal): Promise<string | undefined> {
  const result = await adb(bin, serial, ['get-state'], signal);
  const said = result.output.trim();
  if (result.end.kind === 'exit' && result.end.code === 0 && said === 'device') return undefined;
  const how =
    result.end.kind === 'exit'
      ? `exit code ${result.end.code}`
      : result.end.kind === 'spawn-error'
        ? result.end.error.message
        : result.end.kind;
  return `device ${serial} is not available (${bin} -s ${serial} get-state: ${said || how})`;
}

/** `pm clear`: the app's data and permissions reset, its process stopped. */
export async function clearAppData(bin: string, serial: string, pkg: string, signal: AbortSignal): Promise<string> {
  const result = await adb(bin, serial, ['shell', 'pm', 'clear', pkg], signal);
  return `qgjob-agent: cleared the data of ${pkg} on ${serial} (pm clear: ${result.output.trim() || result.end.kind})`;
}
