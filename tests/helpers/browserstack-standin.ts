/**
 * A local stand-in for the parts of BrowserStack App Automate that qgjob uses, on one node:http
 * server, with BrowserStack's paths, basic auth and response fields:
 *
 * - `POST /app-automate/upload`: multipart/form-data with `file` (or `url`, optional `custom_id`,
 *   or the older `data={"url":…,"custom_id":…}` field) → `{"app_url":"bs://<40 hex>"}`, plus
 *   `custom_id` and `shareable_id` (`<username>/<custom_id>`) when a custom id was given;
 *   failures are `{"error":"…"}`.
 * - `GET /app-automate/plan.json` → `automate_plan`, `parallel_sessions_running`,
 *   `team_parallel_sessions_max_allowed`, `parallel_sessions_max_allowed`, `queued_sessions`,
 *   `queued_sessions_max_allowed`.
 * - WebDriver hub `POST /wd/hub/session` / `DELETE /wd/hub/session/:id`. Like the real hub, a
 *   refused session still answers HTTP 200, with a JSON-wire error body (`status: 13`,
 *   `value.message` carrying BrowserStack's `[BROWSERSTACK_…]` code and text).
 *
 * Difference from BrowserStack: its queue is always full (`queued_sessions_max_allowed: 0`), so a
 * session beyond `parallelLimit` is refused at once instead of waiting in a queue.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandinOptions {
  username?: string;
  accessKey?: string;
  /** `parallel_sessions_max_allowed`; default 5. */
  parallelLimit?: number;
  /** Delays every upload answer, so racing uploads overlap visibly. */
  uploadDelayMs?: number;
}

export interface StandinUpload {
  appUrl: string;
  sha256: string;
  size: number;
  filename: string;
  customId?: string;
}

export interface BrowserStackStandin {
  /** http://127.0.0.1:PORT; serves both the REST API and the WebDriver hub under /wd/hub. */
  url: string;
  username: string;
  accessKey: string;
  uploads: StandinUpload[];
  sessions: {
    maxConcurrent: number;
    total: number;
    refused: number;
    /** The app capability of each created session, in order. */
    apps: string[];
  };
  close(): Promise<void>;
}

/** BrowserStack's messages, word for word as its docs and users' logs show them. */
export const ALL_PARALLELS_IN_USE =
  '[BROWSERSTACK_ALL_PARALLELS_IN_USE] All parallel tests are currently in use, including the queued tests. ' +
  'Please wait to finish or upgrade your plan to add more sessions.';
export const INVALID_APP_CAP =
  "[BROWSERSTACK_INVALID_APP_CAP] The app_url/ custom_id/ shareable_id specified in the 'app' capability in " +
  "your test script is invalid. Please update the 'app' capability with a valid value and try again.";
const INCORRECT_URL =
  '[BROWSERSTACK_INCORRECT_URL] Incorrect URL provided. Please check our documentation and if the error ' +
  'persists or you have any concerns, please reach out to support.';
const SESSION_GONE = 'Session not started or terminated';

