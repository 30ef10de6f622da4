/**
 * The agent's client for BrowserStack App Automate's REST API: reads the plan (how many
 * parallel sessions the account may run) and uploads a build, getting back the `bs://` app_url
 * that tests pass as their `app` capability.
 *
 * The BrowserStack username and access key live only on the agent (from its environment) and are
 * sent only to BrowserStack; they are never sent to the job-server, and no error message built
 * here contains the access key.
 *
 * API: POST {api}/app-automate/upload (multipart field `file`, optional `custom_id`) answers
 * `{"app_url":"bs://…"}`; GET {api}/app-automate/plan.json answers `parallel_sessions_max_allowed`,
 * `parallel_sessions_running`, `automate_plan`, …; both use HTTP basic auth, errors are `{"error":"…"}`.
 */
import { openAsBlob } from 'node:fs';
import { basename } from 'node:path';

export const DEFAULT_BROWSERSTACK_API = 'https://api-cloud.browserstack.com';

/** Per request; generous because BrowserStack takes up to a minute to process a large build. */
const DEFAULT_TIMEOUT_MS = 5 * 60_000;

export interface BrowserStackCredentials {
  username: string;
  accessKey: string;
}

/** From BROWSERSTACK_USERNAME / BROWSERSTACK_ACCESS_KEY; undefined when either is missing/empty. */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): BrowserStackCredentials | undefined {
  const username = env.BROWSERSTACK_USERNAME?.trim();
  const accessKey = env.BROWSERSTACK_ACCESS_KEY?.trim();
  return username && accessKey ? { username, accessKey } : undefined;
}

export interface BrowserStackPlan {
  /** `parallel_sessions_max_allowed`: sessions the account may run at once. */
  parallelLimit: number;
  /** `parallel_sessions_running`. */
  running: number;
  /** `automate_plan`, e.g. "App Automate". */
  plan: string;
}

/** A failed BrowserStack call; `status` is the HTTP status when BrowserStack answered at all. */
export class BrowserStackError extends Error {
  override readonly name = 'BrowserStackError';
  readonly status?: number;
  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    if (status !== undefined) this.status = status;
  }
}

export class BrowserStackApi {
  private readonly apiUrl: string;
  private readonly credentials: BrowserStackCredentials;
  private readonly timeoutMs: number;

  /** The account (not secret): agents sharing it share its parallel-session limit. */
  get username(): string {
    return this.credentials.username;
  }

  constructor(options: { apiUrl?: string; credentials: BrowserStackCredentials; timeoutMs?: number }) {
    this.apiUrl = (options.apiUrl ?? DEFAULT_BROWSERSTACK_API).replace(/\/+$/, '');
    this.credentials = options.credentials;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async plan(signal?: AbortSignal): Promise<BrowserStackPlan> {
    const body = await this.request('GET', '/app-automate/plan.json', 'plan request', undefined, signal);
    const limit = field(body, 'parallel_sessions_max_allowed');
    const running = field(body, 'parallel_sessions_running');
    if (typeof limit !== 'number' || typeof running !== 'number') {
      throw this.error(`BrowserStack plan.json has no parallel session counts: ${this.redact(JSON.stringify(body))}`);
    }
    const plan = field(body, 'automate_plan');
    return { parallelLimit: limit, running, plan: typeof plan === 'string' ? plan : '' };
  }

  /** Uploads a local build file (streamed from disk with fs.openAsBlob, not read into memory); returns the bs:// app_url. */
  async uploadApp(filePath: string, options: { customId?: string; signal?: AbortSignal } = {}): Promise<string> {
    const file = await openAsBlob(filePath);
    const form = new FormData();
    form.append('file', file, basename(filePath));
    if (options.customId) form.append('custom_id', options.customId);
    // A big build on a slow uplink takes long: allow at least 256 KiB/s on top of the base timeout.
    const timeoutMs = this.timeoutMs + Math.floor(file.size / (256 * 1024)) * 1000;
    const body = await this.request('POST', '/app-automate/upload', 'app upload', form, options.signal, timeoutMs);
    const appUrl = field(body, 'app_url');
    if (typeof appUrl !== 'string' || !/^bs:\/\/\S+$/.test(appUrl)) {
      throw this.error(
        `BrowserStack app upload answered without a bs:// app_url: ${this.redact(JSON.stringify(body))}`,
      );
    }
    return appUrl;
  }

  /** One authenticated call; resolves with the parsed JSON body of a 2xx answer. */
  private async request(
    method: 'GET' | 'POST',
    path: string,
    what: string,
    body: FormData | undefined,
    signal: AbortSignal | undefined,
    timeoutMs = this.timeoutMs,
  ): Promise<unknown> {
    const url = this.apiUrl + path;
    const timeout = AbortSignal.timeout(timeoutMs);
    const { username, accessKey } = this.credentials;
    let status: number;
    let text: string;
    try {
      const res = await fetch(url, {
        method,
        headers: {
          authorization: 'Basic ' + Buffer.from(`${username}:${accessKey}`).toString('base64'),
          accept: 'application/json',
        },
        body,
        // Without this, fetch keeps a tee'd copy of the whole request body in case it must
        // follow a redirect, so a 1 GB build would sit in memory (nodejs/undici#4058).
        redirect: 'error',
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      if (timeout.aborted) {
        throw this.error(`BrowserStack ${what} to ${this.apiUrl} timed out after ${timeoutMs} ms`);
      }
      throw this.error(
        `cannot reach the BrowserStack API at ${this.apiUrl} (${what}): ${this.redact(describe(err))}`,
        undefined,
        err,
      );
    }
    if (status === 401) {
      throw this.error(
        `BrowserStack refused the credentials of user "${username}" (HTTP 401): check BROWSERSTACK_USERNAME and BROWSERSTACK_ACCESS_KEY`,
        401,
      );
    }
    if (status < 200 || status >= 300) {
      throw this.error(`BrowserStack ${what} failed (HTTP ${status}): ${this.redact(errorText(text))}`, status);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw this.error(
        `BrowserStack ${what} answered HTTP ${status} with a body that is not JSON: ${this.redact(text)}`,
      );
    }
  }

  private error(message: string, status?: number, cause?: unknown): BrowserStackError {
    return new BrowserStackError(message, status, cause === undefined ? undefined : { cause });
  }

  /**
   * Text from outside (BrowserStack's bodies, network errors) as one short line with the access
   * key masked, so an echoed key never reaches a message; our own wording never holds the key.
   */
  private redact(text: string): string {
    const key = this.credentials.accessKey;
    return snippet(key ? text.split(key).join('***') : text);
  }
}

function field(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
}

/** BrowserStack's error text: `{"error":"…"}` (or `{"message":"…"}`), else the raw body. */
function errorText(text: string): string {
  try {
    const body = JSON.parse(text) as unknown;
    const error = field(body, 'error');
    const message = field(body, 'message') ?? field(error, 'message');
    if (typeof error === 'string' && error) return error;
    if (typeof message === 'string' && message) return message;
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.trim() || '(empty response)';
}

function snippet(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > 500 ? oneLine.slice(0, 500) + '…' : oneLine;
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause.message : undefined;
  return cause && cause !== err.message ? `${err.message}: ${cause}` : err.message;
}
