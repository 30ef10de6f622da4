// AppWright configuration for tests run by qgjob-agent.
//
// The agent runs `npx appwright test <test_path> --project <target> --workers 1` with
// CI=true and tells the test which build and which device to use through env vars:
//   QGJOB_APP_PATH        local build file (emulator/device) or bs://… URL (browserstack)
//   QGJOB_DEVICE          the device slot name: adb serial, or BrowserStack device name
//   QGJOB_TARGET          emulator | device | browserstack
//   QGJOB_APP_VERSION_ID  the app version under test
// One project per qgjob target, named after it, so `--project <target>` selects it.
import { defineConfig, Platform } from 'appwright';

const buildPath = process.env.QGJOB_APP_PATH ?? 'builds/app-release.apk';
const device = process.env.QGJOB_DEVICE;

export default defineConfig({
  testDir: './tests',
  // qgjob's agent imposes its own per-test timeout; this bounds single steps.
  timeout: 5 * 60_000,
  retries: 0, // retries are qgjob's (max_retries), so flakiness is recorded
  reporter: [['list']],
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
        device: { provider: 'local-device', name: device, udid: device },
        buildPath,
      },
    },
    {
      name: 'browserstack',
      use: {
        platform: Platform.ANDROID,
        device: { provider: 'browserstack', name: device ?? 'Google Pixel 8', osVersion: '14.0' },
        buildPath,
      },
    },
  ],
});
