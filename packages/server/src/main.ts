#!/usr/bin/env node
/**
 * job-server: the process entry point. Reads flags and environment, opens the store,
 * serves the API; SIGTERM/SIGINT drain in-flight requests, a second signal exits at once.
 */
import { parseArgs } from 'node:util';
import { type FlagWording, parseDurationFlag, parseIntFlag, parseSizeFlag, plainQuote } from '@qgjob/protocol';
import { VERSION } from './app.js';
import { StoreInUseError } from './errors.js';
import { firstAdmin } from './first-admin.js';
import { type ServerOptions, startServer } from './server.js';
import { POLICIES, type PolicyName } from './services/policy.js';
import { argumentError, tokenCommand } from './token-command.js';

const HELP = `job-server — queue, group and schedule AppWright test jobs

Usage:
  job-server [--port=8080] [--host=127.0.0.1] [--database-url=postgres://...] [--data-dir=DIR] [--memory]
             [--open [--insecure-open]]
  job-server token create|list|revoke ...      (see job-server token --help)

Examples:
  job-server --open                            # local use: embedded store, no credentials
  job-server --open --memory --port=9090       # nothing kept: for trying things out
  QGJOB_ADMIN_TOKEN=... job-server --database-url=postgres://qgjob@db/qgjob --host=0.0.0.0
  job-server token create --kind=org --org-id=qualgent --name=github-ci

Options:
  --port=N             port to listen on (env PORT, default 8080; 0 picks a free one)
  --host=ADDR          address to bind (env HOST, default 127.0.0.1)
  --database-url=URL   PostgreSQL to share with other job-servers (env DATABASE_URL)
  --data-dir=DIR       embedded store directory (env QGJOB_DATA_DIR, default ./.qgjob/data)
  --memory             embedded store in memory: nothing survives a restart
  --open               no credentials: every caller may do everything (local use only;
                       refused on a non-loopback --host unless --insecure-open)
  --insecure-open      allow --open on a non-loopback address
  --rate-limit-submits=N  submits per second per org (default 20; tokens mode)
  --rate-limit-reads=N    other requests per second per org (default 100; tokens mode)
  --max-queued-per-org=N  queued jobs an org may have at once (default 50000)
  --max-devices-per-org=N devices an org may keep busy at once per target (default: no cap)
  --lease-ms=N         a batch's lease without a report from its agent (default 60000)
  --sweep-ms=N         how often expired leases are swept (default 5000)
  --quarantine-after=N consecutive infrastructure failures (install, device unavailable,
                       lease lost) that quarantine a device (default 3)
  --quarantine=DURATION  the first quarantine's cool-down; each next one doubles, up to
                       --max-quarantine (defaults 30s and 10m)
  --max-quarantine=DURATION
  --blob-dir=DIR       where uploaded app builds and test bundles are kept (env QGJOB_BLOB_DIR,
                       default: blobs beside --data-dir, ./.qgjob/blobs; with --memory a
                       scratch directory). Servers
                       sharing one PostgreSQL need one shared directory (a mounted volume)
  --max-app-size=SIZE  largest app build accepted (default 4GiB)
  --max-bundle-size=SIZE  largest test bundle accepted (default 256MiB)
  --blob-retention=DURATION  builds and bundles no job used for this long are deleted
                       (default 7d)
  --fetch-internal-urls  let qgjob app upload --url point at loopback or private addresses
                       (refused by default with tokens; always allowed with --open)
  --public-url=URL     where users reach this server (env QGJOB_PUBLIC_URL), e.g.
                       https://qgjob.example.com: submits answer the link to their page
                       (/submissions/ID), which qgjob submit prints and puts in the
                       GitHub job summary
  --policy=NAME        scheduling policy: fair (default); grouped and fifo exist to
                       compare against in benchmarks (env QGJOB_POLICY)
  -h, --help           this help
  --version            print the version

Without --open every /v1 request needs a token (Authorization: Bearer …). The first start
without QGJOB_ADMIN_TOKEN makes an admin token and writes it to a file only you can read,
named in the start-up line (./.qgjob/admin-token beside the embedded store; a scratch
directory with --memory). With it, \`qgjob token create\` makes org and agent tokens while the
server runs; \`job-server token create\` does the same straight in a store no server is using.
QGJOB_ADMIN_TOKEN (at least 16 characters) sets an admin token instead.
Environment: LOG_LEVEL (fatal|error|warn|info|debug, default info), QGJOB_ADMIN_TOKEN.
API documentation is served at /docs once running.`;

