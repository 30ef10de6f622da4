/**
 * The Appium endpoint AppWright dials. AppWright 0.1.1 always opens its sessions on
 * localhost:4723, starts an Appium server there itself for every test and asks for
 * `appium:fullReset` (uninstall and reinstall the app on every test). The agent instead
 * listens on that port and hands each new session to the Appium server it runs for the
 * leased device (appium-server.ts), rewriting the session's capabilities on the way:
 *
 * - `appium:udid` is the leased device, whatever the config says (0.1.1's emulator provider
 *   sends none, and Appium would take the first device adb lists);
 * - `appium:noReset` true and `appium:fullReset` false, so UiAutomator2 keeps the build the
 *   agent installed once for the batch instead of reinstalling it;
 * - before the session the app's data is cleared (`pm clear`, see `beforeSession`) and
 *   `appium:forceAppLaunch` restarts it, so each test still starts from a fresh app;
 * - `appium:systemPort` is the device's own, so UiAutomator2 servers of several devices on one
 *   host never share a port.
 *
 * One route is attached at a time: local tests of a host take turns on the port (the
 * executor's mutex). The route records the sessions it saw created (deleted at detach if the
 * test left them open) and the session requests Appium refused. The verdict does not come
 * from here but from the test's own report (verdict.ts).
 *
 * States: idle (no route: new sessions are refused) ⇄ attached (a test is running).
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { describe } from '../errors.js';

export interface GatewayRoute {
  /** The device's Appium server, e.g. `http://127.0.0.1:41234`. */
  upstream: string;
  /** adb serial of the leased device. */
  serial: string;
  /** UiAutomator2's host port for this device. */
  systemPort?: number;
  /** Runs before each new session is forwarded (clears the app's data). Its text goes to the log. */
  beforeSession?: (capabilities: Record<string, unknown>) => Promise<string | undefined>;
  /** Lines for the test's log. */
  note?: (text: string) => void;
}

export interface Attachment {
  /** Sessions created through this route and not deleted yet. */
  readonly open: ReadonlySet<string>;
  /** Sessions created. */
  readonly created: number;
  /** Session creations refused, with Appium's message. */
  readonly refused: readonly string[];
  detach(): Promise<void>;
}

const MAX_SESSION_BODY = 1024 * 1024;
const SESSION_PATH = /^(\/wd\/hub)?\/session\/?$/;
const ONE_SESSION = /^(?:\/wd\/hub)?\/session\/([^/]+)\/?$/;

export class GatewayPortError extends Error {}

export class SessionGateway {
  private server: Server | undefined;
  private listening: Promise<void> | undefined;
  private current: (GatewayRoute & { state: RouteState }) | undefined;

  constructor(readonly port: number) {}

  /** Starts listening (once). Rejects with GatewayPortError when another process holds the port. */
  listen(): Promise<void> {
    this.listening ??= new Promise<void>((resolve, reject) => {
      const server = createServer((req, res) => void this.handle(req, res));
      server.once('error', (error: NodeJS.ErrnoException) => {
        this.listening = undefined;
        reject(
          error.code === 'EADDRINUSE'
            ? new GatewayPortError(
                `port ${this.port} is taken by another process (an Appium left running?): AppWright dials it for every session, so the agent must listen there; stop that process`,
              )
            : error,
        );
      });
      server.listen(this.port, '127.0.0.1', () => {
        this.server = server;
        resolve();
      });
    });
    return this.listening;
  }

  attach(route: GatewayRoute): Attachment {
    if (this.current) throw new Error(`the Appium port is already attached to ${this.current.serial}`);
    const state: RouteState = { open: new Set(), created: 0, refused: [] };
    this.current = { ...route, state };
    return {
      open: state.open,
      get created() {
        return state.created;
      },
      refused: state.refused,
      detach: async () => {
        if (this.current?.state === state) this.current = undefined;
        // A test that ended without closing its session (killed, crashed) must not leave
        // UiAutomator2 holding the device for the next one.
        await Promise.all(
          [...state.open].map((id) => forward(route.upstream, 'DELETE', `/session/${id}`).catch(() => {})),
        );
        state.open.clear();
      },
    };
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.listening = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const route = this.current;
    const path = req.url ?? '/';
    if (!route) {
      req.resume();
      return answer(res, 500, 'session not created', 'no test of this qgjob-agent is running on a device now');
    }
    try {
      if (req.method === 'POST' && SESSION_PATH.test(path)) return await this.newSession(req, res, route);
      const deleted = req.method === 'DELETE' ? ONE_SESSION.exec(path)?.[1] : undefined;
      if (deleted) route.state.open.delete(deleted);
      await pipe(req, res, route.upstream);
    } catch (error) {
      const message = `qgjob-agent could not reach Appium for ${route.serial} at ${route.upstream}: ${describe(error)}`;
      if (!res.headersSent) answer(res, 500, 'unknown error', message);
      else res.destroy();
    }
  }

