#!/usr/bin/env node
// Bundles the CLI into dist/ so the published package has no runtime dependencies:
// dist/main.js (what bin/qgjob.js imports: the command line and --help) plus
// dist/chunks/*.js, the commands and the @qgjob/* code they need, loaded only when a
// command runs. commander, tinyglobby, TypeBox and the workspace packages (from their
// TypeScript sources, so no tsc build is needed first) are all inside. Type-checking is
// tsc's job (`tsc -b`); this only transpiles. Runs as `npm run build -w qgjob` and on pack.
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
const pkg = JSON.parse(await readFile(join(here, 'package.json'), 'utf8'));

// Old bundles (and the JavaScript older tsc builds left here); dist/tsc is tsc's own.
for (const entry of await readdir(dist).catch(() => [])) {
  if (entry !== 'tsc') await rm(join(dist, entry), { recursive: true, force: true });
}

const started = performance.now();
const result = await build({
  absWorkingDir: here,
  entryPoints: { main: 'src/main.ts' },
  outdir: dist,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // The sources, not the packages' dist: a fresh checkout can pack without building them.
  alias: {
    '@qgjob/protocol': join(here, '../protocol/src/index.ts'),
    '@qgjob/bundle': join(here, '../bundle/src/index.ts'),
    '@qgjob/client': join(here, '../client/src/index.ts'),
  },
  define: { QGJOB_VERSION: JSON.stringify(pkg.version) },
  // commander is CommonJS and require()s node: built-ins; ESM output has no `require`.
  banner: {
    js: "import { createRequire as __qgjobCreateRequire } from 'node:module'; const require = __qgjobCreateRequire(import.meta.url);",
  },
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});

// The licences of what the bundle contains, since their own files are not shipped.
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (match?.[1] && !packages.has(match[1])) {
    packages.set(match[1], join(here, input.slice(0, match.index), 'node_modules', match[1]));
  }
}
const notices = [];
for (const [name, dir] of [...packages].sort(([a], [b]) => a.localeCompare(b))) {
  const meta = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
  const files = await readdir(dir);
  const licenseFile = files.find((file) => /^licen[cs]e/i.test(file));
  const text = licenseFile ? await readFile(join(dir, licenseFile), 'utf8') : `License: ${meta.license}`;
  notices.push(`${name}@${meta.version} (${meta.license})\n\n${text.trim()}\n`);
}
await writeFile(
  join(dist, 'THIRD-PARTY-LICENSES.txt'),
  `The qgjob CLI bundle (dist/) includes the following packages.\n\n${notices.join(`\n${'-'.repeat(72)}\n\n`)}`,
);

const bytes = Object.values(result.metafile.outputs).reduce((sum, output) => sum + output.bytes, 0);
console.error(
  `qgjob: bundled into ${Object.keys(result.metafile.outputs).length} files, ${(bytes / 1024).toFixed(0)} KiB, in ${Math.round(performance.now() - started)} ms`,
);