const STOP_BOUND_MS = 20_000;

function fail(message: string, code = 2): never {
  process.stderr.write(`job-server: ${message}\n`);
  process.exit(code);
}

/** Flag values as job-server words them: `--NAME must be ... (got "VALUE")`, exit 2. */
const WORDING: FlagWording = { quote: plainQuote, fail };

async function main(): Promise<void> {
  if (process.argv[2] === 'token') {
    await tokenCommand(process.argv.slice(3), fail).catch((error: Error) => fail(error.message, 1));
    return;
  }
  let values: Values;
  try {
    values = parse().values;
  } catch (error) {
    fail(`${argumentError(error)}\nRun job-server --help for the options.`);
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  const options = serverOptions(values);
  const { port, host } = options;
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(options);
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    if (error instanceof StoreInUseError) fail(err.message, 1);
    if (err.code === 'EADDRINUSE') fail(`port ${port} on ${host} is in use: stop the other process or pass --port`, 1);
    if (err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND') fail(`cannot reach the database: ${err.message}`, 1);
    fail(`cannot start: ${err.message}`, 1);
  }
  if (options.auth.mode === 'open') {
    process.stderr.write(
      [
        '',
        '  ┌──────────────────────────────────────────────────────────────────┐',
        '  │  OPEN MODE: no credentials are checked. Anyone who can reach this │',
        '  │  port can submit, read and cancel any job and pose as an agent.   │',
        '  │  For local use only. Without --open, every request needs a token. │',
        '  └──────────────────────────────────────────────────────────────────┘',
        '',
      ].join('\n'),
    );
  }
  const credentials = await firstAdmin(server.app.auth, {
    dataDir: options.dataDir,
    memory: values.memory,
    databaseUrl: options.databaseUrl,
  }).catch((error: Error) => `tokens required; the first admin token could not be made: ${error.message}`);
  process.stderr.write(
    `job-server ${VERSION} listening on ${server.url} (store: ${server.db.description}; ${credentials})\n`,
  );
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`job-server: second ${signal}, exiting now\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    stopping = true;
    process.stderr.write(`job-server: ${signal} received, finishing in-flight requests (send again to force)\n`);
    // Bounded: a request that never ends must not keep a stopping server alive.
    setTimeout(() => {
      process.stderr.write(`job-server: still stopping after ${STOP_BOUND_MS / 1000} s, exiting now\n`);
      process.exit(1);
    }, STOP_BOUND_MS).unref();
    server.close().then(
      () => process.exit(0),
      (error) => fail(`error while stopping: ${(error as Error).message}`, 1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

type Values = ReturnType<typeof parse>['values'];
/** What startServer takes, with what main reads back from it set. */
type Options = ServerOptions & Required<Pick<ServerOptions, 'port' | 'host' | 'auth'>>;

/** The settings given, without those left out: the server's defaults apply to them. */
function given<T extends object>(settings: T): Partial<T> {
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The flags and environment as startServer takes them; a bad one exits 2 naming it. */
function serverOptions(values: Values): Options {
  const port = parseIntFlag('--port', values.port ?? process.env.PORT ?? '8080', { ...WORDING, min: 0, max: 65535 });
  const databaseUrl = values['database-url'] ?? process.env.DATABASE_URL;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    fail('--database-url must start with postgres:// or postgresql://');
  }
  const host = values.host ?? process.env.HOST ?? '127.0.0.1';
  const policyName = values.policy ?? process.env.QGJOB_POLICY ?? 'fair';
  if (!(policyName in POLICIES))
    fail(`--policy must be one of ${Object.keys(POLICIES).join(', ')} (got "${policyName}")`);
  const leaseMs = intFlag('lease-ms', values['lease-ms'], 1000);
  const open = values.open ?? false;
  if (open && !isLoopback(host) && !values['insecure-open']) {
    fail(
      `refusing to serve without credentials on ${host}: drop --open and set QGJOB_ADMIN_TOKEN (see job-server token --help), or add --insecure-open if this network is trusted`,
    );
  }
  const publicUrl = publicUrlFlag(values['public-url'] ?? (process.env.QGJOB_PUBLIC_URL || undefined));
  const adminToken = process.env.QGJOB_ADMIN_TOKEN || undefined;
  if (adminToken !== undefined && adminToken.length < 16) fail('QGJOB_ADMIN_TOKEN must be at least 16 characters');
  const limits = {
    submitsPerSecond: intFlag('rate-limit-submits', values['rate-limit-submits'], 1),
    readsPerSecond: intFlag('rate-limit-reads', values['rate-limit-reads'], 1),
    maxQueuedPerOrg: intFlag('max-queued-per-org', values['max-queued-per-org'], 1),
  };
  const maxDevicesPerOrg = intFlag('max-devices-per-org', values['max-devices-per-org'], 1);
  const sweepMs = intFlag('sweep-ms', values['sweep-ms'], 50);
  const health = healthFlags(values);
  const artifacts = {
    maxAppBytes: sizeFlag('max-app-size', values['max-app-size']),
    maxBundleBytes: sizeFlag('max-bundle-size', values['max-bundle-size']),
    retentionMs: durationValue('blob-retention', values['blob-retention']),
    fetchInternalUrls: values['fetch-internal-urls'] || undefined,
  };
  return {
    port,
    host,
    databaseUrl,
    dataDir: values['data-dir'] ?? process.env.QGJOB_DATA_DIR,
    memory: values.memory ?? false,
    blobDir: values['blob-dir'] ?? process.env.QGJOB_BLOB_DIR,
    artifacts: given(artifacts),
    logger: loggerOptions(),
    scheduler: { policy: POLICIES[policyName as PolicyName], leaseMs, maxDevicesPerOrg, health: given(health) },
    auth: open ? { mode: 'open' } : { mode: 'tokens', adminToken },
    limits: given(limits),
    sweepMs,
    publicUrl,
  };
}

/** An http(s) URL without query or fragment, kept without its trailing slashes. */
function publicUrlFlag(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail(`--public-url must be an http:// or https:// URL such as https://qgjob.example.com (got "${text}")`);
  }
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.search ||
    url.hash ||
    url.username ||
    url.password
  ) {
    return fail(
      `--public-url must be an http:// or https:// URL without credentials, query or fragment, such as https://qgjob.example.com (got "${text}")`,
    );
  }
  return url.href.replace(/\/+$/, '');
}