  private async newSession(req: IncomingMessage, res: ServerResponse, route: GatewayRoute & { state: RouteState }) {
    const raw = await readBody(req, MAX_SESSION_BODY);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return answer(res, 400, 'invalid argument', 'the new session request is not JSON');
    }
    const caps = rewriteCapabilities(body, route);
    const note = await route
      .beforeSession?.(caps)
      .catch((error: unknown) => `could not clear app data: ${describe(error)}`);
    if (note) route.note?.(`${note}\n`);
    route.note?.(
      `qgjob-agent: new Appium session on ${route.serial} (udid set, noReset: the batch's install is kept)\n`,
    );
    const reply = await forward(route.upstream, 'POST', req.url ?? '/session', JSON.stringify(body));
    const value = (reply.json as { value?: { sessionId?: string; message?: string } } | undefined)?.value;
    const id = value?.sessionId ?? (reply.json as { sessionId?: string } | undefined)?.sessionId;
    if (reply.status < 300 && id) {
      route.state.open.add(id);
      route.state.created++;
    } else {
      route.state.refused.push(value?.message ?? `Appium answered ${reply.status}`);
    }
    res.writeHead(reply.status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(reply.text);
  }
}

interface RouteState {
  open: Set<string>;
  created: number;
  refused: string[];
}

/**
 * Sets the capabilities the device and the batch's install need in `alwaysMatch` (and in the
 * legacy `desiredCapabilities`), removing them from each `firstMatch` (W3C forbids a key in
 * both). Returns the effective capabilities for `beforeSession`.
 */
export function rewriteCapabilities(body: unknown, route: Pick<GatewayRoute, 'serial' | 'systemPort'>) {
  const forced: Record<string, unknown> = {
    'appium:udid': route.serial,
    'appium:noReset': true,
    'appium:fullReset': false,
    'appium:forceAppLaunch': true,
    'appium:shouldTerminateApp': true,
  };
  if (route.systemPort !== undefined) forced['appium:systemPort'] = route.systemPort;
  const request = (isObject(body) ? body : {}) as Record<string, unknown>;
  const w3c = (isObject(request.capabilities) ? request.capabilities : {}) as Record<string, unknown>;
  request.capabilities = w3c;
  const always = (isObject(w3c.alwaysMatch) ? w3c.alwaysMatch : {}) as Record<string, unknown>;
  const first = Array.isArray(w3c.firstMatch) ? w3c.firstMatch.filter(isObject) : [];
  for (const entry of first) for (const key of Object.keys(forced)) delete (entry as Record<string, unknown>)[key];
  w3c.alwaysMatch = { ...always, ...forced };
  if (first.length > 0) w3c.firstMatch = first;
  if (isObject(request.desiredCapabilities)) Object.assign(request.desiredCapabilities, forced);
  return { ...(first[0] ?? {}), ...(w3c.alwaysMatch as Record<string, unknown>) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function answer(res: ServerResponse, status: number, error: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify({ value: { error, message, stacktrace: '' } }));
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) req.destroy(new Error(`request body over ${limit} bytes`));
      else parts.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(parts)));
    req.once('error', reject);
  });
}

function forward(
  upstream: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; text: string; json: unknown }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { accept: 'application/json' };
    if (body !== undefined) {
      headers['content-type'] = 'application/json; charset=utf-8';
      headers['content-length'] = Buffer.byteLength(body);
    }
    const req = httpRequest(new URL(path, upstream), { method, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.once('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 500, text, json });
      });
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(body);
  });
}

function pipe(req: IncomingMessage, res: ServerResponse, upstream: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers };
    delete headers.host;
    const out = httpRequest(new URL(req.url ?? '/', upstream), { method: req.method, headers }, (reply) => {
      res.writeHead(reply.statusCode ?? 502, reply.headers);
      reply.pipe(res);
      reply.once('end', () => resolve());
      reply.once('error', reject);
    });
    out.once('error', reject);
    req.pipe(out);
  });
}
