/**
 * The Android stand-in decides as UiAutomator2 does, checked with the real `webdriver`
 * client AppWright uses: what AppWright 0.1.1 asks for (fullReset) reinstalls the app on every
 * session, what the agent asks for (noReset over its own install) installs nothing; sessions
 * are refused with Appium's words when the device is not there.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebDriver from 'webdriver';
import { createHost, readEvents, setDeviceState, writePretendApk } from '../fixtures/uia2/host.mjs';
import { runCommand } from '../helpers/process.js';

const standin = new URL('../fixtures/uia2/', import.meta.url).pathname;
const shop = {
  package: 'com.example.shop',
  versionCode: 7,
  versionName: '1.2.0',
  activity: 'com.example.shop.Main',
  launch: [{ if: { onboarded: 'yes' }, screen: 'home' }, { screen: 'welcome' }],
  screens: {
    welcome: [{ text: 'Welcome' }, { text: 'Get started', tap: { screen: 'home', set: { onboarded: 'yes' } } }],
    home: [{ text: 'Home' }],
  },
};

let dir: string;
let host: Awaited<ReturnType<typeof createHost>>;
let apk: string;
let port: number;
let stop: () => void;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qgjob-uia2-'));
  host = await createHost(dir, [
    { serial: 'emulator-5554', state: 'device', platformVersion: '14' },
    { serial: 'emulator-5556', state: 'device', platformVersion: '13' },
    { serial: 'emulator-5558', state: 'offline' },
  ]);
  apk = join(dir, 'shop.apk');
  await writePretendApk(apk, shop);
  port = await freePort();
  const child = spawn(
    process.execPath,
    [join(standin, 'appium.mjs'), '--address', '127.0.0.1', '--port', String(port)],
    {
      env: { ...process.env, ...host.env, FAKE_ANDROID_DEVICE_WAIT_MS: '300' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  stop = () => child.kill('SIGTERM');
  await new Promise<void>((resolve) =>
    child.stdout.on('data', (d: Buffer) => d.includes('listener started') && resolve()),
  );
});

afterEach(async () => {
  stop();
  await rm(dir, { recursive: true, force: true });
});

const session = (caps: Record<string, unknown>) =>
  WebDriver.newSession({
    hostname: '127.0.0.1',
    port,
    logLevel: 'silent',
    connectionRetryCount: 0,
    capabilities: { platformName: 'android', 'appium:automationName': 'uiautomator2', 'appium:app': apk, ...caps },
  });
const installs = async () => (await readEvents(dir)).filter((e) => e.t === 'install').map((e) => `${e.device}:${e.by}`);
const adb = (...args: string[]) => runCommand(join(host.binDir, 'adb'), args, { env: { ...process.env, ...host.env } });

describe('Android stand-in', () => {
  it('reinstalls the app for every session under fullReset, as AppWright asks, and on the first device adb lists', async () => {
    for (let i = 0; i < 2; i++) {
      const client = await session({ 'appium:fullReset': true });
      expect(client.isAndroid).toBe(true);
      await client.deleteSession();
    }
    expect(await installs()).toEqual(['emulator-5554:uiautomator2', 'emulator-5554:uiautomator2']);
    expect((await readEvents(dir)).filter((e) => e.t === 'uninstall')).toHaveLength(2);
  });

  it('keeps an install made with adb under noReset, and data until pm clear', async () => {
    expect((await adb('-s', 'emulator-5556', 'install', '-r', apk)).stdout).toBe(
      'Performing Streamed Install\nSuccess\n',
    );
    const caps = { 'appium:udid': 'emulator-5556', 'appium:noReset': true, 'appium:forceAppLaunch': true };
    const first = await session(caps);
    const [start] = await first.findElements('-android uiautomator', 'textContains("Get started")');
    await first.elementClick(start?.['element-6066-11e4-a52e-4f735466cecf'] as string);
    await first.deleteSession();
    const second = await session(caps);
    expect(await second.findElements('-android uiautomator', 'text("Home")')).toHaveLength(1);
    await second.deleteSession();
    expect((await adb('-s', 'emulator-5556', 'shell', 'pm', 'clear', 'com.example.shop')).stdout).toBe('Success\n');
    const third = await session(caps);
    expect(await third.findElements('-android uiautomator', 'text("Welcome")')).toHaveLength(1);
    await third.deleteSession();
    expect(await installs()).toEqual(['emulator-5556:adb']);
  });

  it('fast-resets by default: a build of the same version kept in place, its data cleared', async () => {
    await adb('-s', 'emulator-5554', 'install', '-r', apk);
    const client = await session({});
    await client.deleteSession();
    expect(await installs()).toEqual(['emulator-5554:adb']);
    expect((await readEvents(dir)).filter((e) => e.t === 'clear').map((e) => e.by)).toEqual(['uiautomator2']);
  });

  it("refuses sessions with Appium's words: an unknown or offline udid, no device at all", async () => {
    await expect(session({ 'appium:udid': 'emulator-5558' })).rejects.toThrow(
      /Original error: Device emulator-5558 was not in the list of connected devices/,
    );
    for (const serial of ['emulator-5554', 'emulator-5556']) await setDeviceState(dir, serial, { state: 'offline' });
    await expect(session({})).rejects.toThrow(/Could not find a connected Android device in 300ms/);
    const state = await adb('-s', 'emulator-5558', 'get-state');
    expect([state.code, state.stderr]).toEqual([1, 'error: device offline\n']);
    const missing = await adb('-s', 'emulator-9999', 'get-state');
    expect([missing.code, missing.stderr]).toEqual([1, "error: device 'emulator-9999' not found\n"]);
    expect((await adb('devices')).stdout).toBe(
      'List of devices attached\nemulator-5554\toffline\nemulator-5556\toffline\nemulator-5558\toffline\n\n',
    );
  });
});