/** --quarantine-after, --quarantine and --max-quarantine. */
function healthFlags(values: Values) {
  const health = {
    quarantineAfter: intFlag('quarantine-after', values['quarantine-after'], 1),
    coolDownMs: durationValue('quarantine', values.quarantine),
    maxCoolDownMs: durationValue('max-quarantine', values['max-quarantine']),
  };
  if (
    health.coolDownMs !== undefined &&
    health.maxCoolDownMs !== undefined &&
    health.maxCoolDownMs < health.coolDownMs
  ) {
    fail('--max-quarantine must be at least --quarantine');
  }
  return health;
}

function loggerOptions(): ServerOptions['logger'] {
  return {
    level: process.env.LOG_LEVEL ?? 'info',
    // Tokens never reach the log, whatever gets logged.
    redact: { paths: ['req.headers.authorization', 'headers.authorization', '*.token'], censor: '[redacted]' },
    // JSON lines for log collectors; readable lines only when a person watches a terminal.
    ...(process.stdout.isTTY
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } }
      : {}),
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function intFlag(name: string, text: string | undefined, min: number): number | undefined {
  return parseIntFlag(`--${name}`, text, { ...WORDING, min });
}

function sizeFlag(name: string, text: string | undefined): number | undefined {
  return parseSizeFlag(`--${name}`, text, { ...WORDING, examples: '512MiB or 4GiB' });
}

function durationValue(name: string, text: string | undefined): number | undefined {
  return parseDurationFlag(`--${name}`, text, { ...WORDING, takes: 'a duration such as 12h or 7d' });
}

function parse() {
  return parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'database-url': { type: 'string' },
      'data-dir': { type: 'string' },
      memory: { type: 'boolean' },
      'lease-ms': { type: 'string' },
      open: { type: 'boolean' },
      'insecure-open': { type: 'boolean' },
      'rate-limit-submits': { type: 'string' },
      'rate-limit-reads': { type: 'string' },
      'max-queued-per-org': { type: 'string' },
      'max-devices-per-org': { type: 'string' },
      'sweep-ms': { type: 'string' },
      'quarantine-after': { type: 'string' },
      quarantine: { type: 'string' },
      'max-quarantine': { type: 'string' },
      policy: { type: 'string' },
      'blob-dir': { type: 'string' },
      'max-app-size': { type: 'string' },
      'max-bundle-size': { type: 'string' },
      'blob-retention': { type: 'string' },
      'fetch-internal-urls': { type: 'boolean' },
      'public-url': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
}

void main();
