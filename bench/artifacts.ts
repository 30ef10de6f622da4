/**
 * Delivering builds and test sources: what an upload, a skipped re-upload, an agent's first
 * download (streamed to its cache, hashed on the way), a later verified use, and a test
 * bundle's pack → upload → unpack cost, against a job-server process (--memory, from dist).
 *   npm run bench:artifacts            (SIZE_MIB=512 npm run bench:artifacts for a bigger build)
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, openAsBlob } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArtifactCache, silentLogger } from '@qgjob/agent';
import { packBundle, sha256File } from '@qgjob/bundle';
import { QgjobClient } from '@qgjob/client';
import { startServerProcess, table, writeResults } from './lib.js';

const SIZE_MIB = Number(process.env.SIZE_MIB ?? 256);
const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { ms: performance.now() - started, value };
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

const scratch = await mkdtemp(join(tmpdir(), 'qgjob-bench-artifacts-'));
const server = await startServerProcess(['--memory', `--max-app-size=${SIZE_MIB + 1}MiB`]);
try {
  const client = new QgjobClient({ server: server.url });
  // A build of random bytes (incompressible, like an APK's contents), written in 1 MiB pieces.
  const build = join(scratch, 'app-release.apk');
  await new Promise<void>((resolve, reject) => {
    const out = createWriteStream(build);
    out.on('error', reject);
    for (let i = 0; i < SIZE_MIB; i++) out.write(randomBytes(1024 * 1024));
    out.end(resolve);
  });
  const bytes = (await stat(build)).size;
  const mib = bytes / 1024 / 1024;
  const rows: Record<string, string | number>[] = [];
  const row = (step: string, ms: number, what = '') =>
    rows.push({ step, ms: Math.round(ms), 'MiB/s': what === 'rate' ? Math.round(mib / (ms / 1000)) : '' });

  const hash = await timed(() => sha256File(build));
  row(`hash ${SIZE_MIB} MiB locally (sha256)`, hash.ms, 'rate');
  const sha256 = hash.value;
  const upload = await timed(async () => {
    await client.putBlob(sha256, await openAsBlob(build), { org_id: 'bench', kind: 'app' });
    return client.registerApp({ org_id: 'bench', app_version_id: 'v1', sha256, filename: 'app-release.apk' });
  });
  row('upload + register (qgjob app upload)', upload.ms, 'rate');
  const skip = await timed(() => client.hasBlob(sha256, { org_id: 'bench', kind: 'app' }));
  row('upload again: the server has it (HEAD)', skip.ms);

  const cache = new ArtifactCache({
    dir: join(scratch, 'cache'),
    maxBytes: 4 * bytes,
    fetchBlob: (sha, signal) => client.downloadBlob(sha, signal),
    log: silentLogger,
    // Measured apart from npm: the examples' dependency install depends on the registry.
    depsCommand: 'true',
  });
  const first = await timed(() => cache.blob(sha256, new AbortController().signal));
  first.value.release();
  row('agent: first use (download, hash, store)', first.ms, 'rate');
  const again = await timed(() => cache.blob(sha256, new AbortController().signal));
  again.value.release();
  row('agent: next use (verify the cached copy)', again.ms, 'rate');

  // What `qgjob submit` packs there: the specs, appwright.config.ts, package.json.
  const entries = (await files(EXAMPLES))
    .map((source) => ({ path: relative(EXAMPLES, source), source }))
    .filter((e) => /^(tests\/.*\.spec\.js|appwright\.config\.ts|package\.json)$/.test(e.path));
  const pack = await timed(() => packBundle(entries));
  row(`pack examples/ (${pack.value.files} files, ${pack.value.bytes} B)`, pack.ms);
  const bundleSha = createHash('sha256').update(pack.value.data).digest('hex');
  const put = await timed(() => client.putBlob(bundleSha, pack.value.data, { org_id: 'bench', kind: 'bundle' }));
  row(`upload the bundle (${pack.value.data.length} B gzipped)`, put.ms);
  const unpack = await timed(() => cache.bundle(bundleSha, new AbortController().signal));
  unpack.value.release();
  row('agent: first use of the bundle (download, unpack, verify; npm not run)', unpack.ms);
  const reuse = await timed(() => cache.bundle(bundleSha, new AbortController().signal));
  reuse.value.release();
  row('agent: next use of the bundle (verify the tree)', reuse.ms);

  console.log(`\nbuild of ${SIZE_MIB} MiB, job-server --memory on loopback\n`);
  console.log(table(rows));
  await writeResults('artifacts', { params: { SIZE_MIB }, rows });
} finally {
  await server.stop();
  await rm(scratch, { recursive: true, force: true });
}
