/** What `qgjob submit` bundles: the files picked, the manifest, the refusals, and a stable hash. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { unpackBundle } from '@qgjob/bundle';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUNDLE_MANIFEST, type BundlePlan, packPlan, planBundle } from '../src/bundle.js';
import { UsageError } from '../src/errors.js';

let dir: string;

/** Writes files (path → content) under `dir`, creating their directories. */
function files(tree: Record<string, string>): void {
  for (const [path, content] of Object.entries(tree)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
}

function packable(plan: BundlePlan): Extract<BundlePlan, { kind: 'pack' }> {
  if (plan.kind !== 'pack') throw new Error(`expected a bundle, got: ${plan.note}`);
  return plan;
}

const paths = (plan: BundlePlan) => packable(plan).entries.map((entry) => entry.path);

async function rejection(promise: Promise<unknown>): Promise<UsageError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UsageError);
  return error as UsageError;
}

/** Unpacks a packed bundle and returns its files (path → content). */
async function unpacked(data: Buffer): Promise<Record<string, string>> {
  const archive = join(dir, '..', `${Date.now()}-${Math.random()}.tar.gz`);
  const out = mkdtempSync(join(tmpdir(), 'qgjob-unpacked-'));
  writeFileSync(archive, data);
  try {
    const result = await unpackBundle(archive, out);
    return Object.fromEntries(result.files.map((f) => [f.path, readFileSync(join(out, f.path), 'utf8')]));
  } finally {
    rmSync(archive, { force: true });
    rmSync(out, { recursive: true, force: true });
  }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'qgjob-bundle-test-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('planBundle without --bundle-root', () => {
  it('follows the local imports of the tests: helpers, page objects, fixtures, and theirs in turn', async () => {
    files({
      'tests/login.spec.ts': [
        "import { test } from 'appwright';",
        "import { LoginPage } from '../pages/login.js';",
        "import type { User } from '../pages/types';",
        "const users = require('./fixtures/users.json');",
        "import './setup';",
        "import outside from '../../elsewhere/x';",
        "import dep from '../node_modules/dep/index.js';",
      ].join('\n'),
      'tests/setup.ts': 'export {};\n',
      'tests/fixtures/users.json': '[]\n',
      'pages/login.ts': "export { Base } from './base';\nexport class LoginPage {}\n",
      'pages/base/index.ts': "const lazy = () => import('../util.mjs');\n",
      'pages/util.mjs': 'export const x = 1;\n',
      'pages/types.ts': 'export type User = {};\n',
      'pages/unused.ts': 'never imported\n',
      'node_modules/dep/index.js': 'module.exports = 1;\n',
      'tsconfig.json': '{}\n',
    });
    const plan = await planBundle(['tests/login.spec.ts'], { cwd: dir });
    expect(paths(plan)).toEqual([
      'pages/base/index.ts',
      'pages/login.ts',
      'pages/types.ts',
      'pages/util.mjs',
      'tests/fixtures/users.json',
      'tests/login.spec.ts',
      'tests/setup.ts',
      'tsconfig.json',
    ]);
  });

  it('packs the tests plus the AppWright config and package files of the current directory', async () => {
    files({
      'tests/a.spec.js': 'a',
      'tests/b.spec.js': 'b',
      'tests/unsubmitted.spec.js': 'c',
      'appwright.config.ts': 'config',
      'appwright.config.mjs': 'config too',
      'package.json': '{}',
      'package-lock.json': '{}',
      'npm-shrinkwrap.json': '{}',
      'README.md': 'docs',
      '.npmrc': '//registry.npmjs.org/:_authToken=secret',
      '.env': 'TOKEN=secret',
      '.env.local': 'TOKEN=secret',
    });
    const plan = await planBundle(['tests/a.spec.js', 'tests/b.spec.js'], { cwd: dir });
    expect(paths(plan)).toEqual([
      'appwright.config.mjs',
      'appwright.config.ts',
      'npm-shrinkwrap.json',
      'package-lock.json',
      'package.json',
      'tests/a.spec.js',
      'tests/b.spec.js',
    ]);
    expect(packable(plan).manifest).toEqual({ version: 1, workdir: '.' });
  });

  it('packs only the tests when there are no project files', async () => {
    files({ 'a.spec.ts': 'a' });
    expect(paths(await planBundle(['a.spec.ts'], { cwd: dir }))).toEqual(['a.spec.ts']);
  });

  it('bundles nothing, with a note, when no test is a local file', async () => {
    files({ 'package.json': '{}' });
    const plan = await planBundle(['tests/a.spec.js', 'tests/b.spec.js'], { cwd: dir });
    expect(plan).toEqual({
      kind: 'skip',
      note: `not bundling test sources: tests/a.spec.js is not a file in ${dir}; agents run their own copy (--no-bundle to silence)`,
    });
  });

  it('refuses a mix of present and missing tests, naming the missing one', async () => {
    files({ 'tests/a.spec.js': 'a' });
    const error = await rejection(planBundle(['tests/a.spec.js', 'tests/gone.spec.js'], { cwd: dir }));
    expect(error.message).toBe(`--test tests/gone.spec.js is not a file in ${dir}`);
    expect(error.hint).toMatch(/--no-bundle/);
  });

  it('never packs a test named like a secret', async () => {
    files({ 'a.spec.js': 'a', '.env.test': 'TOKEN=x' });
    const error = await rejection(planBundle(['a.spec.js', '.env.test'], { cwd: dir }));
    expect(error.message).toMatch(/^--test \.env\.test is never bundled/);
  });

  it('refuses more than the limit, saying the size and the limit', async () => {
    files({ 'a.spec.js': 'x'.repeat(3000) });
    const error = await rejection(planBundle(['a.spec.js'], { cwd: dir, maxBytes: 2048 }));
    expect(error.message).toBe(
      'the test bundle would hold 2.9 KiB (3000 bytes) of files, over the limit of 2.0 KiB (2048 bytes)',
    );
  });
});

