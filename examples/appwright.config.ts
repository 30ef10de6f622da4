// AppWright configuration for tests run by qgjob-agent (appwright 0.1.1, @playwright/test 1.59.1).
//
// The agent runs `npx appwright test <test_path> --project <target> --workers 1` with CI=true
// and tells the test which build and which device to use through env vars:
//   QGJOB_APP_PATH        local build file (emulator/device) or bs://… URL (browserstack)
//   QGJOB_DEVICE          the device slot: adb serial, or BrowserStack device name
//   QGJOB_TARGET          emulator | device | browserstack
//   QGJOB_APP_VERSION_ID  the app version under test
// One project per qgjob target, named after it, so `--project <target>` selects it.
//
// On emulators and phones the agent runs Appium for the leased device and sets the
// session's `appium:udid` itself, so every session lands on that device whatever this file
// says (appwright 0.1.1's emulator provider sends no udid). 0.1.1's local-device provider
// asks macOS's osascript for an iOS bundle id even for an APK, so Android phones use the
// emulator provider too.
import { defineConfig, Platform } from 'appwright';

const buildPath = process.env.QGJOB_APP_PATH ?? 'builds/app-release.apk';
const device = process.env.QGJOB_DEVICE ?? 'emulator-5554';

export default defineConfig({
  testDir: './tests',
  // No per-test bound here: the agent kills a test past its --test-timeout.
  timeout: 0,
  retries: 0, // retries are qgjob's (max_retries), so flaky tests are recorded as such
  reporter: [['list']],
  use: { expectTimeout: 10_000 },
  projects: [
    {
      name: 'emulator',
      use: {
        platform: Platform.ANDROID,
        device: { provider: 'emulator', name: device },
        buildPath,
      },
    },
    {
      name: 'device',
      use: {
        platform: Platform.ANDROID,
        device: { provider: 'emulator', name: device },
        buildPath,
      },
    },
    {
      name: 'browserstack',
      use: {
        platform: Platform.ANDROID,
        device: { provider: 'browserstack', name: device, osVersion: '14.0' },
        buildPath,
      },
    },
  ],
});
