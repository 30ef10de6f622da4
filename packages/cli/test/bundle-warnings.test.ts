/**
 * Bundles say what they pack: a warning for each import that names no file or leaves the
 * bundle root (exit 0 all the same), and `submit --dry-run`, which packs and lists the bundle
 * and the jobs and contacts no server.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../tests/helpers/cli.js';
import { BUNDLE_MANIFEST, type BundlePlan, planBundle } from '../src/bundle.js';
import { relativeSpecifiers, withoutComments } from '../src/imports.js';
import { type FakeServer, startFakeServer } from './fake-server.js';

let dir: string;

/** Writes files (path → content) under `root`, creating their directories. */
function files(root: string, tree: Record<string, string>): void {
  for (const [path, content] of Object.entries(tree)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

function packable(plan: BundlePlan): Extract<BundlePlan, { kind: 'pack' }> {
  if (plan.kind !== 'pack') throw new Error(`expected a bundle, got: ${plan.note}`);
  return plan;
}

/** A project at `dir/x/y` whose spec imports a helper, a missing file, a file outside, packages. */
const SPEC = [
  "import { test } from '@playwright/test';",
  "import { expect } from 'appwright';",
  "import { readFileSync } from 'node:fs';",
  "import path from 'path';",
  "import { login } from './helpers/login.js';",
  "import { gone } from './helpers/missing.js';",
  "import { shared } from '../../outside.js';",
  "// import { old } from './helpers/old.js';",
  "/* const legacy = require('./legacy'); */",
  "const glob = '**/*.spec.js'; // not a comment opener inside a string",
  "test('a', async () => { await import('./helpers/lazy'); });",
  '',
].join('\n');

function project(): string {
  const root = join(dir, 'x', 'y');
  files(root, {
    'tests/a.spec.js': SPEC,
    'tests/helpers/login.ts': "export const login = 'login';\n",
    'tests/helpers/lazy.js': 'export {};\n',
    'package.json': '{"name":"e2e","private":true}\n',
  });
  files(dir, { 'x/outside.js': 'export const shared = 1;\n' });
  return root;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'qgjob-bundle-warnings-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('import warnings in planBundle', () => {
  it('warns once per missing import and per import outside the root, and packs everything else', async () => {
    const root = project();
    const plan = packable(await planBundle(['tests/a.spec.js'], { cwd: root }));
    expect(plan.entries.map((e) => e.path)).toEqual([
      'package.json',
      'tests/a.spec.js',
      'tests/helpers/lazy.js',
      'tests/helpers/login.ts',
    ]);
    expect(plan.warnings).toEqual([
      {
        code: 'import_missing',
        file: 'tests/a.spec.js',
        import: './helpers/missing.js',
        message: 'tests/a.spec.js imports ./helpers/missing.js, which does not exist: the test will fail on the device',
      },
      {
        code: 'import_outside_root',
        file: 'tests/a.spec.js',
        import: '../../outside.js',
        message: `tests/a.spec.js imports ../../outside.js, outside the bundle root ${root}: it is not packed (use --bundle-root=DIR to include it)`,
      },
    ]);
  });

  it('gives no warning for package imports, dependencies, secrets, or imports that resolve', async () => {
    files(dir, {
      'a.spec.ts': [
        "import { test } from '@playwright/test';",
        "import 'appwright';",
        "import fs from 'node:fs';",
        "import dep from './node_modules/dep/index.js';",
        "import other from './node_modules/not-installed/index.js';",
        "import env from './.env.js';",
        "import { page } from './pages/login.js';",
        "import data from './fixtures/users.json';",
        "const self = require('./index');",
      ].join('\n'),
      'node_modules/dep/index.js': 'module.exports = 1;\n',
      '.env.js': 'export default "secret";\n',
      'pages/login.ts': "export * from './base';\n",
      'pages/base/index.ts': 'export const page = 1;\n',
      'fixtures/users.json': '[]\n',
      'index.ts': 'export {};\n',
    });
    const plan = packable(await planBundle(['a.spec.ts'], { cwd: dir }));
    expect(plan.warnings).toEqual([]);
    expect(plan.entries.map((e) => e.path)).toEqual([
      'a.spec.ts',
      'fixtures/users.json',
      'index.ts',
      'pages/base/index.ts',
      'pages/login.ts',
    ]);
  });

  it('follows imports transitively, naming the helper that has the broken import', async () => {
    files(dir, {
      'tests/a.spec.ts': "import { Login } from '../pages/login';\n",
      'tests/b.spec.ts': "import { Login } from '../pages/login';\n",
      'pages/login.ts': "import { base } from './base.js';\nexport class Login {}\n",
    });
    const plan = packable(await planBundle(['tests/a.spec.ts', 'tests/b.spec.ts'], { cwd: dir }));
    expect(plan.warnings.map((w) => w.message)).toEqual([
      'pages/login.ts imports ./base.js, which does not exist: the test will fail on the device',
    ]);
  });

  it('calls an import outside the root that names no file missing, and one back into the root fine', async () => {
    const root = join(dir, 'proj');
    files(root, {
      'a.spec.js': "import x from '../nowhere.js';\nimport y from '../proj/helper.js';\n",
      'helper.js': 'export default 1;\n',
    });
    const plan = packable(await planBundle(['a.spec.js'], { cwd: root }));
    expect(plan.entries.map((e) => e.path)).toEqual(['a.spec.js', 'helper.js']);
    expect(plan.warnings.map((w) => w.code)).toEqual(['import_missing']);
    expect(plan.warnings[0]?.import).toBe('../nowhere.js');
  });

  it('with --bundle-root, warns about imports leaving DIR and says to widen it', async () => {
    files(dir, {
      'repo/e2e/login/login.spec.ts': [
        "import { page } from '../helpers/page';",
        "import { shared } from '../../../shared/util';",
        "import { gone } from './gone';",
      ].join('\n'),
      'repo/e2e/helpers/page.ts': 'export const page = 1;\n',
      'shared/util.ts': 'export const shared = 1;\n',
    });
    const cwd = join(dir, 'repo/e2e/login');
    const plan = packable(await planBundle(['login.spec.ts'], { cwd, root: '../..' }));
    expect(plan.entries.map((e) => e.path)).toEqual(['e2e/helpers/page.ts', 'e2e/login/login.spec.ts']);
    expect(plan.warnings.map((w) => w.message)).toEqual([
      `e2e/login/login.spec.ts imports ../../../shared/util, outside the bundle root ${plan.root}: it is not packed (widen --bundle-root to include it)`,
      'e2e/login/login.spec.ts imports ./gone, which does not exist: the test will fail on the device',
    ]);
  });
});

describe('reading imports', () => {
  it('leaves out comments but keeps strings that look like them', () => {
    const source = [
      "import a from './a'; // import b from './b'",
      "/* import c from './c';",
      "   require('./d') */ import e from './e';",
      "const url = 'http://example.com/*'; import f from './f';",
      'const t = `// not a comment`; import g from "./g";',
      "const re = /'/; import h from './h';",
    ].join('\n');
    // The quote in the regular expression is read as a string opener: the rest of that line keeps its text.
    expect(relativeSpecifiers(source)).toEqual(['./a', './e', './f', './g', './h']);
    expect(withoutComments("x = '**/*.spec.ts'; /* y */ z")).toBe("x = '**/*.spec.ts';   z");
  });
});

describe('qgjob submit with warnings and --dry-run', () => {
  let server: FakeServer;
  /** A port nothing listens on. */
  let closedPort: number;

  beforeAll(async () => {
    server = await startFakeServer();
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });

  afterAll(async () => {
    await server.close();
  });

  const SUBMIT = ['submit', '--org-id=qualgent', '--app-version-id=xyz123', '--test=tests/*.spec.js'];
  const env = () => ({ GITHUB_ACTIONS: '' });
  const warningLines = (stderr: string) => stderr.split('\n').filter((line) => line.startsWith('warning: '));

  it('submit warns on stderr, exits 0, and adds the warnings to the --json bundle', async () => {
    const root = project();
    const r = await runCli([...SUBMIT, `--server=${server.url}`, '--json'], { cwd: root, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(warningLines(r.stderr)).toEqual([
      'warning: tests/a.spec.js imports ./helpers/missing.js, which does not exist: the test will fail on the device',
      `warning: tests/a.spec.js imports ../../outside.js, outside the bundle root ${root}: it is not packed (use --bundle-root=DIR to include it)`,
    ]);
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc).sort()).toEqual(['bundle', 'jobs', 'submission_id']);
    expect(Object.keys(doc.bundle).sort()).toEqual(['bytes', 'files', 'sha256', 'uploaded', 'warnings']);
    expect(doc.bundle).toMatchObject({ files: 5, uploaded: true });
    expect(doc.bundle.warnings.map((w: { code: string }) => w.code)).toEqual(['import_missing', 'import_outside_root']);
    expect(doc.jobs).toEqual([expect.objectContaining({ test_path: 'tests/a.spec.js' })]);
  });

  it('submit without a broken import warns about nothing', async () => {
    files(dir, { 'tests/ok.spec.js': "import { test } from '@playwright/test';\nimport 'node:path';\n" });
    const r = await runCli([...SUBMIT, `--server=${server.url}`, '--json'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(warningLines(r.stderr)).toEqual([]);
    // A clean bundle's document is the one it always was.
    expect(Object.keys(JSON.parse(r.stdout).bundle).sort()).toEqual(['bytes', 'files', 'sha256', 'uploaded']);
  });

  it('--dry-run lists the files with their sizes and the jobs, and needs no server', async () => {
    const root = project();
    const r = await runCli([...SUBMIT, `--server=http://127.0.0.1:${closedPort}`, '--dry-run'], {
      cwd: root,
      env: env(),
    });
    expect(r.code, r.stderr).toBe(0);
    const size = (path: string) => statSync(join(root, path)).size;
    const manifest = '{"version":1,"workdir":"."}'.length;
    const packed = ['package.json', 'tests/a.spec.js', 'tests/helpers/lazy.js', 'tests/helpers/login.ts'];
    const bytes = packed.reduce((sum, path) => sum + size(path), manifest);
    const w = Math.max(5, String(bytes).length);
    const row = (n: number, path: string) => `${String(n).padStart(w)}  ${path}`;
    expect(r.stdout).toMatch(/^bundle [0-9a-f]{64}\n/);
    expect(r.stdout).toContain(
      [
        `${'BYTES'.padStart(w)}  FILE`,
        row(manifest, BUNDLE_MANIFEST),
        ...packed.map((path) => row(size(path), path)),
        row(bytes, 'total'),
        `5 files, ${bytes} B, `,
      ].join('\n'),
    );
    expect(r.stdout).toMatch(
      /\nwould submit 1 job \(org qualgent, app version xyz123, target emulator, priority 5\):\nTEST\ntests\/a\.spec\.js\n$/,
    );
    expect(warningLines(r.stderr)).toHaveLength(2);
    expect(r.stderr).toMatch(/\ndry run: nothing was uploaded or submitted\n$/);
    expect(r.stderr).not.toMatch(/cannot reach|error/);
  });

  it('--dry-run contacts the server not once, even one that is up', async () => {
    const root = project();
    const before = server.requests.length;
    const r = await runCli([...SUBMIT, `--server=${server.url}`, '--dry-run', '--json'], { cwd: root, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(server.requests.length).toBe(before);
  });

  it('--dry-run --json prints one document: the bundle, its files, sizes and warnings, and the jobs', async () => {
    const root = project();
    files(root, { 'tests/b.spec.js': "import { test } from 'appwright';\n" });
    const args = [...SUBMIT, '--target=device', '--priority=high', '--max-retries=2'];
    const r = await runCli([...args, `--server=http://127.0.0.1:${closedPort}`, '--dry-run', '--json'], {
      cwd: root,
      env: env(),
    });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc)).toEqual(['dry_run', 'bundle', 'jobs']);
    expect(doc.dry_run).toBe(true);
    expect(Object.keys(doc.bundle)).toEqual(['sha256', 'files', 'bytes', 'compressed_bytes', 'warnings']);
    expect(doc.bundle.sha256).toMatch(/^[0-9a-f]{64}$/);
    const sizes = Object.fromEntries(
      ['package.json', 'tests/a.spec.js', 'tests/b.spec.js', 'tests/helpers/lazy.js', 'tests/helpers/login.ts'].map(
        (path) => [path, statSync(join(root, path)).size],
      ),
    );
    expect(doc.bundle.files).toEqual([
      { path: BUNDLE_MANIFEST, bytes: '{"version":1,"workdir":"."}'.length },
      ...Object.entries(sizes).map(([path, bytes]) => ({ path, bytes })),
    ]);
    expect(doc.bundle.bytes).toBe(doc.bundle.files.reduce((sum: number, f: { bytes: number }) => sum + f.bytes, 0));
    expect(doc.bundle.compressed_bytes).toBeGreaterThan(0);
    expect(doc.bundle.warnings).toEqual([
      expect.objectContaining({ code: 'import_missing', file: 'tests/a.spec.js', import: './helpers/missing.js' }),
      expect.objectContaining({ code: 'import_outside_root', file: 'tests/a.spec.js', import: '../../outside.js' }),
    ]);
    const job = { org_id: 'qualgent', app_version_id: 'xyz123', target: 'device', priority: 8, max_retries: 2 };
    expect(doc.jobs).toEqual([
      { ...job, test_path: 'tests/a.spec.js' },
      { ...job, test_path: 'tests/b.spec.js' },
    ]);
    // The warnings go to stderr as well, never into stdout's document.
    expect(warningLines(r.stderr)).toHaveLength(2);

    // The very bundle a real submit uploads.
    const real = await runCli([...args, `--server=${server.url}`, '--json'], { cwd: root, env: env() });
    expect(real.code, real.stderr).toBe(0);
    const uploaded = JSON.parse(real.stdout).bundle;
    expect(uploaded.sha256).toBe(doc.bundle.sha256);
    const blob = server.blobs.get(uploaded.sha256) as Buffer;
    expect(createHash('sha256').update(blob).digest('hex')).toBe(doc.bundle.sha256);
    expect(blob.length).toBe(doc.bundle.compressed_bytes);
  });

  it('--dry-run needs no --org-id or --app-version-id, and --no-bundle lists only the jobs', async () => {
    files(dir, { 'tests/a.spec.js': '' });
    const r = await runCli(
      [
        'submit',
        '--test=tests/a.spec.js',
        '--no-bundle',
        `--server=http://127.0.0.1:${closedPort}`,
        '--dry-run',
        '--json',
      ],
      { cwd: dir, env: env() },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      dry_run: true,
      bundle: null,
      jobs: [
        {
          org_id: null,
          app_version_id: null,
          test_path: 'tests/a.spec.js',
          target: 'emulator',
          priority: 5,
          max_retries: 0,
        },
      ],
    });
    const text = await runCli(['submit', '--test=tests/a.spec.js', '--no-bundle', '--dry-run', '--wait'], {
      cwd: dir,
      env: env(),
    });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toBe(
      'no test bundle: agents run their own copy of the tests\n\n' +
        'would submit 1 job (no --org-id, no --app-version-id, target emulator, priority 5):\nTEST\ntests/a.spec.js\n',
    );
    expect(text.stderr).toContain('note: --dry-run submits nothing, so --wait has nothing to wait for\n');
  });

  it('--dry-run still refuses what a submit would refuse', async () => {
    files(dir, { 'tests/a.spec.js': '' });
    const r = await runCli(['submit', '--test=tests/a.spec.js', '--priority=11', '--dry-run'], {
      cwd: dir,
      env: env(),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --priority/);
    expect(readFileSync(join(dir, 'tests/a.spec.js'), 'utf8')).toBe('');
  });
});