describe('planBundle with --bundle-root', () => {
  beforeEach(() => {
    files({
      'package.json': '{}',
      'appwright.config.ts': 'config',
      'e2e/login/login.spec.ts': 'login',
      'e2e/helpers/page.ts': 'helper',
      'e2e/.env': 'secret',
      'e2e/.env.ci': 'secret',
      'e2e/.npmrc': 'secret',
      '.npmrc': 'secret',
      'node_modules/appwright/index.js': 'dependency',
      'e2e/node_modules/x/index.js': 'dependency',
      '.git/HEAD': 'ref',
      '.qgjob/data/db': 'server data',
      [BUNDLE_MANIFEST]: '{"version":1,"workdir":"elsewhere"}',
      'outside/shared.ts': 'shared',
    });
  });

  it('packs every regular file under DIR but dependencies, VCS and server data, and secrets', async () => {
    const plan = await planBundle(['login.spec.ts'], { cwd: join(dir, 'e2e/login'), root: '../..' });
    expect(paths(plan)).toEqual([
      'appwright.config.ts',
      'e2e/helpers/page.ts',
      'e2e/login/login.spec.ts',
      'outside/shared.ts',
      'package.json',
    ]);
    expect(packable(plan).manifest).toEqual({ version: 1, workdir: 'e2e/login' });
  });

  it("records workdir '.' when DIR is the current directory", async () => {
    const plan = await planBundle(['e2e/login/login.spec.ts'], { cwd: dir, root: '.' });
    expect(packable(plan).manifest.workdir).toBe('.');
  });

  it('packs a symlinked file as its content and does not follow a symlinked directory', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'qgjob-elsewhere-'));
    try {
      writeFileSync(join(elsewhere, 'fixture.json'), '{"linked":true}');
      mkdirSync(join(elsewhere, 'lib'));
      writeFileSync(join(elsewhere, 'lib', 'big.js'), 'not wanted');
      symlinkSync(join(elsewhere, 'fixture.json'), join(dir, 'e2e', 'fixture.json'));
      symlinkSync(join(elsewhere, 'lib'), join(dir, 'e2e', 'lib'));
      symlinkSync(join(dir, 'missing'), join(dir, 'e2e', 'dangling.js'));
      const plan = packable(await planBundle(['e2e/login/login.spec.ts'], { cwd: dir, root: '.' }));
      expect(plan.entries.map((e) => e.path)).toContain('e2e/fixture.json');
      expect(plan.entries.map((e) => e.path).filter((p) => p.startsWith('e2e/lib') || p.includes('dangling'))).toEqual(
        [],
      );
      const content = await unpacked((await packPlan(plan)).data);
      expect(content['e2e/fixture.json']).toBe('{"linked":true}');
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('adds a test the walk does not reach (under a symlinked directory)', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'qgjob-elsewhere-'));
    try {
      writeFileSync(join(elsewhere, 'linked.spec.ts'), 'linked');
      symlinkSync(elsewhere, join(dir, 'e2e', 'linked'));
      const plan = await planBundle(['e2e/linked/linked.spec.ts'], { cwd: dir, root: '.' });
      expect(paths(plan)).toContain('e2e/linked/linked.spec.ts');
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it('refuses a DIR that does not hold the current directory (and so the tests), naming --bundle-root', async () => {
    const error = await rejection(planBundle(['outside/shared.ts'], { cwd: dir, root: 'e2e' }));
    expect(error.message).toMatch(/--bundle-root e2e does not contain the current directory/);
    const outside = await rejection(
      planBundle(['login/login.spec.ts', 'helpers/page.ts'], { cwd: join(dir, 'e2e'), root: 'login' }),
    );
    expect(outside.message).toMatch(/--bundle-root login does not contain the current directory/);
  });

  it('refuses a missing test and a DIR that is no directory', async () => {
    const missing = await rejection(planBundle(['e2e/login/gone.spec.ts'], { cwd: dir, root: '.' }));
    expect(missing.message).toBe(`--test e2e/login/gone.spec.ts is not a file in ${dir}`);
    const notDir = await rejection(planBundle(['e2e/login/login.spec.ts'], { cwd: dir, root: 'package.json' }));
    expect(notDir.message).toBe('--bundle-root package.json is not a directory');
  });

  it('refuses a DIR over the limit, saying the size, the limit and to narrow --bundle-root', async () => {
    files({ 'assets/video.mp4': 'x'.repeat(5000) });
    const error = await rejection(planBundle(['e2e/login/login.spec.ts'], { cwd: dir, root: '.', maxBytes: 4096 }));
    // 5000 bytes of video plus 25 of the other files that are packed.
    expect(error.message).toBe(
      '--bundle-root . holds 4.9 KiB (5025 bytes) of files, over the bundle limit of 4.0 KiB (4096 bytes)',
    );
    expect(error.hint).toMatch(/^narrow --bundle-root/);
  });
});