export async function startBrowserStackStandin(options: StandinOptions = {}): Promise<BrowserStackStandin> {
  const username = options.username ?? 'qgjob-standin';
  const accessKey = options.accessKey ?? 'standin-access-key-0123456789';
  const parallelLimit = options.parallelLimit ?? 5;
  const uploadDelayMs = options.uploadDelayMs ?? 0;
  const seed = randomBytes(8).toString('hex');
  let counter = 0;
  const hex40 = () => createHash('sha1').update(`${seed}:${++counter}`).digest('hex');

  const uploads: StandinUpload[] = [];
  const issued = new Set<string>();
  const open = new Map<string, string>();
  const sessions = { maxConcurrent: 0, total: 0, refused: 0, apps: [] as string[] };

  const authorized = (req: IncomingMessage, caps?: Record<string, unknown>): boolean => {
    const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (m?.[1]) {
      const decoded = Buffer.from(m[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      return decoded.slice(0, colon) === username && decoded.slice(colon + 1) === accessKey;
    }
    const bstack = caps?.['bstack:options'];
    if (typeof bstack === 'object' && bstack !== null) {
      const { userName, accessKey: key } = bstack as Record<string, unknown>;
      return userName === username && key === accessKey;
    }
    return false;
  };

  const upload = async (req: IncomingMessage, res: ServerResponse) => {
    if (!authorized(req)) return unauthorized(res);
    let form: FormData;
    try {
      const raw = await readBody(req);
      form = await new Request('http://standin/upload', {
        method: 'POST',
        headers: { 'content-type': req.headers['content-type'] ?? '' },
        body: raw,
      }).formData();
    } catch (err) {
      return json(res, 400, { error: `Malformed multipart/form-data body: ${(err as Error).message}` });
    }
    let data: Record<string, unknown> = {};
    const dataField = form.get('data');
    if (typeof dataField === 'string') {
      try {
        data = JSON.parse(dataField) as Record<string, unknown>;
      } catch {
        return json(res, 422, { error: 'Invalid JSON in data parameter' });
      }
    }
    const rawCustomId = stringField(form.get('custom_id')) ?? stringField(data.custom_id);
    // BrowserStack keeps A-Z a-z 0-9 . - _ of a custom id, at most 100 characters.
    const customId = rawCustomId?.replace(/[^A-Za-z0-9._-]/g, '').slice(0, 100) || undefined;
    const file = form.get('file');
    const remote = stringField(form.get('url')) ?? stringField(data.url);

    let bytes: Uint8Array;
    let filename: string;
    if (file instanceof Blob) {
      bytes = new Uint8Array(await file.arrayBuffer());
      filename = file instanceof File ? file.name : 'blob';
    } else if (remote) {
      try {
        const got = await fetch(remote, { signal: AbortSignal.timeout(30_000) });
        if (!got.ok) throw new Error(`HTTP ${got.status}`);
        bytes = new Uint8Array(await got.arrayBuffer());
        filename = decodeURIComponent(new URL(remote).pathname.split('/').pop() ?? '') || 'app';
      } catch {
        return json(res, 422, { error: INCORRECT_URL });
      }
    } else {
      return json(res, 422, { error: 'Either file or url parameter is required to upload an app.' });
    }
    if (bytes.byteLength === 0) return json(res, 422, { error: 'The uploaded app file is empty.' });

    const appUrl = `bs://${hex40()}`;
    issued.add(appUrl);
    uploads.push({
      appUrl,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.byteLength,
      filename,
      ...(customId ? { customId } : {}),
    });
    if (uploadDelayMs > 0) await new Promise((r) => setTimeout(r, uploadDelayMs));
    json(
      res,
      200,
      customId
        ? { app_url: appUrl, custom_id: customId, shareable_id: `${username}/${customId}` }
        : { app_url: appUrl },
    );
  };

  const plan = (req: IncomingMessage, res: ServerResponse) => {
    if (!authorized(req)) return unauthorized(res);
    json(res, 200, {
      automate_plan: 'App Automate',
      parallel_sessions_running: open.size,
      team_parallel_sessions_max_allowed: parallelLimit,
      parallel_sessions_max_allowed: parallelLimit,
      queued_sessions: 0,
      queued_sessions_max_allowed: 0,
    });
  };

  const newSession = async (req: IncomingMessage, res: ServerResponse) => {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse((await readBody(req)).toString('utf8')) as Record<string, unknown>;
    } catch {
      return webdriverError(res, 400, 'The request body is not JSON.');
    }
    const caps = capabilitiesOf(body);
    if (!authorized(req, caps)) {
      return webdriverError(res, 401, 'Authorization required: invalid username or access key.');
    }
    const app = caps['appium:app'] ?? caps.app;
    if (typeof app !== 'string' || !app.startsWith('bs://') || !issued.has(app)) {
      return webdriverError(res, 200, INVALID_APP_CAP);
    }
    if (open.size >= parallelLimit) {
      sessions.refused++;
      return webdriverError(res, 200, ALL_PARALLELS_IN_USE);
    }
    const sessionId = hex40();
    open.set(sessionId, app);
    sessions.total++;
    sessions.apps.push(app);
    sessions.maxConcurrent = Math.max(sessions.maxConcurrent, open.size);
    const { 'bstack:options': _secret, ...visible } = caps;
    json(res, 200, { value: { sessionId, capabilities: { ...visible, 'appium:app': app } } });
  };

  const deleteSession = (id: string, res: ServerResponse) => {
    if (!open.delete(id)) return webdriverError(res, 404, SESSION_GONE);
    json(res, 200, { value: null });
  };

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://standin').pathname;
    const session = /^\/wd\/hub\/session\/([^/]+)$/.exec(path);
    let handled: unknown;
    if (req.method === 'POST' && path === '/app-automate/upload') handled = upload(req, res);
    else if (req.method === 'GET' && path === '/app-automate/plan.json') handled = plan(req, res);
    else if (req.method === 'POST' && path === '/wd/hub/session') handled = newSession(req, res);
    else if (req.method === 'DELETE' && session?.[1]) handled = deleteSession(session[1], res);
    else handled = json(res, 404, { error: `No route for ${req.method} ${path}` });
    Promise.resolve(handled).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: `stand-in failure: ${(err as Error).message}` });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    username,
    accessKey,
    uploads,
    sessions,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** W3C `alwaysMatch` merged with the first `firstMatch`, or legacy `desiredCapabilities`. */
function capabilitiesOf(body: Record<string, unknown>): Record<string, unknown> {
  const w3c = body.capabilities as { alwaysMatch?: Record<string, unknown>; firstMatch?: unknown[] } | undefined;
  if (w3c && typeof w3c === 'object') {
    const first = Array.isArray(w3c.firstMatch) ? (w3c.firstMatch[0] as Record<string, unknown>) : undefined;
    return { ...(first ?? {}), ...(w3c.alwaysMatch ?? {}) };
  }
  return (body.desiredCapabilities as Record<string, unknown> | undefined) ?? {};
}

function stringField(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function unauthorized(res: ServerResponse): void {
  res.setHeader('www-authenticate', 'Basic realm="Application"');
  json(res, 401, { error: 'HTTP Basic: Access denied.' });
}

/**
 * The hub's failure shape: a JSON-wire body (status 13, unknown error) whose `value` holds only
 * `message` (no W3C `error` field), which is why clients log "Request failed with status 200".
 */
function webdriverError(res: ServerResponse, httpStatus: number, message: string): void {
  json(res, httpStatus, { sessionId: null, status: 13, value: { message } });
}
