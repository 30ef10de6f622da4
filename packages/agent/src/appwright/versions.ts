/**
 * Which AppWright and Playwright a working directory resolves, and what that AppWright
 * cannot do that the agent works around or the user must know. Said once when the agent
 * starts.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export interface RunnerVersions {
  appwright?: string;
  playwright?: string;
  notes: Array<{ level: 'info' | 'warn'; message: string }>;
}

function versionOf(workdir: string, pkg: string): string | undefined {
  try {
    const file = createRequire(join(workdir, 'package.json')).resolve(`${pkg}/package.json`);
    return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

function atMost(version: string, major: number, minor: number, patch: number): boolean {
  const [a = 0, b = 0, c = 0] = version.split(/[.-]/).map(Number);
  return a !== major ? a < major : b !== minor ? b < minor : c <= patch;
}

export function runnerVersions(workdir: string): RunnerVersions {
  const appwright = versionOf(workdir, 'appwright');
  const playwright = versionOf(workdir, '@playwright/test');
  const notes: RunnerVersions['notes'] = [];
  if (!appwright) {
    notes.push({
      level: 'warn',
      message: `appwright is not installed in ${workdir}: run npm install there (tests sent as bundles bring their own)`,
    });
    return { appwright, playwright, notes };
  }
  if (atMost(appwright, 0, 1, 1)) {
    notes.push(
      {
        level: 'info',
        message:
          'its emulator provider sends no appium:udid and asks for fullReset on every session: the agent sets the leased udid and keeps the batch install (noReset, app data cleared per test)',
      },
      {
        level: 'info',
        message: 'its local-device provider needs macOS (osascript): use the emulator provider for Android phones',
      },
      {
        level: 'info',
        message: 'its BrowserStack provider uploads the build on every test and accepts no bs:// URL',
      },
    );
  }
  if (playwright && !atMost(playwright, 1, 59, Number.MAX_SAFE_INTEGER)) {
    notes.push({
      level: 'warn',
      message: `@playwright/test ${playwright} refuses AppWright's config (Fixture "device" cannot be overridden): pin @playwright/test 1.59.x`,
    });
  }
  return { appwright, playwright, notes };
}
