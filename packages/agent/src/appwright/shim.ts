/**
 * AppWright runs `npx appium driver uninstall|install uiautomator2` and then `npx appium`
 * for every test, and waits for Appium's listener line. The agent already runs Appium for
 * the leased device, so the test process gets a PATH whose first `npx` answers those calls at
 * once (no driver reinstall, no second server on port 4723) and hands every other `npx`
 * call to the real one.
 */
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

const SCRIPT = `#!/bin/sh
# Written by qgjob-agent: the agent runs Appium for the leased device itself.
if [ "$1" = "appium" ]; then
  case "$2" in
    driver|plugin|setup)
      echo "qgjob-agent: skipped 'appium $2 $3 $4': the agent runs Appium for $QGJOB_DEVICE"
      exit 0 ;;
  esac
  echo "Appium REST http interface listener started on http://127.0.0.1:$QGJOB_APPIUM_PORT (qgjob-agent's Appium for $QGJOB_DEVICE)"
  exit 0
fi
if [ -z "$QGJOB_NPX" ]; then echo "qgjob-agent: no npx found on PATH" >&2; exit 127; fi
exec "$QGJOB_NPX" "$@"
`;

let shared: string | undefined;

/** Writes the shim (once per process, removed when it exits) and returns its directory. */
export function npxShimDir(): string {
  if (shared) return shared;
  const dir = mkdtempSync(join(tmpdir(), 'qgjob-agent-npx-'));
  writeFileSync(join(dir, 'npx'), SCRIPT, { mode: 0o755 });
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  shared = dir;
  return dir;
}

/** The first executable `name` on PATH, outside `skip`. */
export function which(name: string, path = process.env.PATH ?? '', skip?: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir || dir === skip) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {}
  }
  return undefined;
}

/** The test process's environment: the shim first on PATH, the real npx named. */
export function withShim(env: NodeJS.ProcessEnv, shimDir: string, appiumPort: number): NodeJS.ProcessEnv {
  const path = env.PATH ?? '';
  return {
    ...env,
    PATH: `${shimDir}${delimiter}${path}`,
    QGJOB_NPX: which('npx', path, shimDir) ?? '',
    QGJOB_APPIUM_PORT: String(appiumPort),
  };
}
