import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { rewriteCapabilities, SessionGateway } from '../src/appwright/gateway.js';

describe('rewriteCapabilities', () => {
  it('sets the leased udid and keeps the install, in alwaysMatch only, and in the legacy caps', () => {
    const body = {
      capabilities: {
        alwaysMatch: { platformName: 'android', 'appium:fullReset': true, 'appium:appPackage': 'com.example.shop' },
        firstMatch: [{ 'appium:udid': 'emulator-5554', 'appium:deviceName': 'x' }],
      },
      desiredCapabilities: { platformName: 'android', 'appium:fullReset': true },
    };
    const caps = rewriteCapabilities(body, { serial: 'emulator-5556', systemPort: 8201 });
    expect(body.capabilities.alwaysMatch).toEqual({
      platformName: 'android',
      'appium:appPackage': 'com.example.shop',
      'appium:udid': 'emulator-5556',
      'appium:noReset': true,
      'appium:fullReset': false,
      'appium:forceAppLaunch': true,
      'appium:shouldTerminateApp': true,
      'appium:systemPort': 8201,
    });
    expect(body.capabilities.firstMatch).toEqual([{ 'appium:deviceName': 'x' }]);
    expect(body.desiredCapabilities).toMatchObject({ 'appium:udid': 'emulator-5556', 'appium:fullReset': false });
    expect(caps['appium:appPackage']).toBe('com.example.shop');
    expect(caps['appium:deviceName']).toBe('x');
  });
});

describe('SessionGateway', () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  async function appium(): Promise<{ url: string; seen: Array<{ method?: string; url?: string; body: string }> }> {
    const seen: Array<{ method?: string; url?: string; body: string }> = [];
    let n = 0;
    const server: Server = createServer(async (req: IncomingMessage, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      seen.push({ method: req.method, url: req.url, body });
      res.setHeader('content-type', 'application/json');
      if (req.method === 'POST' && req.url === '/session') {
        const caps = JSON.parse(body).capabilities.alwaysMatch;
        if (caps['appium:udid'] === 'gone') {
          res.statusCode = 500;
          res.end(
            JSON.stringify({ value: { error: 'session not created', message: 'Device gone was not in the list' } }),
          );
          return;
        }
        res.end(JSON.stringify({ value: { sessionId: `s${++n}`, capabilities: caps } }));
        return;
      }
      res.end(JSON.stringify({ value: null }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise((r) => server.close(() => r())));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
  }

  async function gateway(): Promise<SessionGateway> {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const { port } = probe.address() as AddressInfo;
    await new Promise((r) => probe.close(r));
    const gw = new SessionGateway(port);
    await gw.listen();
    closers.push(() => gw.close());
    return gw;
  }

  const post = (port: number, body: unknown) =>
    fetch(`http://127.0.0.1:${port}/session`, { method: 'POST', body: JSON.stringify(body) });

  it('forwards sessions to the attached device, clears app data first, and closes what the test left open', async () => {
    const upstream = await appium();
    const gw = await gateway();
    const cleared: unknown[] = [];
    const route = gw.attach({
      upstream: upstream.url,
      serial: 'emulator-5556',
      beforeSession: async (caps) => {
        cleared.push(caps['appium:appPackage']);
        return 'cleared';
      },
    });
    const res = await post(gw.port, { capabilities: { alwaysMatch: { 'appium:appPackage': 'com.example.shop' } } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { value: { sessionId: string } }).value.sessionId).toBe('s1');
    expect(cleared).toEqual(['com.example.shop']);
    const element = await fetch(`http://127.0.0.1:${gw.port}/session/s1/element`, { method: 'POST', body: '{}' });
    expect(element.status).toBe(200);
    expect(route.created).toBe(1);
    expect([...route.open]).toEqual(['s1']);
    await route.detach();
    expect(upstream.seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /session',
      'POST /session/s1/element',
      'DELETE /session/s1',
    ]);
    expect(JSON.parse(upstream.seen[0]?.body ?? '{}').capabilities.alwaysMatch['appium:udid']).toBe('emulator-5556');
  });

  it('records refused sessions, and refuses sessions when no test is attached', async () => {
    const upstream = await appium();
    const gw = await gateway();
    const route = gw.attach({ upstream: upstream.url, serial: 'gone' });
    const res = await post(gw.port, { capabilities: { alwaysMatch: {} } });
    expect(res.status).toBe(500);
    expect(route.refused).toEqual(['Device gone was not in the list']);
    await route.detach();
    const idle = await post(gw.port, { capabilities: { alwaysMatch: {} } });
    expect(idle.status).toBe(500);
    expect(((await idle.json()) as { value: { error: string } }).value.error).toBe('session not created');
  });

  it('says which port is taken when another process holds it', async () => {
    const gw = await gateway();
    const second = new SessionGateway(gw.port);
    await expect(second.listen()).rejects.toThrow(/port \d+ is taken by another process/);
  });
});