describe('packPlan', () => {
  it('packs the manifest with the files, and never a secret', async () => {
    files({ 'e2e/a.spec.ts': 'a', 'e2e/.env': 'TOKEN=secret', 'package.json': '{}' });
    const plan = packable(await planBundle(['a.spec.ts'], { cwd: join(dir, 'e2e'), root: '..' }));
    const packed = await packPlan(plan);
    expect(packed.files).toBe(3);
    const content = await unpacked(packed.data);
    expect(content).toEqual({
      [BUNDLE_MANIFEST]: '{"version":1,"workdir":"e2e"}',
      'e2e/a.spec.ts': 'a',
      'package.json': '{}',
    });
  });

  it('gives the same bytes and hash for the same tree, and another hash for other content', async () => {
    files({ 'tests/a.spec.js': 'a', 'tests/b.spec.js': 'b', 'package.json': '{}' });
    const tests = ['tests/b.spec.js', 'tests/a.spec.js'];
    const first = await packPlan(packable(await planBundle(tests, { cwd: dir })));
    utimesSync(join(dir, 'tests/a.spec.js'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const second = await packPlan(packable(await planBundle([...tests].reverse(), { cwd: dir })));
    expect(second.sha256).toBe(first.sha256);
    expect(second.data.equals(first.data)).toBe(true);
    expect(first.sha256).toMatch(/^[0-9a-f]{64}$/);
    writeFileSync(join(dir, 'tests/a.spec.js'), 'changed');
    const third = await packPlan(packable(await planBundle(tests, { cwd: dir })));
    expect(third.sha256).not.toBe(first.sha256);
  });

  it('turns a path the bundle format refuses into a usage error', async () => {
    files({ 'e2e/a.spec.ts': 'a', 'e2e/odd\\name.ts': 'x' });
    const plan = packable(await planBundle(['e2e/a.spec.ts'], { cwd: dir, root: '.' }));
    const error = await rejection(packPlan(plan));
    expect(error.message).toMatch(/^cannot bundle the test sources: bundle path "e2e\/odd\\\\name\.ts" is not allowed/);
    expect(error.hint).toMatch(/narrow --bundle-root/);
  });
});
