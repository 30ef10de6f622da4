/**
 * The CLI as a process against the stand-in server: `submit` uploading its test bundle
 * once per content, and `app upload` registering builds from a file or a URL.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { unpackBundle } from '@qgjob/bundle';
import { ApiError, QgjobClient } from '@qgjob/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../tests/helpers/cli.js';
import { outcomeOf } from '../src/exit.js';
import { type FakeServer, startFakeServer } from './fake-server.js';

let server: FakeServer;
let dir: string;
const env = () => ({ QGJOB_SERVER: server.url, GITHUB_ACTIONS: '' });
const SUBMIT = ['submit', '--org-id=qualgent', '--app-version-id=xyz123'];
const UPLOAD = ['app', 'upload', '--org-id=qualgent'];

const puts = () => server.requests.filter((r) => r.startsWith('PUT /v1/blobs/')).length;
const blobRequests = () => server.requests.filter((r) => r.includes('/v1/blobs/')).length;

/** The files of a bundle the server received (path → content). */
async function bundleFiles(sha256: string): Promise<Record<string, string>> {
  const bytes = server.blobs.get(sha256);
  if (!bytes) throw new Error(`the server holds no blob ${sha256}`);
  const archive = join(dir, `${sha256}.tar.gz`);
  const out = mkdtempSync(join(tmpdir(), 'qgjob-received-'));
  writeFileSync(archive, bytes);
  try {
    const { files } = await unpackBundle(archive, out);
    return Object.fromEntries(files.map((f) => [f.path, readFileSync(join(out, f.path), 'utf8')]));
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  server = await startFakeServer();
  dir = mkdtempSync(join(tmpdir(), 'qgjob-cli-artifacts-'));
  const project = join(dir, 'project');
  mkdirSync(join(project, 'tests'), { recursive: true });
  mkdirSync(join(project, 'e2e', 'login'), { recursive: true });
  writeFileSync(join(project, 'tests', 'login.spec.js'), 'test("login", () => {});\n');
  writeFileSync(join(project, 'tests', 'search.spec.js'), 'test("search", () => {});\n');
  writeFileSync(join(project, 'e2e', 'login', 'login.spec.ts'), 'test("login", () => {});\n');
  writeFileSync(join(project, 'e2e', 'helpers.ts'), 'export const x = 1;\n');
  writeFileSync(join(project, 'package.json'), '{"name":"app-tests"}\n');
  writeFileSync(join(project, 'appwright.config.ts'), 'export default {};\n');
  writeFileSync(join(project, '.env'), 'BROWSERSTACK_ACCESS_KEY=secret\n');
  writeFileSync(join(project, '.npmrc'), '//registry.npmjs.org/:_authToken=secret\n');
  // A build is a ZIP archive: the CLI checks the first four bytes.
  writeFileSync(join(dir, 'app.apk'), 'PK\u0003\u0004apk b');
  writeFileSync(join(dir, 'README.md'), '# not a build\n');
  writeFileSync(join(dir, 'app-v2.apk'), 'PK\u0003\u0004other apk b');
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('qgjob submit bundles the test sources', () => {
  it('uploads the bundle once and sends its hash with the submit; the second submit uploads nothing', async () => {
    const cwd = join(dir, 'project');
    const args = [...SUBMIT, '--test=tests/*.spec.js'];
    const putsBefore = puts();
    const first = await runCli([...args, '--json'], { env: env(), cwd });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toBe('');
    const doc = JSON.parse(first.stdout);
    expect(Object.keys(doc).sort()).toEqual(['bundle', 'jobs', 'submission_id']);
    // The two tests, package.json, appwright.config.ts and the manifest.
    expect(doc.bundle).toEqual({
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      files: 5,
      bytes: expect.any(Number),
      uploaded: true,
    });
    expect(server.submits.at(-1)).toMatchObject({
      bundle_sha256: doc.bundle.sha256,
      tests: ['tests/login.spec.js', 'tests/search.spec.js'],
    });
    expect(puts()).toBe(putsBefore + 1);
    expect(await bundleFiles(doc.bundle.sha256)).toEqual({
      '.qgjob-bundle.json': '{"version":1,"workdir":"."}',
      'appwright.config.ts': 'export default {};\n',
      'package.json': '{"name":"app-tests"}\n',
      'tests/login.spec.js': 'test("login", () => {});\n',
      'tests/search.spec.js': 'test("search", () => {});\n',
    });

    const again = await runCli([...args, '--app-version-id=xyz124'], { env: env(), cwd });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr.split('\n')[0]).toBe(
      `bundle ${doc.bundle.sha256.slice(0, 12)}: 5 files, ${doc.bundle.bytes} B, already on the server`,
    );
    expect(puts()).toBe(putsBefore + 1);
    expect(server.submits.at(-1)?.bundle_sha256).toBe(doc.bundle.sha256);

    const json = await runCli([...args, '--app-version-id=xyz125', '--json'], { env: env(), cwd });
    expect(JSON.parse(json.stdout).bundle).toEqual({ ...doc.bundle, uploaded: false });
  });

  it('--bundle-root packs the tree and records where the current directory is in it', async () => {
    const r = await runCli([...SUBMIT, '--test=login.spec.ts', '--bundle-root=../..', '--json'], {
      env: env(),
      cwd: join(dir, 'project', 'e2e', 'login'),
    });
    expect(r.code, r.stderr).toBe(0);
    const { bundle } = JSON.parse(r.stdout);
    expect(server.submits.at(-1)).toMatchObject({ test_path: 'login.spec.ts', bundle_sha256: bundle.sha256 });
    const files = await bundleFiles(bundle.sha256);
    expect(Object.keys(files).sort()).toEqual([
      '.qgjob-bundle.json',
      'appwright.config.ts',
      'e2e/helpers.ts',
      'e2e/login/login.spec.ts',
      'package.json',
      'tests/login.spec.js',
      'tests/search.spec.js',
    ]);
    expect(JSON.parse(files['.qgjob-bundle.json'] ?? '')).toEqual({ version: 1, workdir: 'e2e/login' });
  });

  it('--no-bundle sends no bundle and says nothing about it', async () => {
    const before = blobRequests();
    const r = await runCli([...SUBMIT, '--test=tests/login.spec.js', '--no-bundle', '--json'], {
      env: env(),
      cwd: join(dir, 'project'),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout).bundle).toBeNull();
    expect(server.submits.at(-1)?.bundle_sha256).toBeUndefined();
    expect(blobRequests()).toBe(before);
  });

  it('notes once, and submits without a bundle, when no test is a file here', async () => {
    const r = await runCli([...SUBMIT, '--test=tests/elsewhere.spec.js'], { env: env(), cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n')[0]).toBe(
      `note: not bundling test sources: tests/elsewhere.spec.js is not a file in ${dir}; agents run their own copy (--no-bundle to silence)`,
    );
    expect(server.submits.at(-1)?.bundle_sha256).toBeUndefined();
  });

  it.each([
    [
      ['--test=tests/login.spec.js', '--test=tests/gone.spec.js'],
      /^error: --test tests\/gone\.spec\.js is not a file in \S+project — /,
    ],
    [['--test=tests/gone.spec.js', '--bundle-root=.'], /^error: --test tests\/gone\.spec\.js is not a file in /],
    [
      ['--test=tests/login.spec.js', '--bundle-root=e2e'],
      /^error: --bundle-root e2e does not contain the current directory/,
    ],
    [
      ['--test=tests/login.spec.js', '--bundle-root=.', '--no-bundle'],
      /^error: --bundle-root and --no-bundle contradict/,
    ],
  ])('exits 2 for %j without submitting', async (args, pattern) => {
    const submits = server.submits.length;
    const r = await runCli([...SUBMIT, ...args], { env: env(), cwd: join(dir, 'project') });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(server.submits.length).toBe(submits);
  });

  it('an upload whose bytes do not match the hash is refused (422 hash_mismatch): exit 2', async () => {
    const client = new QgjobClient({ server: server.url });
    const error = await client
      .putBlob('0'.repeat(64), new TextEncoder().encode('not those bytes'), { org_id: 'qualgent', kind: 'bundle' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 422, code: 'hash_mismatch' });
    expect(outcomeOf(error).code).toBe(2);
    expect(server.blobs.has('0'.repeat(64))).toBe(false);
  });

  it('documents the flags in submit --help', async () => {
    const r = await runCli(['submit', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--bundle-root <dir>');
    expect(r.stdout).toContain('--no-bundle');
    expect(r.stdout).toContain('--bundle-root=../..');
  });
});

describe('qgjob app upload', () => {
  it('uploads a file and registers it; the same again uploads nothing and says it is registered', async () => {
    const putsBefore = puts();
    const first = await runCli([...UPLOAD, '--app-version-id=v1', 'app.apk', '--json'], { env: env(), cwd: dir });
    expect(first.code, first.stderr).toBe(0);
    const doc = JSON.parse(first.stdout);
    expect(doc).toMatchObject({
      org_id: 'qualgent',
      app_version_id: 'v1',
      size: 9,
      filename: 'app.apk',
      created: true,
      uploaded: true,
    });
    expect(server.blobs.get(doc.sha256)?.toString()).toBe('PK\u0003\u0004apk b');
    expect(puts()).toBe(putsBefore + 1);

    const again = await runCli([...UPLOAD, '--app-version-id=v1', 'app.apk'], { env: env(), cwd: dir });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(
      `app version v1 (org qualgent): build ${doc.sha256.slice(0, 12)} (9 B, app.apk) already registered for this version\n`,
    );
    expect(puts()).toBe(putsBefore + 1);

    const otherVersion = await runCli([...UPLOAD, '--app-version-id=v1-rc', join(dir, 'app.apk')], { env: env() });
    expect(otherVersion.code, otherVersion.stderr).toBe(0);
    expect(otherVersion.stdout).toBe(
      `app version v1-rc (org qualgent): build ${doc.sha256.slice(0, 12)} (9 B, app.apk) already on the server\n`,
    );
    expect(puts()).toBe(putsBefore + 1);
  });

  it('prints one line for a new upload', async () => {
    const r = await runCli([...UPLOAD, '--app-version-id=v2', 'app-v2.apk'], { env: env(), cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^app version v2 \(org qualgent\): build [0-9a-f]{12} \(15 B, app-v2\.apk\) uploaded\n$/);
    expect(r.stderr).toBe('');
  });

  it('--url has the server fetch the build', async () => {
    const url = 'https://ci.example.com/builds/v3.apk';
    const r = await runCli([...UPLOAD, '--app-version-id=v3', `--url=${url}`, '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      app_version_id: 'v3',
      source_url: url,
      created: true,
      uploaded: false,
    });
    const human = await runCli([...UPLOAD, '--app-version-id=v3b', `--url=${url}`], { env: env() });
    expect(human.stdout).toMatch(
      /\(36 B, v3\.apk\) fetched by the server from https:\/\/ci\.example\.com\/builds\/v3\.apk\n$/,
    );

    const named = await runCli(
      [
        ...UPLOAD,
        '--app-version-id=v3c',
        '--url=https://ci.example.com/download?id=7',
        '--filename=app-release.apk',
        '--json',
      ],
      { env: env() },
    );
    expect(named.code, named.stderr).toBe(0);
    expect(JSON.parse(named.stdout).filename).toBe('app-release.apk');
    const misplaced = await runCli([...UPLOAD, '--app-version-id=v3d', 'app-v2.apk', '--filename=x.apk'], {
      env: env(),
      cwd: dir,
    });
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toContain('--filename goes with --url');
  });

  it('exits 2 with the server message when the version already has another build', async () => {
    const r = await runCli([...UPLOAD, '--app-version-id=v1', 'app-v2.apk'], { env: env(), cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: app version v1 already has build [0-9a-f]{12} — .*new --app-version-id\n$/);
  });

  it('exits 2 when the server cannot fetch --url', async () => {
    const r = await runCli([...UPLOAD, '--app-version-id=v4', '--url=https://unreachable.example.com/a.apk'], {
      env: env(),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: could not download https:\/\/unreachable\.example\.com\/a\.apk: 404 — check/);
  });

  it.each([
    [['--app-version-id=v5', 'missing.apk'], /^error: FILE missing\.apk does not exist — /],
    [['--app-version-id=v5', 'project'], /^error: FILE project is not a file — /],
    [['--app-version-id=v5', 'README.md'], /^error: FILE README\.md is not an app build: \.apk, \.aab and \.ipa/],
    [
      ['--app-version-id=v5', 'app.apk', '--url=https://x.example.com/a.apk'],
      /^error: give either FILE or --url, not both/,
    ],
    [['--app-version-id=v5'], /^error: FILE or --url is required/],
    [['app.apk'], /^error: --app-version-id is required/],
    [
      ['--app-version-id=v5', '--url=ftp://x.example.com/a.apk'],
      /^error: --url must be an http:\/\/ or https:\/\/ URL/,
    ],
  ])('exits 2 for %j without a request', async (args, pattern) => {
    const requests = server.requests.length;
    const r = await runCli([...UPLOAD, ...args], { env: env(), cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(server.requests.length).toBe(requests);
  });

  it('exits 2 naming --org-id when it is missing', async () => {
    const r = await runCli(['app', 'upload', '--app-version-id=v5', 'app.apk'], { env: env(), cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --org-id is required/);
  });

  it('shows help: `app` alone on stderr with exit 2, `app upload --help` with examples first', async () => {
    const alone = await runCli(['app']);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('upload');
    const help = await runCli(['app', 'upload', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Examples:\n {2}\$ qgjob app upload /);
    for (const flag of ['--org-id', '--app-version-id', '--url', '--json']) expect(help.stdout).toContain(flag);
  });
});
